// Refuses requests naming a host this deployment does not serve (DNS rebinding; lib/host-policy):
// a 421 in the envelope, before any route runs, so every path (API, console, codec, health and
// whatever comes later) is covered. IP literals and localhost names pass, so probes by address do.
import type { Context, Next } from 'koa';
import { unservedHost } from '../../lib/host-policy';
import { MisdirectedRequestError } from '../../lib/errors';

/** Host headers seen to be served, remembered so the common request skips the parse; refused ones never are. */
const REMEMBERED_HOSTS = 64;

export function requireServedHost(served: readonly string[], trustProxy: boolean) {
  const servedHosts = new Set<string>();
  return function hostCheck(ctx: Context, next: Next): Promise<void> {
    const { host, 'x-forwarded-host': forwardedHost } = ctx.req.headers;
    // Only the Host header decides unless a trusted proxy forwarded another name.
    const hostOnly = host !== undefined && (!trustProxy || forwardedHost === undefined);
    if (hostOnly && servedHosts.has(host)) return next();
    const refused = unservedHost({ host, forwardedHost }, served, trustProxy);
    if (refused !== undefined) throw new MisdirectedRequestError(refused);
    if (hostOnly) {
      if (servedHosts.size >= REMEMBERED_HOSTS) servedHosts.clear();
      servedHosts.add(host);
    }
    return next();
  };
}
