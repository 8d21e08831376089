// Tuning values are Temporal durations ('5 seconds' or ms); some steps need them as numbers.
import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';

export function durationMs(value: Duration): number {
  return msToNumber(value);
}
