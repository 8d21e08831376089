// The stored row an execution needs, by id and user: a missing or foreign config (and, on the
// message path, a disabled one) fails without retry.
import { ApplicationFailure } from '@temporalio/common';
import type { SecretBox } from '../lib/secret-box';
import { isDatabaseUnavailable, type ConfigType, type Database, type UserAIConfig } from '../db';
import { CONFIG_FAILURE } from '../lib/call-failure';

const KIND: Record<ConfigType, string> = { llm: 'LLM config', function_call: 'Function config' };

/**
 * A read that waits out a database outage (stopped, restarting, out of connections) for up to
 * `budgetMs`, trying again with backoff: the outage is ours, so it must not use up the attempts a
 * provider's failures get (a message would end `failed` because PostgreSQL restarted). Beyond the
 * budget the error goes to the step's own retries.
 */
export async function whileDatabaseIsDown<T>(read: () => Promise<T>, budgetMs: number): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      const wait = Math.min(2_000, 200 * 2 ** attempt);
      if (!isDatabaseUnavailable(error) || Date.now() + wait > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

export async function loadConfigRow(
  db: Database,
  userId: string,
  configId: number,
  type: ConfigType,
  options: { requireActive: boolean; databaseBudgetMs?: number },
): Promise<UserAIConfig> {
  // A plain row (raw): no model instance to build on the message path.
  const row = await whileDatabaseIsDown(
    () => db.models.UserAIConfig.findOne({ where: { id: configId, user_id: userId, config_type: type }, raw: true }),
    options.databaseBudgetMs ?? 0,
  );
  if (!row) throw ApplicationFailure.nonRetryable(`${KIND[type]} ${configId} does not exist`, CONFIG_FAILURE.configUnavailable);
  if (options.requireActive && !row.is_active) {
    throw ApplicationFailure.nonRetryable(`${KIND[type]} ${configId} is disabled`, CONFIG_FAILURE.configUnavailable);
  }
  return row;
}

/** A stored secret (an API key, a webhook secret, an MCP header value) opened; one no configured key opens fails without retry. */
export function openSecret(secretBox: SecretBox, stored: string, what: string): string {
  try {
    return secretBox.decrypt(stored);
  } catch {
    throw ApplicationFailure.nonRetryable(
      `the stored ${what} cannot be decrypted with the configured keys`,
      CONFIG_FAILURE.configUnavailable,
    );
  }
}
