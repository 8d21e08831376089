// A request id on every request (taken from X-Request-Id when sane) and one log line per request:
// at debug level (an info line per request costs a large share of a fast request), at warn for
// server errors. `ctx.state.log`, the request's child logger, is built only when something uses it.
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from '../../lib/logger';

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function requestContext(logger: Logger) {
  return async function requestContextMiddleware(ctx: Context, next: Next): Promise<void> {
    const incoming = ctx.get('X-Request-Id');
    const requestId = REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    const state = ctx.state;
    state.requestId = requestId;
    let log: Logger | undefined;
    Object.defineProperty(state, 'log', {
      configurable: true,
      enumerable: true,
      get: () => (log ??= logger.child({ request_id: requestId })),
    });
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      const level = ctx.status >= 500 ? 'warn' : 'debug';
      if (logger.isLevelEnabled(level)) {
        const ms = Math.round((performance.now() - started) * 10) / 10;
        (state.log as Logger)[level]({ method: ctx.method, path: ctx.path, status: ctx.status, ms, user: state.user?.userId }, 'request');
      }
    }
  };
}
