// The body of `POST /v1/chat/completions`, read as the openai SDKs, LiteLLM and Open WebUI send it:
// what the service uses is checked and a refusal names the parameter (OpenAI's `param`);
// parameters it does not use (`user`, `presence_penalty`, `n: 1`, …) are accepted and ignored,
// since a strict refusal breaks those clients. Text only: images and audio are a 400 naming
// `messages`. Client tools need a named config (`model: "auto"` routes: a 400 naming `tools`).
import { z } from 'zod';
import { CHAT_TEXT_CHARS, type ChatClientTool, type ChatContextMessage, type ChatToolCall } from '../contract';
import { ValidationError } from '../lib/errors';

export interface ParsedChatRequest {
  model: string;
  /** The last user message (its first CHAT_TEXT_CHARS): what routing reads and the transcript shows. */
  text: string;
  messages: ChatContextMessage[];
  temperature?: number;
  maxTokens?: number;
  stop?: string[];
  tools?: ChatClientTool[];
  toolChoice?: unknown;
  stream: boolean;
  includeUsage: boolean;
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);
const MAX_STOP = 4;

function refuse(param: string, message: string): never {
  throw new ValidationError([{ field: param, message }], `${param}: ${message}`);
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A message's content as text: a string, or the text parts of multi-part content. */
function textOf(content: unknown, index: number): string | null {
  if (content === null || content === undefined) return null;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) refuse('messages', `messages[${index}].content must be a string or an array of text parts`);
  return content
    .map((part: unknown) => {
      if (!isObject(part) || part.type !== 'text' || typeof part.text !== 'string') {
        const kind = isObject(part) && typeof part.type === 'string' ? part.type : 'unknown';
        refuse('messages', `messages[${index}].content: only text parts are supported (got ${kind.slice(0, 40)})`);
      }
      return part.text;
    })
    .join('');
}

function toolCallsOf(value: unknown, index: number): ChatToolCall[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) refuse('messages', `messages[${index}].tool_calls must be an array`);
  return value.map((call: unknown) => {
    if (!isObject(call) || !isObject(call.function) || typeof call.function.name !== 'string' || typeof call.id !== 'string') {
      refuse('messages', `messages[${index}].tool_calls: each needs an id and a function with a name`);
    }
    const args = call.function.arguments;
    return {
      id: call.id,
      type: 'function' as const,
      function: { name: call.function.name, arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}) },
    };
  });
}

function messagesOf(value: unknown): ChatContextMessage[] {
  if (!Array.isArray(value) || value.length === 0) refuse('messages', 'must be a non-empty array of messages');
  return value.map((raw: unknown, index): ChatContextMessage => {
    if (!isObject(raw) || typeof raw.role !== 'string' || !ROLES.has(raw.role)) {
      refuse('messages', `messages[${index}].role must be one of system, developer, user, assistant, tool`);
    }
    const role = raw.role as ChatContextMessage['role'];
    const content = textOf(raw.content, index);
    const name = typeof raw.name === 'string' ? { name: raw.name } : {};
    if (role === 'tool') {
      if (typeof raw.tool_call_id !== 'string') refuse('messages', `messages[${index}].tool_call_id is required for a tool message`);
      return { role, content: content ?? '', tool_call_id: raw.tool_call_id };
    }
    if (role === 'assistant') {
      const calls = toolCallsOf(raw.tool_calls, index);
      return { role, content, ...name, ...(calls?.length ? { tool_calls: calls } : {}) };
    }
    if (content === null) refuse('messages', `messages[${index}].content is required`);
    return { role, content, ...name };
  });
}

function toolsOf(value: unknown): ChatClientTool[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) refuse('tools', 'must be an array of function tools');
  return value.map((tool: unknown, index) => {
    if (!isObject(tool) || tool.type !== 'function' || !isObject(tool.function) || typeof tool.function.name !== 'string') {
      refuse('tools', `tools[${index}] must be {"type": "function", "function": {"name", …}}`);
    }
    const fn = tool.function;
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(fn.name as string)) refuse('tools', `tools[${index}].function.name must match ^[a-zA-Z0-9_-]{1,64}$`);
    if (fn.parameters !== undefined && !isObject(fn.parameters)) refuse('tools', `tools[${index}].function.parameters must be an object`);
    return {
      type: 'function' as const,
      function: {
        name: fn.name as string,
        ...(typeof fn.description === 'string' ? { description: fn.description } : {}),
        ...(isObject(fn.parameters) ? { parameters: fn.parameters } : {}),
        ...(typeof fn.strict === 'boolean' ? { strict: fn.strict } : {}),
      },
    };
  });
}

