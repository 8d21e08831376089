// /ai-configs, /llm-types and the seed's /users/:userId/ai-configs style over the same handlers.
import Router from '@koa/router';
import { z } from 'zod';
import { ForbiddenError } from '../lib/errors';
import { PROVIDER_TYPES } from '../llm/providers';
import type { ConfigService } from './configs.service';
import { mcpToolSchema, trialBodySchema, trialResultSchema, type ConfigTrialService } from './config-trials.service';
import { publicConfigSchema } from './openapi';
import { respond, userOf } from './respond';
import { KNOWN_METHODS, route, type RouteDocs, type RouteLink } from './route-docs';

const providerTypeSchema = z.object({ type: z.string(), label: z.string(), default_base_url: z.string().nullable() });

/** A config as a create (or a secret rotation) answers: with a webhook's new signing secret, shown this once. */
const savedConfigSchema = publicConfigSchema
  .extend({
    webhook_secret: z
      .string()
      .optional()
      .meta({ description: 'The signing secret of a webhook, in the response that made it only; keep it now' }),
  })
  .meta({ id: 'SavedConfig' });

/** Registers the config routes at `base` ('' or '/users/:userId'). */
function configRoutes(router: Router, docs: RouteDocs, service: ConfigService, trials: ConfigTrialService, base: string): void {
  const tag = 'AI configs';
  const s = service.schemas;
  const one = publicConfigSchema;
  const saved = savedConfigSchema;
  // The seed's path style gets operation ids of its own; its links keep the caller's userId.
  const op = (name: string) => (base ? `${name}ForUser` : name);
  const idFrom = (expression: string) => ({ ...(base ? { userId: '$request.path.userId' } : {}), id: expression });
  /** Links from an answer that holds a config (`data.id`, or the path's id) to what can be done with it next. */
  const configLinks = (expression: string, names: readonly string[]): Record<string, RouteLink> =>
    Object.fromEntries(names.map((name) => [name, { operationId: op(name), parameters: idFrom(expression) }]));
  const EVERY = [
    'getConfig',
    'replaceConfig',
    'updateConfig',
    'toggleConfig',
    'setConfigPriority',
    'testConfig',
    'listConfigTools',
    'rotateWebhookSecret',
    'deleteConfig',
  ] as const;
  const fromBody = (but?: string) =>
    configLinks(
      '$response.body#/data/id',
      EVERY.filter((name) => name !== but),
    );
  route(
    router,
    docs,
    'get',
    `${base}/ai-configs`,
    {
      operationId: op('listConfigs'),
      links: configLinks('$response.body#/data/0/id', EVERY),
      summary: 'List your configs, priority then newest first',
      tag,
      query: s.listQuery,
      response: z.array(one),
    },
    async (ctx) => {
      respond(ctx, await service.list(userOf(ctx), ctx.query), { shared: true });
    },
  );
  route(
    router,
    docs,
    'post',
    `${base}/ai-configs`,
    {
      operationId: op('createConfig'),
      links: fromBody(),
      summary: 'Create a config (canonical or seed spelling)',
      tag,
      body: s.config,
      response: saved,
      successStatus: 201,
      errors: [400, 409, 413, 415],
    },
    async (ctx) => {
      respond(ctx, await service.create(userOf(ctx), ctx.request.body), { status: 201, message: 'created' });
    },
  );
  route(
    router,
    docs,
    'get',
    `${base}/ai-configs/:id`,
    { operationId: op('getConfig'), links: fromBody('getConfig'), summary: 'Get one config', tag, response: one, errors: [404] },
    async (ctx) => {
      respond(ctx, await service.get(userOf(ctx), ctx.params.id!), { shared: true });
    },
  );
  route(
    router,
    docs,
    'put',
    `${base}/ai-configs/:id`,
    {
      operationId: op('replaceConfig'),
      links: fromBody(),
      summary: 'Replace a config (api_key, mcp_headers, webhook_secret, is_active and priority kept when omitted)',
      tag,
      body: s.config,
      response: saved,
      errors: [400, 404, 409],
    },
    async (ctx) => {
      respond(ctx, await service.replace(userOf(ctx), ctx.params.id!, ctx.request.body), { message: 'updated' });
    },
  );
  route(
    router,
    docs,
    'patch',
    `${base}/ai-configs/:id`,
    {
      operationId: op('updateConfig'),
      links: fromBody(),
      summary: 'Update some fields of a config',
      tag,
      body: s.config,
      response: saved,
      errors: [400, 404, 409],
    },
    async (ctx) => {
      respond(ctx, await service.patch(userOf(ctx), ctx.params.id!, ctx.request.body), { message: 'updated' });
    },
  );
  route(
    router,
    docs,
    'delete',
    `${base}/ai-configs/:id`,
    {
      operationId: op('deleteConfig'),
      links: configLinks('$request.path.id', ['getConfig']),
      summary: 'Delete a config',
      tag,
      response: z.null(),
      errors: [404],
    },
    async (ctx) => {
      await service.remove(userOf(ctx), ctx.params.id!);
      respond(ctx, null, { message: 'deleted' });
    },
  );
  route(
    router,
    docs,
    'patch',
    `${base}/ai-configs/:id/toggle`,
    {
      operationId: op('toggleConfig'),
      links: fromBody('toggleConfig'),
      summary: 'Enable or disable a config',
      tag,
      body: s.toggle,
      response: one,
      errors: [400, 404],
    },
    async (ctx) => {
      respond(ctx, await service.setActive(userOf(ctx), ctx.params.id!, ctx.request.body), { message: 'updated' });
    },
  );
  route(
    router,
    docs,
    'post',
    `${base}/ai-configs/:id/test`,
    {
      operationId: op('testConfig'),
      links: configLinks('$response.body#/data/config_id', ['getConfig', 'listConfigTools']),
      summary: 'Run a config once (an LLM with a short prompt or your text, a function with your arguments) and see the outcome',
      tag,
      body: trialBodySchema,
      response: trialResultSchema,
      errors: [400, 404],
    },
    async (ctx) => {
      respond(ctx, await trials.run(userOf(ctx), ctx.params.id!, ctx.request.body));
    },
  );
  route(
    router,
    docs,
    'get',
    `${base}/ai-configs/:id/tools`,
    {
      operationId: op('listConfigTools'),
      links: configLinks('$request.path.id', ['getConfig', 'testConfig']),
      summary: "List the tools of an MCP config's server, with their argument schemas",
      tag,
      response: z.array(mcpToolSchema),
      errors: [400, 404, 502],
    },
    async (ctx) => {
      respond(ctx, await trials.tools(userOf(ctx), ctx.params.id!));
    },
  );
  route(
    router,
    docs,
    'post',
    `${base}/ai-configs/:id/webhook-secret`,
    {
      operationId: op('rotateWebhookSecret'),
      links: fromBody('rotateWebhookSecret'),
      summary: 'Make a new signing secret for a webhook config (shown in this response only)',
      tag,
      response: saved,
      errors: [400, 404],
    },
    async (ctx) => {
      respond(ctx, await service.rotateWebhookSecret(userOf(ctx), ctx.params.id!), { message: 'rotated' });
    },
  );
  route(
    router,
    docs,
    'patch',
    `${base}/ai-configs/:id/priority`,
    {
      operationId: op('setConfigPriority'),
      links: fromBody('setConfigPriority'),
      summary: 'Set the priority of a config',
      tag,
      body: s.priority,
      response: one,
      errors: [400, 404],
    },
    async (ctx) => {
      respond(ctx, await service.setPriority(userOf(ctx), ctx.params.id!, ctx.request.body), { message: 'updated' });
    },
  );
}

