// One classifier for every call a user's config makes on their behalf (an LLM provider, an MCP
// server, a webhook): whatever the call threw becomes a CallError with a stable type, a retryable
// flag and the endpoint's status and Retry-After, and then the ApplicationFailure Temporal records.
// Temporal owns the retries, so the classification is the whole retry story. Each caller names its
// failure types (llm/errors.ts LLM_FAILURE, functions/errors.ts FUNCTION_FAILURE); what counts as
// a timeout, a connection problem or a refusal is decided here, once.
import { ApplicationFailure } from '@temporalio/common';
import { ResponseTimeoutError, ResponseTooLargeError } from './egress-fetch';
import { AppError } from './errors';
import { scrubSecrets } from './scrub';

/** Failure types shared by every kind of config; stable strings, never message text. */
export const CONFIG_FAILURE = {
  /** The config does not exist, is disabled, or lacks what it needs to run (a secret, an address). Not retryable. */
  configUnavailable: 'ConfigUnavailable',
  /** The egress policy refused the address, or the endpoint redirected. Not retryable. */
  egressDenied: 'EgressDenied',
} as const;

/** What went wrong, whoever the endpoint is; each caller maps these to its own failure types. */
export type CallFailureKind =
  /** 5xx, 408, 409. Retryable. */
  | 'serverError'
  /** 429; retried after the endpoint's Retry-After (capped). */
  | 'rateLimited'
  /** Any other 4xx: the endpoint refused the call. Not retryable. */
  | 'rejected'
  | 'timeout'
  | 'connection'
  /** An answer we cannot use. Retryable. */
  | 'badResponse'
  /** The answer exceeds the size cap. Not retryable: the same call gives the same answer. */
  | 'responseTooLarge'
  | 'egressDenied'
  /** Our own refusal other than egress (an AppError somewhere in the cause chain). Not retryable. */
  | 'refused';

export type FailureTypes<T extends string = string> = Readonly<Record<CallFailureKind, T>>;

const MAX_MESSAGE = 500;
/** Upper bound for an endpoint's Retry-After, so one header cannot stall a session. */
export const MAX_RETRY_AFTER_MS = 30_000;
/** Node and undici network error codes that mean "could not reach the endpoint". */
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

/** A classified failure of one call. */
export class CallError<T extends string = string> extends Error {
  readonly type: T;
  readonly retryable: boolean;
  /** The endpoint's HTTP status, when it answered with one. */
  readonly status?: number;
  /** The endpoint's Retry-After (capped), for a 429 or 5xx. */
  readonly retryAfterMs?: number;
  /** The endpoint's own error code (an OpenAI-style `context_length_exceeded`), when it gave one. */
  code?: string;

