// A chat completion request's message (`POST /v1/chat/completions`, contract/openai-chat.ts) in
// the session workflow: its context instead of the session's recent turns, its frames to the API
// process that holds the request, and, for a named config (`model: "<config_name>"`), that config
// alone with its retries: no fallback to others. Only the last changes the workflow's commands
// (fewer steps), behind CHAT_PATCH; the rest is data of activity inputs and sinks outside history.
import { ActivityFailure, ApplicationFailure, patched, TimeoutFailure } from '@temporalio/workflow';
import type { CachedConfig, ChatCallSpec, ChatFailure, ChatTurn, IncomingMessage, RelayAddress, RelayFrame } from '../contract';
import type { SessionData } from './session-state';

/** A named config answers a chat completion request alone (its retries, no fallback to other configs). */
export const CHAT_PATCH = 'openai-chat-completions';

/** Where a message's frames go: the request's API process for a chat completion, else the attached socket. */
export function replyAddress(session: Pick<SessionData, 'relayAddress'>, message: Pick<IncomingMessage, 'chat'>): RelayAddress | null {
  return message.chat?.replyTo ?? session.relayAddress;
}

/** The context of an LLM call: a request's own messages (the transcript is not added), else the session's recent turns. */
export function callContext(session: SessionData, message: IncomingMessage): { history: ChatTurn[]; chat?: ChatCallSpec } {
  const chat = message.chat;
  if (!chat) return { history: session.recentTurns() };
  const { messages, temperature, maxTokens, stop, tools, toolChoice } = chat;
  return { history: [], chat: { messages, temperature, maxTokens, stop, tools, toolChoice } };
}

/**
 * The configs that may answer, in order: a named config alone (CHAT_PATCH; as the request named
 * it, should the session's cache not hold it yet), else the chosen one and its fallbacks.
 */
export function namedAnswerOrder(configs: readonly CachedConfig[], message: IncomingMessage): CachedConfig[] | undefined {
  const named = message.chat?.config;
  if (!named || !patched(CHAT_PATCH)) return undefined;
  const cached = configs.find((c) => c.id === named.id);
  return [
    cached ?? {
      id: named.id,
      config_name: named.name,
      config_type: 'llm',
      description: null,
      llm_type: null,
      model_name: null,
      function_name: null,
      is_active: true,
      priority: 0,
    },
  ];
}

/** Why a config's step failed, classified for the HTTP status the API answers with (chat completion requests). */
export function chatFailureOf(err: unknown): ChatFailure {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof TimeoutFailure) return { type: 'timeout' };
  if (cause instanceof ApplicationFailure) {
    const detail = (cause.details?.[0] ?? {}) as { status?: unknown; code?: unknown; retryAfterMs?: unknown };
    return {
      type: cause.type ?? 'unknown',
      ...(typeof detail.status === 'number' ? { status: detail.status } : {}),
      ...(typeof detail.code === 'string' ? { code: detail.code } : {}),
      ...(typeof detail.retryAfterMs === 'number' ? { retryAfterMs: detail.retryAfterMs } : {}),
    };
  }
  return { type: 'unknown' };
}

/**
 * Which address each frame goes to: frames of a chat completion request's message to its API
 * process, every other frame to the session's socket. Rebuilt from the signals on replay and from
 * the pending messages after continue-as-new; a result whose address is lost is read from the
 * outbox by the API (its `state` query fallback).
 */
export class ReplyAddresses {
  private readonly byMessage = new Map<string, RelayAddress>();

  constructor(pending: readonly IncomingMessage[] = []) {
    for (const message of pending) this.note(message);
  }

  note(message: IncomingMessage): void {
    if (message.chat?.replyTo && !this.byMessage.has(message.id)) this.byMessage.set(message.id, message.chat.replyTo);
    // Bounded like the de-duplication ids: a request's result normally goes out within its own task.
    if (this.byMessage.size > 1000) this.byMessage.delete(this.byMessage.keys().next().value!);
  }

  /** The frames grouped by address, in order within each group; a result frame ends its message's entry. */
  route(frames: readonly RelayFrame[], session: RelayAddress | null): [RelayAddress, RelayFrame[]][] {
    const groups = new Map<RelayAddress, RelayFrame[]>();
    for (const frame of frames) {
      const id = 'id' in frame && typeof frame.id === 'string' ? frame.id : undefined;
      const address = (id !== undefined ? this.byMessage.get(id) : undefined) ?? session;
      if (frame.type === 'function_call_result') this.byMessage.delete(frame.id);
      if (!address) continue;
      groups.set(address, [...(groups.get(address) ?? []), frame]);
    }
    return [...groups.entries()];
  }
}
