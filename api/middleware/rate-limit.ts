// The REST API's rate limits as Koa middleware: per user after authentication, and failed
// authentication per client address around it. The counting is db/rate-limiters.ts's, shared
// with the gateway's handshake.
import type { Context, Next } from 'koa';
import type { FailureLimiter, SharedLimiter } from '../../db/rate-limiters';
import { RateLimitedError, UnauthorizedError } from '../../lib/errors';

/** Per-user limit on the REST API; mounted after authentication. */
export function rateLimit(limiter: SharedLimiter) {
  return async function rateLimitMiddleware(ctx: Context, next: Next): Promise<void> {
    const key = (ctx.state.user?.userId as string | undefined) ?? `ip:${ctx.ip}`;
    const taken = limiter.take(key);
    const wait = typeof taken === 'number' ? taken : await taken;
    if (wait > 0) throw new RateLimitedError(wait);
    await next();
  };
}

/**
 * Wraps authentication: an address over its failure limit is refused before its token is read,
 * and the failure that crosses the limit is answered 429 instead of 401.
 */
export function limitFailedAuth(failures: FailureLimiter, authenticate: (ctx: Context, next: Next) => Promise<void>) {
  return async function failedAuthLimitMiddleware(ctx: Context, next: Next): Promise<void> {
    const address = ctx.ip;
    const blocked = failures.blocked(address);
    if (blocked > 0) throw new RateLimitedError(blocked);
    let authenticated = false;
    try {
      await authenticate(ctx, () => {
        authenticated = true;
        return Promise.resolve();
      });
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
      const wait = await failures.failed(address);
      if (wait > 0) throw new RateLimitedError(wait);
      throw error;
    }
    if (authenticated) await next();
  };
}
