// The one mapping from a stored config row to what leaves the server (REST responses, the
// session workflow's cache, WebSocket frames): the encrypted key never, only whether one is set
// and its masked hint. Reads of public configs run fixed SQL on a pooled connection: no per-call
// query building, Sequelize query objects or model instances, which cost more of a hot GET than
// the query itself.
import type pg from 'pg';
import type { InferAttributes } from 'sequelize';
import { providerToolName, type PublicConfig } from '../contract';
import type { Database } from './index';
import type { ConfigType, UserAIConfig } from './models';

/** A stored config: a model instance or a plain row of the same columns. */
export type ConfigRow = InferAttributes<UserAIConfig>;

export function toPublicConfig(row: ConfigRow): PublicConfig {
  return {
    id: row.id,
    config_name: row.config_name,
    config_type: row.config_type,
    description: row.description ?? null,
    llm_type: row.llm_type ?? null,
    model_name: row.model_name ?? null,
    base_url: row.base_url ?? null,
    has_api_key: row.api_key !== null && row.api_key !== undefined,
    api_key_hint: row.api_key_hint ?? null,
    max_tokens: row.max_tokens ?? null,
    temperature: row.temperature ?? null,
    system_prompt: row.system_prompt ?? null,
    function_name: row.function_name ?? null,
    tool_name: row.function_name ? providerToolName(row.function_name) : null,
    parameters: row.parameters ?? null,
    mcp_server_url: row.mcp_server_url ?? null,
    webhook_url: row.webhook_url ?? null,
    has_webhook_secret: row.webhook_secret !== null && row.webhook_secret !== undefined,
    mcp_header_names: Object.keys(row.mcp_headers ?? {}),
    is_active: row.is_active,
    priority: row.priority,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}

export interface ConfigFilter {
  type?: ConfigType;
  active?: boolean;
}

export interface PublicConfigReader {
  /** The user's config with this id, or undefined (another user's config is a missing one). */
  one(userId: string, id: number): Promise<PublicConfig | undefined>;
  /** The user's configs, priority then newest first. */
  list(userId: string, filter?: ConfigFilter): Promise<PublicConfig[]>;
}

interface Statement {
  name: string;
  text: string;
}

const readers = new WeakMap<Database, PublicConfigReader>();

/** The reader of a database, with its SQL built once. */
export function publicConfigReader(db: Database): PublicConfigReader {
  let reader = readers.get(db);
  if (reader) return reader;
  const { sequelize } = db;
  const { UserAIConfig } = db.models;
  // The typings put these on the query interface; at run time they are the generator's.
  const generator = sequelize.getQueryInterface().queryGenerator as {
    quoteTable(table: unknown): string;
    quoteIdentifier(name: string): string;
  };
  const quote = (name: string) => generator.quoteIdentifier(name);
  const table = generator.quoteTable(UserAIConfig.getTableName());
  const select = `SELECT ${Object.keys(UserAIConfig.getAttributes()).map(quote).join(', ')} FROM ${table}`;
  const order = ' ORDER BY "priority" DESC, "created_at" DESC, "id" DESC';
  // Named statements: each connection parses and plans one once, then only binds and executes it.
  const one: Statement = { name: 'public-config-one', text: `${select} WHERE "id" = $1 AND "user_id" = $2` };
  // One statement per filter combination, so each stays a fixed string.
  const lists = new Map<string, Statement>();
  const listStatement = (filter: ConfigFilter): Statement => {
    const key = `${filter.type !== undefined}${filter.active !== undefined}`;
    let statement = lists.get(key);
    if (!statement) {
      const where = ['"user_id" = $1'];
      if (filter.type !== undefined) where.push(`"config_type" = $${where.length + 1}`);
      if (filter.active !== undefined) where.push(`"is_active" = $${where.length + 1}`);
      statement = { name: `public-config-list-${lists.size}`, text: `${select} WHERE ${where.join(' AND ')}${order}` };
      lists.set(key, statement);
    }
    return statement;
  };
  // Sequelize's own pool and pg connections (with its type parsers), queried directly.
  const manager = sequelize.connectionManager;
  const rows = async ({ name, text }: Statement, values: unknown[]): Promise<ConfigRow[]> => {
    const client = (await manager.getConnection({ type: 'read' })) as pg.Client;
    try {
      return (await client.query<ConfigRow>({ name, text, values })).rows;
    } finally {
      manager.releaseConnection(client);
    }
  };
  reader = {
    async one(userId, id) {
      const [row] = await rows(one, [id, userId]);
      return row ? toPublicConfig(row) : undefined;
    },
    async list(userId, filter = {}) {
      const bind: unknown[] = [userId];
      if (filter.type !== undefined) bind.push(filter.type);
      if (filter.active !== undefined) bind.push(filter.active);
      return (await rows(listStatement(filter), bind)).map(toPublicConfig);
    },
  };
  readers.set(db, reader);
  return reader;
}

/** All of the user's configs, as the REST API lists them; the workflow filters what it offers. */
export async function loadPublicConfigs(db: Database, input: { userId: string }): Promise<PublicConfig[]> {
  return publicConfigReader(db).list(input.userId);
}
