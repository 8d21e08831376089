// What the answer (workflows/answer.ts) and the session loop (workflows/session.ts) share: the
// shape of an answer and the context it is computed in (failure texts: contract/failure-texts.ts).
import { isCancellation } from '@temporalio/workflow';
import {
  cutAnswer,
  type BuiltinEffect,
  type IncomingMessage,
  type ResultFrame,
  type RoutingDecision,
  type ServerFrame,
  type SessionTuning,
} from '../contract';
import type { DeviceToolResults } from './device-tools';
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
  /** Results the device's gateway signalled (workflows/device-tools.ts). */
  deviceResults?: DeviceToolResults;
}

export function rethrowCancellation(err: unknown): void {
  if (isCancellation(err)) throw err;
}

export function resultFrame(message: Pick<IncomingMessage, 'id'>, fields: Omit<ResultFrame, 'type' | 'id'>): ResultFrame {
  return { type: 'function_call_result', id: message.id, ...fields, result: cutAnswer(fields.result) };
}
