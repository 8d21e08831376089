// `POST /v1/chat/completions` (issue 17): an OpenAI client's request as a durable message of a
// session workflow (sessions/chat-completions.ts), answered in OpenAI's shape with the
// `switchboard` object and X-Switchboard-* headers, or streamed as Server-Sent Events
// (openai-chat.stream.ts). `model` is "auto" (routed like a socket message) or a config name
// (that config alone); an unknown or inactive name is a 404 `model_not_found`.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Database } from '../db';
import { publicConfigReader } from '../db/public-config';
import { AppError, ValidationError } from '../lib/errors';
import type { ChatCompletions } from '../sessions/chat-completions';
import { MESSAGE_ID_HEADER, SESSION_ID_HEADER } from '../sessions/chat-response';
import { parseChatRequest, chatRequestSchema } from './openai-chat.request';
import { CompletionStream } from './openai-chat.stream';
import { OPENAI_PREFIX } from './openai-errors';
import { AUTO_MODEL } from './openai.routes';
import { userOf } from './respond';
import { KNOWN_METHODS, route, type RouteDocs } from './route-docs';

const MAX_IDEMPOTENCY_KEY = 255;

class ModelNotFoundError extends AppError {
  constructor(model: string) {
    super(
      404,
      'model_not_found',
      `The model ${JSON.stringify(model.slice(0, 100))} does not exist: use "auto" or one of your active LLM configs' names (GET /v1/models)`,
      {
        errors: [{ field: 'model', message: 'is not one of your active LLM configs' }],
      },
    );
  }
}

const chatHeadersSchema = z.object({
  'X-Session-Id': z.string().optional().meta({
    description:
      'One of your sessions: the request is answered there, in order with its other messages. Absent: a one-message session of its own.',
  }),
  'Idempotency-Key': z
    .string()
    .max(MAX_IDEMPOTENCY_KEY)
    .optional()
    .meta({ description: 'Idempotent per user for 24 hours: a retry gets the recorded answer; the same key with another body is a 422.' }),
});

const chatResponseSchema = z
  .looseObject({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number().int(),
    model: z.string().meta({ description: 'The config that answered' }),
    choices: z.array(
      z.looseObject({
        index: z.number().int(),
        message: z.looseObject({ role: z.literal('assistant'), content: z.string().nullable() }),
        finish_reason: z.string(),
      }),
    ),
    usage: z.looseObject({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() }).optional(),
    switchboard: z.object({
      session_id: z.string(),
      message_id: z.string(),
      config_id: z.number().int(),
      config_name: z.string(),
      routed_by: z.string().nullable(),
    }),
  })
  .meta({ id: 'OpenAIChatCompletion' });

function headerValue(ctx: Context, name: string): string | null {
  const value = ctx.get(name);
  return value === '' ? null : value;
}

export function createOpenAiChatRouter(db: Database, chat: ChatCompletions, docs: RouteDocs): Router {
  const router = new Router({ prefix: OPENAI_PREFIX, methods: KNOWN_METHODS });
  const configs = publicConfigReader(db);
  route(
    router,
    docs,
    'post',
    '/chat/completions',
    {
      operationId: 'createChatCompletion',
      summary:
        'OpenAI-compatible chat completion: a durable message of a session (X-Session-Id, or a one-message session); stream: true answers with Server-Sent Events',
      tag: 'OpenAI-compatible',
      bare: true,
      body: chatRequestSchema,
      headers: chatHeadersSchema,
      response: chatResponseSchema,
      errors: [400, 403, 404, 422, 502, 503, 504],
    },
    async (ctx) => {
      const userId = userOf(ctx);
      const request = parseChatRequest(ctx.request.body, AUTO_MODEL);
      const key = headerValue(ctx, 'Idempotency-Key');
      if (key !== null && (key.length > MAX_IDEMPOTENCY_KEY || !/^[\x21-\x7e]+$/.test(key))) {
        throw new ValidationError([{ field: 'Idempotency-Key', message: `must be 1 to ${MAX_IDEMPOTENCY_KEY} printable characters` }]);
      }
      const sessionId = headerValue(ctx, 'X-Session-Id');
      let config: { id: number; name: string } | undefined;
      if (request.model !== AUTO_MODEL) {
        const llms = await configs.list(userId, { type: 'llm', active: true });
        const named = llms.find((c) => c.config_name === request.model);
        if (!named) throw new ModelNotFoundError(request.model);
        config = { id: named.id, name: named.config_name };
      }
      const run = await chat.start({
        userId,
        sessionId,
        text: request.text,
        stream: request.stream,
        spec: {
          messages: request.messages,
          ...(config ? { config } : {}),
          ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
          ...(request.maxTokens !== undefined ? { maxTokens: request.maxTokens } : {}),
          ...(request.stop ? { stop: request.stop } : {}),
          ...(request.tools ? { tools: request.tools } : {}),
          ...(request.toolChoice !== undefined ? { toolChoice: request.toolChoice } : {}),
        },
        ...(key !== null ? { idempotency: { key, request: { body: ctx.request.body, sessionId } } } : {}),
      });
      const headers = { [SESSION_ID_HEADER]: run.sessionId, [MESSAGE_ID_HEADER]: run.messageId };
      if (!request.stream) {
        const outcome = await run.done;
        const answer = 'recorded' in outcome ? outcome.recorded : outcome.answer;
        ctx.status = answer.status;
        ctx.set({ ...answer.headers, ...headers });
        ctx.response.set('Content-Type', 'application/json; charset=utf-8');
        ctx.body = JSON.stringify(answer.body);
        return;
      }
      // Server-Sent Events: Koa hands the response over; the run goes on whether the client stays or not.
      ctx.respond = false;
      ctx.status = 200; // for the request log; the stream writes its own status line

      const stream = new CompletionStream(ctx.res, {
        id: run.messageId,
        created: Math.floor(Date.now() / 1000),
        model: request.model,
        headers,
        includeUsage: request.includeUsage,
      });
      run.onDelta((delta) => stream.delta(delta));
      try {
        const outcome = await run.done;
        stream.finish('recorded' in outcome ? outcome.recorded : outcome.answer);
      } catch (error) {
        const status = error instanceof AppError ? error.status : 500;
        stream.error({
          status,
          type: 'api_error',
          code: error instanceof AppError ? error.code : 'internal',
          message: error instanceof AppError ? error.message : 'Internal server error',
        });
        if (!(error instanceof AppError)) ctx.app.emit('error', error, ctx);
      }
    },
  );
  return router;
}
