// What an OpenAI-compatible chat completion request (`POST /v1/chat/completions`) adds to a session
// message, and what its answer carries back beside the text (issue 17). Optional fields of the
// `message` signal and of the result frame: histories recorded before them lack them, and the
// workflow's commands change for them only behind the `openai-chat` patch (workflows/chat-answer.ts).
// No Node imports: bundled into the workflow.
import type { RelayAddress } from './session';

/** A tool call in OpenAI's shape (an assistant's, in history or in an answer). */
export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** One message of the request's context, text only (images and audio are refused at the API). */
export interface ChatContextMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content: string | null;
  name?: string;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
}

/** A client-supplied tool (OpenAI's `tools[]` entry), passed to a named config as it came. */
export interface ChatClientTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

export interface ChatRequestSpec {
  /** The whole context: the session's transcript is not added. The last user message is also the message's `text`. */
  messages: ChatContextMessage[];
  /** `model: "<config_name>"`: that config answers, with its retries, no routing and no fallback to others. */
  config?: { id: number; name: string };
  temperature?: number;
  maxTokens?: number;
  stop?: string[];
  /** Client tools, only with a named config. */
  tools?: ChatClientTool[];
  toolChoice?: unknown;
  /** Where this message's frames (deltas, its result) go: the API process that holds the request. */
  replyTo: RelayAddress;
}

export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** A provider failure, classified, for the HTTP status the API answers with. */
export interface ChatFailure {
  /** The failure type (llm/errors.ts LLM_FAILURE), or `timeout` when the step itself timed out. */
  type: string;
  /** The provider's HTTP status, when it answered with one. */
  status?: number;
  /** The provider's own error code (`context_length_exceeded`), when it gave one. */
  code?: string;
  /** The provider's Retry-After (a 429), in ms. */
  retryAfterMs?: number;
}

/** What a chat completion answer carries beside its text (in the step's result and the result frame). */
export interface ChatCompletionExtras {
  finish_reason?: string;
  tool_calls?: ChatToolCall[];
  usage?: ChatUsage;
  /** Set on a failed answer: why the last config failed. */
  failure?: ChatFailure;
}

/**
 * A request's question as the message's `text` (what routing reads and the transcript shows) is cut
 * here: the context holds it whole, and one copy of a long question must not double the signal.
 */
export const CHAT_TEXT_CHARS = 16_000;

/** Client tools and the context are bounded by the request body (1 MiB); this bounds what a result keeps of tool calls. */
export const MAX_TOOL_CALL_BYTES = 64 * 1024;
