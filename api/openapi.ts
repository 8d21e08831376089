// The OpenAPI 3.1 document, built from the mounted routers (so no route can be missing) and the
// zod schemas recorded by `route()` (so the document and the validation cannot drift apart).
import type Router from '@koa/router';
import { z } from 'zod';
import type { PublicConfig } from '../contract';
import { CONFIG_TYPES } from '../db/models';
import { openAiErrorSchema } from './openai-errors';
import type { RouteDocs } from './route-docs';

export const publicConfigSchema = z
  .object({
    id: z.number().int(),
    config_name: z.string(),
    config_type: z.enum(CONFIG_TYPES),
    description: z.string().nullable(),
    llm_type: z.string().nullable(),
    model_name: z.string().nullable(),
    base_url: z.string().nullable(),
    has_api_key: z.boolean(),
    api_key_hint: z.string().nullable().meta({ description: 'Masked, e.g. sk-…abcd; the key itself is never returned' }),
    max_tokens: z.number().int().nullable(),
    temperature: z.number().nullable(),
    system_prompt: z.string().nullable(),
    function_name: z.string().nullable().meta({ description: "A function's real name, as its MCP server lists it; calls use it" }),
    tool_name: z.string().nullable().meta({
      description:
        'The name LLMs are offered for function_name (^[a-zA-Z0-9_-]{1,64}$): the same when it fits, else sanitised, cut and suffixed with a hash of the real name',
    }),
    parameters: z.record(z.string(), z.unknown()).nullable(),
    mcp_server_url: z.string().nullable(),
    webhook_url: z.string().nullable(),
    has_webhook_secret: z.boolean().meta({ description: 'Webhook calls are signed; the secret is shown once, when created or rotated' }),
    mcp_header_names: z.array(z.string()).meta({ description: 'Headers sent to the MCP server; values are never returned' }),
    is_active: z.boolean(),
    priority: z.number().int(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'Config' });

// Compile-time guard: the documented shape is exactly what toPublicConfig returns.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _sameShape: Same<z.infer<typeof publicConfigSchema>, PublicConfig> = true;

const errorSchema = z.object({
  code: z.number().int(),
  message: z.string(),
  data: z.null(),
  error: z.string().meta({ description: 'Machine-readable code, e.g. validation_failed, not_found' }),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  request_id: z.string().optional(),
});

const STATUS_TEXT: Record<number, string> = {
  400: 'Invalid request (see errors[])',
  401: 'Missing or invalid token',
  403: 'Not your resource, or a token that may not be used here (an API key on /api/v1, a codec token)',
  404: "Not found (also for another user's resource)",
  409: 'Conflict (duplicate name, config cap)',
  410: 'Gone (an expired activation)',
  413: 'Body too large: over 1 MiB on /v1, over BODY_LIMIT_BYTES (256 KiB by default) elsewhere',
  415: 'Body is not JSON',
  429: 'Rate limited; see Retry-After',
  502: 'Your endpoint (an MCP server) failed; the message says how',
  503: 'Not ready',
};

/**
 * A schema for the document; named sub-schemas (`.meta({ id })`, e.g. Config) go to `defs`, which
 * becomes `components.schemas`, and their references are rewritten to point there (zod writes
 * `#/$defs/…`, which in an OpenAPI document would point at its root).
 */
function jsonSchema(schema: z.ZodType, defs: Record<string, unknown>): unknown {
  const { $defs, ...generated } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<
    string,
    unknown
  > & {
    $defs?: Record<string, unknown>;
  };
  const rewrite = (value: unknown): unknown => JSON.parse(JSON.stringify(value).replaceAll('"#/$defs/', '"#/components/schemas/'));
  for (const [name, def] of Object.entries($defs ?? {})) defs[name] = rewrite(def);
  return rewrite(generated);
}

interface Layer {
  path: string;
  methods: string[];
}

export function buildOpenApi(routers: Router[], docs: RouteDocs, info: { version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const defs: Record<string, unknown> = {};
  for (const router of routers) {
    for (const layer of router.stack as unknown as Layer[]) {
      for (const method of layer.methods.filter((m) => m !== 'HEAD')) {
        const doc = docs.get(method, layer.path);
        const openPath = layer.path.replace(/:(\w+)/g, '{$1}');
        const parameters = [...layer.path.matchAll(/:(\w+)/g)].map((m) => ({
          name: m[1],
          in: 'path',
          required: true,
          schema: { type: 'string' },
        }));
        if (doc?.query) {
          const query = jsonSchema(doc.query, defs) as { properties?: Record<string, unknown> };
          for (const [name, schema] of Object.entries(query.properties ?? {}))
            parameters.push({ name, in: 'query', required: false, schema: schema as { type: string } });
        }
        if (doc?.headers) {
          const headers = jsonSchema(doc.headers, defs) as { properties?: Record<string, unknown>; required?: string[] };
          for (const [name, schema] of Object.entries(headers.properties ?? {}))
            parameters.push({
              name,
              in: 'header',
              required: headers.required?.includes(name) ?? false,
              schema: schema as { type: string },
            });
        }
        const success = doc?.successStatus ?? 200;
        const successBody = doc?.response
          ? {
              'application/json': {
                schema: jsonSchema(
                  doc.raw || doc.bare
                    ? doc.response
                    : z.object({ code: z.number(), message: z.string(), data: doc.response, ...doc.envelope }),
                  defs,
                ),
              },
            }
          : { [doc?.produces ?? 'application/json']: {} };
        const responses: Record<string, unknown> = {};
        for (const status of [success, ...(doc?.extraSuccess ?? [])]) {
          responses[status] = { description: 'Success', ...(doc?.links ? { links: doc.links } : {}), content: successBody };
        }
        const errorStatuses = new Set([
          ...(doc?.errors ?? []),
          ...(doc?.public ? [] : [401, 429]),
          // Unknown or malformed query parameters are refused with the parameter named.
          ...(doc?.query ? [400] : []),
          // Any body may be malformed JSON (400), too large (413) or not JSON (415); Schemathesis found an undocumented 413.
          ...(doc?.body ? [400, 413, 415] : []),
          // The seed's /users/:userId paths answer only for the caller's own id.
          ...(layer.path.includes('/users/:userId') ? [403] : []),
        ]);
        for (const status of errorStatuses) {
          responses[status] = {
            description: STATUS_TEXT[status] ?? 'Error',
            content: { 'application/json': { schema: jsonSchema(doc?.bare ? openAiErrorSchema : errorSchema, defs) } },
          };
        }
        (paths[openPath] ??= {})[method.toLowerCase()] = {
          ...(doc?.operationId ? { operationId: doc.operationId } : {}),
          summary: doc?.summary,
          tags: doc?.tag ? [doc.tag] : [],
          security: doc?.public ? [] : [{ bearer: [] }],
          parameters,
          ...(doc?.body
            ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(doc.body, defs) } } } }
            : {}),
          responses,
        };
      }
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Switchboard API',
      version: info.version,
      description:
        'Per-user AI configurations. Inputs also accept the seed spellings: name for config_name, ai_type (llm | function) for config_type, and LLM settings nested in parameters. ' +
        'The OpenAI-compatible surface under /v1 (for the openai SDKs, LiteLLM, Open WebUI) takes a user API key or a JWT and answers every failure in ' +
        "OpenAI's error shape ({error: {message, type, param, code}}), a 404 for an unknown /v1 route included. Limits on /v1: request bodies up to 1 MiB (413), " +
        'the per-user RATE_LIMIT_PER_MINUTE shared with /api/v1 (429 with Retry-After), AUTH_FAILURES_PER_MINUTE per client address (429), and the Host check on ' +
        'every path (421 for a name this deployment does not serve). The config name auto is reserved for the model that routes between your configs.',
    },
    servers: [{ url: '/' }],
    components: {
      schemas: defs,
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A user JWT; on /v1 (and the WebSocket) also a user API key (sb-…, POST /api/v1/api-keys)',
        },
      },
    },
    paths,
  };
}
