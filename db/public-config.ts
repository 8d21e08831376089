// The one mapping from a stored config row to what leaves the server (REST responses, the
// session workflow's cache, WebSocket frames): the encrypted key never, only whether one is set
// and its masked hint.
import type { PublicConfig } from '../contract';
import type { Database } from './index';
import type { UserAIConfig } from './models';

export function toPublicConfig(row: UserAIConfig): PublicConfig {
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
    parameters: row.parameters ?? null,
    mcp_server_url: row.mcp_server_url ?? null,
    webhook_url: row.webhook_url ?? null,
    is_active: row.is_active,
    priority: row.priority,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}

/** All of the user's configs, as the REST API lists them; the workflow filters what it offers. */
export async function loadPublicConfigs(db: Database, input: { userId: string }): Promise<PublicConfig[]> {
  const rows = await db.models.UserAIConfig.findAll({
    where: { user_id: input.userId },
    order: [
      ['priority', 'DESC'],
      ['created_at', 'DESC'],
      ['id', 'DESC'],
    ],
  });
  return rows.map(toPublicConfig);
}
