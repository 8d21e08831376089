// Which Host and Origin headers this deployment answers. DNS rebinding points a name the attacker
// owns at our address, so the browser sends that name as Host: requests naming a host we do not
// serve are refused. IP literals and localhost names cannot be rebound (a browser never resolves
// them through DNS), so they always pass: devices on a LAN and health probes use addresses. Pure
// functions, shared by the API and the gateway.
import { isIP, isIPv6 } from 'node:net';

/** A DNS name as it appears in a Host header or an ALLOWED_HOSTS entry (lowercased, no trailing dot). */
const HOST_NAME = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/;

export interface ParsedHost {
  /** Lowercase, without a trailing dot; an IPv6 literal without its brackets. */
  hostname: string;
  port: number | undefined;
}

/** A Host header (`name`, `name:port`, `1.2.3.4:port`, `[::1]:port`); undefined when malformed. */
export function parseHost(value: string): ParsedHost | undefined {
  let hostname: string;
  let portText: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0) return undefined;
    hostname = value.slice(1, close).toLowerCase();
    if (!isIPv6(hostname)) return undefined;
    const rest = value.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return undefined;
    portText = rest.slice(1);
  } else {
    const colon = value.indexOf(':');
    if (colon !== value.lastIndexOf(':')) return undefined; // an IPv6 literal must be bracketed
    hostname = (colon < 0 ? value : value.slice(0, colon)).toLowerCase();
    portText = colon < 0 ? '' : value.slice(colon + 1);
    if (hostname.endsWith('.')) hostname = hostname.slice(0, -1);
    if (!HOST_NAME.test(hostname)) return undefined;
  }
  if (portText !== '' && !/^\d{1,5}$/.test(portText)) return undefined;
  const port = portText === '' ? undefined : Number(portText);
  if (port !== undefined && port > 65535) return undefined;
  return { hostname, port };
}

/** `localhost` and `*.localhost` (RFC 6761): browsers resolve them to loopback themselves, never through DNS. */
export function isLocalhostName(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost');
}

/** Hosts every deployment answers: IP literals (v4, v6) and localhost names. */
export function isAlwaysServed(hostname: string): boolean {
  return isIP(hostname) !== 0 || isLocalhostName(hostname);
}

/**
 * An ALLOWED_HOSTS entry, normalised: a DNS name (`api.example.com`) or a leading wildcard
 * (`*.example.com`: any name under example.com, not example.com itself). No port and no scheme:
 * rebinding is about the name, and the port is the one we listen on. Undefined when malformed.
 */
export function normalizeHostPattern(entry: string): string | undefined {
  const text = entry.trim().toLowerCase().replace(/\.$/, '');
  const wildcard = text.startsWith('*.');
  const name = wildcard ? text.slice(2) : text;
  if (!HOST_NAME.test(name)) return undefined;
  return wildcard ? `*.${name}` : name;
}

function matchesPattern(hostname: string, pattern: string): boolean {
  return pattern.startsWith('*.') ? hostname.endsWith(pattern.slice(1)) : hostname === pattern;
}

/** A hostname (already parsed) this deployment serves: always-served, or matching one of `served` (normalised patterns). */
export function isServedHostname(hostname: string, served: readonly string[]): boolean {
  return isAlwaysServed(hostname) || served.some((pattern) => matchesPattern(hostname, pattern));
}

/** A Host header value this deployment serves; a malformed one is not. */
export function isServedHost(header: string, served: readonly string[]): boolean {
  const parsed = parseHost(header);
  return parsed !== undefined && isServedHostname(parsed.hostname, served);
}

/**
 * The first host a request names that this deployment does not serve, or undefined when all pass:
 * the Host header (absent: HTTP/1.0 without a name, nothing to rebind) and, behind trusted
 * proxies, every X-Forwarded-Host entry (what the browser sent the proxy).
 */
export function unservedHost(
  headers: { host?: string; forwardedHost?: string | string[] },
  served: readonly string[],
  trustProxy: boolean,
): string | undefined {
  const forwarded = trustProxy ? [headers.forwardedHost ?? []].flat().flatMap((value) => value.split(',')) : [];
  for (const candidate of [headers.host ?? '', ...forwarded].map((value) => value.trim())) {
    if (candidate !== '' && !isServedHost(candidate, served)) return candidate;
  }
  return undefined;
}

/** A full http(s) origin (`https://console.example.com`, `http://10.0.0.5:8080`), normalised; undefined when it is not one. */
export function normalizeOrigin(entry: string): string | undefined {
  let url: URL;
  try {
    url = new URL(entry.trim());
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) return undefined;
  return url.origin;
}

export interface OriginPolicy {
  /** Normalised host patterns served (ALLOWED_HOSTS, PUBLIC_HOST, the gateway's public host). */
  served: readonly string[];
  /** Normalised origins accepted as they are (ALLOWED_ORIGINS). */
  origins: readonly string[];
  /** The port the console (the API) listens on. */
  consolePort: number;
  /** The console's public name: any origin on it is the console's (behind a proxy its port is not consolePort). */
  publicHost: string | undefined;
}

/**
 * A browser Origin the gateway accepts: one of ALLOWED_ORIGINS, or the console's own: on
 * PUBLIC_HOST, or on the console's port with a served host. An IP literal or localhost name
 * passes only when it is the host the socket itself was opened to (`requestHostname`), since the
 * console hands out a WebSocket URL on the host it was loaded from: so a page on some other
 * address's port 8080 is not taken for the console. `null` and non-http origins never pass.
 */
export function isAllowedOrigin(origin: string, requestHostname: string | undefined, policy: OriginPolicy): boolean {
  const normalized = normalizeOrigin(origin);
  if (normalized === undefined) return false;
  if (policy.origins.includes(normalized)) return true;
  const url = new URL(normalized);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (policy.publicHost !== undefined && hostname === policy.publicHost) return true;
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  if (port !== policy.consolePort || !isServedHostname(hostname, policy.served)) return false;
  return isAlwaysServed(hostname) ? hostname === requestHostname : true;
}
