// What a function call can fail with: every failure of callFunction is a FunctionCallError (the
// shared CallError of lib/call-failure.ts, the one classifier for provider and function calls) with
// a function failure type, a retryable flag and a message already scrubbed of the call's secrets
// (webhook secret, MCP header values). toFunctionFailure turns it (or anything else) into the
// ApplicationFailure Temporal records.
import type { ApplicationFailure } from '@temporalio/common';
import {
  CallError,
  classifyCallError,
  CONFIG_FAILURE,
  httpStatusError as statusError,
  toCallFailure,
  type FailureTypes,
} from '../lib/call-failure';

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
  egressDenied: CONFIG_FAILURE.egressDenied,
  /** The function config cannot run (missing, disabled, no address, no signing secret). Not retryable. */
  configUnavailable: CONFIG_FAILURE.configUnavailable,
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

/** A function call's failure; the class is the shared CallError. */
export type FunctionCallError = CallError<FunctionFailureType>;
export const FunctionCallError = CallError;

/** The shared classification, named as function failures. */
const TYPES: FailureTypes<FunctionFailureType> = {
  serverError: FUNCTION_FAILURE.serverError,
  rateLimited: FUNCTION_FAILURE.rateLimited,
  rejected: FUNCTION_FAILURE.rejected,
  timeout: FUNCTION_FAILURE.timeout,
  connection: FUNCTION_FAILURE.connection,
  badResponse: FUNCTION_FAILURE.badResponse,
  responseTooLarge: FUNCTION_FAILURE.responseTooLarge,
  egressDenied: FUNCTION_FAILURE.egressDenied,
  refused: FUNCTION_FAILURE.rejected,
};

/** The FunctionCallError for an HTTP status the endpoint answered with (not 2xx). */
export function httpStatusError(status: number, detail: string, retryAfter?: string | null): FunctionCallError {
  return statusError(TYPES, status, detail, retryAfter);
}

/**
 * Any error a call threw, as a FunctionCallError (not yet scrubbed). `timedOut` says whether the
 * call's own timeout fired (an abort is then a timeout rather than the caller's cancellation).
 */
export function classifyError(err: unknown, timedOut = false): FunctionCallError {
  return classifyCallError(err, TYPES, { timedOut });
}

/**
 * The ApplicationFailure for whatever a function call threw.
 * @param what    who failed, for the message ("function get_weather (config 7)")
 * @param secrets values to scrub verbatim (webhook secret, MCP header values) on top of the key-like patterns
 */
export function toFunctionFailure(err: unknown, what: string, secrets: ReadonlyArray<string | null | undefined>): ApplicationFailure {
  return toCallFailure(err, TYPES, what, secrets);
}
