// Request schemas for AI configs. The same zod schemas validate requests and generate the
// OpenAPI document. Input is first normalised from the seed's spellings (`name`, `ai_type`,
// nested `parameters: {temperature, max_tokens, api_key, base_url}`) to the canonical one.
import type { BlockList } from 'node:net';
import { Ajv } from 'ajv';
import { z } from 'zod';
import { checkUrlStatic } from '../lib/egress';
import { ValidationError, type FieldError } from '../lib/errors';
import { LLM_TYPE_NAMES } from '../llm/providers';
import { parseOrThrow } from '../lib/validate';
import type { ConfigType } from '../db';
import { AUTO_MODEL, isReservedConfigName, TOOL_NAME_PATTERN, TOOL_NAME_RULE } from '../contract';
import { parameterSchemaProblem } from '../functions';

const MAX_PARAMETERS_JSON = 32 * 1024;

/** Fields a client may send back from a response; ignored, never stored. */
const READ_ONLY_FIELDS = [
  'id',
  'user_id',
  'created_at',
  'updated_at',
  'has_api_key',
  'api_key_hint',
  'has_webhook_secret',
  'mcp_header_names',
  'tool_name',
];
/** LLM settings the seed nests under `parameters`; lifted to their columns. */
const NESTED_LLM_FIELDS = ['temperature', 'max_tokens', 'api_key', 'base_url', 'system_prompt', 'model_name', 'llm_type'];

const name = z.string().trim().min(1, 'must not be empty').max(255, 'at most 255 characters');
const text = (max: number) => z.string().max(max, `at most ${max} characters`);
const nullable = <T extends z.ZodType>(schema: T) => schema.nullable().optional();
const between = (min: number, max: number, integer = false) =>
  (integer ? z.number().int('must be an integer') : z.number())
    .min(min, `must be between ${min} and ${max}`)
    .max(max, `must be between ${min} and ${max}`);

/**
 * `temperature` is a 32-bit float column (REAL): PostgreSQL refuses a non-zero value that rounds
 * to zero there (1e-46 was a 500) and keeps ones below the smallest normal float (2^-126, about
 * 1.18e-38) only approximately. No provider tells such a temperature from 0.
 */
const FLOAT4_MIN_NORMAL = 2 ** -126;
const temperature = between(0, 2).refine(
  (value) => value <= 0 || value >= FLOAT4_MIN_NORMAL, // below 0 is the range's message
  'must be 0 or at least 1.18e-38 (the smallest the column holds); use 0 for the lowest temperature',
);

const jsonSchemaValidator = new Ajv({ strict: false, validateSchema: true });

/** A JSON Schema for function parameters: an object schema that is itself valid JSON Schema. */
const functionParametersSchema = z.record(z.string(), z.unknown()).superRefine((schema, ctx) => {
  if (JSON.stringify(schema).length > MAX_PARAMETERS_JSON) {
    ctx.addIssue({ code: 'custom', message: `at most ${MAX_PARAMETERS_JSON} bytes of JSON` });
    return;
  }
  if (schema.type !== 'object') {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON Schema with "type": "object"' });
    return;
  }
  if (!jsonSchemaValidator.validateSchema(schema)) {
    const detail = jsonSchemaValidator.errors?.[0];
    ctx.addIssue({
      code: 'custom',
      message: `is not a valid JSON Schema${detail ? `: ${detail.instancePath || '/'} ${detail.message ?? ''}` : ''}`.trim(),
    });
    return;
  }
  // Refused before it is ever compiled: too deep, too many $refs, a $ref bomb, a pattern only a backtracking engine runs.
  const problem = parameterSchemaProblem(schema);
  if (problem) ctx.addIssue({ code: 'custom', message: `is refused: ${problem}` });
});

/** Why a JSON Schema cannot be a function's parameters (the checks of `parameters` at save), or undefined. */
export function functionParametersProblem(schema: unknown): string | undefined {
  const parsed = functionParametersSchema.safeParse(schema);
  return parsed.success ? undefined : (parsed.error.issues[0]?.message ?? 'is not a usable JSON Schema');
}

/** Extra OpenAI-compatible sampling options an LLM config may carry in `parameters`. */
const llmOptionsSchema = z
  .strictObject({
    top_p: between(0, 1).optional(),
    presence_penalty: between(-2, 2).optional(),
    frequency_penalty: between(-2, 2).optional(),
    stop: z.union([text(200), z.array(text(200)).max(4)]).optional(),
    seed: z.number().int().optional(),
  })
  .meta({ description: 'Extra sampling options passed to the provider' });

/** Headers an MCP config may not set: the transport's own, and ones that change how the request travels. */
const RESERVED_MCP_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'accept',
  'connection',
  'transfer-encoding',
  'te',
  'upgrade',
  'keep-alive',
  'proxy-authorization',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
]);
const MAX_MCP_HEADERS = 16;

