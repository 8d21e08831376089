// The shapes callers (activities, the API) hand to functions/ and get back.
import type { BlockList } from 'node:net';

/** Where a function config runs; secrets (header values, webhook secret) are decrypted by the caller. */
export type FunctionTarget =
  /** A tool on an MCP server over Streamable HTTP; `tool` is the config's function_name. */
  | { kind: 'mcp'; url: string; headers: Record<string, string>; tool: string }
  /** An HTTPS webhook, signed with `secret` (see webhook.ts). */
  | { kind: 'webhook'; url: string; secret: string };

export interface FunctionCallContext {
  functionName: string;
  userId: string;
  sessionId: string | null;
  /** The message being answered; the webhook's Idempotency-Key. */
  messageId: string;
}

export interface FunctionCall {
  target: FunctionTarget;
  arguments: Record<string, unknown>;
  context: FunctionCallContext;
  /** The whole call's budget, connect to last byte. */
  timeoutMs: number;
  egressAllow: BlockList;
  /** Longest silence between two pieces of a webhook's answer (UPSTREAM_GAP_TIMEOUT); an MCP server's is its timeout (mcp.ts). */
  gapMs?: number;
  signal?: AbortSignal;
  /** The config's parameter schema; when given, the arguments are validated before anything is sent. */
  parameters?: Record<string, unknown> | null;
}

export interface FunctionCallResult {
  result: string;
  /** 'text' or 'json' (compact JSON text). */
  contentType: 'text' | 'json';
}

export interface McpToolInfo {
  name: string;
  description: string | null;
  inputSchema: Record<string, unknown>;
}
