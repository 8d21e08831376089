// Trying a stored config before relying on it: `POST /ai-configs/:id/test` runs it once (an LLM
// config with a short prompt or the caller's text, a function config with the caller's
// arguments) and reports the outcome as data: a provider's or a webhook's failure is the answer
// to "does my config work", not an error of this request. `GET /ai-configs/:id/tools` lists an
// MCP server's tools so a user picks the one a config calls; `POST /mcp/tools` does the same for a
// server and headers not saved yet (a config's form before its first Save).
import { ApplicationFailure } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import type { BlockList } from 'node:net';
import { z } from 'zod';
import type { Database } from '../db';
import type { ConfigExecutor } from '../execution';
import { FUNCTION_FAILURE, validateArguments, type McpToolInfo } from '../functions';
import { runStep } from '../lib/event-loop';
import { BadRequestError, NotFoundError, UpstreamError, ValidationError } from '../lib/errors';
import { parseOrThrow } from '../lib/validate';
import { providerToolName } from '../contract';
import { mcpServerRequestSchema } from './configs.schemas';
import { parseConfigId } from './configs.service';

const DEFAULT_PROMPT = 'Reply with one short sentence to confirm that you are working.';

export const trialBodySchema = z
  .strictObject({
    text: z.string().trim().min(1, 'must not be empty').max(4000, 'at most 4000 characters').optional(),
    arguments: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'ConfigTrialRequest', description: 'LLM configs: `text` (optional prompt). Function configs: `arguments`.' });

export const trialResultSchema = z
  .object({
    config_id: z.number().int(),
    config_name: z.string(),
    config_type: z.enum(['llm', 'function_call']),
    status: z.enum(['success', 'failed']),
    result: z.string(),
    execute_time: z.number().int().meta({ description: 'Milliseconds' }),
    model: z.string().optional().meta({ description: 'The model that answered, as the provider reported it' }),
    error: z.string().optional(),
    error_type: z.string().optional().meta({ description: 'e.g. LLMRequestRejected, FunctionServerError, EgressDenied' }),
    retryable: z.boolean().optional().meta({ description: 'Whether the message path would try again after this failure' }),
  })
  .meta({ id: 'ConfigTrialResult' });

export const mcpToolSchema = z
  .object({
    name: z.string().meta({ description: "The tool's real name: a config's function_name" }),
    tool_name: z.string().meta({ description: "The name LLMs would be offered for it (a config's tool_name)" }),
    description: z.string().nullable(),
    input_schema: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'McpTool' });

type McpTool = z.infer<typeof mcpToolSchema>;

function toMcpTools(listed: McpToolInfo[]): McpTool[] {
  return listed.map((t) => ({
    name: t.name,
    tool_name: providerToolName(t.name),
    description: t.description,
    input_schema: t.inputSchema,
  }));
}

export type TrialResult = z.infer<typeof trialResultSchema>;

/**
 * @param deps.timeoutMs what a trial may take, the upstream's body included (TRIAL_TIMEOUT): generous
 *   for a slow model, short enough for a request a user waits on.
 */
export function createConfigTrialService(deps: { db: Database; executor: ConfigExecutor; timeoutMs: number; egressAllow: BlockList }) {
  const serverSchema = mcpServerRequestSchema(deps.egressAllow);

  async function find(userId: string, rawId: string) {
    const row = await deps.db.models.UserAIConfig.findOne({ where: { id: parseConfigId(rawId), user_id: userId }, raw: true });
    if (!row) throw new NotFoundError('Config');
    return row;
  }

  async function run(userId: string, rawId: string, rawBody: unknown): Promise<TrialResult> {
    const row = await find(userId, rawId);
    const body = parseOrThrow(trialBodySchema, rawBody ?? {});
    const base = { config_id: row.id, config_name: row.config_name, config_type: row.config_type };
    const options = { timeoutMs: deps.timeoutMs, allowInactive: true };
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      if (row.config_type === 'llm') {
        if (body.arguments !== undefined)
          throw new ValidationError([{ field: 'arguments', message: 'only for function configs; send text' }]);
        const reply = await deps.executor.runLLMConfig(
          { userId, configId: row.id, question: body.text ?? DEFAULT_PROMPT, role: null, history: [] },
          options,
        );
        return { ...base, status: 'success', result: reply.answer, model: reply.model, execute_time: elapsed() };
      }
      if (body.text !== undefined) throw new ValidationError([{ field: 'text', message: 'only for LLM configs; send arguments' }]);
      const args = body.arguments ?? {};
      const check = await runStep({ configId: row.id, userId, what: 'function trial' }, () =>
        validateArguments(row.parameters ?? { type: 'object' }, args),
      );
      if (!check.ok && check.overran) {
        return {
          ...base,
          status: 'failed',
          result: '',
          execute_time: elapsed(),
          error: check.message,
          error_type: FUNCTION_FAILURE.schemaOverBudget,
          retryable: false,
        };
      }
      if (!check.ok) throw new ValidationError([{ field: `arguments.${check.field}`, message: check.message }]);
      const { result } = await deps.executor.runFunction(
        { userId, configId: row.id, arguments: args, sessionId: null, messageId: `test-${randomUUID()}` },
        options,
      );
      return { ...base, status: 'success', result, execute_time: elapsed() };
    } catch (err) {
      if (!(err instanceof ApplicationFailure)) throw err;
      return {
        ...base,
        status: 'failed',
        result: '',
        execute_time: elapsed(),
        error: err.message,
        ...(err.type ? { error_type: err.type } : {}),
        retryable: !err.nonRetryable,
      };
    }
  }

  /** A server's failure to list its tools is this request's upstream failing: 502 mcp_server_failed. */
  async function upstream(list: () => Promise<McpToolInfo[]>): Promise<McpTool[]> {
    try {
      return toMcpTools(await list());
    } catch (err) {
      if (err instanceof ApplicationFailure) throw new UpstreamError(err.message, 'mcp_server_failed');
      throw err;
    }
  }

  async function tools(userId: string, rawId: string): Promise<McpTool[]> {
    const row = await find(userId, rawId);
    if (row.config_type !== 'function_call' || !row.mcp_server_url) {
      throw new BadRequestError('Only function configs with an mcp_server_url have tools to list', 'not_an_mcp_config');
    }
    return upstream(() => deps.executor.listTools(userId, row.id, { timeoutMs: deps.timeoutMs }));
  }

  /** The tools of a server not saved in any config yet. */
  async function toolsAt(rawBody: unknown): Promise<McpTool[]> {
    const body = parseOrThrow(serverSchema, rawBody ?? {});
    const target = { url: body.mcp_server_url, headers: body.mcp_headers ?? {} };
    return upstream(() => deps.executor.listToolsAt(target, { timeoutMs: deps.timeoutMs }));
  }

  return { run, tools, toolsAt, serverSchema };
}

export type ConfigTrialService = ReturnType<typeof createConfigTrialService>;
