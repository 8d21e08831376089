// The stored row an execution needs, by id and user: a missing or foreign config (and, on the
// message path, a disabled one) fails without retry.
import { ApplicationFailure } from '@temporalio/common';
import type { ConfigType, Database, UserAIConfig } from '../db';
import { LLM_FAILURE } from '../llm/errors';

const KIND: Record<ConfigType, string> = { llm: 'LLM config', function_call: 'Function config' };

export async function loadConfigRow(
  db: Database,
  userId: string,
  configId: number,
  type: ConfigType,
  options: { requireActive: boolean },
): Promise<UserAIConfig> {
  // A plain row (raw): no model instance to build on the message path.
  const row = await db.models.UserAIConfig.findOne({ where: { id: configId, user_id: userId, config_type: type }, raw: true });
  if (!row) throw ApplicationFailure.nonRetryable(`${KIND[type]} ${configId} does not exist`, LLM_FAILURE.configUnavailable);
  if (options.requireActive && !row.is_active) {
    throw ApplicationFailure.nonRetryable(`${KIND[type]} ${configId} is disabled`, LLM_FAILURE.configUnavailable);
  }
  return row;
}
