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

/** Unwrap IPv4-mapped IPv6 (::ffff:127.0.0.1) so the IPv4 rules apply to it. */
function normalise(address: string): { address: string; type: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, type: 'ipv4' };
  return { address, type: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
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

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
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
    if (denial) throw new EgressDeniedError(field, `${host} resolves to ${denial.replace(/^address /, '')}`);
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
        if (denial) return callback(new EgressDeniedError(field, `${hostname} resolves to ${denial.replace(/^address /, '')}`), []);
      }
      if ((options as LookupAllOptions).all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}
