// Outbound URL policy for user-supplied endpoints (base_url, mcp_server_url, webhook_url).
// Link-local and cloud metadata addresses are never reachable; loopback and private ranges only
// when the operator lists them in EGRESS_ALLOW (a local Ollama, tests). Checked statically when a
// config is saved and again after DNS resolution at call time, so DNS cannot smuggle a private address.
import { BlockList, isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import { lookup as lookupCallback, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from 'node:dns';
import { EgressDeniedError } from './errors';

const neverAllowed = new BlockList();
neverAllowed.addSubnet('0.0.0.0', 8, 'ipv4');
neverAllowed.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local, includes 169.254.169.254 metadata
neverAllowed.addAddress('100.100.100.200', 'ipv4'); // Alibaba Cloud metadata
neverAllowed.addSubnet('224.0.0.0', 4, 'ipv4');
neverAllowed.addSubnet('240.0.0.0', 4, 'ipv4');
neverAllowed.addAddress('::', 'ipv6');
neverAllowed.addSubnet('fe80::', 10, 'ipv6');
neverAllowed.addSubnet('ff00::', 8, 'ipv6');
neverAllowed.addAddress('fd00:ec2::254', 'ipv6'); // AWS metadata over IPv6

const privateRanges = new BlockList();
privateRanges.addSubnet('127.0.0.0', 8, 'ipv4');
privateRanges.addSubnet('10.0.0.0', 8, 'ipv4');
privateRanges.addSubnet('172.16.0.0', 12, 'ipv4');
privateRanges.addSubnet('192.168.0.0', 16, 'ipv4');
privateRanges.addSubnet('100.64.0.0', 10, 'ipv4');
privateRanges.addSubnet('198.18.0.0', 15, 'ipv4');
privateRanges.addAddress('::1', 'ipv6');
privateRanges.addSubnet('fc00::', 7, 'ipv6');

const metadataHostnames = new Set(['metadata.google.internal', 'metadata', 'metadata.azure.com', 'instance-data']);

/** The eight 16-bit groups of an IPv6 address (with `::` expanded and a dotted tail converted), or undefined. */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase().split('%')[0]!;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -dotted[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array<string>(Math.max(fill, 0)).fill('0'), ...tail].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

function ipv4Of(high: number, low: number): string {
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/**
 * The IPv4 address an IPv6 address carries, for the forms that reach an IPv4 host: IPv4-mapped
 * (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d), NAT64
 * (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::). Undefined for any other address.
 */
function embeddedIpv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  if (!g) return undefined;
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  // ::ffff:a.b.c.d and ::a.b.c.d; `::` and `::1` themselves are IPv6's own unspecified and loopback.
  if (zero(0, 5) && (g[5] === 0xffff || g[5] === 0) && !(g[5] === 0 && g[6] === 0 && g[7]! <= 1)) return ipv4Of(g[6]!, g[7]!);
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) return ipv4Of(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return ipv4Of(g[6]!, g[7]!);
  if (g[0] === 0x2002) return ipv4Of(g[1]!, g[2]!);
  return undefined;
}

/** The address the rules apply to: an IPv6 address that carries an IPv4 one is judged by it. */
function normalise(address: string): { address: string; type: 'ipv4' | 'ipv6' } {
  if (isIP(address) !== 6) return { address, type: 'ipv4' };
  const v4 = embeddedIpv4(address);
  return v4 ? { address: v4, type: 'ipv4' } : { address, type: 'ipv6' };
}

/** Why an address may not be reached, or undefined when it may. */
export function addressDenial(rawAddress: string, allow: BlockList): string | undefined {
  const { address, type } = normalise(rawAddress);
  if (neverAllowed.check(address, type)) return `address ${rawAddress} is link-local, metadata or reserved and is never allowed`;
  if (privateRanges.check(address, type) && !allow.check(address, type)) {
    return `address ${rawAddress} is private or loopback; add it to EGRESS_ALLOW to allow it`;
  }
  return undefined;
}

function parseHttpUrl(field: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new EgressDeniedError(field, 'must be an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new EgressDeniedError(field, 'must use http or https');
  if (url.username || url.password) throw new EgressDeniedError(field, 'must not carry credentials');
  return url;
}

/** The host name or address, without IPv6 brackets and without a trailing dot (`localhost.` is `localhost`). */
function hostOf(url: URL): string {
  return url.hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.+$/, '')
    .toLowerCase();
}

/** Static check at validation time: scheme, literal addresses, well-known names. No DNS. */
export function checkUrlStatic(field: string, text: string, allow: BlockList): URL {
  const url = parseHttpUrl(field, text);
  const host = hostOf(url);
  if (metadataHostnames.has(host)) throw new EgressDeniedError(field, `host ${host} is a cloud metadata service and is never allowed`);
  const literal = isIP(host) ? host : host === 'localhost' || host.endsWith('.localhost') ? '127.0.0.1' : undefined;
  if (literal) {
    const denial = addressDenial(literal, allow);
    if (denial) throw new EgressDeniedError(field, denial);
  }
  return url;
}

/** Call-time check: resolves the host and refuses if any address it resolves to is denied. */
export async function checkUrlResolved(field: string, text: string, allow: BlockList): Promise<URL> {
  const url = checkUrlStatic(field, text, allow);
  const host = hostOf(url);
  const addresses = isIP(host) ? [{ address: host }] : await lookup(host, { all: true, verbatim: true });
  for (const { address } of addresses) {
    const denial = addressDenial(address, allow);
    // The user learns that the name is refused, never what an internal name resolves to.
    if (denial) throw new EgressDeniedError(field, `${host} resolves to an address that is not allowed`);
  }
  return url;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for the sockets of outbound calls: the policy applies to the very addresses the
 * connection then uses, so a DNS answer that changes between the check and the connect
 * (rebinding) cannot reach a denied address.
 */
export function egressLookup(field: string, allow: BlockList) {
  return function checkedLookup(hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void {
    lookupCallback(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      for (const { address } of addresses) {
        const denial = addressDenial(address, allow);
        if (denial) return callback(new EgressDeniedError(field, `${hostname} resolves to an address that is not allowed`), []);
      }
      if ((options as LookupAllOptions).all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}
