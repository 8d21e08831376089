// AI config use cases for one user at a time. Every query is scoped by user id, so another
// user's config is indistinguishable from a missing one (404).
import { ApplicationFailure } from '@temporalio/common';
import { Op, UniqueConstraintError, type Transaction } from 'sequelize';
import type { AppConfig } from '../config';
import type { Database, UserAIConfig } from '../db';
import { publicConfigReader, toPublicConfig } from '../db/public-config';
import { BadRequestError, ConflictError, NotFoundError, ValidationError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { maskApiKey, type SecretBox } from '../lib/secret-box';
import type { ConfigChangeNotifier } from '../app/context';
import { providerToolName, type PublicConfig } from '../contract';
import {
  assertConfigNameAllowed,
  createConfigSchemas,
  functionParametersProblem,
  normaliseConfigBody,
  parseConfig,
  type ConfigInput,
} from './configs.schemas';
import { parseOrThrow } from '../lib/validate';
import { createCoalescer } from '../lib/coalesce';
import { generateWebhookSecret, schemaCompileProblem, type McpToolInfo } from '../functions';

export interface ConfigServiceDeps {
  db: Database;
  secretBox: SecretBox;
  config: Pick<AppConfig, 'egressAllow' | 'MAX_CONFIGS_PER_USER'>;
  notifier: ConfigChangeNotifier;
  logger: Logger;
  /** Lists an MCP server's tools (egress policy, caps, TRIAL_TIMEOUT); fails with an ApplicationFailure. */
  listMcpTools: McpToolLister;
}

export type McpToolLister = (target: { url: string; headers: Record<string, string> }) => Promise<McpToolInfo[]>;

/** A config as saved: the public view, plus a webhook's signing secret in the one response that made it. */
export type SavedConfig = PublicConfig & { webhook_secret?: string };

type Attributes = Partial<Omit<UserAIConfig['_creationAttributes'], 'id' | 'user_id' | 'created_at' | 'updated_at'>>;

/** Which unique index a conflict hit, as the field a client should change. */
const UNIQUE_FIELDS: Record<string, string> = {
  user_ai_configs_user_name_unique: 'config_name',
  user_ai_configs_user_function_unique: 'function_name',
};

/** A config id from a path: anything that cannot be one is a config that does not exist (404). */
export function parseConfigId(raw: string): number {
  const id = Number(raw);
  if (!/^\d{1,10}$/.test(raw) || !Number.isSafeInteger(id) || id > 2_147_483_647) throw new NotFoundError('Config');
  return id;
}

export function createConfigService(deps: ConfigServiceDeps) {
  const { UserAIConfig } = deps.db.models;
  const schemas = createConfigSchemas(deps.config.egressAllow);
  const reader = publicConfigReader(deps.db);
  // Concurrent GETs of the same thing share one query (see lib/coalesce): their results are
  // shared too, and only ever serialised.
  const coalesceOne = createCoalescer<PublicConfig | undefined>();
  const coalesceList = createCoalescer<PublicConfig[]>();

  async function find(userId: string, rawId: string): Promise<UserAIConfig> {
    const row = await UserAIConfig.findOne({ where: { id: parseConfigId(rawId), user_id: userId } });
    if (!row) throw new NotFoundError('Config');
    return row;
  }

  /** Column values for a validated input; `keep` lists the fields a replace leaves as stored when omitted. */
  function toAttributes(input: ConfigInput, mode: 'create' | 'replace'): Attributes {
    const base = {
      config_name: input.config_name,
      config_type: input.config_type,
      description: input.description ?? null,
      ...(input.is_active !== undefined || mode === 'create' ? { is_active: input.is_active ?? true } : {}),
      ...(input.priority !== undefined || mode === 'create' ? { priority: input.priority ?? 0 } : {}),
    };
    if (input.config_type === 'llm') {
      return {
        ...base,
        llm_type: input.llm_type ?? 'openai',
        model_name: input.model_name,
        base_url: input.base_url ?? null,
        max_tokens: input.max_tokens ?? null,
        temperature: input.temperature ?? null,
        system_prompt: input.system_prompt ?? null,
        parameters: input.parameters ?? null,
        ...apiKeyAttributes(input.api_key, mode),
        function_name: null,
        mcp_server_url: null,
        mcp_headers: null,
        webhook_url: null,
        webhook_secret: null,
      };
    }
    return {
      ...base,
      function_name: input.function_name,
      parameters: input.parameters,
      mcp_server_url: input.mcp_server_url ?? null,
      webhook_url: input.webhook_url ?? null,
      ...(input.mcp_server_url ? mcpHeaderAttributes(input.mcp_headers, mode) : { mcp_headers: null }),
      llm_type: null,
      model_name: null,
      api_key: null,
      api_key_hint: null,
      base_url: null,
      max_tokens: null,
      temperature: null,
      system_prompt: null,
    };
  }

  /** A key is write-only: omitted keeps the stored one (clients never see it to send it back), null clears it. */
  function apiKeyAttributes(apiKey: string | null | undefined, mode: 'create' | 'replace'): Attributes {
    if (apiKey === undefined) return mode === 'create' ? { api_key: null, api_key_hint: null } : {};
    if (apiKey === null) return { api_key: null, api_key_hint: null };
    return { api_key: deps.secretBox.encrypt(apiKey), api_key_hint: maskApiKey(apiKey) };
  }

  /** Header values are write-only like keys: omitted keeps the stored ones, null clears them. */
  function mcpHeaderAttributes(headers: Record<string, string> | null | undefined, mode: 'create' | 'replace'): Attributes {
    if (headers === undefined) return mode === 'create' ? { mcp_headers: null } : {};
    if (headers === null) return { mcp_headers: null };
    return { mcp_headers: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, deps.secretBox.encrypt(value)])) };
  }

  /**
   * A webhook's signing secret: the caller's own, else the stored one, else a new one, which the
   * response shows this once. Configs that are not webhooks keep none.
   */
  function webhookSecret(input: ConfigInput, row?: UserAIConfig): { attributes: Attributes; shown?: string } {
    if (input.config_type !== 'function_call' || !input.webhook_url)
      return { attributes: row?.webhook_secret ? { webhook_secret: null } : {} };
    if (input.webhook_secret) return { attributes: { webhook_secret: deps.secretBox.encrypt(input.webhook_secret) } };
    if (row?.webhook_secret) return { attributes: {} };
    const shown = generateWebhookSecret();
    return { attributes: { webhook_secret: deps.secretBox.encrypt(shown) }, shown };
  }

  /** Like a key, a stored MCP header (a bearer token) is never sent to another server unless given again. */
  function assertHeadersStayWithServer(row: UserAIConfig, input: ConfigInput): void {
    if (input.config_type !== 'function_call' || !row.mcp_headers || input.mcp_headers !== undefined) return;
    if (!input.mcp_server_url || input.mcp_server_url === row.mcp_server_url) return;
    throw new ValidationError([
      {
        field: 'mcp_headers',
        message: 'required when mcp_server_url changes: the stored headers are never sent to another server (send them again, or null)',
      },
    ]);
  }

  /**
   * A stored key belongs to the endpoint it was given for: changing `base_url` or `llm_type`
   * without sending the key again would hand it to the new host (a short-lived token turned into
   * the user's long-lived provider key). Such a change must carry `api_key` (or null for none).
   */
  function assertKeyStaysWithEndpoint(row: UserAIConfig, input: ConfigInput): void {
    if (input.config_type !== 'llm' || !row.api_key || input.api_key !== undefined) return;
    const moved = (input.base_url ?? null) !== (row.base_url ?? null) || (input.llm_type ?? 'openai') !== (row.llm_type ?? 'openai');
    if (!moved) return;
    throw new ValidationError([
      {
        field: 'api_key',
        message:
          'required when base_url or llm_type changes: the stored key is never sent to another endpoint (send it again, or null for none)',
      },
    ]);
  }

  /** The stored config as a canonical input body, for PATCH to merge into (the key stays out). */
  function storedBody(row: UserAIConfig): Record<string, unknown> {
    const view = toPublicConfig(row);
    const body: Record<string, unknown> = {
      config_name: view.config_name,
      config_type: view.config_type,
      description: view.description,
      parameters: view.parameters,
    };
    const fields =
      view.config_type === 'llm'
        ? (['llm_type', 'model_name', 'base_url', 'max_tokens', 'temperature', 'system_prompt'] as const)
        : (['function_name', 'mcp_server_url', 'webhook_url'] as const);
    for (const field of fields) body[field] = view[field];
    return body;
  }

  function assertSameType(row: UserAIConfig, body: Record<string, unknown>): void {
    if (body.config_type !== undefined && body.config_type !== row.config_type) {
      throw new ValidationError([
        { field: 'config_type', message: `cannot change the type of a config (it is ${row.config_type}); create a new one` },
      ]);
    }
  }

  async function save<T>(userId: string, work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (error) {
      if (error instanceof UniqueConstraintError) {
        const constraint = (error.parent as { constraint?: string } | undefined)?.constraint ?? '';
        const field = UNIQUE_FIELDS[constraint] ?? 'config_name';
        throw new ConflictError(`A config with this ${field} already exists`, 'duplicate', [
          { field, message: 'already used by another of your configs' },
        ]);
      }
      throw error;
    }
    void deps.notifier.configsChanged(userId);
    return result;
  }

  /**
   * An MCP function saved without `parameters` takes its tool's inputSchema from the server
   * (tools/list, under the egress policy and caps), checked as a given schema is. A server that
   * cannot be asked is a 400 naming `parameters`; one without the tool, naming `function_name`.
   * `storedHeaders` are the row's (a replace that omits `mcp_headers` keeps them).
   */
  async function withParameters(input: ConfigInput, storedHeaders: () => Record<string, string> = () => ({})): Promise<ConfigInput> {
    if (input.config_type !== 'function_call' || input.parameters !== undefined || !input.mcp_server_url) return input;
    const headers = input.mcp_headers === undefined ? storedHeaders() : (input.mcp_headers ?? {});
    let tools: McpToolInfo[];
    try {
      tools = await deps.listMcpTools({ url: input.mcp_server_url, headers });
    } catch (err) {
      if (!(err instanceof ApplicationFailure)) throw err;
      throw new ValidationError([
        {
          field: 'parameters',
          message: `required: the MCP server could not be asked for the tool's inputSchema (${err.message}); give parameters, or check mcp_server_url and mcp_headers`,
        },
      ]);
    }
    const tool = tools.find((t) => t.name === input.function_name);
    if (!tool) {
      const names = tools.map((t) => t.name);
      const some = names.slice(0, 20).join(', ') + (names.length > 20 ? ', …' : '');
      throw new ValidationError([
        {
          field: 'function_name',
          message: `the MCP server has no tool named "${input.function_name}" (${names.length ? `it has: ${some}` : 'it lists no tools'})`,
        },
      ]);
    }
    const problem = functionParametersProblem(tool.inputSchema);
    if (problem) {
      throw new ValidationError([
        { field: 'parameters', message: `required: the tool's inputSchema from the server ${problem}; give parameters yourself` },
      ]);
    }
    return { ...input, parameters: tool.inputSchema };
  }

  /** A function's schema compiled as calls will compile it (same engine, same budget), so one that cannot run is refused now. */
  async function assertParametersCompile(input: ConfigInput): Promise<ConfigInput> {
    if (input.config_type !== 'function_call') return input;
    if (input.parameters === undefined) throw new ValidationError([{ field: 'parameters', message: 'required' }]);
    const problem = await schemaCompileProblem(input.parameters);
    if (problem) throw new ValidationError([{ field: 'parameters', message: problem }]);
    return input;
  }

  /** The stored MCP header values of a row, opened. */
  function openHeaders(row: UserAIConfig): Record<string, string> {
    return Object.fromEntries(Object.entries(row.mcp_headers ?? {}).map(([name, value]) => [name, deps.secretBox.decrypt(value)]));
  }

  /** Serialises a user's creates and function renames (the config cap, the mapped-name rule below). */
  async function lockUser(userId: string, transaction: Transaction): Promise<void> {
    await deps.db.sequelize.query('SELECT pg_advisory_xact_lock(hashtext(:userId))', { replacements: { userId }, transaction });
  }

  /**
   * Two functions of a user must not be offered to an LLM under one name. Real names are unique by
   * index; a mapped name (contract/tool-names.ts) can still equal another function's (a real name
   * spelt like another's mapped one, or a hash collision): refused, naming `function_name`.
   */
  async function assertToolNameFree(userId: string, input: ConfigInput, transaction: Transaction, ownId?: number): Promise<void> {
    if (input.config_type !== 'function_call') return;
    const toolName = providerToolName(input.function_name);
    const others = await UserAIConfig.findAll({
      where: {
        user_id: userId,
        config_type: 'function_call',
        function_name: { [Op.ne]: input.function_name },
        ...(ownId !== undefined ? { id: { [Op.ne]: ownId } } : {}),
      },
      attributes: ['config_name', 'function_name'],
      raw: true,
      transaction,
    });
    const clash = others.find((other) => other.function_name !== null && providerToolName(other.function_name) === toolName);
    if (!clash) return;
    throw new ConflictError(`Another function is already offered to LLMs as ${toolName}`, 'duplicate', [
      {
        field: 'function_name',
        message: `maps to the tool name ${toolName}, which your function "${clash.config_name}" (${clash.function_name}) already has; choose another name`,
      },
    ]);
  }

  async function update(userId: string, row: UserAIConfig, attributes: Attributes): Promise<PublicConfig> {
    await save(userId, () => row.update(attributes));
    return toPublicConfig(row);
  }

  /**
   * Replace or patch: the row is read under a row lock (SELECT … FOR UPDATE) and written in the
   * same transaction, so the rules that compare the request with the stored row (the endpoint
   * rules, then the secrets) see the row as it is written. Read without the lock, a concurrent
   * `{base_url: X, api_key: null}` and `{api_key: K}` could each pass against the old row and end
   * with K stored for X.
   */
  async function rewrite(userId: string, rawId: string, inputFor: (row: UserAIConfig) => ConfigInput): Promise<SavedConfig> {
    const id = parseConfigId(rawId);
    const { row, shown } = await save(userId, () =>
      deps.db.sequelize.transaction(async (transaction) => {
        const locked = await UserAIConfig.findOne({ where: { id, user_id: userId }, transaction, lock: transaction.LOCK.UPDATE });
        if (!locked) throw new NotFoundError('Config');
        // The schema compiles (bounded: SCHEMA_CHECK_BUDGET_MS) while the row is locked, against what is written.
        const parsed = inputFor(locked);
        assertConfigNameAllowed(parsed.config_name, locked.config_name);
        assertKeyStaysWithEndpoint(locked, parsed);
        assertHeadersStayWithServer(locked, parsed);
        const input = await assertParametersCompile(await withParameters(parsed, () => openHeaders(locked)));
        if (input.config_type === 'function_call' && input.function_name !== locked.function_name) {
          await lockUser(userId, transaction);
          await assertToolNameFree(userId, input, transaction, id);
        }
        const secret = webhookSecret(input, locked);
        await locked.update({ ...toAttributes(input, 'replace'), ...secret.attributes }, { transaction });
        return { row: locked, shown: secret.shown };
      }),
    );
    const config = toPublicConfig(row);
    return shown ? { ...config, webhook_secret: shown } : config;
  }

  return {
    schemas,

    async list(userId: string, rawQuery: unknown): Promise<PublicConfig[]> {
      const query = parseOrThrow(schemas.listQuery, rawQuery);
      return coalesceList(`${userId}\n${query.type ?? ''}\n${query.active ?? ''}`, () => reader.list(userId, query));
    },

    async get(userId: string, rawId: string): Promise<PublicConfig> {
      const id = parseConfigId(rawId);
      const config = await coalesceOne(`${userId}\n${id}`, () => reader.one(userId, id));
      if (!config) throw new NotFoundError('Config');
      return config;
    },

    async create(userId: string, raw: unknown): Promise<SavedConfig> {
      // The tool's schema is asked for before the transaction: no lock waits on an MCP server.
      const parsed = parseConfig(schemas, normaliseConfigBody(raw));
      assertConfigNameAllowed(parsed.config_name);
      const input = await assertParametersCompile(await withParameters(parsed));
      const secret = webhookSecret(input);
      const row = await save(userId, () =>
        deps.db.sequelize.transaction(async (transaction) => {
          // Serialise creates per user so the cap holds under concurrent requests.
          await lockUser(userId, transaction);
          const count = await UserAIConfig.count({ where: { user_id: userId }, transaction });
          if (count >= deps.config.MAX_CONFIGS_PER_USER) {
            throw new ConflictError(
              `A user may have at most ${deps.config.MAX_CONFIGS_PER_USER} configs; delete one first`,
              'config_limit_reached',
            );
          }
          await assertToolNameFree(userId, input, transaction);
          const attributes = { user_id: userId, ...toAttributes(input, 'create'), ...secret.attributes };
          return UserAIConfig.create(attributes as UserAIConfig['_creationAttributes'], { transaction });
        }),
      );
      const config = toPublicConfig(row);
      return secret.shown ? { ...config, webhook_secret: secret.shown } : config;
    },

    async replace(userId: string, rawId: string, raw: unknown): Promise<SavedConfig> {
      return rewrite(userId, rawId, (row) => {
        const body = normaliseConfigBody(raw, row.config_type);
        assertSameType(row, body);
        return parseConfig(schemas, { ...body, config_type: row.config_type });
      });
    },

    async patch(userId: string, rawId: string, raw: unknown): Promise<SavedConfig> {
      return rewrite(userId, rawId, (row) => {
        const body = normaliseConfigBody(raw, row.config_type);
        assertSameType(row, body);
        const merged: Record<string, unknown> = { ...storedBody(row), ...body, config_type: row.config_type };
        return parseConfig(schemas, merged);
      });
    },

    /** A new signing secret for a webhook config, shown in this response only. */
    async rotateWebhookSecret(userId: string, rawId: string): Promise<SavedConfig> {
      const row = await find(userId, rawId);
      if (row.config_type !== 'function_call' || !row.webhook_url) {
        throw new BadRequestError('Only webhook function configs have a signing secret', 'not_a_webhook');
      }
      const shown = generateWebhookSecret();
      const config = await update(userId, row, { webhook_secret: deps.secretBox.encrypt(shown) });
      return { ...config, webhook_secret: shown };
    },

    async remove(userId: string, rawId: string): Promise<void> {
      const row = await find(userId, rawId);
      await save(userId, () => row.destroy());
    },

    async setActive(userId: string, rawId: string, raw: unknown): Promise<PublicConfig> {
      const { is_active } = parseOrThrow(schemas.toggle, raw ?? {});
      return update(userId, await find(userId, rawId), { is_active });
    },

    async setPriority(userId: string, rawId: string, raw: unknown): Promise<PublicConfig> {
      const { priority } = parseOrThrow(schemas.priority, raw ?? {});
      return update(userId, await find(userId, rawId), { priority });
    },
  };
}

export type ConfigService = ReturnType<typeof createConfigService>;
