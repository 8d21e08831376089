// A retry or fallback step of a message records which step it was (config, step, attempt,
// outcome) in history, where the audit trail (sessions/session-audit.ts) reads it: in the local
// activity's result when it answers, as the last detail of its failure when it fails.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { StepInput, StepRecord } from '../contract';

export async function recordedStep<T extends object>(
  configId: number,
  step: StepInput | undefined,
  call: () => Promise<T>,
): Promise<T & { step?: StepRecord }> {
  if (!step) return call();
  const ctx = Context.current();
  const record = (outcome: StepRecord['outcome']): StepRecord => ({ ...step, configId, attempt: ctx.info.attempt, outcome });
  try {
    return { ...(await call()), step: record('success') };
  } catch (err) {
    if (ctx.cancellationSignal.aborted) throw err;
    throw withDetail(err, record('failed'));
  }
}

/** The same failure (message, type, retry behaviour) with the step record appended to its details. */
function withDetail(err: unknown, record: StepRecord): ApplicationFailure {
  const failure =
    err instanceof ApplicationFailure
      ? err
      : ApplicationFailure.create({
          type: err instanceof Error ? err.name : 'Error',
          message: err instanceof Error ? err.message : String(err),
        });
  return ApplicationFailure.create({
    ...(failure.type != null ? { type: failure.type } : {}),
    message: failure.message,
    nonRetryable: failure.nonRetryable === true,
    ...(failure.nextRetryDelay != null ? { nextRetryDelay: failure.nextRetryDelay } : {}),
    ...(failure.category != null ? { category: failure.category } : {}),
    ...(failure.cause ? { cause: failure.cause } : {}),
    details: [...(failure.details ?? []), record],
  });
}
