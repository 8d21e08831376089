// Secrets of function configs: the webhook signing secret (encrypted like API keys) and the
// request headers of an MCP server, as { name: encrypted value } so the names can be shown.
import { DataTypes, type QueryInterface } from 'sequelize';

export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.addColumn('user_ai_configs', 'webhook_secret', { type: DataTypes.TEXT });
  await qi.addColumn('user_ai_configs', 'mcp_headers', { type: DataTypes.JSONB });
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.removeColumn('user_ai_configs', 'mcp_headers');
  await qi.removeColumn('user_ai_configs', 'webhook_secret');
}
