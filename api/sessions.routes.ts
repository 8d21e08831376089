// /sessions: the caller's WebSocket sessions (status, cached configs, transcript), their settings
// and closing them. Thin: the session service does the work.
import Router from '@koa/router';
import { z } from 'zod';
import { SESSION_STATUSES } from '../db';
import { sessionListQuerySchema, sessionSettingsUpdateSchema } from '../sessions/session.schemas';
import type { SessionService } from '../sessions/sessions.service';
import { publicConfigSchema } from './openapi';
import { respond, userOf } from './respond';
import { KNOWN_METHODS, route, type RouteDocs } from './route-docs';

const sessionSummarySchema = z
  .object({
    id: z.string(),
    workflow_id: z.string().meta({ description: 'The Temporal workflow of the session, session-<userId>-<sessionId>' }),
    status: z.enum(SESSION_STATUSES),
    device_id: z.string().nullable(),
    created_at: z.string(),
    last_activity_at: z.string().nullable(),
    expires_at: z.string().nullable(),
  })
  .meta({ id: 'SessionSummary' });

const resultFrameSchema = z.object({
  type: z.literal('function_call_result'),
  id: z.string(),
  config_id: z.number().int(),
  config_name: z.string(),
  result: z.string(),
  execute_time: z.number(),
  status: z.enum(['success', 'failed']),
  error: z.string().optional(),
  routed_by: z.enum(['router_llm', 'fallback']).optional(),
  fallback_from: z.object({ config_id: z.number().int(), config_name: z.string(), error: z.string() }).optional(),
});

const sessionDetailSchema = sessionSummarySchema
  .extend({
    settings: z.object({
      default_llm_id: z.number().int().nullable(),
      enabled_functions: z.array(z.string()).nullable(),
      role: z.string().nullable(),
    }),
    configs: z.array(publicConfigSchema),
    transcript: z.array(
      z.object({
        id: z.string(),
        text: z.string(),
        receivedAt: z.number(),
        routing: z.record(z.string(), z.unknown()).nullable().meta({ description: 'How the router decided' }),
        result: resultFrameSchema.nullable(),
      }),
    ),
    pending_ids: z.array(z.string()),
    unacked_results: z.number().int(),
    source: z.enum(['workflow', 'database']),
  })
  .meta({ id: 'SessionDetail' });

export function createSessionsRouter(service: SessionService, docs: RouteDocs): Router {
  const router = new Router({ prefix: '/api/v1', methods: KNOWN_METHODS });
  const tag = 'Sessions';
  route(
    router,
    docs,
    'get',
    '/sessions',
    {
      summary: 'List your sessions, newest first, a page at a time (limit, then cursor = the previous next_cursor)',
      tag,
      query: sessionListQuerySchema,
      response: z.array(sessionSummarySchema),
      envelope: {
        next_cursor: z
          .string()
          .nullable()
          .meta({ description: 'Pass as cursor for the next page; null on the last page. Opaque: use it as given' }),
      },
    },
    async (ctx) => {
      const page = await service.list(userOf(ctx), ctx.query);
      respond(ctx, page.sessions, { extra: { next_cursor: page.next_cursor } });
    },
  );
  route(
    router,
    docs,
    'get',
    '/sessions/:id',
    { summary: 'One session: settings, cached configs, transcript', tag, response: sessionDetailSchema, errors: [404] },
    async (ctx) => {
      respond(ctx, await service.get(userOf(ctx), ctx.params.id!));
    },
  );
  route(
    router,
    docs,
    'patch',
    '/sessions/:id',
    {
      summary: 'Set default_llm_id / enabled_functions (forwarded to the live session)',
      tag,
      body: sessionSettingsUpdateSchema,
      response: sessionDetailSchema,
      errors: [400, 404, 409, 503],
    },
    async (ctx) => {
      respond(ctx, await service.update(userOf(ctx), ctx.params.id!, ctx.request.body), { message: 'updated' });
    },
  );
  route(
    router,
    docs,
    'delete',
    '/sessions/:id',
    { summary: 'Close a session', tag, response: sessionSummarySchema, errors: [404, 503] },
    async (ctx) => {
      respond(ctx, await service.close(userOf(ctx), ctx.params.id!), { message: 'closed' });
    },
  );
  return router;
}
