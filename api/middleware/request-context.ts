// A request id on every request (taken from X-Request-Id when sane), its latency in the metrics
// and one log line per request: at debug level (an info line per request costs a large share of
// a fast request), at warn for server errors. The request's child logger is built only when
// something logs.
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from '../../lib/logger';
import type { HttpMetrics } from './metrics';

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const loggers = new WeakMap<Context, Logger>();

/** The request's logger (with its request_id); the given one outside a request context. */
export function requestLogger(ctx: Context | undefined, fallback: Logger): Logger {
  if (!ctx || typeof ctx.state.requestId !== 'string') return fallback;
  let log = loggers.get(ctx);
  if (!log) {
    log = fallback.child({ request_id: ctx.state.requestId });
    loggers.set(ctx, log);
  }
  return log;
}

export function requestContext(logger: Logger, metrics?: Pick<HttpMetrics, 'observe'>) {
  return async function requestContextMiddleware(ctx: Context, next: Next): Promise<void> {
    const incoming = ctx.get('X-Request-Id');
    const requestId = incoming !== '' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      const ms = performance.now() - started;
      metrics?.observe(ctx, ms / 1000);
      const level = ctx.status >= 500 ? 'warn' : 'debug';
      if (logger.isLevelEnabled(level)) {
        requestLogger(ctx, logger)[level](
          { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10, user: ctx.state.user?.userId },
          'request',
        );
      }
    }
  };
}
