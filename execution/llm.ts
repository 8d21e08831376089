// One call of a user's LLM config: its row, its key (decrypted here and nowhere else), the egress
// policy at connect time, streamed when the caller wants the text as it comes. Every failure
// leaves as a classified, scrubbed ApplicationFailure.
import { ApplicationFailure } from '@temporalio/common';
import { cutAnswer, type ExecuteLLMConfigInput, type ExecuteLLMConfigOutput } from '../contract';
import { checkUrlResolved } from '../lib/egress';
import { chat, chatStreamed, type ChatRequest } from '../llm/chat';
import { createLLMClient } from '../llm/client';
import { LLM_FAILURE, toActivityFailure } from '../llm/errors';
import { effectiveBaseUrl } from '../llm/providers';
import type { ExecutionDeps } from './deps';
import { loadConfigRow, openSecret } from './rows';

export interface LLMCallOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Streams the answer: called with each piece and where it starts in the answer. */
  onDelta?: (text: string, offset: number) => void;
  /** The REST `/test` route tries disabled configs too; the message path never runs them. */
  allowInactive?: boolean;
}

export function createLLMExecutor({ db, secretBox, config, logger }: ExecutionDeps) {
  return async function runLLMConfig(input: ExecuteLLMConfigInput, options: LLMCallOptions): Promise<ExecuteLLMConfigOutput> {
    const row = await loadConfigRow(db, input.userId, input.configId, 'llm', {
      requireActive: !options.allowInactive,
      // Half the call's time may go to waiting out a database outage; the call keeps the rest.
      databaseBudgetMs: options.timeoutMs / 2,
    });
    let apiKey: string | null = null;
    try {
      apiKey = row.api_key ? openSecret(secretBox, row.api_key, 'API key') : null;
      const baseURL = effectiveBaseUrl(row.llm_type ?? null, row.base_url ?? null);
      if (!baseURL) throw ApplicationFailure.nonRetryable('no base_url and no default for its llm_type', LLM_FAILURE.configUnavailable);
      await checkUrlResolved('base_url', baseURL, config.egressAllow);
      const client = createLLMClient({
        baseURL,
        apiKey,
        timeoutMs: options.timeoutMs,
        gapMs: config.UPSTREAM_GAP_TIMEOUT,
        egressAllow: config.egressAllow,
      });
      const request: ChatRequest = {
        model: row.model_name ?? '',
        question: input.question,
        systemPrompt: row.system_prompt ?? null,
        role: input.role,
        history: input.history,
        temperature: row.temperature ?? null,
        maxTokens: row.max_tokens ?? null,
        ...(input.chat ? { chat: input.chat } : {}),
      };
      const reply = options.onDelta
        ? await chatStreamed(client, request, options.onDelta, options.signal)
        : await chat(client, request, options.signal);
      // Cut here already (contract/bounds.ts), so no step result grows past what the workflow keeps.
      return { ...reply, answer: cutAnswer(reply.answer) };
    } catch (err) {
      const failure = toActivityFailure(err, `config ${row.id} (${row.config_name})`, [apiKey]);
      logger.warn(
        { configId: row.id, userId: input.userId, type: failure.type, retryable: !failure.nonRetryable, error: failure.message },
        'LLM call failed',
      );
      throw failure;
    }
  };
}
