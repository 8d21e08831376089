// Per-user token bucket on the REST API. In-process: with several API replicas each holds its
// own buckets, which bounds a user at replicas × limit; good enough until a shared store is needed.
import type { Context, Next } from 'koa';
import { RateLimitedError } from '../../lib/errors';

interface Bucket {
  tokens: number;
  updated: number;
}

function createRateLimiter(perMinute: number, now: () => number = Date.now) {
  const buckets = new Map<string, Bucket>();
  const refillPerMs = perMinute / 60_000;
  return {
    /** Takes one token; returns seconds to wait when none is left. */
    take(key: string): number {
      const t = now();
      const bucket = buckets.get(key) ?? { tokens: perMinute, updated: t };
      bucket.tokens = Math.min(perMinute, bucket.tokens + (t - bucket.updated) * refillPerMs);
      bucket.updated = t;
      buckets.set(key, bucket);
      if (buckets.size > 100_000) buckets.clear(); // memory bound under an id-spraying attack
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      return Math.max(1, Math.ceil((1 - bucket.tokens) / refillPerMs / 1000));
    },
  };
}

export function rateLimit(perMinute: number) {
  const limiter = createRateLimiter(perMinute);
  return async function rateLimitMiddleware(ctx: Context, next: Next): Promise<void> {
    const key = (ctx.state.user?.userId as string | undefined) ?? `ip:${ctx.ip}`;
    const wait = limiter.take(key);
    if (wait > 0) throw new RateLimitedError(wait);
    await next();
  };
}
