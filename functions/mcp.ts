// A function config that runs as a tool on an MCP server: the official SDK client over Streamable
// HTTP, one short-lived connection per call (initialize, tools/call, close), so nothing is held
// between messages and a server restart costs nothing.
//
// Egress: the URL is checked statically and every socket resolves through the egress policy
// (lib/egress-fetch.ts). The SDK would follow same-origin redirects by itself; the fetch given to it
// turns any 3xx into a refusal first, so no redirect is ever followed, as for webhooks and LLMs.
import type { BlockList } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { checkUrlStatic } from '../lib/egress';
import { policedFetch, ResponseTooLargeError, type PolicedFetch } from '../lib/egress-fetch';
import { FUNCTION_FAILURE, FunctionCallError, httpStatusError } from './errors';
import type { FunctionCallResult, McpToolInfo } from './types';
import { MAX_RESPONSE_BYTES } from './webhook';

/**
 * A single HTTP answer from an MCP server (a JSON body or an SSE stream) is read up to this, while it
 * streams; so is a whole tool list, all its pages together.
 */
const MAX_MESSAGE_BYTES = 4 * MAX_RESPONSE_BYTES;
/** tools/list pages followed at most (a server that pages forever must not hold the call). */
const MAX_TOOL_PAGES = 20;

const CLIENT_INFO = { name: 'switchboard', version: '1.0.0' };

interface McpConnectOptions {
  url: string;
  headers: Record<string, string>;
  egressAllow: BlockList;
  /** Fires on the call's deadline or the caller's cancellation. */
  signal: AbortSignal;
  timeoutMs: number;
}

/**
 * The policed fetch with bounded bodies (lib/egress-fetch.ts), refusing redirects. A server that
 * answers in SSE sends its headers at once and may stay silent while the tool runs, so its silence
 * is bounded by the call's own timeout rather than the shorter gap of a provider's stream.
 * `onCut` hears of a cut body: the SDK would otherwise wait for its request timeout.
 */
function mcpFetch(options: McpConnectOptions, onCut: (error: Error) => void): PolicedFetch {
  const base = policedFetch('mcp_server_url', options.egressAllow, {
    what: "the MCP server's answer",
    maxBytes: MAX_MESSAGE_BYTES,
    gapMs: options.timeoutMs,
    totalMs: options.timeoutMs,
    onCut,
  });
  return async (input, init) => {
    const response = await base(input, init);
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel().catch(() => undefined);
      throw httpStatusError(response.status, '');
    }
    return response;
  };
}

