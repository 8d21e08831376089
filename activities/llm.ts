// The two LLM activities: routing a message and executing an LLM config. Keys are decrypted
// here and nowhere else; every failure leaves as a classified, scrubbed ApplicationFailure.
import { ApplicationFailure } from '@temporalio/common';
import { checkUrlResolved } from '../lib/egress';
import { createLLMClient, requestTimeoutMs } from '../llm/client';
import { chat } from '../llm/chat';
import { LLM_FAILURE, toActivityFailure } from '../llm/errors';
import { effectiveBaseUrl } from '../llm/providers';
import { askRouter } from '../llm/router';
import type { ExecuteLLMConfigInput, ExecuteLLMConfigOutput, RouteInput } from '../contract';
import type { RoutingDecision } from '../contract';
import { fallbackDecision } from '../contract';
import { loadActiveLLMConfig } from './configs';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';

export function createLLMActivities({ db, secretBox, config, logger }: ActivityDeps) {
  /** The router LLM is the operator's own endpoint (ROUTER_LLM_*), so no per-user egress check applies. */
  async function route(input: RouteInput): Promise<RoutingDecision> {
    const { ROUTER_LLM_BASE_URL: baseURL, ROUTER_LLM_MODEL: model, ROUTER_LLM_API_KEY: apiKey } = config;
    if (!baseURL || !model) return fallbackDecision(input.configs, input.settings, input.text, 'no router LLM is configured');
    try {
      const client = createLLMClient({ baseURL, apiKey: apiKey ?? null, timeoutMs: requestTimeoutMs() });
      return await withHeartbeat((signal) => askRouter(client, model, input, signal));
    } catch (err) {
      throw toActivityFailure(err, 'router LLM', [apiKey]);
    }
  }

  async function executeLLMConfig(input: ExecuteLLMConfigInput): Promise<ExecuteLLMConfigOutput> {
    const row = await loadActiveLLMConfig(db, input.userId, input.configId);
    const what = `config ${row.id} (${row.config_name})`;
    let apiKey: string | null = null;
    try {
      if (row.api_key) {
        try {
          apiKey = secretBox.decrypt(row.api_key);
        } catch {
          throw ApplicationFailure.nonRetryable('the stored API key cannot be decrypted with the configured keys', LLM_FAILURE.configUnavailable);
        }
      }
      const baseURL = effectiveBaseUrl(row.llm_type ?? null, row.base_url ?? null);
      if (!baseURL) throw ApplicationFailure.nonRetryable('no base_url and no default for its llm_type', LLM_FAILURE.configUnavailable);
      await checkUrlResolved('base_url', baseURL, config.egressAllow);
      const client = createLLMClient({ baseURL, apiKey, timeoutMs: requestTimeoutMs(), egressAllow: config.egressAllow });
      const reply = await withHeartbeat((signal) =>
        chat(
          client,
          {
            model: row.model_name ?? '',
            question: input.question,
            systemPrompt: row.system_prompt ?? null,
            role: input.role,
            history: input.history,
            temperature: row.temperature ?? null,
            maxTokens: row.max_tokens ?? null,
          },
          signal,
        ),
      );
      return reply;
    } catch (err) {
      const failure = toActivityFailure(err, what, [apiKey]);
      logger.warn({ configId: row.id, userId: input.userId, type: failure.type, retryable: !failure.nonRetryable, error: failure.message }, 'LLM call failed');
      throw failure;
    }
  }

  return { route, executeLLMConfig };
}
