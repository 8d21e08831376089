// What a chat completion request (`POST /v1/chat/completions`, contract/openai-chat.ts) changes in
// an LLM call: its messages are the context after the config's system prompt (a client's system
// message adds to it), its sampling settings override the config's, its tools go to the provider,
// and the answer's finish reason, tool calls and usage come back.
import type OpenAI from 'openai';
import { MAX_TOOL_CALL_BYTES, type ChatCallSpec, type ChatCompletionExtras, type ChatToolCall } from '../contract';

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam;

/** The request's messages as the provider takes them (text only, checked at the API). */
export function chatContext(spec: ChatCallSpec): Message[] {
  return spec.messages.map((m): Message => {
    switch (m.role) {
      case 'tool':
        return { role: 'tool', content: m.content ?? '', tool_call_id: m.tool_call_id ?? '' };
      case 'assistant':
        return {
          role: 'assistant',
          content: m.content,
          ...(m.name ? { name: m.name } : {}),
          ...(m.tool_calls?.length ? { tool_calls: m.tool_calls } : {}),
        };
      case 'developer':
      case 'system':
        return { role: 'system', content: m.content ?? '' };
      case 'user':
        return { role: 'user', content: m.content ?? '', ...(m.name ? { name: m.name } : {}) };
    }
  });
}

/** The request's overrides over the config's settings, and its tools. */
export function chatOverrides(spec: ChatCallSpec, config: { temperature: number | null; maxTokens: number | null }) {
  const temperature = spec.temperature ?? config.temperature;
  const maxTokens = spec.maxTokens ?? config.maxTokens;
  return {
    ...(temperature !== null ? { temperature } : {}),
    ...(maxTokens !== null ? { max_tokens: maxTokens } : {}),
    ...(spec.stop?.length ? { stop: spec.stop } : {}),
    ...(spec.tools?.length ? { tools: spec.tools as OpenAI.Chat.Completions.ChatCompletionTool[] } : {}),
    ...(spec.tools?.length && spec.toolChoice !== undefined
      ? { tool_choice: spec.toolChoice as OpenAI.Chat.Completions.ChatCompletionToolChoiceOption }
      : {}),
  };
}

type ProviderToolCall = OpenAI.Chat.Completions.ChatCompletionMessageToolCall;

/** Tool calls kept within MAX_TOOL_CALL_BYTES (a result stays small whatever the provider sends). */
function boundedCalls(calls: ChatToolCall[]): ChatToolCall[] {
  const kept: ChatToolCall[] = [];
  let bytes = 0;
  for (const call of calls) {
    bytes += JSON.stringify(call).length;
    if (bytes > MAX_TOOL_CALL_BYTES) break;
    kept.push(call);
  }
  return kept;
}

export function completionExtras(
  finishReason: string | null | undefined,
  toolCalls: readonly ProviderToolCall[] | undefined,
  usage: OpenAI.CompletionUsage | null | undefined,
): ChatCompletionExtras {
  const calls = (toolCalls ?? [])
    .filter((c): c is Extract<ProviderToolCall, { type: 'function' }> => c.type === 'function')
    .map((c): ChatToolCall => ({ id: c.id, type: 'function', function: { name: c.function.name, arguments: c.function.arguments } }));
  return {
    finish_reason: finishReason ?? 'stop',
    ...(calls.length ? { tool_calls: boundedCalls(calls) } : {}),
    ...(usage
      ? { usage: { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, total_tokens: usage.total_tokens } }
      : {}),
  };
}

/** Streamed tool calls arrive in pieces by index; this puts them together. */
export class StreamedToolCalls {
  private readonly byIndex = new Map<number, { id: string; name: string; arguments: string }>();

  add(pieces: readonly OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta.ToolCall[]): void {
    for (const piece of pieces) {
      const call = this.byIndex.get(piece.index) ?? { id: '', name: '', arguments: '' };
      if (piece.id) call.id = piece.id;
      if (piece.function?.name) call.name += piece.function.name;
      if (piece.function?.arguments) call.arguments += piece.function.arguments;
      this.byIndex.set(piece.index, call);
    }
  }

  calls(): ProviderToolCall[] {
    return [...this.byIndex.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, c]) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } }));
  }
}
