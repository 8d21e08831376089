// A chat completion request's answer in OpenAI's shape (`POST /v1/chat/completions`), built from
// the message's result frame: the completion with the `switchboard` object, or a failure as an
// OpenAI error with the status a client expects (429 rate limits, 504 timeouts, a provider's 400
// passed through with its code, 502 otherwise). Also what an Idempotency-Key records.
import { SESSION_BUSY_TEXT, type ChatToolCall, type ResultFrame } from '../contract';
import type { RecordedChatAnswer } from '../db';

export interface SwitchboardInfo {
  session_id: string;
  message_id: string;
  config_id: number;
  config_name: string;
  routed_by: string | null;
}

export interface CompletionMessage {
  role: 'assistant';
  content: string | null;
  tool_calls?: ChatToolCall[];
  refusal: null;
}

export interface ChatCompletionBody {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: { index: 0; message: CompletionMessage; finish_reason: string; logprobs: null }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  switchboard: SwitchboardInfo;
}

export const SESSION_ID_HEADER = 'X-Switchboard-Session-Id';
export const MESSAGE_ID_HEADER = 'X-Switchboard-Message-Id';

export function switchboardInfo(result: ResultFrame, sessionId: string): SwitchboardInfo {
  return {
    session_id: sessionId,
    message_id: result.id,
    config_id: result.config_id,
    config_name: result.config_name,
    routed_by: result.routed_by ?? null,
  };
}

export function completionBody(result: ResultFrame, sessionId: string, created: number): ChatCompletionBody {
  const extras = result.completion;
  const toolCalls = extras?.tool_calls?.length ? { tool_calls: extras.tool_calls } : {};
  return {
    id: result.id,
    object: 'chat.completion',
    created,
    model: result.config_name,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: toolCalls.tool_calls && !result.result ? null : result.result, ...toolCalls, refusal: null },
        finish_reason: extras?.finish_reason ?? (toolCalls.tool_calls ? 'tool_calls' : 'stop'),
        logprobs: null,
      },
    ],
    ...(extras?.usage ? { usage: extras.usage } : {}),
    switchboard: switchboardInfo(result, sessionId),
  };
}

export interface OpenAiFailure {
  status: number;
  type: string;
  code: string;
  message: string;
  retryAfterSeconds?: number;
}

/** A failed result as the HTTP failure a client of the OpenAI API expects. */
export function failureOf(result: ResultFrame): OpenAiFailure {
  const message = result.error ?? 'the request failed';
  const failure = result.completion?.failure;
  if (!failure) {
    if (result.error === SESSION_BUSY_TEXT)
      return { status: 429, type: 'rate_limit_error', code: 'session_busy', message, retryAfterSeconds: 1 };
    return { status: 502, type: 'api_error', code: 'no_answer', message };
  }
  switch (failure.type) {
    case 'LLMRateLimited':
      return {
        status: 429,
        type: 'rate_limit_error',
        code: 'rate_limit_exceeded',
        message,
        // The provider's Retry-After when it gave one, else a second.
        retryAfterSeconds: Math.max(1, Math.ceil((failure.retryAfterMs ?? 0) / 1000)),
      };
    case 'LLMTimeout':
    case 'timeout':
      return { status: 504, type: 'api_error', code: 'timeout', message };
    case 'LLMRequestRejected':
      if (failure.status === 400) return { status: 400, type: 'invalid_request_error', code: failure.code ?? 'provider_rejected', message };
      return { status: 502, type: 'api_error', code: 'provider_rejected', message };
    default:
      return { status: 502, type: 'api_error', code: 'provider_failed', message };
  }
}

export function failureBody(failure: OpenAiFailure) {
  return { error: { message: failure.message, type: failure.type, param: null, code: failure.code } };
}

/** The whole HTTP answer for a result (what an Idempotency-Key records). */
export function answerFor(result: ResultFrame, sessionId: string, created: number): RecordedChatAnswer {
  const headers = { [SESSION_ID_HEADER]: sessionId, [MESSAGE_ID_HEADER]: result.id };
  if (result.status === 'success') return { status: 200, body: completionBody(result, sessionId, created), headers };
  const failure = failureOf(result);
  return {
    status: failure.status,
    body: failureBody(failure),
    headers: { ...headers, ...(failure.retryAfterSeconds !== undefined ? { 'Retry-After': String(failure.retryAfterSeconds) } : {}) },
  };
}
