// Turns whatever an LLM call threw into the ApplicationFailure Temporal records, through the one
// classifier of provider and function calls (lib/call-failure.ts): retryable for rate limits,
// server errors, timeouts and connection problems; non-retryable for requests the provider refused
// (400/401/403/404/422) and for our own refusals (egress, missing config). This file names the
// failures and recognises the openai SDK's own errors.
import type { ApplicationFailure } from '@temporalio/common';
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { CallError, CONFIG_FAILURE, httpStatusError, toCallFailure, type FailureTypes } from '../lib/call-failure';

/** Failure types the workflow may look at; stable strings, never message text. */
export const LLM_FAILURE = {
  rateLimited: 'LLMRateLimited',
  serverError: 'LLMServerError',
  timeout: 'LLMTimeout',
  connection: 'LLMConnectionError',
  rejected: 'LLMRequestRejected',
  badResponse: 'LLMBadResponse',
  configUnavailable: CONFIG_FAILURE.configUnavailable,
  egressDenied: CONFIG_FAILURE.egressDenied,
} as const;

type LLMFailureType = (typeof LLM_FAILURE)[keyof typeof LLM_FAILURE];

/** The shared classification, named as LLM failures (an answer over the size cap is a bad response). */
const TYPES: FailureTypes<LLMFailureType> = {
  serverError: LLM_FAILURE.serverError,
  rateLimited: LLM_FAILURE.rateLimited,
  rejected: LLM_FAILURE.rejected,
  timeout: LLM_FAILURE.timeout,
  connection: LLM_FAILURE.connection,
  badResponse: LLM_FAILURE.badResponse,
  responseTooLarge: LLM_FAILURE.badResponse,
  egressDenied: LLM_FAILURE.egressDenied,
  refused: LLM_FAILURE.configUnavailable,
};

/** The openai SDK's errors, classified; anything else is left to the shared classifier. */
function providerError(err: unknown): CallError<LLMFailureType> | undefined {
  if (err instanceof APIConnectionTimeoutError) return new CallError(TYPES.timeout, 'request timed out', { retryable: true });
  if (err instanceof APIUserAbortError) return new CallError(TYPES.timeout, 'request aborted', { retryable: true });
  if (err instanceof APIConnectionError) return new CallError(TYPES.connection, `connection failed (${err.message})`, { retryable: true });
  if (err instanceof APIError && typeof err.status === 'number') {
    // The SDK's message starts with the status already ("401 Incorrect API key ...").
    const failure = httpStatusError(TYPES, err.status, err.message.replace(/^\d{3}\s+/, ''), err.headers?.get('retry-after'));
    // The provider's own code (`context_length_exceeded`), passed through by /v1/chat/completions; a short identifier only.
    if (typeof err.code === 'string' && /^[a-z0-9_.-]{1,64}$/i.test(err.code)) failure.code = err.code;
    return failure;
  }
  return undefined;
}

/**
 * @param what    who failed, for the message ("config 3 (gpt)", "router LLM")
 * @param secrets values to scrub verbatim (the decrypted key) on top of the key-like patterns
 */
export function toActivityFailure(err: unknown, what: string, secrets: ReadonlyArray<string | null | undefined>): ApplicationFailure {
  return toCallFailure(err, TYPES, what, secrets, { recognise: providerError });
}
