// User API keys (`sb-…`, what OpenAI clients hold): stored as a SHA-256 hash only, with a short
// prefix of the key for display. Revoking a key deletes its row, so every replica refuses it with
// its next lookup. A distinct name (not a bare number) so a migration of another feature numbered
// alike merges without a clash; the list in db/index.ts fixes the order.
import type { QueryInterface } from 'sequelize';

export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.sequelize.query(`
    CREATE TABLE api_keys (
      id serial PRIMARY KEY,
      user_id varchar(255) NOT NULL,
      name varchar(100) NOT NULL,
      key_hash char(64) NOT NULL,
      prefix varchar(16) NOT NULL,
      expires_at timestamptz,
      last_used_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
  await qi.sequelize.query('CREATE UNIQUE INDEX api_keys_key_hash_unique ON api_keys (key_hash)');
  await qi.sequelize.query('CREATE INDEX api_keys_user_newest ON api_keys (user_id, created_at DESC, id DESC)');
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.sequelize.query('DROP TABLE IF EXISTS api_keys');
}
