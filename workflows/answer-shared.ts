// What the answer (workflows/answer.ts) and the session loop (workflows/session.ts) share: the
// shape of an answer, the context it is computed in, and readable failure reasons.
import { ActivityFailure, ApplicationFailure, TimeoutFailure, isCancellation } from '@temporalio/workflow';
import { TimeoutType } from '@temporalio/common';
import {
  cutAnswer,
  type BuiltinEffect,
  type IncomingMessage,
  type ResultFrame,
  type RoutingDecision,
  type ServerFrame,
  type SessionTuning,
} from '../contract';
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

/** A readable, secret-free reason from an activity failure (activities scrub their messages). */
export function describeFailure(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof TimeoutFailure) {
    return cause.timeoutType === TimeoutType.HEARTBEAT ? 'the worker stopped responding' : 'no answer within the time limit';
  }
  if (cause instanceof ApplicationFailure || cause instanceof Error) return cause.message;
  return 'unknown error';
}

export function rethrowCancellation(err: unknown): void {
  if (isCancellation(err)) throw err;
}

export function resultFrame(message: Pick<IncomingMessage, 'id'>, fields: Omit<ResultFrame, 'type' | 'id'>): ResultFrame {
  return { type: 'function_call_result', id: message.id, ...fields, result: cutAnswer(fields.result) };
}
