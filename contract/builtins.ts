// The built-in functions, pure and deterministic: the session workflow runs them itself (no
// activity, no I/O). They answer in text; what they change in the session (its end, its role, a
// play_music frame) is returned as an effect for the workflow to apply.
import { ApplicationFailure } from '@temporalio/common';
import type { BuiltinFunctionName } from './session';

export interface BuiltinCall {
  name: BuiltinFunctionName;
  arguments: Record<string, unknown>;
}

/** What a built-in asks the workflow to do besides answering. */
export type BuiltinEffect = { kind: 'end_session' } | { kind: 'change_role'; role: string | null } | { kind: 'play_music'; song: string };

export interface BuiltinOutcome {
  result: string;
  effect?: BuiltinEffect;
}

const MAX_ARGUMENT = 500;

function stringArg(args: Record<string, unknown>, name: string): string | undefined {
  const value = args[name];
  return typeof value === 'string' && value.trim() ? value.trim().slice(0, MAX_ARGUMENT) : undefined;
}

function validTimeZone(zone: string | undefined): string | undefined {
  if (!zone) return undefined;
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return zone;
  } catch {
    return undefined;
  }
}

export function getTime(args: Record<string, unknown>, now = new Date()): string {
  const requested = stringArg(args, 'timezone');
  const zone = validTimeZone(requested) ?? 'UTC';
  // sv-SE formats as "YYYY-MM-DD HH:MM:SS", readable and unambiguous.
  const local = now.toLocaleString('sv-SE', { timeZone: zone });
  const note = requested && zone !== requested ? ` (unknown time zone "${requested}", showing UTC)` : '';
  return `It is ${local} in ${zone}${note}. (${now.toISOString()})`;
}

/** What a built-in answers and asks of the session; `now` is the workflow's clock when the workflow runs it. */
export function runBuiltin(input: BuiltinCall, now = new Date()): BuiltinOutcome {
  const args = input.arguments ?? {};
  switch (input.name) {
    case 'get_time':
      return { result: getTime(args, now) };
    case 'end_session':
      return { result: 'Goodbye! This session has ended.', effect: { kind: 'end_session' } };
    case 'change_role': {
      const role = stringArg(args, 'role') ?? null;
      return {
        result: role ? `From now on I will act as ${role}.` : 'Back to my default role.',
        effect: { kind: 'change_role', role },
      };
    }
    case 'play_music': {
      const song = stringArg(args, 'song') ?? 'something relaxing';
      return { result: `Playing ${song}.`, effect: { kind: 'play_music', song } };
    }
    default: {
      const unknown: never = input.name;
      throw ApplicationFailure.nonRetryable(`unknown built-in function ${String(unknown)}`, 'UnknownFunction');
    }
  }
}
