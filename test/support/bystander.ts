// Another tenant's view while a hostile input runs: `probe` (a GET by another user, a socket
// message of another session) is sent over and over, one at a time, for as long as the hostile
// operation runs, and each round trip is timed. The isolation tests assert only a generous bound
// that a stalled event loop exceeds (STALL_BOUND_MS) and print the figures for the issue notes,
// never a tight time: these machines are noisy.
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../lib/temporal-cli';

/** Longer than any healthy round trip on a loaded CI machine, far shorter than a stall. */
export const STALL_BOUND_MS = 5_000;

export const ISOLATION_FILE = path.join(projectRoot, 'test-results', 'isolation.jsonl');

export interface BystanderFigures {
  /** Round trips of the probe while the hostile operation ran, in ms. */
  latencies: number[];
  p50: number;
  max: number;
}

export interface Watched<T> extends BystanderFigures {
  /** What the hostile operation returned (or threw, as `error`). */
  result?: T;
  error?: unknown;
  /** How long the hostile operation took, in ms. */
  hostileMs: number;
}

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/**
 * Run `hostile` and, meanwhile, `probe` back to back (at least once, at least `minProbes` times).
 * A probe that fails fails the watch: the bystander must be answered, not just fast.
 */
export async function watchBystander<T>(
  hostile: () => Promise<T>,
  probe: () => Promise<unknown>,
  options: { minProbes?: number; gapMs?: number } = {},
): Promise<Watched<T>> {
  const minProbes = options.minProbes ?? 3;
  const gapMs = options.gapMs ?? 50;
  const latencies: number[] = [];
  let done = false;
  const started = Date.now();
  const hostileRun = hostile().then(
    (result) => ({ result, hostileMs: Date.now() - started }),
    (error: unknown) => ({ error, hostileMs: Date.now() - started }),
  );
  void hostileRun.finally(() => (done = true));
  while (!done || latencies.length < minProbes) {
    const t0 = performance.now();
    await probe();
    latencies.push(performance.now() - t0);
    await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  const outcome = await hostileRun;
  const sorted = [...latencies].sort((a, b) => a - b);
  return { ...outcome, latencies, p50: quantile(sorted, 0.5), max: sorted[sorted.length - 1] ?? 0 };
}

/** One line on stdout and a JSON record in test-results/isolation.jsonl (git-ignored) for the notes. */
export function reportBystander(finding: string, figures: BystanderFigures & { hostileMs?: number }): void {
  const line = {
    finding,
    probes: figures.latencies.length,
    p50_ms: Math.round(figures.p50 * 10) / 10,
    max_ms: Math.round(figures.max * 10) / 10,
    hostile_ms: figures.hostileMs,
    at: new Date().toISOString(),
  };
  process.stdout.write(
    `      isolation ${finding}: bystander p50 ${line.p50_ms} ms, max ${line.max_ms} ms over ${line.probes} probes` +
      (line.hostile_ms !== undefined ? `; hostile input ${line.hostile_ms} ms\n` : '\n'),
  );
  mkdirSync(path.dirname(ISOLATION_FILE), { recursive: true });
  appendFileSync(ISOLATION_FILE, `${JSON.stringify(line)}\n`);
}