export function createConfigsRouter(service: ConfigService, trials: ConfigTrialService, docs: RouteDocs): Router {
  const router = new Router({ prefix: '/api/v1', methods: KNOWN_METHODS });
  // The seed's second path style: same handlers, only for the caller's own id.
  router.use('/users/:userId', async function ownUserOnly(ctx, next) {
    if (ctx.params.userId !== userOf(ctx)) throw new ForbiddenError('You can only access your own configs');
    await next();
  });
  configRoutes(router, docs, service, trials, '');
  configRoutes(router, docs, service, trials, '/users/:userId');
  route(
    router,
    docs,
    'post',
    '/mcp/tools',
    {
      operationId: 'listMcpServerTools',
      summary:
        "List an MCP server's tools before any config is saved (real name, mapped tool_name, argument schema); the headers are used for this request only",
      tag: 'AI configs',
      body: trials.serverSchema,
      response: z.array(mcpToolSchema),
      errors: [400, 502],
    },
    async (ctx) => {
      respond(ctx, await trials.toolsAt(ctx.request.body));
    },
  );
  route(
    router,
    docs,
    'get',
    '/llm-types',
    {
      operationId: 'listLlmTypes',
      summary: 'Provider types this build supports',
      tag: 'AI configs',
      response: z.array(providerTypeSchema),
    },
    (ctx) => {
      respond(
        ctx,
        PROVIDER_TYPES.map((p) => ({ type: p.type, label: p.label, default_base_url: p.defaultBaseUrl })),
      );
    },
  );
  return router;
}
