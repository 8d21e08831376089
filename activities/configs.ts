// Config reads for the workflow (public view only) and for execution (one row, by id and user).
import { ApplicationFailure } from '@temporalio/common';
import type { Database, UserAIConfig } from '../db';
import { toPublicConfig } from '../db/public-config';
import type { PublicConfig } from '../workflows/definitions';
import type { LoadConfigsInput } from '../workflows/activity-types';
import { LLM_FAILURE } from '../llm/errors';

/** All of the user's configs, as the REST API lists them; the workflow filters what it offers. */
export async function loadPublicConfigs(db: Database, input: LoadConfigsInput): Promise<PublicConfig[]> {
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

/** The row an execution needs; a missing, foreign or disabled config fails without retry. */
export async function loadActiveLLMConfig(db: Database, userId: string, configId: number): Promise<UserAIConfig> {
  const row = await db.models.UserAIConfig.findOne({ where: { id: configId, user_id: userId, config_type: 'llm' } });
  if (!row) throw ApplicationFailure.nonRetryable(`LLM config ${configId} does not exist`, LLM_FAILURE.configUnavailable);
  if (!row.is_active) throw ApplicationFailure.nonRetryable(`LLM config ${configId} is disabled`, LLM_FAILURE.configUnavailable);
  return row;
}
