// What the answer (workflows/answer.ts) and the session loop (workflows/session.ts) share: the
// shape of an answer and the context it is computed in (failure texts: contract/failure-texts.ts).
import { isCancellation } from '@temporalio/workflow';
import type { BuiltinEffect, IncomingMessage, ResultFrame, RoutingDecision, ServerFrame, SessionTuning } from '../contract';
import type { SessionProxies } from './session-activities';
import type { SessionData } from './session-state';

export interface Answer {
  routing: RoutingDecision;
  result: ResultFrame;
  /** Frames sent before the result (a built-in's `play_music`). */
  extraFrames: ServerFrame[];
  effect?: BuiltinEffect;
}

export interface AnswerContext {
  session: SessionData;
  acts: SessionProxies;
  tuning: SessionTuning;
}

export function rethrowCancellation(err: unknown): void {
  if (isCancellation(err)) throw err;
}

/** Answers longer than this are cut (with a note) so one result stays far under Temporal's 2 MB payload limit. */
export const MAX_RESULT_CHARS = 64 * 1024;

export function resultFrame(message: Pick<IncomingMessage, 'id'>, fields: Omit<ResultFrame, 'type' | 'id'>): ResultFrame {
  const result =
    fields.result.length > MAX_RESULT_CHARS
      ? `${fields.result.slice(0, MAX_RESULT_CHARS)}\n[answer cut at ${MAX_RESULT_CHARS} characters]`
      : fields.result;
  return { type: 'function_call_result', id: message.id, ...fields, result };
}
