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
