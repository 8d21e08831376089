// Function configs, executed for real: a tool on an MCP server or a signed HTTPS webhook. This
// layer knows nothing of the database or of Temporal activities; callers pass decrypted secrets
// in and turn a FunctionCallError into an activity failure with toFunctionFailure.
import type { BlockList } from 'node:net';
import { validateArguments } from './arguments';
import { classifyError, FUNCTION_FAILURE, FunctionCallError } from './errors';
import { callMcpTool, listTools } from './mcp';
import type { FunctionCall, FunctionCallResult, FunctionTarget, McpToolInfo } from './types';
import { callWebhook } from './webhook';

export {
  compiledSchemaCache,
  schemaCompileProblem,
  validateArguments,
  MAX_COMPILED_SCHEMA_BYTES,
  MAX_COMPILED_SCHEMAS,
  SCHEMA_CHECK_BUDGET_MS,
  type ArgumentsCheck,
} from './arguments';
export { parameterSchemaProblem } from './schema-limits';
export { FUNCTION_FAILURE, FunctionCallError, toFunctionFailure, type FunctionFailureType } from './errors';
export type { FunctionCall, FunctionCallContext, FunctionCallResult, FunctionTarget, McpToolInfo } from './types';
export { generateWebhookSecret, signWebhook, MAX_RESPONSE_BYTES, SIGNATURE_HEADER, TIMESTAMP_HEADER, type WebhookBody } from './webhook';

/** The values of a target that must never appear in a message: the webhook secret, the MCP header values. */
export function targetSecrets(target: FunctionTarget): string[] {
  if (target.kind === 'webhook') return [target.secret];
  // A header value is often `Bearer <token>`: the token alone is scrubbed too.
  return Object.values(target.headers).flatMap((value) => {
    const token = value.replace(/^\s*(Bearer|Basic|Token)\s+/i, '');
    return token !== value ? [value, token] : [value];
  });
}

/** The call's own deadline combined with the caller's signal. */
function deadline(timeoutMs: number, signal?: AbortSignal): { timeout: AbortSignal; signal: AbortSignal } {
  const timeout = AbortSignal.timeout(timeoutMs);
  return { timeout, signal: signal ? AbortSignal.any([timeout, signal]) : timeout };
}

/**
 * Run a function config once. Throws a FunctionCallError (classified, message scrubbed of the
 * target's secrets) on any failure; never retries itself.
 */
export async function callFunction(call: FunctionCall): Promise<FunctionCallResult> {
  const secrets = targetSecrets(call.target);
  if (call.parameters) {
    const check = await validateArguments(call.parameters, call.arguments);
    if (!check.ok && check.overran) {
      throw new FunctionCallError(FUNCTION_FAILURE.schemaOverBudget, `argument ${check.field} ${check.message}`, { retryable: false });
    }
    if (!check.ok) {
      throw new FunctionCallError(FUNCTION_FAILURE.invalidArguments, `argument ${check.field} ${check.message}`, { retryable: false });
    }
  }
  const { timeout, signal } = deadline(call.timeoutMs, call.signal);
  try {
    signal.throwIfAborted();
    const { target } = call;
    if (target.kind === 'webhook') {
      return await callWebhook({
        url: target.url,
        secret: target.secret,
        arguments: call.arguments,
        context: call.context,
        egressAllow: call.egressAllow,
        signal,
        ...(call.gapMs !== undefined ? { gapMs: call.gapMs } : {}),
      });
    }
    return await callMcpTool({
      url: target.url,
      headers: target.headers,
      tool: target.tool,
      arguments: call.arguments,
      egressAllow: call.egressAllow,
      signal,
      timeoutMs: call.timeoutMs,
    });
  } catch (err) {
    throw classifyError(err, timeout.aborted).scrubbed(secrets);
  }
}

/** The tools an MCP server offers (following `nextCursor` pages up to a limit), for the API to show or check. */
export async function listMcpTools(opts: {
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  egressAllow: BlockList;
  signal?: AbortSignal;
}): Promise<McpToolInfo[]> {
  const { timeout, signal } = deadline(opts.timeoutMs, opts.signal);
  try {
    signal.throwIfAborted();
    return await listTools({ url: opts.url, headers: opts.headers, egressAllow: opts.egressAllow, signal, timeoutMs: opts.timeoutMs });
  } catch (err) {
    throw classifyError(err, timeout.aborted).scrubbed(targetSecrets({ kind: 'mcp', url: opts.url, headers: opts.headers, tool: '' }));
  }
}
