// One call of a user's function config: its row, its secrets (the webhook's signing secret, the
// MCP server's header values; decrypted here and nowhere else), its arguments checked against
// its JSON Schema, then the call (functions/). Every failure leaves as a classified, scrubbed
// ApplicationFailure; secrets never appear in one.
import { ApplicationFailure } from '@temporalio/common';
import { cutAnswer, type ExecuteFunctionInput, type ExecuteFunctionOutput } from '../contract';
import type { UserAIConfig } from '../db';
import {
  callFunction,
  FUNCTION_FAILURE,
  listMcpTools,
  targetSecrets,
  toFunctionFailure,
  type FunctionTarget,
  type McpToolInfo,
} from '../functions';
import { runStep } from '../lib/event-loop';
import type { ExecutionDeps } from './deps';
import { loadConfigRow, openSecret, whileDatabaseIsDown } from './rows';

export interface FunctionCallOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** The REST `/test` and `/tools` routes reach disabled configs too; the message path never runs them. */
  allowInactive?: boolean;
}

export function createFunctionExecutor({ db, secretBox, config, logger }: ExecutionDeps) {
  const open = (stored: string) => openSecret(secretBox, stored, 'secret');

  /** Where the function runs, with its secrets opened. */
  function targetOf(row: UserAIConfig): FunctionTarget {
    if (row.mcp_server_url) {
      const headers = Object.fromEntries(Object.entries(row.mcp_headers ?? {}).map(([name, value]) => [name, open(value)]));
      return { kind: 'mcp', url: row.mcp_server_url, headers, tool: row.function_name ?? '' };
    }
    if (row.webhook_url) {
      if (!row.webhook_secret) {
        throw ApplicationFailure.nonRetryable('the webhook has no signing secret; rotate one first', FUNCTION_FAILURE.configUnavailable);
      }
      return { kind: 'webhook', url: row.webhook_url, secret: open(row.webhook_secret) };
    }
    throw ApplicationFailure.nonRetryable(
      'the function has neither an mcp_server_url nor a webhook_url',
      FUNCTION_FAILURE.configUnavailable,
    );
  }

  async function runFunction(input: ExecuteFunctionInput, options: FunctionCallOptions): Promise<ExecuteFunctionOutput> {
    const row = await loadConfigRow(db, input.userId, input.configId, 'function_call', {
      requireActive: !options.allowInactive,
      databaseBudgetMs: options.timeoutMs / 2,
    });
    const what = `function ${row.function_name ?? row.id} (${row.config_name})`;
    let secrets: string[] = [];
    try {
      const target = targetOf(row);
      secrets = targetSecrets(target);
      // Run as a step of this config, so a stall or an overrun meanwhile names it.
      const step = { configId: row.id, userId: input.userId, what };
      const { result } = await runStep(step, () =>
        callFunction({
          target,
          // Checked against the schema before anything is sent; a mismatch names the argument.
          parameters: row.parameters ?? { type: 'object' },
          arguments: input.arguments,
          context: { functionName: row.function_name ?? '', userId: input.userId, sessionId: input.sessionId, messageId: input.messageId },
          timeoutMs: options.timeoutMs,
          gapMs: config.UPSTREAM_GAP_TIMEOUT,
          egressAllow: config.egressAllow,
          ...(options.signal ? { signal: options.signal } : {}),
        }),
      );
      // Cut here already (contract/bounds.ts): a response may be 256 KiB, a result holds 64 Ki characters.
      return { result: cutAnswer(result) };
    } catch (err) {
      const failure = toFunctionFailure(err, what, secrets);
      logger.warn(
        { configId: row.id, userId: input.userId, type: failure.type, retryable: !failure.nonRetryable, error: failure.message },
        'function call failed',
      );
      throw failure;
    }
  }

  /** The tools an MCP config's server offers, so a user picks the one the config calls. */
  async function listTools(userId: string, configId: number, options: FunctionCallOptions): Promise<McpToolInfo[]> {
    const row = await loadConfigRow(db, userId, configId, 'function_call', { requireActive: false });
    let target: FunctionTarget;
    try {
      target = targetOf(row);
      if (target.kind !== 'mcp') {
        throw ApplicationFailure.nonRetryable(
          'the config is not an MCP tool (it has no mcp_server_url)',
          FUNCTION_FAILURE.configUnavailable,
        );
      }
    } catch (err) {
      throw toFunctionFailure(err, `MCP server of ${row.config_name}`, []);
    }
    return listToolsAt(target, options, `MCP server of ${row.config_name}`);
  }

  /**
   * The tools of an MCP server given by its address and headers (plain values), before any config
   * is saved: the same egress policy, caps and failures as a stored config's listing.
   */
  async function listToolsAt(
    target: { url: string; headers: Record<string, string> },
    options: FunctionCallOptions,
    what = 'MCP server',
  ): Promise<McpToolInfo[]> {
    const secrets = targetSecrets({ kind: 'mcp', url: target.url, headers: target.headers, tool: '' });
    try {
      return await listMcpTools({
        url: target.url,
        headers: target.headers,
        timeoutMs: options.timeoutMs,
        egressAllow: config.egressAllow,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      throw toFunctionFailure(err, what, secrets);
    }
  }

  /** The JSON Schemas of the given function configs of a user, for routing (not secret). */
  async function functionSchemas(
    userId: string,
    ids: readonly number[],
    databaseBudgetMs = 0,
  ): Promise<Map<number, Record<string, unknown> | null>> {
    if (ids.length === 0) return new Map();
    const rows = await whileDatabaseIsDown(
      () =>
        db.models.UserAIConfig.findAll({
          where: { user_id: userId, id: [...ids], config_type: 'function_call' },
          attributes: ['id', 'parameters'],
          raw: true,
        }),
      databaseBudgetMs,
    );
    return new Map(rows.map((r) => [r.id, r.parameters ?? null]));
  }

  return { runFunction, listTools, listToolsAt, functionSchemas };
}
