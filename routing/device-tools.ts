// Device tools in routing (issue 16): the tools a session's device listed join routing as functions
// beside the user's configs and the built-ins, each offered under a mapped name no other offered
// tool has (contract/tool-names.ts, `assignToolNames`), with its inputSchema as parameters, and
// called with its real name. Pure: the answer activity applies it with and without a router LLM.
import { assignToolNames, namesTool, type DeviceTool, type RoutingDecision, type SessionSettings } from '../contract';
import { argumentsFromMessage, type SimilarityCandidate } from './similarity';

/** A device tool as routing offers it: `tool` is the name providers are given. */
export interface OfferedDeviceTool extends DeviceTool {
  tool: string;
}

/**
 * The device tools a session offers (those `enabled_functions` names, by real or mapped name; all
 * when it is null), each under a mapped name none of `reserved` (the other tools offered) has.
 */
export function offeredDeviceTools(
  tools: readonly DeviceTool[],
  settings: SessionSettings,
  reserved: Iterable<string>,
): OfferedDeviceTool[] {
  const enabled = tools.filter((t) => settings.enabled_functions?.some((entry) => namesTool(entry, t.name)) ?? true);
  const names = assignToolNames(
    enabled.map((t) => t.name),
    reserved,
  );
  return enabled.map((t) => ({ ...t, tool: names.get(t.name) ?? t.name }));
}

/** Similarity candidates' ids for device tools: past any config id, so a tie goes to the user's config. */
const DEVICE_CANDIDATE_BASE = 2 ** 52;

export function deviceToolCandidates(tools: readonly OfferedDeviceTool[]): SimilarityCandidate[] {
  return tools.map((t, i) => ({
    id: DEVICE_CANDIDATE_BASE + i,
    kind: 'function' as const,
    name: t.name,
    description: t.description,
    functionName: t.name,
    parameters: t.inputSchema,
  }));
}

/** The device tool a similarity candidate id names, if any. */
export function deviceToolOfCandidate(tools: readonly OfferedDeviceTool[], id: number): OfferedDeviceTool | undefined {
  return id >= DEVICE_CANDIDATE_BASE ? tools[id - DEVICE_CANDIDATE_BASE] : undefined;
}

/** The decision for a device tool chosen without an LLM: arguments from the message where its schema allows. */
export function deviceToolDecisionFromMessage(tool: OfferedDeviceTool, text: string, reason: string): RoutingDecision {
  const args = argumentsFromMessage(tool.inputSchema, text);
  return {
    kind: 'device_tool',
    name: tool.name,
    tool: tool.tool,
    arguments: args.ok ? args.arguments : {},
    ...(args.ok ? {} : { missing: args.missing }),
    routedBy: 'similarity',
    reason,
  };
}
