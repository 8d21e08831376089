// Device tools (issue 16): tools a xiaozhi device lists over its socket's MCP (`self.light.set_brightness`),
// offered to routing beside the user's function configs and called on the device. What the
// workflow, the answer activity and the gateway share: the stored tool, the relay frame that asks
// the gateway to call one, the signal that brings the device's answer back, the bounds. No Node
// imports: this module is bundled into the workflow (ARCHITECTURE.md, "Device tools").
import { defineSignal } from '@temporalio/workflow';

/** A tool as a device lists it (MCP `tools/list`), within DEVICE_TOOL_BOUNDS. */
export interface DeviceTool {
  /** The real name, sent in `tools/call` (`self.light.set_brightness`); offered under `providerToolName`'s mapping. */
  name: string;
  description: string;
  /** The JSON Schema of its arguments. */
  inputSchema: Record<string, unknown>;
}

/**
 * What the gateway keeps of a device's tool list: tools beyond `maxTools` or `maxPages` pages are
 * left out, a longer name, a larger schema or a tool that is not an object skipped, a longer
 * description cut.
 */
export const DEVICE_TOOL_BOUNDS = {
  maxTools: 64,
  maxPages: 8,
  nameChars: 128,
  descriptionChars: 500,
  schemaBytes: 8 * 1024,
} as const;

/** Arguments of one call, as JSON: they travel in one relay notification (under 8,000 bytes). */
export const MAX_DEVICE_TOOL_ARGUMENT_BYTES = 4 * 1024;

/** A device tool call's time limit (SessionTuning.deviceToolTimeout), from the moment the workflow asks the gateway. */
export const DEVICE_TOOL_TIMEOUT = '30 seconds';

/**
 * The relay frame that asks the gateway holding the device's socket to call a tool: it claims
 * `callId` in PostgreSQL and sends `tools/call` only if the claim is new (ARCHITECTURE.md).
 */
export interface DeviceToolCallFrame {
  type: 'device_tool_call';
  callId: string;
  /** Where the answer goes (`deviceToolResult`), also when the socket is not on this gateway any more. */
  workflowId: string;
  /** The real name. */
  name: string;
  arguments: Record<string, unknown>;
}

/** The device's answer to one call, or why there is none; `result` is cut to MAX_ANSWER_CHARS. */
export interface DeviceToolResult {
  callId: string;
  status: 'success' | 'failed';
  result: string;
  /** Why the call failed (the device's error text, or that it disconnected, and whether the tool may have run). */
  error?: string;
}

export const deviceToolResultSignal = defineSignal<[DeviceToolResult]>('deviceToolResult');

/** One call per message and run (the run id is unique; a message is answered once per run). */
export function deviceToolCallId(runId: string, messageId: string): string {
  return `${runId}/${messageId}`;
}

/** The path on the API a device is given for image questions (MCP `capabilities.vision.url`): it answers that they are not supported. */
export const VISION_PATH = '/xiaozhi/vision/explain';

/** What that path answers (xiaozhi-sdk reads `error`). */
export const VISION_UNSUPPORTED = { success: false, error: 'image analysis is not supported by this server' } as const;
