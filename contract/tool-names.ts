// Tool names: the one mapper between a tool's real name and the name an LLM provider is offered.
//
// MCP tool names (and xiaozhi device tools, `self.light.set_brightness`) may hold `-`, `.` and `_`
// and run to 128 characters; providers take `^[a-zA-Z0-9_-]{1,64}$`. A function config stores its
// real name (`function_name`) and is called with it; routing offers the mapped name (`tool_name`)
// and maps the router's pick back. The rule, pure and deterministic (the workflow applies it too):
//
// * a name providers already take is its own mapped name (every name stored before this rule);
// * any other name: each character providers refuse becomes `_` (`self.light.set_brightness` →
//   `self_light_set_brightness`, the name the xiaozhi issue promises);
// * a sanitised name over 64 characters is cut to 55 and `_` plus 8 hex digits of a hash of the
//   whole real name are appended, so two long names that share their first 55 characters map apart;
// * what remains, a mapped name equal to another tool's (`light.on` and `light_on`), is a
//   collision: a function config whose mapped name another of the user's functions already has
//   is refused at save (409 naming
//   `function_name`), and `assignToolNames` resolves it for a set of tools that cannot be
//   refused (device tools), by suffixing the later name again with a salted hash.

/** A tool's real name: what a config stores and an MCP server is called with. */
export const TOOL_NAME_MAX = 128;
export const TOOL_NAME_PATTERN = /^[a-zA-Z0-9_.-]{1,128}$/;
export const TOOL_NAME_RULE = '1 to 128 letters, digits, "_", "-" or "." (^[a-zA-Z0-9_.-]{1,128}$)';

/** A name as LLM providers take it. */
export const PROVIDER_TOOL_NAME_MAX = 64;
export const PROVIDER_TOOL_NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;

const HASH_DIGITS = 8;

/** FNV-1a (32 bits) over UTF-16 code units, as 8 hex digits: stable across processes and releases. */
function stableHash(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(HASH_DIGITS, '0');
}

function suffixed(name: string, hash: string): string {
  const safe = name.replace(/[^a-zA-Z0-9_-]/g, '_');
  return `${safe.slice(0, PROVIDER_TOOL_NAME_MAX - HASH_DIGITS - 1)}_${hash}`;
}

/** The name a provider is offered for a tool's real name (see the rule above). */
export function providerToolName(name: string): string {
  if (PROVIDER_TOOL_NAME_PATTERN.test(name)) return name;
  const safe = name.replace(/[^a-zA-Z0-9_-]/g, '_');
  return safe.length <= PROVIDER_TOOL_NAME_MAX ? safe : suffixed(name, stableHash(name));
}

/** Whether `reference` (a client's `enabled_functions` entry, a router's pick) names this tool: by real or mapped name. */
export function namesTool(reference: string, realName: string): boolean {
  return reference === realName || reference === providerToolName(realName);
}

/**
 * Mapped names for a set of tools that must all be offered at once, none equal to another or to a
 * `reserved` name. Names providers take claim their own spelling first, then the rest in order of
 * their real names; a name whose mapped name is taken gets `suffixed(name, hash(name + "#" + n))`
 * for the first n that is free. The result depends only on the set, not on the order given.
 */
export function assignToolNames(names: Iterable<string>, reserved: Iterable<string> = []): Map<string, string> {
  const taken = new Set(reserved);
  const assigned = new Map<string, string>();
  const unique = [...new Set(names)].sort();
  const kept = unique.filter((name) => providerToolName(name) === name);
  const mapped = unique.filter((name) => providerToolName(name) !== name);
  for (const name of [...kept, ...mapped]) {
    let candidate = providerToolName(name);
    for (let n = 1; taken.has(candidate); n++) candidate = suffixed(name, stableHash(`${name}#${n}`));
    taken.add(candidate);
    assigned.set(name, candidate);
  }
  return assigned;
}
