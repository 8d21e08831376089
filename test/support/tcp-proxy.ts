// A TCP proxy on 127.0.0.1 that can cut every connection and refuse new ones for a while: a
// network drop between a client and a server, as the client sees it (no close frame, no
// goodbye), with both ends otherwise untouched.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Where connections go; set once the target listens. */
  target: { host: string; port: number } | undefined;
  /** Destroys every open connection; while `down`, new ones are refused (closed at once). */
  drop(options?: { down?: boolean }): void;
  /** Accepts connections again. */
  up(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let down = false;
  const proxy: TcpProxy = {
    port: 0,
    target: undefined,
    drop(options = {}) {
      down = options.down ?? false;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    up() {
      down = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        proxy.drop();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((client) => {
    if (down || !proxy.target) {
      client.destroy();
      return;
    }
    const upstream = net.connect(proxy.target.port, proxy.target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as AddressInfo).port;
  return proxy;
}
