// How a client on this machine reaches a server by the address it listens on.
import { BlockList, isIP, isIPv6 } from 'node:net';

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

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** A loopback address (127.0.0.0/8, ::1, and IPv4-mapped ::ffff:127.x as a dual-stack socket reports it). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const family = isIP(address);
  return family !== 0 && LOOPBACK.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * A request from this machine only: its peer is loopback and every X-Forwarded-For entry (if a
 * proxy on this machine relayed it) is loopback too. The header can only refuse, never admit.
 */
export function isLocalRequest(peer: string | undefined, forwardedFor: string | string[] | undefined): boolean {
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : (forwardedFor ?? '');
  const relayed = header
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  return isLoopbackAddress(peer) && relayed.every(isLoopbackAddress);
}
