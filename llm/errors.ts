// Turns whatever an LLM call threw into the ApplicationFailure Temporal records: retryable for
// rate limits, server errors, timeouts and connection problems; non-retryable for requests the
// provider refused (400/401/403/404/422) and for our own refusals (egress, missing config).
// Temporal owns the retries, so the classification is the whole retry story.
import { ApplicationFailure } from '@temporalio/common';
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { AppError } from '../lib/errors';
import { ResponseTimeoutError, ResponseTooLargeError } from '../lib/egress-fetch';
import { scrubSecrets } from '../lib/scrub';

/** Failure types the workflow may look at; stable strings, never message text. */
export const LLM_FAILURE = {
  rateLimited: 'LLMRateLimited',
  serverError: 'LLMServerError',
  timeout: 'LLMTimeout',
  connection: 'LLMConnectionError',
  rejected: 'LLMRequestRejected',
  badResponse: 'LLMBadResponse',
  configUnavailable: 'ConfigUnavailable',
  egressDenied: 'EgressDenied',
} as const;

const MAX_MESSAGE = 500;
/** Node network errors raised before the SDK is involved (the call-time DNS lookup of the egress check). */
const CONNECTION_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
/** Upper bound for a provider's Retry-After, so one header cannot stall a session. */
const MAX_RETRY_AFTER_MS = 30_000;

function retryAfterMs(headers: Headers | undefined): number | undefined {
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0) return undefined;
  return Math.min(seconds * 1000, MAX_RETRY_AFTER_MS);
}

/** Our own refusal anywhere in the cause chain (the connect-time egress lookup fails inside fetch). */
function ownRefusal(err: unknown): AppError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof AppError) return e;
  }
  return undefined;
}

function inCauseChain<T extends Error>(err: unknown, type: new (...args: never[]) => T): T | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof type) return e;
  }
  return undefined;
}

/**
 * @param what   who failed, for the message ("provider of config 3", "router LLM")
 * @param secrets values to scrub verbatim (the decrypted key) on top of the key-like patterns
 */
export function toActivityFailure(err: unknown, what: string, secrets: ReadonlyArray<string | null | undefined>): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  err = ownRefusal(err) ?? err;
  const scrub = (text: string) => scrubSecrets(text, secrets).slice(0, MAX_MESSAGE);
  const make = (type: string, message: string, nonRetryable: boolean, nextRetryDelay?: number) =>
    ApplicationFailure.create({ type, message: scrub(`${what}: ${message}`), nonRetryable, nextRetryDelay });

  if (err instanceof AppError) {
    const type = err.code === 'egress_denied' ? LLM_FAILURE.egressDenied : LLM_FAILURE.configUnavailable;
    return make(type, err.message, true);
  }
  const tooLarge = inCauseChain(err, ResponseTooLargeError);
  if (tooLarge) return make(LLM_FAILURE.badResponse, tooLarge.message, true);
  const cut = inCauseChain(err, ResponseTimeoutError);
  if (cut) return make(LLM_FAILURE.timeout, cut.message, false);
  if (err instanceof APIConnectionTimeoutError) return make(LLM_FAILURE.timeout, 'request timed out', false);
  if (err instanceof APIUserAbortError) return make(LLM_FAILURE.timeout, 'request aborted', false);
  if (err instanceof APIConnectionError) return make(LLM_FAILURE.connection, `connection failed (${err.message})`, false);
  if (err instanceof APIError && typeof err.status === 'number') {
    const status = err.status;
    // The SDK's message starts with the status already ("401 Incorrect API key ...").
    const detail = `HTTP ${status}: ${err.message.replace(/^\d{3}\s+/, '')}`;
    if (status >= 300 && status < 400) {
      return make(LLM_FAILURE.egressDenied, `the endpoint answered with a redirect (HTTP ${status}), which is never followed`, true);
    }
    if (status === 429) return make(LLM_FAILURE.rateLimited, detail, false, retryAfterMs(err.headers));
    if (status >= 500 || status === 408 || status === 409) return make(LLM_FAILURE.serverError, detail, false);
    return make(LLM_FAILURE.rejected, detail, true);
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return make(LLM_FAILURE.connection, `connection failed (${code})`, false);
  // Anything else (a bug, a malformed body) is retried by Temporal's policy; its text is scrubbed all the same.
  const message = err instanceof Error ? err.message : String(err);
  return make(LLM_FAILURE.badResponse, message, false);
}
