// The one factory of config rows for tests: written straight to the table (no API request, no
// config-change notification), secrets encrypted (and keys masked) exactly as the API stores them.
// insertLLMConfig (context.ts), the session harness and the activity tests build on it.
import type { AppContext } from '../../app/context';
import type { UserAIConfig } from '../../db';
import { toPublicConfig } from '../../db/public-config';
import type { PublicConfig } from '../../contract';
import { maskApiKey } from '../../lib/secret-box';
import { registerSecret } from './secret-scan';

type Columns = Omit<UserAIConfig['_creationAttributes'], 'id' | 'user_id' | 'config_type' | 'api_key' | 'api_key_hint'>;

/** Any columns of an LLM config; `api_key` is the plain key (absent or null: no key). */
export type LLMConfigRowFields = Partial<Columns> & Pick<Columns, 'config_name' | 'model_name'> & { api_key?: string | null };

export async function createLLMConfigRow(
  ctx: Pick<AppContext, 'db' | 'secretBox'>,
  userId: string,
  { api_key: key, ...columns }: LLMConfigRowFields,
): Promise<{ row: UserAIConfig; config: PublicConfig }> {
  registerSecret(key);
  const row = await ctx.db.models.UserAIConfig.create({
    llm_type: 'openai',
    ...columns,
    user_id: userId,
    config_type: 'llm',
    api_key: key ? ctx.secretBox.encrypt(key) : null,
    api_key_hint: key ? maskApiKey(key) : null,
  });
  return { row, config: toPublicConfig(row) };
}

/** A function config row: `webhook_secret` and the values of `mcp_headers` plain, stored encrypted as the API stores them. */
export interface FunctionConfigRowFields {
  config_name: string;
  description: string;
  function_name: string;
  parameters: Record<string, unknown>;
  mcp_server_url?: string;
  mcp_headers?: Record<string, string>;
  webhook_url?: string;
  webhook_secret?: string;
  is_active?: boolean;
  priority?: number;
}

export async function createFunctionConfigRow(
  ctx: Pick<AppContext, 'db' | 'secretBox'>,
  userId: string,
  { mcp_headers: headers, webhook_secret: secret, ...columns }: FunctionConfigRowFields,
): Promise<PublicConfig> {
  registerSecret(secret);
  for (const value of Object.values(headers ?? {})) registerSecret(value.replace(/^Bearer\s+/i, ''));
  const row = await ctx.db.models.UserAIConfig.create({
    ...columns,
    user_id: userId,
    config_type: 'function_call',
    mcp_headers: headers ? Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, ctx.secretBox.encrypt(value)])) : null,
    webhook_secret: secret ? ctx.secretBox.encrypt(secret) : null,
  });
  return toPublicConfig(row);
}
