// Mounted first: every failure leaves as one JSON body. AppErrors carry their status and code;
// a database that cannot be reached is a 503 `unavailable` (clients retry; /readyz says why);
// anything else is a 500 with a generic message, logged with the request id. The body is the
// REST envelope (`errorHandler`), or another surface's shape (`handleErrors`: the OpenAI one on /v1).
import type { Context, Next } from 'koa';
import { isDatabaseUnavailable } from '../../db/unavailable';
import { AppError, errorBody, ServiceUnavailableError } from '../../lib/errors';

/** The body of a failure: `error` undefined means an internal error (a 500). */
export type ErrorShape = (error: AppError | undefined, ctx: Context) => unknown;

export function handleErrors(shape: ErrorShape) {
  return async function errorHandlerMiddleware(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      // Statuses set without a body (no route, router.allowedMethods) still get the error body.
      if (ctx.body === undefined && ctx.status >= 400) {
        const allow = ctx.response.get('Allow');
        throw ctx.status === 404
          ? new AppError(404, 'not_found', `No route for ${ctx.method} ${ctx.path}`)
          : new AppError(
              ctx.status,
              ctx.status === 405 ? 'method_not_allowed' : 'not_implemented',
              `${ctx.method} is not supported here${allow ? `; allowed: ${allow}` : ''}`,
            );
      }
    } catch (thrown) {
      // Before: a stopped PostgreSQL made every route that reads it a 500 `internal` (test/faults/database-restart).
      const unavailable = !(thrown instanceof AppError) && isDatabaseUnavailable(thrown);
      const caught = unavailable ? new ServiceUnavailableError('The database is unavailable; try again shortly') : thrown;
      const error = caught instanceof AppError ? caught : undefined;
      for (const [name, value] of Object.entries(error?.details.headers ?? {})) ctx.set(name, value);
      ctx.status = error?.status ?? 500;
      ctx.body = shape(error, ctx);
      if (!error) ctx.app.emit('error', caught, ctx);
    }
  };
}

/** The REST envelope `{ code, message, data: null, error, errors?, request_id? }` (lib/errors.ts). */
export const errorHandler = handleErrors((error, ctx) => errorBody(error, ctx.state.requestId as string | undefined));
