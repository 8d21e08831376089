// How a client on this machine reaches a server by the address it listens on.
import { isIPv6 } from 'node:net';

/**
 * The host part of a URL for a server bound to `address`: a wildcard bind (0.0.0.0, ::) is
 * reachable on loopback, and an IPv6 literal goes in brackets.
 */
export function urlHost(address: string): string {
  const host = address === '0.0.0.0' || address === '::' ? '127.0.0.1' : address;
  return isIPv6(host) ? `[${host}]` : host;
}

/**
 * The client's address as Koa reports it with `proxy` on and `maxIpsCount: hops` (the API's
 * setting), so the API and the gateway count a client's failures under the same key: behind
 * `hops` proxies of ours, the left-most of the last `hops` X-Forwarded-For entries; else the peer.
 */
export function clientAddress(forwardedFor: string | string[] | undefined, peer: string | undefined, hops: number): string {
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
  if (hops > 0 && header) {
    const entries = header
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    const trusted = entries.slice(-hops);
    if (trusted[0]) return trusted[0];
  }
  return peer ?? '';
}
