// Failures on the OpenAI-compatible surface (/v1) in OpenAI's shape,
// `{"error": {"message", "type", "param", "code"}}`, so the openai SDKs raise their own error
// classes (AuthenticationError, NotFoundError, RateLimitError…). The same AppErrors as the REST
// API, the same status and headers (Retry-After); only the body differs. Every /v1 answer takes
// it, the Host check's and the limits' included (mounted in place of the envelope's handler).
import { z } from 'zod';
import type { AppError } from '../lib/errors';
import { handleErrors } from './middleware/error-handler';

/** The OpenAI-compatible surface: its paths, for the middleware that picks the error shape. */
export const OPENAI_PREFIX = '/v1';

/**
 * The request body cap on /v1: 1 MiB (413 in OpenAI's shape beyond), above the REST API's
 * BODY_LIMIT_BYTES because a chat request carries its whole conversation.
 */
export const OPENAI_BODY_LIMIT_BYTES = 1024 * 1024;

export function isOpenAiPath(path: string): boolean {
  return path === OPENAI_PREFIX || path.startsWith(`${OPENAI_PREFIX}/`);
}

/** OpenAI's error types by HTTP status; any other 4xx is an invalid request, any 5xx an API error. */
const TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  429: 'rate_limit_error',
};

export const openAiErrorSchema = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string().meta({
        description: 'invalid_request_error, authentication_error, permission_error, not_found_error, rate_limit_error, api_error',
      }),
      param: z.string().nullable().meta({ description: 'The request parameter at fault (a 400), else null' }),
      code: z
        .string()
        .nullable()
        .meta({ description: 'invalid_api_key for a 401; else the machine-readable code, e.g. validation_failed' }),
    }),
  })
  .meta({ id: 'OpenAIError' });

export type OpenAiError = z.infer<typeof openAiErrorSchema>;

export function openAiErrorBody(error: AppError | undefined): OpenAiError {
  const status = error?.status ?? 500;
  return {
    error: {
      message: error?.message ?? 'Internal server error',
      type: TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'),
      param: error?.details.errors?.[0]?.field ?? null,
      code: status === 401 ? 'invalid_api_key' : (error?.code ?? 'internal'),
    },
  };
}

/** The error middleware of /v1. */
export const openAiErrorHandler = handleErrors((error) => openAiErrorBody(error));
