// A device tool call (ARCHITECTURE.md, "Device tools"): side-effecting, so never sent twice for one
// message. The answer step recorded the decision (tool, checked arguments) in its marker; this
// hands the call to the gateway that holds the device's socket through the relay sink (outside
// history, skipped on replay) and waits for the `deviceToolResult` signal, with a timer
// (SessionTuning.deviceToolTimeout, 30 s). The gateway claims the call id in PostgreSQL before it
// sends `tools/call`, so a step run again after a worker crash, which asks again, cannot send it
// twice. No answer in time: `failed`, saying the tool may have run.
import { condition, patched, workflowInfo } from '@temporalio/workflow';
import {
  DEFAULT_SESSION_TUNING,
  deviceNotConnectedText,
  deviceToolCallId,
  deviceToolTimeoutText,
  missingArgumentsText,
  type DeviceToolResult,
  type IncomingMessage,
  type ResultFrame,
  type RoutingDecision,
} from '../contract';
import { resultFrame, type AnswerContext } from './answer-shared';
import { durationMs } from './durations';
import { relay } from './session-activities';

/**
 * Device tool calls: a `device_tool` decision is only ever recorded with this marker (no earlier
 * code could make one), so histories without it never reach the call below.
 */
export const DEVICE_TOOLS_PATCH = 'device-tools';

/** Results kept for calls not awaited yet (a result signalled before a re-run step asked again). */
const KEPT_RESULTS = 8;

/** The `deviceToolResult` signals a session has heard, the last few, by call id. Deterministic; not carried over continue-as-new. */
export class DeviceToolResults {
  private readonly results = new Map<string, DeviceToolResult>();

  /** Calls of this run only (a late answer to an earlier run's call is dropped). */
  record(result: DeviceToolResult): void {
    if (typeof result?.callId !== 'string' || !result.callId.startsWith(`${workflowInfo().runId}/`)) return;
    if (this.results.has(result.callId)) return;
    this.results.set(result.callId, result);
    for (const old of this.results.keys()) {
      if (this.results.size <= KEPT_RESULTS) break;
      this.results.delete(old);
    }
  }

  take(callId: string): DeviceToolResult | undefined {
    const result = this.results.get(callId);
    this.results.delete(callId);
    return result;
  }

  has(callId: string): boolean {
    return this.results.has(callId);
  }
}

type DeviceDecision = Extract<RoutingDecision, { kind: 'device_tool' }>;

/** Unavailable: a history without the patch marker never recorded a device tool decision. */
export const DEVICE_TOOLS_UNAVAILABLE_TEXT = 'Device tools are not available';

export async function answerWithDeviceTool(ctx: AnswerContext, message: IncomingMessage, decision: DeviceDecision): Promise<ResultFrame> {
  const frame = (outcome: Pick<ResultFrame, 'result' | 'execute_time' | 'status' | 'error'>) =>
    resultFrame(message, { config_id: 0, config_name: decision.name, routed_by: decision.routedBy, ...outcome });
  const failed = (error: string, ms = 0) => frame({ result: '', execute_time: ms, status: 'failed', error });
  if (!patched(DEVICE_TOOLS_PATCH)) return failed(DEVICE_TOOLS_UNAVAILABLE_TEXT);
  if (decision.missing?.length) return failed(missingArgumentsText(decision.name, decision.missing));
  if (decision.invalid) return failed(decision.invalid);
  const { relayAddress } = ctx.session;
  if (!relayAddress || !ctx.deviceResults) return failed(deviceNotConnectedText(decision.name));
  const results = ctx.deviceResults;
  const { runId, workflowId } = workflowInfo();
  const callId = deviceToolCallId(runId, message.id);
  const started = Date.now();
  relay.publish(relayAddress, [{ type: 'device_tool_call', callId, workflowId, name: decision.name, arguments: decision.arguments }]);
  const timeoutMs = durationMs(ctx.tuning.deviceToolTimeout ?? DEFAULT_SESSION_TUNING.deviceToolTimeout);
  await condition(() => results.has(callId), timeoutMs);
  const ms = Date.now() - started;
  const result = results.take(callId);
  if (!result) return failed(deviceToolTimeoutText(decision.name, Math.round(timeoutMs / 1000)), ms);
  if (result.status === 'success') return frame({ result: result.result, execute_time: ms, status: 'success' });
  return failed(result.error ?? 'the device reported an error', ms);
}
