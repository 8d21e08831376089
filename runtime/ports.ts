// Checking the ports this process will listen on before starting anything, so a port clash
// is reported in one clear line naming the variable instead of surfacing from deep inside a
// child process minutes into a first run.
import net from 'node:net';
import { StartupError } from './startup-error';

export interface PortClaim {
  variable: string;
  host: string;
  port: number;
}

function probe(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** Throws a StartupError naming every variable whose port is taken (port 0 means "any", never taken). */
export async function assertPortsFree(claims: PortClaim[]): Promise<void> {
  const problems: string[] = [];
  const seen = new Map<number, string>();
  for (const claim of claims) {
    if (claim.port === 0) continue;
    const other = seen.get(claim.port);
    if (other) {
      problems.push(`${claim.variable} and ${other} are both ${claim.port}`);
      continue;
    }
    seen.set(claim.port, claim.variable);
    const error = await probe(claim.host, claim.port);
    if (!error) continue;
    problems.push(
      error.code === 'EADDRINUSE'
        ? `port ${claim.port} (${claim.variable}) is already in use on ${claim.host}`
        : `cannot listen on ${claim.host}:${claim.port} (${claim.variable}): ${error.code ?? error.message}`,
    );
  }
  if (problems.length) {
    throw new StartupError(
      problems.join('\n') + '\nIs another switchboard already running? Stop it or choose other ports (see README, "Environment").',
    );
  }
}

/** Turns a listen error raised while a role starts into the same readable message. */
export function describeListenError(error: unknown, claims: PortClaim[]): StartupError | undefined {
  const e = error as NodeJS.ErrnoException & { port?: number };
  if (e?.code !== 'EADDRINUSE' && e?.code !== 'EACCES' && e?.code !== 'EADDRNOTAVAIL') return undefined;
  const claim = claims.find((c) => c.port === e.port);
  const what = claim ? `port ${claim.port} (${claim.variable})` : `port ${e.port ?? '?'}`;
  const reason = e.code === 'EADDRINUSE' ? 'is already in use' : `cannot be used: ${e.code}`;
  return new StartupError(`${what} ${reason}`, { cause: error });
}
