// What a function call can fail with, classified once: every failure of callFunction is a
// FunctionCallError with a stable type, a retryable flag and a message already scrubbed of the
// call's secrets (webhook secret, MCP header values). toFunctionFailure turns it (or anything else)
// into the ApplicationFailure Temporal records; Temporal owns the retries, so the classification is
// the whole retry story, as for LLM calls (llm/errors.ts).
import { ApplicationFailure } from '@temporalio/common';
import { ResponseTimeoutError, ResponseTooLargeError } from '../lib/egress-fetch';
import { AppError } from '../lib/errors';
import { scrubSecrets } from '../lib/scrub';

/** Failure types the workflow may look at; stable strings, never message text. */
export const FUNCTION_FAILURE = {
  /** 5xx, 408, 409 from the endpoint, or an MCP server that failed the request. Retryable. */
  serverError: 'FunctionServerError',
  /** 429; retried after the endpoint's Retry-After (capped). */
  rateLimited: 'FunctionRateLimited',
  /** Any other 4xx: the endpoint refused the call. Not retryable. */
  rejected: 'FunctionRejected',
  timeout: 'FunctionTimeout',
  connection: 'FunctionConnectionError',
  /** An answer we cannot use (malformed MCP message, unreadable body). Retryable. */
  badResponse: 'FunctionBadResponse',
  /** The answer exceeds the size cap. Not retryable: the same call gives the same answer. */
  responseTooLarge: 'FunctionResponseTooLarge',
  /** The egress policy refused the address, or the endpoint redirected. Not retryable. */
  egressDenied: 'EgressDenied',
  /** The MCP tool ran and reported an error (`isError: true`). Not retryable. */
  toolError: 'FunctionToolError',
  /** The MCP server has no tool of the configured name. Not retryable. */
  toolNotFound: 'FunctionToolNotFound',
  /** The arguments do not match the function's parameter schema. Not retryable. */
  invalidArguments: 'FunctionInvalidArguments',
  /** The parameter schema took too long or too much memory to check the arguments. Not retryable. */
  schemaOverBudget: 'FunctionSchemaOverBudget',
} as const;

export type FunctionFailureType = (typeof FUNCTION_FAILURE)[keyof typeof FUNCTION_FAILURE];

const MAX_MESSAGE = 500;
/** Upper bound for an endpoint's Retry-After, so one header cannot stall a session. */
export const MAX_RETRY_AFTER_MS = 30_000;
/** Node network error codes that mean "could not reach the endpoint". */
const CONNECTION_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
]);

export class FunctionCallError extends Error {
  readonly type: FunctionFailureType;
  readonly retryable: boolean;
  /** The endpoint's HTTP status, when it answered with one. */
  readonly status?: number;
  /** The endpoint's Retry-After (capped), for a 429 or 503. */
  readonly retryAfterMs?: number;

