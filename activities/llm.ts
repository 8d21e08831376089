// LLM steps: routing a message and executing an LLM config. Keys are decrypted here and nowhere
// else; every failure leaves as a classified, scrubbed ApplicationFailure.
import { ApplicationFailure } from '@temporalio/common';
import {
  fallbackDecision,
  type ExecuteLLMConfigInput,
  type ExecuteLLMConfigOutput,
  type RouteInput,
  type RoutingDecision,
} from '../contract';
import { checkUrlResolved } from '../lib/egress';
import { chat } from '../llm/chat';
import { createLLMClient, requestTimeoutMs } from '../llm/client';
import { LLM_FAILURE, toActivityFailure } from '../llm/errors';
import { effectiveBaseUrl } from '../llm/providers';
import { askRouter } from '../llm/router';
import { loadActiveLLMConfig } from './configs';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';

/** The answer of a provider is cut here already, so no result payload grows past what the workflow keeps. */
const MAX_ANSWER_CHARS = 64 * 1024;

export function createLLMActivities({ db, secretBox, config, logger }: ActivityDeps) {
  const routerConfigured = Boolean(config.ROUTER_LLM_BASE_URL && config.ROUTER_LLM_MODEL);

  /** One router call. The router LLM is the operator's own endpoint (ROUTER_LLM_*), so no per-user egress check applies. */
  async function askRouterOnce(input: RouteInput, timeoutMs: number, signal?: AbortSignal): Promise<RoutingDecision> {
    const { ROUTER_LLM_BASE_URL: baseURL, ROUTER_LLM_MODEL: model, ROUTER_LLM_API_KEY: apiKey } = config;
    try {
      const client = createLLMClient({ baseURL: baseURL!, apiKey: apiKey ?? null, timeoutMs });
      return await askRouter(client, model!, input, signal);
    } catch (err) {
      throw toActivityFailure(err, 'router LLM', [apiKey]);
    }
  }

  /** One call of a user's LLM config: its row, its key, the egress policy at connect time. */
  async function callConfig(input: ExecuteLLMConfigInput, timeoutMs: number, signal?: AbortSignal): Promise<ExecuteLLMConfigOutput> {
    const row = await loadActiveLLMConfig(db, input.userId, input.configId);
    const what = `config ${row.id} (${row.config_name})`;
    let apiKey: string | null = null;
    try {
      if (row.api_key) {
        try {
          apiKey = secretBox.decrypt(row.api_key);
        } catch {
          throw ApplicationFailure.nonRetryable(
            'the stored API key cannot be decrypted with the configured keys',
            LLM_FAILURE.configUnavailable,
          );
        }
      }
      const baseURL = effectiveBaseUrl(row.llm_type ?? null, row.base_url ?? null);
      if (!baseURL) throw ApplicationFailure.nonRetryable('no base_url and no default for its llm_type', LLM_FAILURE.configUnavailable);
      await checkUrlResolved('base_url', baseURL, config.egressAllow);
      const client = createLLMClient({ baseURL, apiKey, timeoutMs, egressAllow: config.egressAllow });
      const reply = await chat(
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
      );
      return { ...reply, answer: reply.answer.slice(0, MAX_ANSWER_CHARS) };
    } catch (err) {
      const failure = toActivityFailure(err, what, [apiKey]);
      logger.warn(
        { configId: row.id, userId: input.userId, type: failure.type, retryable: !failure.nonRetryable, error: failure.message },
        'LLM call failed',
      );
      throw failure;
    }
  }

  /** v1 path: routing as its own activity (Temporal retries the router; the workflow falls back). */
  async function route(input: RouteInput): Promise<RoutingDecision> {
    if (!routerConfigured) return fallbackDecision(input.configs, input.settings, input.text, 'no router LLM is configured');
    return withHeartbeat((signal) => askRouterOnce(input, requestTimeoutMs(), signal));
  }

  async function executeLLMConfig(input: ExecuteLLMConfigInput): Promise<ExecuteLLMConfigOutput> {
    return withHeartbeat((signal) => callConfig(input, requestTimeoutMs(), signal));
  }

  return { routerConfigured, askRouterOnce, callConfig, route, executeLLMConfig };
}

export type LLMSteps = ReturnType<typeof createLLMActivities>;
