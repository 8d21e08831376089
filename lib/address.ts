// How a client on this machine reaches a server by the address it listens on.
import { isIPv6 } from 'node:net';

/** A wildcard bind (0.0.0.0, ::) is reachable on loopback; any other address as it is. */
export function reachableHost(address: string): string {
  return address === '0.0.0.0' || address === '::' ? '127.0.0.1' : address;
}

/** `reachableHost` spelled for a URL: an IPv6 literal in brackets. */
export function urlHost(address: string): string {
  const host = reachableHost(address);
  return isIPv6(host) ? `[${host}]` : host;
}
