// fetch for user-supplied endpoints (an LLM's base_url, an MCP server, a webhook): its sockets
// resolve host names through the egress policy (lib/egress.ts), so the address checked is the
// address connected to, and redirects are never followed: a `Location` on an IP literal would skip
// the policed lookup, so the redirect itself is the answer (callers turn a 3xx into a refusal).
// IP literals in the URL itself are not looked up by the socket; callers check the URL statically
// (checkUrlStatic / checkUrlResolved) before the call.
import type { BlockList } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import { egressLookup } from './egress';

/** The global fetch's shape (what the openai SDK and the MCP SDK accept). */
export type PolicedFetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * One connection pool per (field, allow list): the process has one allow list, so in practice one
 * Agent per field, reused by every call. The field only names the setting in a refusal.
 */
const agents = new WeakMap<BlockList, Map<string, Agent>>();

function agentFor(field: string, allow: BlockList): Agent {
  let byField = agents.get(allow);
  if (!byField) {
    byField = new Map();
    agents.set(allow, byField);
  }
  let agent = byField.get(field);
  if (!agent) {
    agent = new Agent({ connect: { lookup: egressLookup(field, allow) } });
    byField.set(field, agent);
  }
  return agent;
}

export function policedFetch(field: string, allow: BlockList): PolicedFetch {
  const dispatcher = agentFor(field, allow);
  // undici's fetch is the one Node ships, typed by its own package; the shapes are the same.
  return ((input: Parameters<typeof undiciFetch>[0], init?: Parameters<typeof undiciFetch>[1]) =>
    undiciFetch(input, { ...init, dispatcher, redirect: 'manual' })) as unknown as PolicedFetch;
}
