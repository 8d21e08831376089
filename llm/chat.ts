// Executing an LLM config: one chat completion with the config's model, sampling settings and
// system prompt, the session's role and recent turns as context.
import type OpenAI from 'openai';
import type { ChatTurn } from '../contract';

export interface ChatRequest {
  model: string;
  question: string;
  systemPrompt: string | null;
  role: string | null;
  history: readonly ChatTurn[];
  temperature: number | null;
  maxTokens: number | null;
}

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam;

export function chatMessages(req: ChatRequest): Message[] {
  const messages: Message[] = [];
  if (req.systemPrompt) messages.push({ role: 'system', content: req.systemPrompt });
  if (req.role) messages.push({ role: 'system', content: `From now on you act as: ${req.role}` });
  for (const turn of req.history) {
    messages.push({ role: 'user', content: turn.question }, { role: 'assistant', content: turn.answer });
  }
  messages.push({ role: 'user', content: req.question });
  return messages;
}

export async function chat(client: OpenAI, req: ChatRequest, signal?: AbortSignal): Promise<{ answer: string; model: string }> {
  const completion = await client.chat.completions.create(
    {
      model: req.model,
      messages: chatMessages(req),
      ...(req.temperature !== null ? { temperature: req.temperature } : {}),
      ...(req.maxTokens !== null ? { max_tokens: req.maxTokens } : {}),
    },
    { signal },
  );
  const answer = completion.choices[0]?.message?.content ?? '';
  return { answer, model: completion.model || req.model };
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
): Promise<{ answer: string; model: string }> {
  const stream = await client.chat.completions.create(
    {
      model: req.model,
      messages: chatMessages(req),
      stream: true,
      ...(req.temperature !== null ? { temperature: req.temperature } : {}),
      ...(req.maxTokens !== null ? { max_tokens: req.maxTokens } : {}),
    },
    { signal },
  );
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
    const piece = chunk.choices[0]?.delta?.content;
    if (!piece) continue;
    answer += piece;
    if (answer.length - sent >= DELTA_MIN_CHARS || Date.now() - lastSentAt >= DELTA_MAX_WAIT_MS) flush();
  }
  flush();
  return { answer, model: model || req.model };
}
