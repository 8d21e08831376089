import net from 'node:net';

/** Whether `port` on 127.0.0.1 can be bound now (nothing listens on it). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A port that was free a moment ago, for child processes that need a port number up front.
 * Chosen below Linux's ephemeral range (32768+), where the OS hands out ports to every `listen(0)`
 * and outgoing connection — including the Temporal dev server's internal services — so a port
 * picked here is not taken by someone else before the child binds it.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await portFree(port)) return port;
  }
  throw new Error('no free port found between 20000 and 32000');
}
