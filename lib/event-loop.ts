// One process-wide watch on the event loop: the API, gateway and worker share it under `npm start`,
// so a step that blocks it stalls all of them. A sampler measures how late its timer fires (a
// Prometheus histogram) and logs a warning naming the configs whose steps were running when the
// loop was blocked; a step that overruns its own budget (a schema check) reports itself the same way.
import { AsyncLocalStorage } from 'node:async_hooks';
import { Histogram, type Registry } from 'prom-client';
import type { Logger } from './logger';

/** How often the sampler's timer is due; its lateness is the lag. */
const SAMPLE_INTERVAL_MS = 100;
/** Lag above this is a blocked loop worth a warning (GC pauses and module loads stay below it). */
export const STALL_WARN_MS = 500;

/** A user's config step in progress (a function call, a trial): what a warning names. Never secrets. */
export interface RunningStep {
  configId: number;
  userId: string;
  what: string;
}

const running = new Set<RunningStep>();
const currentStep = new AsyncLocalStorage<RunningStep>();
/** Where warnings go, each with the number of watchers (roles) that asked for it. */
const loggers = new Map<Logger, number>();

const LAG_METRIC = 'event_loop_lag_seconds';
const lagHistogram = new Histogram({
  name: LAG_METRIC,
  help: `Lateness of a timer due every ${SAMPLE_INTERVAL_MS} ms: how long the event loop was blocked`,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [],
});

let sampler: NodeJS.Timeout | undefined;

function sample(): void {
  let due = performance.now() + SAMPLE_INTERVAL_MS;
  sampler = setInterval(() => {
    const now = performance.now();
    const lagMs = Math.max(0, now - due);
    due = now + SAMPLE_INTERVAL_MS;
    lagHistogram.observe(lagMs / 1000);
    if (lagMs >= STALL_WARN_MS) warn({ lagMs: Math.round(lagMs), steps: [...running].slice(0, 5) }, 'the event loop was blocked');
  }, SAMPLE_INTERVAL_MS);
  sampler.unref();
}

function warn(fields: Record<string, unknown>, message: string): void {
  for (const logger of loggers.keys()) logger.warn(fields, message);
}

/**
 * Start watching (once per process) and send stall warnings to `logger` too; the returned function
 * stops that (the sampler stops with the last watcher).
 */
export function watchEventLoop(logger: Logger): () => void {
  loggers.set(logger, (loggers.get(logger) ?? 0) + 1);
  if (!sampler) sample();
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    const left = (loggers.get(logger) ?? 1) - 1;
    if (left > 0) loggers.set(logger, left);
    else loggers.delete(logger);
    if (loggers.size === 0 && sampler) {
      clearInterval(sampler);
      sampler = undefined;
    }
  };
}

/** The lag histogram on `registry` (the API's /metrics). */
export function registerEventLoopMetrics(registry: Registry): void {
  if (!registry.getSingleMetric(LAG_METRIC)) registry.registerMetric(lagHistogram);
}

/** Run `work` as `step`: a stall or overrun meanwhile names its config and user. */
export async function runStep<T>(step: RunningStep, work: () => Promise<T>): Promise<T> {
  running.add(step);
  try {
    return await currentStep.run(step, work);
  } finally {
    running.delete(step);
  }
}

/** A bounded piece of work (a schema check) overran its budget and was stopped: warn, naming the step it ran for. */
export function reportOverrun(what: string, budgetMs: number, reason: string): void {
  const step = currentStep.getStore();
  warn({ ...(step ?? {}), budgetMs, reason }, `${what} overran its budget and was stopped`);
}
