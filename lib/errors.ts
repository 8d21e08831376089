// One error hierarchy for REST and WebSocket alike: every user-facing failure is an AppError
// with an HTTP status and a stable machine-readable code. Anything else is an internal error,
// answered generically and logged. The bodies that carry them are built here and nowhere else:
// errorBody for REST answers and refused upgrades, errorFrame for the socket's `error` frames.

export interface FieldError {
  field: string;
  message: string;
}

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  constructor(errors: FieldError[], message = 'Validation failed: ' + errors.map((e) => e.field).join(', ')) {
    super(400, 'validation_failed', message, { errors });
  }
}

export class BadRequestError extends AppError {
  constructor(message: string, code = 'bad_request') {
    super(400, code, message);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Missing or invalid credentials') {
    super(401, 'unauthorized', message, { headers: { 'WWW-Authenticate': 'Bearer' } });
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'Forbidden') {
    super(403, 'forbidden', message);
  }
}

/** The request names a host this deployment does not serve (DNS rebinding): 421, never answered here. */
export class MisdirectedRequestError extends AppError {
  constructor(host: string) {
    super(
      421,
      'misdirected_request',
      `This server does not answer for the host ${JSON.stringify(host)}; use its address, or add the name to ALLOWED_HOSTS`,
    );
  }
}

export class NotFoundError extends AppError {
  constructor(what = 'Resource') {
    super(404, 'not_found', `${what} not found`);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, code = 'conflict', errors?: FieldError[]) {
    super(409, code, message, errors ? { errors } : {});
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(limit: number) {
    super(413, 'payload_too_large', `Request body exceeds ${limit} bytes`);
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor() {
    super(415, 'unsupported_media_type', 'Content-Type must be application/json');
  }
}

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number) {
    super(429, 'rate_limited', `Too many requests; retry after ${retryAfterSeconds}s`, {
      headers: { 'Retry-After': String(retryAfterSeconds) },
    });
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message: string) {
    super(503, 'unavailable', message);
  }
}

/** Raised by the egress policy; a 400 at validation time, a non-retryable failure at call time. */
export class EgressDeniedError extends AppError {
  constructor(field: string, message: string) {
    super(400, 'egress_denied', message, { errors: [{ field, message }] });
  }
}

/** A user's endpoint (an MCP server, say) failed while we acted for them: their problem to fix, not ours. */
export class UpstreamError extends AppError {
  constructor(message: string, code = 'upstream_failed') {
    super(502, code, message);
  }
}

/**
 * The error envelope of REST answers and refused WebSocket upgrades (DESIGN.md section 4):
 * `{ code: <http status>, message, data: null, error: <code>, errors?: [{ field, message }], request_id? }`.
 * Anything but an AppError is a 500 `internal` with a generic message.
 */
export interface ErrorBody {
  code: number;
  message: string;
  data: null;
  error: string;
  errors?: FieldError[];
  request_id?: string;
}

export function errorBody(error: AppError | undefined, requestId?: string): ErrorBody {
  const body: ErrorBody = {
    code: error?.status ?? 500,
    message: error?.message ?? 'Internal server error',
    data: null,
    error: error?.code ?? 'internal',
  };
  if (error?.details.errors) body.errors = error.details.errors;
  if (requestId !== undefined) body.request_id = requestId;
  return body;
}

/** The socket's `error` frame (DESIGN.md section 5): the same code and message, and the id of the frame it answers. */
export interface ErrorFrameBody {
  type: 'error';
  id?: string;
  code: string;
  message: string;
}

export function errorFrame(code: string, message: string, id?: string): ErrorFrameBody {
  return id === undefined ? { type: 'error', code, message } : { type: 'error', id, code, message };
}
