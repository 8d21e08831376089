// Each test run gets its own database on the given PostgreSQL (DATABASE_URL, as in CI), or on an
// embedded PostgreSQL started for the run when no DATABASE_URL is set. It is dropped afterwards.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedDatabaseServer } from '../../db/embedded';
import { createDatabase, migrateUp, withPgClient, type Database } from '../../db';
import { testLogger } from './logger';
import { freePort } from './net';

let embedded: EmbeddedDatabaseServer | undefined;
let embeddedDir: string | undefined;
let adminUrl: string | undefined;
let runDatabaseName: string | undefined;
let runDatabaseUrl: string | undefined;

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = '/' + database;
  return parsed.toString();
}

function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return withPgClient(adminUrl!, fn);
}

/** Create an empty database and return its URL (used by migration tests that need a blank slate). */
export async function createScratchDatabase(prefix = 'switchboard_t'): Promise<{ url: string; drop(): Promise<void> }> {
  await ensureServer();
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  return {
    url: withDatabase(adminUrl!, name),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}

async function ensureServer(): Promise<void> {
  if (adminUrl) return;
  if (process.env.DATABASE_URL) {
    adminUrl = process.env.DATABASE_URL;
    return;
  }
  embeddedDir = mkdtempSync(path.join(os.tmpdir(), 'switchboard-pg-'));
  // mkdtemp makes it 0700; as root the embedded PostgreSQL runs as `postgres` and must enter it.
  chmodSync(embeddedDir, 0o755);
  embedded = await startEmbeddedPostgres({ dir: embeddedDir, port: await freePort(), logger: testLogger, persistent: false });
  adminUrl = embedded.adminUrl;
}

/** The migrated database shared by this test run. */
export async function runDatabaseUrlOnce(): Promise<string> {
  if (runDatabaseUrl) return runDatabaseUrl;
  const scratch = await createScratchDatabase('switchboard_test');
  runDatabaseName = new URL(scratch.url).pathname.slice(1);
  const db = createDatabase(scratch.url);
  try {
    await migrateUp(db.sequelize);
  } finally {
    await db.close();
  }
  runDatabaseUrl = scratch.url;
  return runDatabaseUrl;
}

/** A connected Database on the run's migrated database; close it in `after`. */
export async function openTestDatabase(): Promise<Database> {
  return createDatabase(await runDatabaseUrlOnce());
}

export async function dropRunDatabase(): Promise<void> {
  if (runDatabaseName) {
    const name = runDatabaseName;
    runDatabaseName = undefined;
    runDatabaseUrl = undefined;
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  }
  if (embedded) {
    await embedded.stop();
    embedded = undefined;
  }
  if (embeddedDir) rmSync(embeddedDir, { recursive: true, force: true });
  adminUrl = undefined;
}
