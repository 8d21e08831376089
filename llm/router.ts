// The router: one chat completion with the user's active LLM configs, their enabled function
// configs (each its own tool, with the config's JSON Schema as parameters) and the enabled
// built-ins as tools (`tool_choice: auto`). A tool call is the routing decision; a plain answer is
// the direct answer. The router never decides to run a config that was not offered; an unusable
// reply is routed without it (routing/rules.ts, routeWithoutRouter).
import type OpenAI from 'openai';
import { BUILTIN_FUNCTIONS, providerToolName, type BuiltinFunctionName, type RoutingDecision } from '../contract';
import type { RouteInput, RoutableConfig, RoutingCandidate } from '../contract';
import {
  offeredDeviceTools,
  type OfferedDeviceTool,
  activeLLMConfigs,
  enabledBuiltins,
  llmConfigToolName,
  parseLLMConfigToolName,
  routeWithoutRouter,
  routingCandidates,
} from '../routing';
import { BUILTIN_TOOL_SPECS } from './builtins';

export const ROUTER_SYSTEM_PROMPT = [
  'You route a user message to the best tool.',
  "Tools named use_ai_config_<id> hand the question to one of the user's AI models; pick the one whose description fits the question best and pass the question on.",
  'Use a built-in function only when the user asks for what it does.',
  'If the message is small talk or you can answer it in a sentence yourself, answer directly without a tool.',
].join(' ');

type Tool = OpenAI.Chat.Completions.ChatCompletionFunctionTool;

function llmConfigTool(config: RoutableConfig): Tool {
  const what = config.description?.trim() || `General assistant "${config.config_name}"`;
  return {
    type: 'function',
    function: {
      name: llmConfigToolName(config.id),
      description: `${what} (model ${config.model_name ?? 'unknown'})`,
      parameters: {
        type: 'object',
        properties: { question: { type: 'string', description: "The user's question, in their words" } },
      },
    },
  };
}

/**
 * A user's function config as a tool: its mapped name (the real one when providers take it;
 * contract/tool-names.ts), description and argument schema. The call uses the real name.
 */
function functionTool(config: RoutingCandidate & { function_name: string }): Tool {
  return {
    type: 'function',
    function: {
      name: providerToolName(config.function_name),
      description: config.description?.trim() || config.config_name,
      parameters: config.parameters ?? { type: 'object', properties: {} },
    },
  };
}

function userFunctions(input: Pick<RouteInput, 'configs' | 'settings'>): (RoutingCandidate & { function_name: string })[] {
  return routingCandidates(input.configs, input.settings).filter(
    (c): c is RoutingCandidate & { function_name: string } => c.config_type === 'function_call' && c.function_name !== null,
  );
}

function builtinTool(name: BuiltinFunctionName): Tool {
  const spec = BUILTIN_TOOL_SPECS[name];
  return { type: 'function', function: { name, description: spec.description, parameters: spec.parameters } };
}

/**
 * The device's tools as offered (routing/device-tools.ts): each under a mapped name that no LLM
 * config's, function config's or built-in's tool has, whether or not a router LLM decides.
 */
export function offerDeviceTools(input: Pick<RouteInput, 'configs' | 'settings' | 'deviceTools'>): OfferedDeviceTool[] {
  if (!input.deviceTools?.length) return [];
  const reserved = [
    ...activeLLMConfigs(input.configs).map((c) => llmConfigToolName(c.id)),
    ...userFunctions(input).map((f) => providerToolName(f.function_name)),
    ...BUILTIN_FUNCTIONS,
  ];
  return offeredDeviceTools(input.deviceTools, input.settings, reserved);
}

function deviceTool(tool: OfferedDeviceTool): Tool {
  return {
    type: 'function',
    function: {
      name: tool.tool,
      description: `${tool.description || tool.name} (a tool on the user's device)`,
      parameters: tool.inputSchema,
    },
  };
}

/** A user's function named like a built-in takes the built-in's place: the user configured it on purpose. */
export function buildRouterTools(input: Pick<RouteInput, 'configs' | 'settings' | 'deviceTools'>): Tool[] {
  const functions = userFunctions(input);
  const taken = new Set(functions.map((f) => providerToolName(f.function_name)));
  return [
    ...activeLLMConfigs(input.configs).map(llmConfigTool),
    ...functions.map(functionTool),
    ...enabledBuiltins(input.settings, BUILTIN_FUNCTIONS)
      .filter((name) => !taken.has(name))
      .map(builtinTool),
    ...offerDeviceTools(input).map(deviceTool),
  ];
}

function parseArguments(text: string | undefined): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text || '{}');
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Turn the router's reply into a decision; anything unusable becomes the fallback decision. */
export function decisionFromReply(
  message: OpenAI.Chat.Completions.ChatCompletionMessage,
  input: RouteInput,
  tools: Tool[],
): RoutingDecision {
  const call = message.tool_calls?.find((c) => c.type === 'function');
  if (!call) {
    const answer = message.content?.trim();
    if (answer) return { kind: 'direct_answer', answer, routedBy: 'router_llm' };
    return routeWithoutRouter(
      input.configs,
      input.settings,
      input.text,
      'the router gave neither a tool call nor an answer',
      undefined,
      offerDeviceTools(input),
    );
  }
  const name = call.function.name;
  if (!tools.some((t) => t.function.name === name)) {
    return routeWithoutRouter(
      input.configs,
      input.settings,
      input.text,
      `the router chose ${JSON.stringify(name.slice(0, 80))}, which was not offered`,
      undefined,
      offerDeviceTools(input),
    );
  }
  const args = parseArguments(call.function.arguments);
  const configId = parseLLMConfigToolName(name);
  if (configId !== undefined) {
    const question = typeof args.question === 'string' && args.question.trim() ? args.question : input.text;
    return { kind: 'llm_config', configId, tool: name, question, routedBy: 'router_llm' };
  }
  const fn = userFunctions(input).find((f) => providerToolName(f.function_name) === name);
  if (fn) return { kind: 'function', configId: fn.id, functionName: fn.function_name, arguments: args, routedBy: 'router_llm' };
  const device = offerDeviceTools(input).find((t) => t.tool === name);
  if (device) return { kind: 'device_tool', name: device.name, tool: name, arguments: args, routedBy: 'router_llm' };
  return { kind: 'builtin', name: name as BuiltinFunctionName, arguments: args, routedBy: 'router_llm' };
}

export async function askRouter(client: OpenAI, model: string, input: RouteInput, signal?: AbortSignal): Promise<RoutingDecision> {
  const tools = buildRouterTools(input);
  const completion = await client.chat.completions.create(
    {
      model,
      messages: [
        { role: 'system', content: ROUTER_SYSTEM_PROMPT },
        { role: 'user', content: input.text },
      ],
      ...(tools.length ? { tools, tool_choice: 'auto' as const } : {}),
      temperature: 0,
    },
    { signal },
  );
  const message = completion.choices[0]?.message;
  if (!message)
    return routeWithoutRouter(
      input.configs,
      input.settings,
      input.text,
      'the router returned no choices',
      undefined,
      offerDeviceTools(input),
    );
  return decisionFromReply(message, input, tools);
}
