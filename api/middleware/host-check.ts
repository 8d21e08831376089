// Refuses requests naming a host this deployment does not serve (DNS rebinding; lib/host-policy):
// a 421 in the envelope, before any route runs, so every path (API, console, codec, health and
// whatever comes later) is covered. IP literals and localhost names pass, so probes by address do.
import type { Context, Next } from 'koa';
import { unservedHost } from '../../lib/host-policy';
import { MisdirectedRequestError } from '../../lib/errors';

export function requireServedHost(served: readonly string[], trustProxy: boolean) {
  return async function hostCheck(ctx: Context, next: Next): Promise<void> {
    const refused = unservedHost({ host: ctx.req.headers.host, forwardedHost: ctx.req.headers['x-forwarded-host'] }, served, trustProxy);
    if (refused !== undefined) throw new MisdirectedRequestError(refused);
    await next();
  };
}
