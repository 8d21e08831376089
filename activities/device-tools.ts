// The answer step's side of device tools (ARCHITECTURE.md, "Device tools"): read the tools the
// session's device listed (stored by the gateway after `tools/list`; the workflow caches none),
// keep those whose schema passes the same static checks as a function config's, and check a
// chosen tool's arguments against its inputSchema before the workflow asks the device: refused
// arguments are never sent.
import {
  deviceToolArgumentsText,
  MAX_DEVICE_TOOL_ARGUMENT_BYTES,
  type AnswerMessageInput,
  type DeviceTool,
  type RoutingDecision,
} from '../contract';
import { createDeviceToolStore } from '../db';
import { parameterSchemaProblem, validateArguments } from '../functions';
import type { ActivityDeps } from './deps';

type DeviceDecision = Extract<RoutingDecision, { kind: 'device_tool' }>;

export function createDeviceToolSteps(deps: ActivityDeps) {
  const store = createDeviceToolStore(deps.db.sequelize);

  /** The session device's usable tools; none for a session without a device. */
  async function load(input: AnswerMessageInput): Promise<DeviceTool[]> {
    if (!input.deviceTools || !input.sessionId) return [];
    const tools = await store.loadTools(input.userId, input.sessionId);
    return tools.filter((tool) => {
      const problem = parameterSchemaProblem(tool.inputSchema);
      if (problem) deps.logger.info({ tool: tool.name, problem }, 'a device tool is not offered: its inputSchema is refused');
      return problem === null;
    });
  }

  /** The decision as the workflow gets it: `invalid` says why the arguments are refused (nothing is sent then). */
  async function check(decision: DeviceDecision, tools: readonly DeviceTool[]): Promise<DeviceDecision> {
    if (decision.missing?.length) return decision;
    const tool = tools.find((t) => t.name === decision.name);
    const bytes = Buffer.byteLength(JSON.stringify(decision.arguments));
    if (bytes > MAX_DEVICE_TOOL_ARGUMENT_BYTES) {
      return {
        ...decision,
        invalid: deviceToolArgumentsText(
          decision.name,
          '(arguments)',
          `are ${bytes} bytes; the limit is ${MAX_DEVICE_TOOL_ARGUMENT_BYTES}`,
        ),
      };
    }
    const verdict = await validateArguments(tool?.inputSchema ?? { type: 'object' }, decision.arguments);
    return verdict.ok ? decision : { ...decision, invalid: deviceToolArgumentsText(decision.name, verdict.field, verdict.message) };
  }

  return { load, check };
}