function toolChoiceOf(value: unknown): unknown {
  if (value === undefined || value === null) return undefined;
  if (value === 'none' || value === 'auto' || value === 'required') return value;
  if (isObject(value) && value.type === 'function' && isObject(value.function) && typeof value.function.name === 'string') {
    return { type: 'function', function: { name: value.function.name } };
  }
  refuse('tool_choice', 'must be "none", "auto", "required" or {"type": "function", "function": {"name"}}');
}

function optionalNumber(body: Record<string, unknown>, param: string, check: (n: number) => boolean, rule: string): number | undefined {
  const value = body[param];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || !check(value)) refuse(param, rule);
  return value;
}

export function parseChatRequest(body: unknown, autoModel: string): ParsedChatRequest {
  if (!isObject(body)) refuse('messages', 'the body must be a JSON object with model and messages');
  if (typeof body.model !== 'string' || body.model.trim() === '')
    refuse('model', `is required: "${autoModel}" or one of your config names`);
  const messages = messagesOf(body.messages);
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  if (!lastUser) refuse('messages', 'needs a user message');
  const n = optionalNumber(body, 'n', (v) => Number.isInteger(v) && v >= 1, 'must be a positive integer');
  if (n !== undefined && n > 1) refuse('n', 'only n = 1 is supported');
  const temperature = optionalNumber(body, 'temperature', (v) => v >= 0 && v <= 2, 'must be between 0 and 2');
  const maxTokens = optionalNumber(body, 'max_tokens', (v) => Number.isInteger(v) && v >= 1, 'must be a positive integer');
  const maxCompletion = optionalNumber(body, 'max_completion_tokens', (v) => Number.isInteger(v) && v >= 1, 'must be a positive integer');
  let stop: string[] | undefined;
  if (typeof body.stop === 'string') stop = [body.stop];
  else if (Array.isArray(body.stop)) {
    if (body.stop.length > MAX_STOP || !body.stop.every((s) => typeof s === 'string'))
      refuse('stop', `must be a string or up to ${MAX_STOP} strings`);
    stop = body.stop as string[];
  } else if (body.stop !== undefined && body.stop !== null) refuse('stop', `must be a string or up to ${MAX_STOP} strings`);
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') refuse('stream', 'must be a boolean');
  const options = body.stream_options;
  if (options !== undefined && options !== null && !isObject(options)) refuse('stream_options', 'must be an object');
  const tools = toolsOf(body.tools);
  const toolChoice = toolChoiceOf(body.tool_choice);
  const model = body.model.trim();
  if (model === autoModel && tools?.length) {
    refuse('tools', `client tools need a named config (model: "<config_name>"); "${autoModel}" routes the request itself`);
  }
  return {
    model,
    text: (lastUser.content ?? '').slice(0, CHAT_TEXT_CHARS),
    messages,
    ...(temperature !== undefined ? { temperature } : {}),
    ...((maxCompletion ?? maxTokens) !== undefined ? { maxTokens: maxCompletion ?? maxTokens } : {}),
    ...(stop?.length ? { stop } : {}),
    ...(tools?.length ? { tools } : {}),
    ...(tools?.length && toolChoice !== undefined ? { toolChoice } : {}),
    stream: body.stream === true,
    includeUsage: isObject(options) && options.include_usage === true,
  };
}

/** The body as the OpenAPI document shows it (the route reads it with parseChatRequest). */
export const chatRequestSchema = z
  .object({
    model: z.string().meta({ description: '"auto" (routed like a socket message) or the config_name of one of your active LLM configs' }),
    messages: z
      .array(
        z.looseObject({
          role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
          content: z.union([z.string(), z.null(), z.array(z.looseObject({ type: z.literal('text'), text: z.string() }))]).optional(),
        }),
      )
      .min(1)
      .meta({ description: 'The whole context; the last user message is the question. Text only.' }),
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().min(1).optional(),
    max_completion_tokens: z.number().int().min(1).optional(),
    stop: z.union([z.string(), z.array(z.string()).max(MAX_STOP)]).optional(),
    stream: z.boolean().optional(),
    stream_options: z.looseObject({ include_usage: z.boolean().optional() }).optional(),
    tools: z.array(z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string() }) })).optional(),
    tool_choice: z.unknown().optional(),
    n: z.literal(1).optional(),
  })
  .loose()
  .meta({ id: 'OpenAIChatCompletionRequest' });
