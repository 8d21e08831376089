// Database access: one Sequelize instance per process, models bound to it, umzug migrations.
import pg from 'pg';
import { Sequelize } from 'sequelize';
import { Umzug, SequelizeStorage } from 'umzug';
import type { Logger } from '../lib/logger';
import { defineModels, type Models } from './models';
import * as initial from './migrations/0001-initial';
import * as functionSecrets from './migrations/0002-function-secrets';
import * as rateLimits from './migrations/0003-rate-limits';
import * as toolNames from './migrations/0004-tool-names';
import * as apiKeys from './migrations/0005-api-keys';
import * as devices from './migrations/0006-devices';
import * as chatIdempotency from './migrations/0007-chat-idempotency';
import * as deviceSockets from './migrations/0008-device-sockets';

export * from './models';
export * from './rate-limits';
export * from './rate-limiters';
export * from './unavailable';
export * from './devices';
export * from './api-keys';
export * from './chat-idempotency';

export interface Database {
  sequelize: Sequelize;
  models: Models;
  close(): Promise<void>;
}

/** Migrations in order; listed explicitly so bundling and tsx need no glob. */
const migrations = [
  { name: '0001-initial', ...initial },
  { name: '0002-function-secrets', ...functionSecrets },
  { name: '0003-rate-limits', ...rateLimits },
  { name: '0004-tool-names', ...toolNames },
  { name: '0005-api-keys', ...apiKeys },
  { name: '0006-devices', ...devices },
  { name: '0007-chat-idempotency', ...chatIdempotency },
  { name: '0008-device-sockets', ...deviceSockets },
];

export function createDatabase(url: string, options: { logger?: Logger; schema?: string } = {}): Database {
  const sequelize = new Sequelize(url, {
    dialect: 'postgres',
    logging: options.logger ? (sql: string) => options.logger?.trace({ sql }, 'sql') : false,
    pool: { max: 10, min: 0, idle: 10_000 },
    define: options.schema ? { schema: options.schema } : {},
  });
  const models = defineModels(sequelize);
  return { sequelize, models, close: () => sequelize.close() };
}

export function createMigrator(sequelize: Sequelize, logger?: Logger): Umzug<ReturnType<Sequelize['getQueryInterface']>> {
  return new Umzug({
    migrations: migrations.map((m) => ({
      name: m.name,
      up: ({ context }) => m.up({ context }),
      down: ({ context }) => m.down({ context }),
    })),
    context: sequelize.getQueryInterface(),
    storage: new SequelizeStorage({ sequelize, tableName: 'schema_migrations' }),
    logger: logger
      ? { info: (m) => logger.info(m), warn: (m) => logger.warn(m), error: (m) => logger.error(m), debug: (m) => logger.debug(m) }
      : undefined,
  });
}

export async function migrateUp(sequelize: Sequelize, logger?: Logger): Promise<void> {
  await createMigrator(sequelize, logger).up();
}

/** A short-lived plain connection for maintenance work (CREATE DATABASE, catalogue queries). */
export async function withPgClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
