// A chat completion request's message in the answer step (contract/openai-chat.ts): what the LLM
// call takes of it, and a provider failure classified for the API's HTTP status.
import type { ApplicationFailure } from '@temporalio/common';
import type { ChatCallSpec, ChatFailure, ChatRequestSpec } from '../contract';

export function chatCallSpec(chat: ChatRequestSpec): ChatCallSpec {
  const { messages, temperature, maxTokens, stop, tools, toolChoice } = chat;
  return { messages, temperature, maxTokens, stop, tools, toolChoice };
}

export function chatFailure(failure: ApplicationFailure): ChatFailure {
  const detail = (failure.details?.[0] ?? {}) as { status?: unknown; code?: unknown; retryAfterMs?: unknown };
  return {
    type: failure.type ?? 'unknown',
    ...(typeof detail.status === 'number' ? { status: detail.status } : {}),
    ...(typeof detail.code === 'string' ? { code: detail.code } : {}),
    ...(typeof detail.retryAfterMs === 'number' ? { retryAfterMs: detail.retryAfterMs } : {}),
  };
}
