// Pure routing rules shared by the workflow (deterministic) and the answer activity: which configs
// may be offered, in which order LLM configs stand in for each other, and the fallback decision.
import {
  namesTool,
  type BuiltinFunctionName,
  type RoutableConfig,
  type RoutingCandidate,
  type RoutingDecision,
  type SessionSettings,
} from '../contract';
import { deviceToolCandidates, deviceToolDecisionFromMessage, deviceToolOfCandidate, type OfferedDeviceTool } from './device-tools';
import { argumentsFromMessage, similarityMatch, SIMILARITY_THRESHOLD, type RoutingBounds } from './similarity';

export function routableView(config: RoutableConfig): RoutableConfig {
  const { id, config_name, config_type, description, model_name, function_name, is_active, priority } = config;
  return { id, config_name, config_type, description, model_name, function_name: function_name ?? null, is_active, priority };
}

/** Active LLM configs, highest priority first; ties by id so the order is stable. */
export function activeLLMConfigs<C extends RoutableConfig>(configs: readonly C[]): C[] {
  return configs.filter((c) => c.config_type === 'llm' && c.is_active).sort((a, b) => b.priority - a.priority || a.id - b.id);
}

/**
 * `enabled_functions: null` means every function is enabled. An entry names a function by its real
 * name or its mapped one (contract/tool-names.ts); a built-in's two names are the same.
 */
export function isFunctionEnabled(settings: SessionSettings, name: string): boolean {
  return settings.enabled_functions === null || settings.enabled_functions.some((entry) => namesTool(entry, name));
}

export function enabledBuiltins(settings: SessionSettings, all: readonly BuiltinFunctionName[]): BuiltinFunctionName[] {
  return all.filter((name) => isFunctionEnabled(settings, name));
}

/**
 * The order in which LLM configs answer: `first` (the router's pick), then the session's
 * default, then the rest by priority. Only active configs take part.
 */
export function llmAnswerOrder<C extends RoutableConfig>(configs: readonly C[], settings: SessionSettings, first?: number): C[] {
  const ordered = activeLLMConfigs(configs);
  const preferred = [first, settings.default_llm_id ?? undefined].filter((id): id is number => id !== undefined);
  const head = preferred.flatMap((id) => ordered.filter((c) => c.id === id));
  const rest = ordered.filter((c) => !preferred.includes(c.id));
  return [...new Map([...head, ...rest].map((c) => [c.id, c])).values()];
}

/** Without a (working) router: the session's default or the highest-priority active LLM config answers. */
export function fallbackDecision(
  configs: readonly RoutableConfig[],
  settings: SessionSettings,
  text: string,
  reason: string,
): RoutingDecision {
  const chosen = llmAnswerOrder(configs, settings)[0];
  if (!chosen) return { kind: 'none', reason: `${reason}; no active LLM config to answer`, routedBy: 'fallback' };
  return { kind: 'llm_config', configId: chosen.id, tool: llmConfigToolName(chosen.id), question: text, routedBy: 'fallback', reason };
}

const TOOL_PREFIX = 'use_ai_config_';

export function llmConfigToolName(id: number): string {
  return `${TOOL_PREFIX}${id}`;
}

export function parseLLMConfigToolName(name: string): number | undefined {
  if (!name.startsWith(TOOL_PREFIX)) return undefined;
  const id = Number(name.slice(TOOL_PREFIX.length));
  return Number.isSafeInteger(id) && id > 0 ? id : undefined;
}

/** The configs a message may be routed to: active LLM configs, and active function configs the session enables. */
export function routingCandidates<C extends RoutableConfig>(configs: readonly C[], settings: SessionSettings): C[] {
  return configs.filter(
    (c) => c.is_active && (c.config_type === 'llm' || (c.function_name !== null && isFunctionEnabled(settings, c.function_name))),
  );
}

/**
 * Routing without a (working) router LLM: the config whose name and description match the
 * message best (routing/similarity.ts), else the fallback decision. A function chosen this way
 * gets its arguments from the message where its schema allows; otherwise the decision lists the
 * missing ones and no call is made. The activities pass `ROUTING_BOUNDS` (routing/similarity.ts);
 * the workflow, which recomputes its decision on replay, reads everything as it always did.
 * `deviceTools` (the session device's, routing/device-tools.ts) compete as functions; the
 * workflow, which caches none, passes none.
 */
export function routeWithoutRouter(
  configs: readonly RoutingCandidate[],
  settings: SessionSettings,
  text: string,
  reason: string,
  bounds?: RoutingBounds,
  deviceTools: readonly OfferedDeviceTool[] = [],
): RoutingDecision {
  const offered = routingCandidates(configs, settings);
  const match = similarityMatch(
    text,
    [
      ...offered.map((c) => ({
        id: c.id,
        kind: c.config_type === 'llm' ? ('llm' as const) : ('function' as const),
        name: c.config_name,
        description: c.description,
        functionName: c.function_name,
        parameters: c.parameters ?? null,
      })),
      ...deviceToolCandidates(deviceTools),
    ],
    SIMILARITY_THRESHOLD,
    bounds,
  );
  const device = match && deviceToolOfCandidate(deviceTools, match.candidate.id);
  if (device) {
    return deviceToolDecisionFromMessage(
      device,
      text,
      `${reason}; the description of device tool "${device.name}" matched the message best`,
    );
  }
  const chosen = match && offered.find((c) => c.id === match.candidate.id);
  if (!chosen) return fallbackDecision(configs, settings, text, `${reason}; no config's description matched the message`);
  const why = `${reason}; the description of "${chosen.config_name}" matched the message best`;
  if (chosen.config_type === 'llm') {
    return {
      kind: 'llm_config',
      configId: chosen.id,
      tool: llmConfigToolName(chosen.id),
      question: text,
      routedBy: 'similarity',
      reason: why,
    };
  }
  const args = argumentsFromMessage(chosen.parameters ?? null, text);
  return {
    kind: 'function',
    configId: chosen.id,
    functionName: chosen.function_name ?? chosen.config_name,
    arguments: args.ok ? args.arguments : {},
    ...(args.ok ? {} : { missing: args.missing }),
    routedBy: 'similarity',
    reason: why,
  };
}
