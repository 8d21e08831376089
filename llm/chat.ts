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
