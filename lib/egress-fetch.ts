// fetch for user-supplied endpoints (an LLM's base_url, an MCP server, a webhook): its sockets
// resolve host names through the egress policy (lib/egress.ts), so the address checked is the
// address connected to, and redirects are never followed: a `Location` on an IP literal would skip
// the policed lookup, so the redirect itself is the answer (callers turn a 3xx into a refusal).
// IP literals in the URL itself are not looked up by the socket; callers check the URL statically
// (checkUrlStatic / checkUrlResolved) before the call.
//
// Every response body read from such an endpoint goes through boundedFetch: capped in bytes while
// it streams, whatever its headers say, cut when the endpoint falls silent between two pieces, and
// cut at the call's total deadline, body included. A cut aborts the request, so the upstream socket
// is closed, not left to trickle on.
import type { BlockList } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import { egressLookup } from './egress';

/** The global fetch's shape (what the openai SDK and the MCP SDK accept). */
export type PolicedFetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** Longest silence between two pieces of a body from a user's endpoint, unless the caller says otherwise (UPSTREAM_GAP_TIMEOUT). */
export const DEFAULT_GAP_MS = 30_000;

export interface ResponseBounds {
  /** Names the body in a failure: "the MCP server's answer", "the webhook's response". */
  what: string;
  /** The most bytes read; beyond them the body fails with ResponseTooLargeError. */
  maxBytes: number;
  /** The most time between two pieces of the body, once headers arrived. */
  gapMs: number;
  /** The whole exchange, headers and body, from the call on; absent: only the caller's signal bounds it. */
  totalMs?: number;
  /** Told when a bound cuts the response (the MCP client fails its pending request with it at once). */
  onCut?: (error: Error) => void;
}

/** A body over its cap: not retryable, the same call gives the same answer. */
export class ResponseTooLargeError extends Error {
  constructor(what: string, maxBytes: number, declared?: number) {
    super(`${what} is larger than ${sizeText(maxBytes)}${declared ? ` (Content-Length ${declared})` : ''}`);
    this.name = 'ResponseTooLargeError';
  }
}

/** A body that fell silent or was not complete in time: retryable. */
export class ResponseTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResponseTimeoutError';
  }
}

function sizeText(bytes: number): string {
  return bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0 ? `${bytes / 1024 / 1024} MiB` : `${Math.round(bytes / 1024)} KiB`;
}

function secondsText(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/**
 * One connection pool per (field, allow list): the process has one allow list, so in practice one
 * Agent per field, reused by every call. The field only names the setting in a refusal.
 */
const agents = new WeakMap<BlockList, Map<string, Agent>>();

function agentFor(field: string, allow: BlockList): Agent {
  let byField = agents.get(allow);
  if (!byField) {
    byField = new Map();
    agents.set(allow, byField);
  }
  let agent = byField.get(field);
  if (!agent) {
    agent = new Agent({ connect: { lookup: egressLookup(field, allow) } });
    byField.set(field, agent);
  }
  return agent;
}

/** The policed fetch; with `bounds`, its bodies are bounded (boundedFetch). */
export function policedFetch(field: string, allow: BlockList, bounds?: ResponseBounds): PolicedFetch {
  const dispatcher = agentFor(field, allow);
  // undici's fetch is the one Node ships, typed by its own package; the shapes are the same.
  const policed = ((input: Parameters<typeof undiciFetch>[0], init?: Parameters<typeof undiciFetch>[1]) =>
    undiciFetch(input, { ...init, dispatcher, redirect: 'manual' })) as unknown as PolicedFetch;
  return bounds ? boundedFetch(policed, bounds) : policed;
}

/** Statuses whose Response may not carry a body. */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * `inner` with its response bodies bounded: at most `maxBytes` (a 2xx declaring more is refused
 * before reading), no silence longer than `gapMs` between pieces, everything within `totalMs`.
 * A cut aborts the request (the socket closes) and the body, or the call, fails with a
 * ResponseTooLargeError or a ResponseTimeoutError.
 */
export function boundedFetch(inner: PolicedFetch, bounds: ResponseBounds): PolicedFetch {
  return async (input, init) => {
    const cutter = new AbortController();
    const signal = init?.signal ? AbortSignal.any([init.signal, cutter.signal]) : cutter.signal;
    let totalTimer: NodeJS.Timeout | undefined;
    let gapTimer: NodeJS.Timeout | undefined;
    const settle = () => {
      clearTimeout(totalTimer);
      clearTimeout(gapTimer);
    };
    const cut = (error: Error) => {
      if (cutter.signal.aborted) return;
      settle();
      cutter.abort(error);
      bounds.onCut?.(error);
    };
    if (bounds.totalMs !== undefined) {
      const totalMs = bounds.totalMs;
      totalTimer = setTimeout(
        () => cut(new ResponseTimeoutError(`${bounds.what} was not complete within ${secondsText(totalMs)}`)),
        totalMs,
      );
    }

    let response: Response;
    try {
      response = await inner(input, { ...init, signal });
    } catch (err) {
      settle();
      throw cutter.signal.aborted ? (cutter.signal.reason as Error) : err;
    }
    const declared = Number(response.headers.get('content-length'));
    if (response.ok && Number.isFinite(declared) && declared > bounds.maxBytes) {
      const error = new ResponseTooLargeError(bounds.what, bounds.maxBytes, declared);
      cut(error);
      await response.body?.cancel().catch(() => undefined);
      throw error;
    }
    if (!response.body || NULL_BODY_STATUSES.has(response.status)) {
      settle();
      return response;
    }

    const reader = response.body.getReader();
    let seen = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        gapTimer = setTimeout(
          () => cut(new ResponseTimeoutError(`${bounds.what} stalled: nothing for ${secondsText(bounds.gapMs)}`)),
          bounds.gapMs,
        );
        try {
          const { done, value } = await reader.read();
          clearTimeout(gapTimer);
          if (done) {
            settle();
            controller.close();
            return;
          }
          seen += value.byteLength;
          if (seen > bounds.maxBytes) {
            const error = new ResponseTooLargeError(bounds.what, bounds.maxBytes);
            cut(error);
            controller.error(error);
            return;
          }
          controller.enqueue(value);
        } catch (err) {
          settle();
          controller.error(cutter.signal.aborted ? cutter.signal.reason : err);
        }
      },
      cancel(reason) {
        settle();
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