  constructor(
    type: FunctionFailureType,
    message: string,
    options: { retryable: boolean; status?: number; retryAfterMs?: number; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FunctionCallError';
    this.type = type;
    this.retryable = options.retryable;
    if (options.status !== undefined) this.status = options.status;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }

  /** The same failure with its message scrubbed (and cut); the cause is dropped, it may carry secrets. */
  scrubbed(secrets: ReadonlyArray<string | null | undefined>): FunctionCallError {
    return new FunctionCallError(this.type, scrubSecrets(this.message, secrets).slice(0, MAX_MESSAGE), {
      retryable: this.retryable,
      status: this.status,
      retryAfterMs: this.retryAfterMs,
    });
  }
}

/** Retry-After in seconds (or an HTTP date), in milliseconds, capped; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  let ms: number;
  if (Number.isFinite(seconds)) ms = seconds * 1000;
  else {
    const date = Date.parse(value);
    if (Number.isNaN(date)) return undefined;
    ms = date - now;
  }
  if (ms < 0) return undefined;
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

/** The FunctionCallError for an HTTP status the endpoint answered with (not 2xx). */
export function httpStatusError(status: number, detail: string, retryAfter?: string | null): FunctionCallError {
  const message = detail ? `HTTP ${status}: ${detail}` : `HTTP ${status}`;
  if (status >= 300 && status < 400) {
    return new FunctionCallError(
      FUNCTION_FAILURE.egressDenied,
      `the endpoint answered with a redirect (HTTP ${status}), which is never followed`,
      { retryable: false, status },
    );
  }
  if (status === 429) {
    return new FunctionCallError(FUNCTION_FAILURE.rateLimited, message, {
      retryable: true,
      status,
      retryAfterMs: parseRetryAfter(retryAfter),
    });
  }
  if (status >= 500 || status === 408 || status === 409) {
    return new FunctionCallError(FUNCTION_FAILURE.serverError, message, {
      retryable: true,
      status,
      retryAfterMs: parseRetryAfter(retryAfter),
    });
  }
  return new FunctionCallError(FUNCTION_FAILURE.rejected, message, { retryable: false, status });
}

function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e: unknown = err; e && chain.length < 6; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

/**
 * Any error a call threw, as a FunctionCallError (not yet scrubbed). `timedOut` says whether the
 * call's own timeout fired (an abort is then a timeout rather than the caller's cancellation).
 */
export function classifyError(err: unknown, timedOut = false): FunctionCallError {
  const chain = causeChain(err);
  const own = chain.find((e): e is FunctionCallError => e instanceof FunctionCallError);
  if (own) return own;
  // Our own refusal (the connect-time egress lookup fails inside fetch, several causes deep).
  const refusal = chain.find((e): e is AppError => e instanceof AppError);
  if (refusal) {
    const type = refusal.code === 'egress_denied' ? FUNCTION_FAILURE.egressDenied : FUNCTION_FAILURE.rejected;
    return new FunctionCallError(type, refusal.message, { retryable: false });
  }
  // A bound of the body (lib/egress-fetch.ts) cut the answer: its message says which.
  const tooLarge = chain.find((e): e is ResponseTooLargeError => e instanceof ResponseTooLargeError);
  if (tooLarge) return new FunctionCallError(FUNCTION_FAILURE.responseTooLarge, tooLarge.message, { retryable: false });
  const stalled = chain.find((e): e is ResponseTimeoutError => e instanceof ResponseTimeoutError);
  if (stalled) return new FunctionCallError(FUNCTION_FAILURE.timeout, stalled.message, { retryable: true });
  const names = chain.map((e) => (e as { name?: unknown }).name);
  if (timedOut || names.includes('TimeoutError')) {
    return new FunctionCallError(FUNCTION_FAILURE.timeout, 'the call timed out', { retryable: true });
  }
  if (names.includes('AbortError')) return new FunctionCallError(FUNCTION_FAILURE.timeout, 'the call was aborted', { retryable: true });
  for (const e of chain) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) {
      return new FunctionCallError(FUNCTION_FAILURE.connection, `connection failed (${code})`, { retryable: true });
    }
  }
  if (err instanceof TypeError && err.message === 'fetch failed') {
    return new FunctionCallError(FUNCTION_FAILURE.connection, 'connection failed', { retryable: true });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new FunctionCallError(FUNCTION_FAILURE.badResponse, message, { retryable: true });
}

/**
 * The ApplicationFailure for whatever a function call threw.
 * @param what    who failed, for the message ("function get_weather (config 7)")
 * @param secrets values to scrub verbatim (webhook secret, MCP header values) on top of the key-like patterns
 */
export function toFunctionFailure(err: unknown, what: string, secrets: ReadonlyArray<string | null | undefined>): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const failure = classifyError(err);
  return ApplicationFailure.create({
    type: failure.type,
    message: scrubSecrets(`${what}: ${failure.message}`, secrets).slice(0, MAX_MESSAGE),
    nonRetryable: !failure.retryable,
    nextRetryDelay: failure.retryAfterMs,
    details: failure.status === undefined ? undefined : [{ status: failure.status }],
  });
}
