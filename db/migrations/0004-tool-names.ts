// MCP tool names run to 128 characters (contract/tool-names.ts): `function_name` widens from 64.
// Widening a varchar is a catalogue change in PostgreSQL (no table rewrite, the unique index on
// (user_id, function_name) stays valid). Down narrows it again and fails while a longer name is stored.
import type { QueryInterface } from 'sequelize';

export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.sequelize.query('ALTER TABLE user_ai_configs ALTER COLUMN function_name TYPE varchar(128)');
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.sequelize.query('ALTER TABLE user_ai_configs ALTER COLUMN function_name TYPE varchar(64)');
}
