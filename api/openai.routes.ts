// The OpenAI-compatible surface, /v1: what the openai SDKs, LiteLLM or Open WebUI call with a user
// API key (or a JWT). Answers are OpenAI's shapes, not the REST envelope; so are its errors
// (openai-errors.ts). This increment serves `GET /v1/models`.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { AUTO_MODEL } from '../contract';
import type { Database } from '../db';
import { publicConfigReader } from '../db/public-config';
import { OPENAI_PREFIX } from './openai-errors';
import { userOf } from './respond';
import { KNOWN_METHODS, route, type RouteDocs } from './route-docs';

/** The model that routes a request like a socket message (router LLM, functions, fallback); no config may take its name. */
export { AUTO_MODEL };

const modelSchema = z
  .object({
    id: z.string().meta({ description: '"auto", or the config_name of one of your active LLM configs' }),
    object: z.literal('model'),
    created: z.number().int().meta({ description: 'Unix seconds: when the config was created (0 for auto)' }),
    owned_by: z.string().meta({ description: "The config's provider type (llm_type); switchboard for auto" }),
  })
  .meta({ id: 'OpenAIModel' });

const modelListSchema = z.object({ object: z.literal('list'), data: z.array(modelSchema) }).meta({ id: 'OpenAIModelList' });
type ModelList = z.infer<typeof modelListSchema>;

/** A JSON answer as it is, outside the envelope (OpenAI's shapes). */
function answer(ctx: Context, body: unknown): void {
  ctx.status = 200;
  ctx.response.set('Content-Type', 'application/json; charset=utf-8');
  ctx.body = JSON.stringify(body);
}

export function createOpenAiRouter(db: Database, docs: RouteDocs): Router {
  const router = new Router({ prefix: OPENAI_PREFIX, methods: KNOWN_METHODS });
  const configs = publicConfigReader(db);
  route(
    router,
    docs,
    'get',
    '/models',
    {
      operationId: 'listModels',
      summary: 'OpenAI-compatible model list: auto and each of your active LLM configs by config_name (an API key or a user token)',
      tag: 'OpenAI-compatible',
      bare: true,
      response: modelListSchema,
      errors: [403],
    },
    async (ctx) => {
      const llms = await configs.list(userOf(ctx), { type: 'llm', active: true });
      const list: ModelList = {
        object: 'list',
        data: [
          { id: AUTO_MODEL, object: 'model', created: 0, owned_by: 'switchboard' },
          // A config named `auto` from before the name was reserved is not listed: `auto` is the router's.
          ...llms
            .filter((config) => config.config_name !== AUTO_MODEL)
            .map((config) => ({
              id: config.config_name,
              object: 'model' as const,
              created: Math.floor(Date.parse(config.created_at) / 1000),
              owned_by: config.llm_type ?? 'openai',
            })),
        ],
      };
      answer(ctx, list);
    },
  );
  return router;
}
