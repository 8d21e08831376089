// Config reads for the workflow (public view only) and for execution (one row, by id and user).
import { ApplicationFailure } from '@temporalio/common';
import type { Database, UserAIConfig } from '../db';
import { LLM_FAILURE } from '../llm/errors';

/** The row an execution needs; a missing, foreign or disabled config fails without retry. */
export async function loadActiveLLMConfig(db: Database, userId: string, configId: number): Promise<UserAIConfig> {
  // A plain row (raw): no model instance to build on the message path.
  const row = await db.models.UserAIConfig.findOne({ where: { id: configId, user_id: userId, config_type: 'llm' }, raw: true });
  if (!row) throw ApplicationFailure.nonRetryable(`LLM config ${configId} does not exist`, LLM_FAILURE.configUnavailable);
  if (!row.is_active) throw ApplicationFailure.nonRetryable(`LLM config ${configId} is disabled`, LLM_FAILURE.configUnavailable);
  return row;
}
