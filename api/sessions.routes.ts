// /sessions: the caller's WebSocket sessions (status, cached configs, transcript), their settings
// and closing them. Thin: the session service does the work.
import Router from '@koa/router';
import { z } from 'zod';
import type { CachedConfig } from '../contract';
import { SESSION_STATUSES } from '../db';
import { sessionAuditQuerySchema, sessionListQuerySchema, sessionSettingsUpdateSchema } from '../sessions/session.schemas';
import type { SessionService } from '../sessions/sessions.service';
import { publicConfigSchema } from './openapi';
import { respond, userOf } from './respond';
import { KNOWN_METHODS, route, type RouteDocs, type RouteLink } from './route-docs';

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
  routed_by: z.enum(['router_llm', 'similarity', 'fallback', 'named']).optional(),
  fallback_from: z.object({ config_id: z.number().int(), config_name: z.string(), error: z.string() }).optional(),
  completion: z
    .looseObject({ finish_reason: z.string().optional() })
    .optional()
    .meta({ description: 'A chat completion request (POST /v1/chat/completions): finish reason, tool calls, usage, or why it failed' }),
});

/** A config as a session caches it (contract/session.ts, toCachedConfig): the summary routing reads, never a secret. */
const cachedConfigSchema = publicConfigSchema
  .pick({
    id: true,
    config_name: true,
    config_type: true,
    description: true,
    llm_type: true,
    model_name: true,
    function_name: true,
    is_active: true,
    priority: true,
  })
  .meta({
    id: 'CachedConfig',
    description: 'A config as the session caches it: description cut at 500 characters, no parameters or secrets',
  });

// Compile-time guard: the documented shape is exactly the cached one.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _sameShape: Same<z.infer<typeof cachedConfigSchema>, CachedConfig> = true;

const sessionDetailSchema = sessionSummarySchema
  .extend({
    settings: z.object({
      default_llm_id: z.number().int().nullable(),
      enabled_functions: z.array(z.string()).nullable(),
      role: z.string().nullable(),
    }),
    configs: z.array(cachedConfigSchema),
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

const configRef = { config_id: z.number().int(), config_name: z.string().nullable() };

const auditEntrySchema = z
  .object({
    message_id: z.string().nullable(),
    text: z.string().nullable(),
    received_at: z.string().nullable(),
    offered: z
      .array(
        z.object({
          tool: z.string(),
          kind: z.enum(['llm_config', 'function', 'builtin', 'device_tool']),
          ...configRef,
          config_id: z.number().int().nullable(),
        }),
      )
      .meta({
        description:
          "The tools routing was given: use_ai_config_<id> per LLM config, function names, enabled built-ins, the device's tools",
      }),
    offered_source: z.enum(['recorded', 'derived']).meta({
      description: "`recorded` in the routing step's result; `derived` from the cached configs and settings in history (older sessions)",
    }),
    routing: z.record(z.string(), z.unknown()).nullable().meta({ description: 'The routing decision as recorded' }),
    chosen: z.string().nullable().meta({ description: 'The tool or built-in chosen, or direct_answer / none' }),
    routed_by: z.enum(['router_llm', 'similarity', 'fallback', 'named']).nullable(),
    executed_by: z.object(configRef).nullable(),
    fallback_from: z.object({ ...configRef, error: z.string() }).nullable(),
    status: z.enum(['success', 'failed', 'in_progress', 'unanswered']),
    error: z.string().nullable(),
    answer: z.string().nullable().meta({ description: "The answer as history holds it (a built-in's is not recorded)" }),
    attempts: z.array(
      z.object({
        step: z.enum(['first_attempt', 'retry', 'fallback']),
        ...configRef,
        tries: z.number().int().meta({ description: "Tries within this step (Temporal's retries of one local activity)" }),
        status: z.enum(['success', 'failed']),
        error: z.string().nullable(),
        model: z.string().nullable(),
        duration_ms: z.number().nullable(),
        finished_at: z.string().nullable(),
      }),
    ),
    timings: z.object({
      routing_ms: z.number().nullable(),
      step_ms: z.number().nullable(),
      execute_ms: z.number().nullable(),
      total_ms: z.number().nullable(),
      answered_at: z.string().nullable(),
    }),
    workflow_id: z.string(),
    run_id: z.string().meta({ description: 'The run (continue-as-new starts a new one) whose history records this message' }),
    temporal_ui_url: z.string().nullable().meta({ description: 'The run in the Temporal UI (TEMPORAL_UI_URL); null when not configured' }),
  })
  .meta({ id: 'SessionAuditEntry' });

export function createSessionsRouter(service: SessionService, docs: RouteDocs): Router {
  const router = new Router({ prefix: '/api/v1', methods: KNOWN_METHODS });
  const tag = 'Sessions';
  /** Links from an answer that names a session to what can be done with it next. */
  const sessionLinks = (expression: string, names: readonly string[]): Record<string, RouteLink> =>
    Object.fromEntries(names.map((name) => [name, { operationId: name, parameters: { id: expression } }]));
  const NEXT = ['getSession', 'getSessionAudit', 'updateSession', 'closeSession'] as const;
  route(
    router,
    docs,
    'get',
    '/sessions',
    {
      operationId: 'listSessions',
      links: {
        ...sessionLinks('$response.body#/data/0/id', NEXT),
        nextPage: { operationId: 'listSessions', parameters: { cursor: '$response.body#/next_cursor' } },
      },
      summary:
        'List your sessions, newest first, a page at a time (limit, then cursor = the previous next_cursor), optionally only those with one status',
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
    {
      operationId: 'getSession',
      links: sessionLinks('$request.path.id', ['getSessionAudit', 'updateSession', 'closeSession']),
      summary: 'One session: settings, cached configs, transcript',
      tag,
      response: sessionDetailSchema,
      errors: [404],
    },
    async (ctx) => {
      respond(ctx, await service.get(userOf(ctx), ctx.params.id!));
    },
  );
  route(
    router,
    docs,
    'get',
    '/sessions/:id/audit',
    {
      operationId: 'getSessionAudit',
      links: {
        ...sessionLinks('$request.path.id', ['getSession']),
        nextPage: { operationId: 'getSessionAudit', parameters: { id: '$request.path.id', cursor: '$response.body#/next_cursor' } },
      },
      summary:
        "A session's audit trail from Temporal's history (every run): per message what routing was offered and chose, attempts, fallbacks, timings; oldest first, a page at a time",
      tag,
      query: sessionAuditQuerySchema,
      response: z.array(auditEntrySchema),
      envelope: {
        next_cursor: z.string().nullable().meta({ description: 'Pass as cursor for the next page; null on the last page. Opaque' }),
      },
      errors: [400, 404, 503],
    },
    async (ctx) => {
      const page = await service.audit(userOf(ctx), ctx.params.id!, ctx.query);
      respond(ctx, page.entries, { extra: { next_cursor: page.next_cursor } });
    },
  );
  route(
    router,
    docs,
    'patch',
    '/sessions/:id',
    {
      operationId: 'updateSession',
      links: sessionLinks('$request.path.id', ['getSession', 'getSessionAudit', 'closeSession']),
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
    {
      operationId: 'closeSession',
      links: sessionLinks('$request.path.id', ['getSession', 'getSessionAudit']),
      summary: 'Close a session',
      tag,
      response: sessionSummarySchema,
      errors: [404, 503],
    },
    async (ctx) => {
      respond(ctx, await service.close(userOf(ctx), ctx.params.id!), { message: 'closed' });
    },
  );
  return router;
}