/** Request headers for an MCP server (a bearer token, typically); values are secrets, stored encrypted. */
const mcpHeadersSchema = z
  .record(
    z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'header names are 1 to 64 token characters')
      .refine((name) => !RESERVED_MCP_HEADERS.has(name.toLowerCase()), 'this header is set by the MCP transport and cannot be configured'),
    z
      .string()
      .min(1, 'must not be empty')
      .max(4096, 'at most 4096 characters')
      .regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'must not contain control characters'),
  )
  .refine((headers) => Object.keys(headers).length <= MAX_MCP_HEADERS, `at most ${MAX_MCP_HEADERS} headers`)
  .meta({ description: 'Headers sent to the MCP server, e.g. {"Authorization": "Bearer …"}; write-only, values never returned' });

function urlField(allow: BlockList, field: string) {
  return text(2048).superRefine((value, ctx) => {
    try {
      checkUrlStatic(field, value, allow);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  });
}

/** `POST /mcp/tools`: an MCP server to list the tools of, before any config is saved. */
export function mcpServerRequestSchema(allow: BlockList) {
  return z
    .strictObject({
      mcp_server_url: urlField(allow, 'mcp_server_url'),
      mcp_headers: nullable(mcpHeadersSchema),
    })
    .meta({ id: 'McpServerRequest', description: 'The server and headers a function config would have; nothing is stored' });
}

export function createConfigSchemas(allow: BlockList) {
  const common = {
    config_name: name.meta({ description: 'Unique per user; "auto" (any case) is reserved for the routing model of /v1' }),
    description: nullable(text(4000)),
    is_active: z.boolean().optional(),
    priority: between(-1_000_000, 1_000_000, true).optional(),
  };
  const llm = z
    .strictObject({
      ...common,
      config_type: z.literal('llm'),
      llm_type: z.enum(LLM_TYPE_NAMES, { message: `must be one of ${LLM_TYPE_NAMES.join(', ')} (see GET /api/v1/llm-types)` }).optional(),
      model_name: name,
      api_key: nullable(z.string().min(1, 'must not be empty').max(4096)),
      base_url: nullable(urlField(allow, 'base_url')),
      max_tokens: nullable(between(1, 1_000_000, true)),
      temperature: nullable(temperature),
      system_prompt: nullable(text(32_000)),
      parameters: nullable(llmOptionsSchema),
    })
    .superRefine((value, ctx) => {
      if (value.llm_type === 'custom' && !value.base_url) {
        ctx.addIssue({ code: 'custom', path: ['base_url'], message: 'required when llm_type is custom' });
      }
    });
  const fn = z
    .strictObject({
      ...common,
      config_type: z.literal('function_call'),
      description: text(4000).min(1, 'must not be empty'),
      function_name: z.string().regex(TOOL_NAME_PATTERN, `must be ${TOOL_NAME_RULE}`).meta({
        description:
          "The tool's real name (an MCP tool's as its server lists it; any name for a webhook), used to call it. LLMs are offered tool_name, its mapped name",
      }),
      parameters: functionParametersSchema.optional().meta({
        description:
          "JSON Schema (type object) of the function arguments. Required for webhooks; for an MCP tool, when omitted, the tool's inputSchema from its server (tools/list) is stored",
      }),
      mcp_server_url: nullable(urlField(allow, 'mcp_server_url')),
      mcp_headers: nullable(mcpHeadersSchema),
      webhook_url: nullable(urlField(allow, 'webhook_url')),
      webhook_secret: nullable(
        z
          .string()
          .min(16, 'at least 16 characters')
          .max(256, 'at most 256 characters')
          .meta({ description: 'Your own signing secret; when omitted one is generated and returned once' }),
      ),
    })
    .superRefine((value, ctx) => {
      if (value.mcp_server_url && value.webhook_url) {
        ctx.addIssue({ code: 'custom', path: ['webhook_url'], message: 'give either mcp_server_url or webhook_url, not both' });
      } else if (!value.mcp_server_url && !value.webhook_url) {
        ctx.addIssue({
          code: 'custom',
          path: ['mcp_server_url'],
          message: 'required: mcp_server_url (the function is a tool on an MCP server) or webhook_url (an HTTPS webhook)',
        });
      }
      if (value.parameters === undefined && value.webhook_url) {
        ctx.addIssue({
          code: 'custom',
          path: ['parameters'],
          message: "required for a webhook function (an MCP tool's is taken from its server when omitted)",
        });
      }
      if (value.mcp_headers && !value.mcp_server_url) {
        ctx.addIssue({ code: 'custom', path: ['mcp_headers'], message: 'only for configs with an mcp_server_url' });
      }
      if (value.webhook_secret && !value.webhook_url) {
        ctx.addIssue({ code: 'custom', path: ['webhook_secret'], message: 'only for configs with a webhook_url' });
      }
    });
  const config = z.discriminatedUnion('config_type', [llm, fn]);
  const toggle = z.strictObject({ is_active: z.boolean() });
  const priority = z.strictObject({ priority: common.priority.unwrap() });
  const listQuery = z.strictObject({
    type: z
      .enum(['llm', 'function_call', 'function'])
      .transform((t) => (t === 'function' ? 'function_call' : t))
      .optional(),
    active: z
      .enum(['true', 'false'])
      .transform((v) => v === 'true')
      .optional(),
  });
  return { llm, fn, config, toggle, priority, listQuery };
}

export type ConfigSchemas = ReturnType<typeof createConfigSchemas>;
export type ConfigInput = z.output<ConfigSchemas['config']>;

const LLM_ONLY = new Set(['llm_type', 'model_name', 'api_key', 'base_url', 'max_tokens', 'temperature', 'system_prompt']);
const FUNCTION_ONLY = new Set(['function_name', 'mcp_server_url', 'mcp_headers', 'webhook_url', 'webhook_secret']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function setCanonical(target: Record<string, unknown>, canonical: string, alias: string, value: unknown, errors: FieldError[]): void {
  if (canonical in target && JSON.stringify(target[canonical]) !== JSON.stringify(value)) {
    errors.push({ field: alias, message: `conflicts with ${canonical}; send one of them` });
    return;
  }
  target[canonical] = value;
}

/**
 * Seed spellings to canonical fields. `type` is the config type if the body or the stored
 * config says; LLM settings nested in `parameters` are lifted only for LLM configs.
 */
export function normaliseConfigBody(raw: unknown, storedType?: ConfigType): Record<string, unknown> {
  if (!isObject(raw)) throw new ValidationError([{ field: '(body)', message: 'must be a JSON object' }]);
  const errors: FieldError[] = [];
  const body: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (READ_ONLY_FIELDS.includes(key) || key === 'name' || key === 'ai_type') continue;
    body[key] = value;
  }
  if ('name' in raw) setCanonical(body, 'config_name', 'name', raw.name, errors);
  if ('ai_type' in raw) setCanonical(body, 'config_type', 'ai_type', raw.ai_type, errors);
  if (body.config_type === 'function') body.config_type = 'function_call';
  const type = body.config_type ?? storedType;
  if (type === 'llm' && isObject(body.parameters)) {
    const options: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(body.parameters)) {
      if (NESTED_LLM_FIELDS.includes(key)) setCanonical(body, key, `parameters.${key}`, value, errors);
      else options[key] = value;
    }
    // Nothing left but lifted settings: the body did not set extra options.
    if (Object.keys(options).length) body.parameters = options;
    else delete body.parameters;
  }
  if (errors.length) throw new ValidationError(errors);
  return body;
}

