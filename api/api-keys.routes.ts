// /api-keys: a user's API keys for OpenAI clients (/v1) and the WebSocket. Managed with a user
// token only (an API key here is a 403: app.ts's guard). Thin: the service does the work.
import Router from '@koa/router';
import { z } from 'zod';
import { apiKeyCreateSchema, apiKeySummarySchema, createdApiKeySchema, type ApiKeyService } from './api-keys.service';
import { respond, userOf } from './respond';
import { KNOWN_METHODS, route, type RouteDocs } from './route-docs';

export function createApiKeysRouter(service: ApiKeyService, docs: RouteDocs): Router {
  const router = new Router({ prefix: '/api/v1', methods: KNOWN_METHODS });
  const tag = 'API keys';
  route(
    router,
    docs,
    'get',
    '/api-keys',
    {
      operationId: 'listApiKeys',
      summary: 'List your API keys, newest first (never the keys themselves)',
      tag,
      response: z.array(apiKeySummarySchema),
      errors: [403],
    },
    async (ctx) => {
      respond(ctx, await service.list(userOf(ctx)));
    },
  );
  route(
    router,
    docs,
    'post',
    '/api-keys',
    {
      operationId: 'createApiKey',
      links: { revokeApiKey: { operationId: 'revokeApiKey', parameters: { id: '$response.body#/data/id' } } },
      summary: 'Create an API key (sb-…) for OpenAI clients and the WebSocket; the key is in this response only',
      tag,
      body: apiKeyCreateSchema,
      response: createdApiKeySchema,
      successStatus: 201,
      errors: [400, 403, 409],
    },
    async (ctx) => {
      respond(ctx, await service.create(userOf(ctx), ctx.request.body), { status: 201, message: 'created' });
    },
  );
  route(
    router,
    docs,
    'delete',
    '/api-keys/:id',
    {
      operationId: 'revokeApiKey',
      summary: 'Revoke an API key (refused at once, on every replica)',
      tag,
      response: z.null(),
      errors: [403, 404],
    },
    async (ctx) => {
      await service.revoke(userOf(ctx), ctx.params.id!);
      respond(ctx, null, { message: 'deleted' });
    },
  );
  return router;
}
