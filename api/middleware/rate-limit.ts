// The REST API's rate limits as Koa middleware: per user after authentication, and failed
// authentication per client address around it. The counting is db/rate-limiters.ts's, shared
// with the gateway's handshake. A request that memory can answer (a remembered token, a budget
// reserved locally) passes without a promise of its own.
import type { Context, Next } from 'koa';
import type { FailureLimiter, SharedLimiter } from '../../db/rate-limiters';
import { RateLimitedError, UnauthorizedError } from '../../lib/errors';

/** Per-user limit on the REST API; mounted after authentication. */
export function rateLimit(limiter: SharedLimiter) {
  const check = (wait: number, next: Next): Promise<void> => {
    if (wait > 0) throw new RateLimitedError(wait);
    return next();
  };
  return function rateLimitMiddleware(ctx: Context, next: Next): Promise<void> {
    const key = (ctx.state.user?.userId as string | undefined) ?? `ip:${ctx.ip}`;
    const taken = limiter.take(key);
    return typeof taken === 'number' ? check(taken, next) : taken.then((wait) => check(wait, next));
  };
}

/**
 * Wraps authentication: an address over its failure limit is refused before its token is read,
 * and the failure that crosses the limit is answered 429 instead of 401. Only the authentication
 * itself is watched: what `next` throws is the route's, never counted as a failure.
 */
export function limitFailedAuth(failures: FailureLimiter, authenticate: (ctx: Context, next: Next) => Promise<void>) {
  async function refuse(address: string, error: unknown): Promise<never> {
    if (!(error instanceof UnauthorizedError)) throw error;
    const wait = await failures.failed(address);
    if (wait > 0) throw new RateLimitedError(wait);
    throw error;
  }
  return function failedAuthLimitMiddleware(ctx: Context, next: Next): Promise<void> {
    const address = ctx.ip;
    const blocked = failures.blocked(address);
    if (blocked > 0) throw new RateLimitedError(blocked);
    let authenticated = false;
    const passed = (): Promise<void> => {
      authenticated = true;
      return Promise.resolve();
    };
    let authenticating: Promise<void>;
    try {
      authenticating = authenticate(ctx, passed);
    } catch (error) {
      return refuse(address, error);
    }
    // A remembered token: authenticated already, synchronously.
    if (authenticated) return next();
    return authenticating.then(
      () => (authenticated ? next() : undefined),
      (error: unknown) => refuse(address, error),
    );
  };
}