  constructor(type: T, message: string, options: { retryable: boolean; status?: number; retryAfterMs?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CallError';
    this.type = type;
    this.retryable = options.retryable;
    if (options.status !== undefined) this.status = options.status;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }

  /** The same failure with its message scrubbed (and cut); the cause is dropped, it may carry secrets. */
  scrubbed(secrets: ReadonlyArray<string | null | undefined>): CallError<T> {
    const scrubbed = new CallError(this.type, scrubSecrets(this.message, secrets).slice(0, MAX_MESSAGE), {
      retryable: this.retryable,
      status: this.status,
      retryAfterMs: this.retryAfterMs,
    });
    if (this.code !== undefined) scrubbed.code = this.code;
    return scrubbed;
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

/** The CallError for an HTTP status the endpoint answered with (not 2xx). */
export function httpStatusError<T extends string>(
  types: FailureTypes<T>,
  status: number,
  detail: string,
  retryAfter?: string | null,
): CallError<T> {
  const message = detail ? `HTTP ${status}: ${detail}` : `HTTP ${status}`;
  if (status >= 300 && status < 400) {
    return new CallError(types.egressDenied, `the endpoint answered with a redirect (HTTP ${status}), which is never followed`, {
      retryable: false,
      status,
    });
  }
  if (status === 429)
    return new CallError(types.rateLimited, message, { retryable: true, status, retryAfterMs: parseRetryAfter(retryAfter) });
  if (status >= 500 || status === 408 || status === 409) {
    return new CallError(types.serverError, message, { retryable: true, status, retryAfterMs: parseRetryAfter(retryAfter) });
  }
  return new CallError(types.rejected, message, { retryable: false, status });
}

function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e: unknown = err; e && chain.length < 6; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

export interface ClassifyOptions<T extends string> {
  /** Whether the call's own timeout fired (an abort is then a timeout rather than the caller's cancellation). */
  timedOut?: boolean;
  /** A client library's own errors (the openai SDK's, say), tried on each error of the cause chain. */
  recognise?: (err: unknown) => CallError<T> | undefined;
}

/** Any error a call threw, as a CallError (not yet scrubbed). */
export function classifyCallError<T extends string>(err: unknown, types: FailureTypes<T>, options: ClassifyOptions<T> = {}): CallError<T> {
  const chain = causeChain(err);
  const own = chain.find((e): e is CallError<T> => e instanceof CallError);
  if (own) return own;
  // Our own refusal (the connect-time egress lookup fails inside fetch, several causes deep).
  const refusal = chain.find((e): e is AppError => e instanceof AppError);
  if (refusal)
    return new CallError(refusal.code === 'egress_denied' ? types.egressDenied : types.refused, refusal.message, { retryable: false });
  // A bound of the body (lib/egress-fetch.ts) cut the answer: its message says which.
  const tooLarge = chain.find((e): e is ResponseTooLargeError => e instanceof ResponseTooLargeError);
  if (tooLarge) return new CallError(types.responseTooLarge, tooLarge.message, { retryable: false });
  const stalled = chain.find((e): e is ResponseTimeoutError => e instanceof ResponseTimeoutError);
  if (stalled) return new CallError(types.timeout, stalled.message, { retryable: true });
  if (options.recognise) {
    for (const e of chain) {
      const known = options.recognise(e);
      if (known) return known;
    }
  }
  const names = chain.map((e) => (e as { name?: unknown }).name);
  if (options.timedOut || names.includes('TimeoutError')) return new CallError(types.timeout, 'the call timed out', { retryable: true });
  if (names.includes('AbortError')) return new CallError(types.timeout, 'the call was aborted', { retryable: true });
  for (const e of chain) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) {
      return new CallError(types.connection, `connection failed (${code})`, { retryable: true });
    }
  }
  if (err instanceof TypeError && err.message === 'fetch failed')
    return new CallError(types.connection, 'connection failed', { retryable: true });
  // Anything else (a bug, a malformed body) is retried by Temporal's policy; its text is scrubbed all the same.
  const message = err instanceof Error ? err.message : String(err);
  return new CallError(types.badResponse, message, { retryable: true });
}

/**
 * The ApplicationFailure for whatever a call threw (an ApplicationFailure passes through).
 * @param what    who failed, for the message ("config 3 (gpt)", "function get_weather (config 7)")
 * @param secrets values to scrub verbatim (an API key, a webhook secret, MCP header values) on top of the key-like patterns
 */
export function toCallFailure<T extends string>(
  err: unknown,
  types: FailureTypes<T>,
  what: string,
  secrets: ReadonlyArray<string | null | undefined>,
  options: ClassifyOptions<T> = {},
): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const failure = classifyCallError(err, types, options);
  return ApplicationFailure.create({
    type: failure.type,
    message: scrubSecrets(`${what}: ${failure.message}`, secrets).slice(0, MAX_MESSAGE),
    nonRetryable: !failure.retryable,
    nextRetryDelay: failure.retryAfterMs,
    details:
      failure.status === undefined
        ? undefined
        : [
            {
              status: failure.status,
              ...(failure.code ? { code: failure.code } : {}),
              ...(failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}),
            },
          ],
  });
}