/** Validates a canonical body; explains fields that belong to the other config type. */
/** Deeper documents are refused before any schema check walks them (a JSON Schema needs far less). */
const MAX_BODY_DEPTH = 32;

/**
 * What PostgreSQL cannot store faithfully, refused with the field named before validation runs:
 * documents nested deeper than MAX_BODY_DEPTH (schema checks recurse) and the NUL character,
 * which neither jsonb nor text columns accept. Iterative, so no input can exhaust the stack.
 */
function assertStorable(body: Record<string, unknown>): void {
  const stack: { value: unknown; path: string[] }[] = [{ value: body, path: [] }];
  while (stack.length) {
    const { value, path } = stack.pop()!;
    const field = path.join('.') || '(body)';
    if (typeof value === 'string') {
      if (value.includes('\u0000')) throw new ValidationError([{ field, message: 'must not contain the NUL character (\\u0000)' }]);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (path.length >= MAX_BODY_DEPTH) throw new ValidationError([{ field, message: `nested more than ${MAX_BODY_DEPTH} levels deep` }]);
    for (const [key, child] of Object.entries(value)) {
      if (key.includes('\u0000')) throw new ValidationError([{ field, message: 'keys must not contain the NUL character (\\u0000)' }]);
      stack.push({ value: child, path: [...path, key] });
    }
  }
}

/**
 * `auto` is the OpenAI-compatible surface's routing model (contract/rest.ts): a config can no
 * longer be given that name, in any case. A row that had it before keeps it while a PUT or PATCH
 * leaves the name as it is (`stored`), so its other fields can still be changed; /v1/models lists
 * only the router's `auto`.
 */
export function assertConfigNameAllowed(name: string, stored?: string): void {
  if (name === stored || !isReservedConfigName(name)) return;
  throw new ValidationError([
    { field: 'config_name', message: `"${AUTO_MODEL}" is reserved (the model that routes between your configs); choose another name` },
  ]);
}

export function parseConfig(schemas: ConfigSchemas, body: Record<string, unknown>): ConfigInput {
  assertStorable(body);
  if (body.config_type !== 'llm' && body.config_type !== 'function_call') {
    throw new ValidationError([
      {
        field: 'config_type',
        message:
          body.config_type === undefined ? 'required: llm or function_call (or ai_type: llm | function)' : 'must be llm or function_call',
      },
    ]);
  }
  const wrongType = body.config_type === 'llm' ? FUNCTION_ONLY : LLM_ONLY;
  // A response sent back as-is carries the other type's fields as null: nothing to object to.
  const own = Object.fromEntries(Object.entries(body).filter(([key, value]) => !(wrongType.has(key) && value === null)));
  return parseOrThrow(schemas.config, own, {
    unknownKey: (key, path) =>
      path.length === 0 && wrongType.has(key) ? `not allowed for ${String(body.config_type)} configs` : undefined,
  });
}
