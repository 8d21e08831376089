// Every failure text a user reads in a `function_call_result`, built in one place: the session
// workflow sends them, and the audit trail (sessions/session-audit.ts) shows the same text for a
// message it reads from history. No Node imports: this module is bundled into the workflow.
import { ActivityFailure, ApplicationFailure, TimeoutFailure, TimeoutType } from '@temporalio/common';

/** A readable, secret-free reason from an activity failure (activities scrub their messages). */
export function describeFailure(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof TimeoutFailure) {
    return cause.timeoutType === TimeoutType.HEARTBEAT ? 'the worker stopped responding' : 'no answer within the time limit';
  }
  if (cause instanceof ApplicationFailure || cause instanceof Error) return cause.message;
  return 'unknown error';
}

/** Routing's own step failed for good (the fallback rules decide instead). */
export function routingFailedReason(error: string): string {
  return `routing failed: ${error}`;
}

/** Every LLM config that tried a message failed, each with its last error. */
export function noLLMConfigAnsweredText(failures: readonly { configName: string | null; error: string | null }[]): string {
  return failures.length
    ? `No LLM config could answer: ${failures.map((f) => `${f.configName}: ${f.error}`).join('; ')}`
    : 'No active LLM config could answer';
}

/** Routing chose a function, but the message does not give the arguments it requires (the call is not made). */
export function missingArgumentsText(functionName: string, missing: readonly string[]): string {
  return `Function "${functionName}" needs arguments the message does not give: ${missing.join(', ')}`;
}

/** A function decision in a history recorded before function calls existed (workflows/answer.ts, FUNCTION_CALLS_PATCH). */
export const FUNCTION_CALLS_UNAVAILABLE_TEXT = 'Function calls are not available';

/** A message beyond the session's waiting budget (MAX_PENDING_MESSAGE_BYTES), answered at once. */
export const SESSION_BUSY_TEXT =
  'session_busy: too many messages are waiting to be answered in this session; resend this one once earlier answers arrive';

/** A message still waiting when the session closed or expired. */
export function closedBeforeAnswerText(reason: string): string {
  return `The session was closed (${reason}) before this message was answered`;
}

/** A device tool chosen while no device socket is attached to the session: nothing was sent. */
export function deviceNotConnectedText(name: string): string {
  return `Device tool "${name}" was not called: the device is not connected`;
}

/** A device tool whose call went out but whose answer did not come back in time (DEVICE_TOOL_TIMEOUT). */
export function deviceToolTimeoutText(name: string, seconds: number): string {
  return `The device did not answer device tool "${name}" within ${seconds} s; the tool may have run`;
}

/** A device tool call the router made with arguments its schema refuses: nothing was sent. */
export function deviceToolArgumentsText(name: string, field: string, message: string): string {
  return `Device tool "${name}" was not called: argument ${field} ${message}`;
}
