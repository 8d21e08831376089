// Executing a function config (MCP tool or webhook) as an activity: the call is execution/'s,
// the time limit the activity's own, cancellation and liveness through the heartbeat.
import type { ExecuteFunctionInput, ExecuteFunctionOutput } from '../contract';
import type { ConfigExecutor } from '../execution';
import { requestTimeoutMs } from '../llm/client';
import { withHeartbeat } from './heartbeat';
import { recordedStep } from './step-record';

/** A function call's own limit when the activity has none (it always has one on the message path). */
const DEFAULT_FUNCTION_TIMEOUT_MS = 30_000;

export function createFunctionActivities(executor: ConfigExecutor) {
  async function executeFunction(input: ExecuteFunctionInput): Promise<ExecuteFunctionOutput> {
    const { step, ...call } = input;
    return recordedStep(input.configId, step, () =>
      withHeartbeat((signal) => executor.runFunction(call, { timeoutMs: requestTimeoutMs(DEFAULT_FUNCTION_TIMEOUT_MS), signal })),
    );
  }
  return { executeFunction };
}