/** Connect, run `work` with the client, close whatever happened. `work` gets the options with the call's signal. */
async function withClient<T>(options: McpConnectOptions, work: (client: Client, options: McpConnectOptions) => Promise<T>): Promise<T> {
  const url = checkUrlStatic('mcp_server_url', options.url, options.egressAllow);
  // A cut body fails the pending request at once, with the cut's own error (too large, stalled).
  const cut = new AbortController();
  const call = { ...options, signal: AbortSignal.any([options.signal, cut.signal]) };
  const transport = new StreamableHTTPClientTransport(url, {
    fetch: mcpFetch(options, (error) => cut.abort(error)),
    requestInit: { headers: { ...options.headers } },
    // The standalone GET stream is not needed for request/response calls; never retry it in the background.
    reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1000, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1 },
  });
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  // Transport errors also reject the pending request, which is where they are classified.
  client.onerror = () => undefined;
  try {
    await client.connect(transport, { signal: call.signal, timeout: options.timeoutMs });
    return await work(client, call);
  } catch (err) {
    throw mcpError(cut.signal.aborted ? cut.signal.reason : err);
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** The SDK's errors, classified; anything else is left to classifyError. */
function mcpError(err: unknown): unknown {
  if (err instanceof FunctionCallError) return err;
  if (err instanceof StreamableHTTPError && typeof err.code === 'number' && err.code >= 300) {
    const detail = err.message
      .replace(/^Streamable HTTP error:\s*/, '')
      .replace(/\s+/g, ' ')
      .slice(0, 200);
    return httpStatusError(err.code, detail);
  }
  if (err instanceof StreamableHTTPError) {
    return new FunctionCallError(FUNCTION_FAILURE.badResponse, `the MCP server's answer is not usable: ${err.message}`, {
      retryable: true,
      cause: err,
    });
  }
  if (err instanceof McpError) {
    if (err.code === ErrorCode.RequestTimeout)
      return new FunctionCallError(FUNCTION_FAILURE.timeout, 'the MCP request timed out', { retryable: true });
    if (err.code === ErrorCode.ConnectionClosed) {
      return new FunctionCallError(FUNCTION_FAILURE.connection, 'the MCP server closed the connection', { retryable: true });
    }
    if (err.code === ErrorCode.InternalError) return new FunctionCallError(FUNCTION_FAILURE.serverError, err.message, { retryable: true });
    return new FunctionCallError(FUNCTION_FAILURE.rejected, err.message, { retryable: false });
  }
  return err;
}

/** Text items as they are, anything else summarised; the whole capped. */
function resultText(content: ReadonlyArray<Record<string, unknown>>): string {
  const parts = content.map((item) => {
    switch (item.type) {
      case 'text':
        return String(item.text ?? '');
      case 'image':
      case 'audio':
        return `[${item.type}: ${String(item.mimeType ?? 'unknown type')}]`;
      case 'resource_link':
        return `[resource: ${String(item.uri ?? '')}]`;
      case 'resource': {
        const resource = (item.resource ?? {}) as Record<string, unknown>;
        return typeof resource.text === 'string' ? resource.text : `[resource: ${String(resource.uri ?? '')}]`;
      }
      default:
        return `[${String(item.type)}]`;
    }
  });
  return parts.join('\n');
}

async function toolNames(client: Client, options: McpConnectOptions): Promise<string[]> {
  const tools = await listAll(client, options);
  return tools.map((t) => t.name);
}

async function listAll(client: Client, options: McpConnectOptions): Promise<McpToolInfo[]> {
  const tools: McpToolInfo[] = [];
  let cursor: string | undefined;
  let bytes = 0;
  for (let page = 0; page < MAX_TOOL_PAGES; page++) {
    const answer = await client.listTools(cursor === undefined ? {} : { cursor }, { signal: options.signal, timeout: options.timeoutMs });
    // Each page is capped as it is read; the pages together are held to the same cap.
    bytes += Buffer.byteLength(JSON.stringify(answer.tools), 'utf8');
    if (bytes > MAX_MESSAGE_BYTES) throw new ResponseTooLargeError("the MCP server's tool list", MAX_MESSAGE_BYTES);
    for (const tool of answer.tools) {
      tools.push({ name: tool.name, description: tool.description ?? null, inputSchema: tool.inputSchema as Record<string, unknown> });
    }
    cursor = answer.nextCursor;
    if (!cursor) break;
  }
  return tools;
}

export async function callMcpTool(
  options: McpConnectOptions & { tool: string; arguments: Record<string, unknown> },
): Promise<FunctionCallResult> {
  return withClient(options, async (client, call) => {
    /** Whether the server lacks the tool; asked only after a failure, so a good call costs no extra round trip. */
    const missing = async () => {
      try {
        return !(await toolNames(client, call)).includes(options.tool);
      } catch {
        return false;
      }
    };
    const notFound = () =>
      new FunctionCallError(FUNCTION_FAILURE.toolNotFound, `the MCP server has no tool named "${options.tool}"`, { retryable: false });

    let answer: Awaited<ReturnType<Client['callTool']>>;
    try {
      answer = await client.callTool({ name: options.tool, arguments: options.arguments }, undefined, {
        signal: call.signal,
        timeout: options.timeoutMs,
      });
    } catch (err) {
      if (err instanceof McpError && (err.code === ErrorCode.InvalidParams || err.code === ErrorCode.MethodNotFound) && (await missing())) {
        throw notFound();
      }
      throw err;
    }
    const content = Array.isArray(answer.content) ? (answer.content as Record<string, unknown>[]) : [];
    // A server on the old protocol answers `toolResult` instead of `content`.
    const text = content.length ? resultText(content) : 'toolResult' in answer ? JSON.stringify(answer.toolResult) : '';
    if (answer.isError) {
      // The SDK's McpServer reports an unknown tool as a tool error; tell that case apart.
      if (await missing()) throw notFound();
      throw new FunctionCallError(FUNCTION_FAILURE.toolError, `the tool "${options.tool}" reported an error: ${text.slice(0, 300)}`, {
        retryable: false,
      });
    }
    if (Buffer.byteLength(text, 'utf8') > MAX_RESPONSE_BYTES) {
      throw new FunctionCallError(
        FUNCTION_FAILURE.responseTooLarge,
        `the tool's result is larger than ${MAX_RESPONSE_BYTES / 1024} KiB, the most a function may return`,
        { retryable: false },
      );
    }
    // A tool that answers only with structured content (no text items) gives that, as JSON.
    if (!text && answer.structuredContent !== undefined) return { result: JSON.stringify(answer.structuredContent), contentType: 'json' };
    return { result: text, contentType: 'text' };
  });
}

export async function listTools(options: McpConnectOptions): Promise<McpToolInfo[]> {
  return withClient(options, (client, call) => listAll(client, call));
}
