// Executing an LLM config: one chat completion with the config's model, sampling settings and
// system prompt, the session's role and recent turns as context.
import type OpenAI from 'openai';
import type { ChatCallSpec, ChatCompletionExtras, ChatTurn } from '../contract';
import { completionExtras, chatContext, chatOverrides, StreamedToolCalls } from './chat-request';

export interface ChatRequest {
  model: string;
  question: string;
  systemPrompt: string | null;
  role: string | null;
  history: readonly ChatTurn[];
  temperature: number | null;
  maxTokens: number | null;
  /** A chat completion request (`POST /v1/chat/completions`): its context, overrides and tools. */
  chat?: ChatCallSpec;
}

export interface ChatReply {
  answer: string;
  model: string;
  /** Chat completion requests only: finish reason, tool calls, usage. */
  completion?: ChatCompletionExtras;
}

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam;

export function chatMessages(req: ChatRequest): Message[] {
  const messages: Message[] = [];
  if (req.systemPrompt) messages.push({ role: 'system', content: req.systemPrompt });
  if (req.role) messages.push({ role: 'system', content: `From now on you act as: ${req.role}` });
  if (req.chat) return [...messages, ...chatContext(req.chat)];
  for (const turn of req.history) {
    messages.push({ role: 'user', content: turn.question }, { role: 'assistant', content: turn.answer });
  }
  messages.push({ role: 'user', content: req.question });
  return messages;
}

/** The sampling settings: the config's, or a chat completion request's overrides and tools. */
function settings(req: ChatRequest) {
  if (req.chat) return chatOverrides(req.chat, req);
  return {
    ...(req.temperature !== null ? { temperature: req.temperature } : {}),
    ...(req.maxTokens !== null ? { max_tokens: req.maxTokens } : {}),
  };
}

export async function chat(client: OpenAI, req: ChatRequest, signal?: AbortSignal): Promise<ChatReply> {
  const completion = await client.chat.completions.create({ model: req.model, messages: chatMessages(req), ...settings(req) }, { signal });
  const choice = completion.choices[0];
  const answer = choice?.message?.content ?? '';
  const reply = { answer, model: completion.model || req.model };
  return req.chat
    ? { ...reply, completion: completionExtras(choice?.finish_reason, choice?.message?.tool_calls, completion.usage) }
    : reply;
}

/** Streamed text reaches the caller in pieces of at least this size or this age, so a fast provider does not mean a frame per token. */
const DELTA_MIN_CHARS = 48;
const DELTA_MAX_WAIT_MS = 80;

/**
 * The same completion, streamed: `onDelta(text, offset)` gets the answer in pieces as the
 * provider sends it (batched, see above), and the whole answer is returned at the end, exactly
 * what `chat` would have returned.
 */
export async function chatStreamed(
  client: OpenAI,
  req: ChatRequest,
  onDelta: (text: string, offset: number) => void,
  signal?: AbortSignal,
): Promise<ChatReply> {
  const stream = await client.chat.completions.create(
    {
      model: req.model,
      messages: chatMessages(req),
      stream: true,
      ...(req.chat ? { stream_options: { include_usage: true } } : {}),
      ...settings(req),
    },
    { signal },
  );
  const toolCalls = new StreamedToolCalls();
  let finishReason: string | undefined;
  let usage: OpenAI.CompletionUsage | undefined;
  let answer = '';
  let model = '';
  let sent = 0;
  let lastSentAt = Date.now();
  const flush = (): void => {
    if (answer.length === sent) return;
    onDelta(answer.slice(sent), sent);
    sent = answer.length;
    lastSentAt = Date.now();
  };
  for await (const chunk of stream) {
    model ||= chunk.model;
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (choice?.finish_reason) finishReason = choice.finish_reason;
    if (choice?.delta?.tool_calls) toolCalls.add(choice.delta.tool_calls);
    const piece = choice?.delta?.content;
    if (!piece) continue;
    answer += piece;
    if (answer.length - sent >= DELTA_MIN_CHARS || Date.now() - lastSentAt >= DELTA_MAX_WAIT_MS) flush();
  }
  flush();
  const reply = { answer, model: model || req.model };
  return req.chat ? { ...reply, completion: completionExtras(finishReason, toolCalls.calls(), usage) } : reply;
}
