// Goal 4: memory per idle open socket in a gateway-only process and per cached session in a
// worker-only process. Both run as child processes (bench/servers.ts) on a task queue of their
// own; each reports process.memoryUsage() after a full GC before and after N sessions were
// opened (each answered one message, then left idle with its socket open).
import { uniqueId, type TestContext } from '../test/support/context';
import type { FakeLLM } from '../test/support/fake-llm';
import { childEnv, spawnAll, spawnServer, type ServerChild } from './children';
import { BenchSession, count, countDuplicates, emptyCounts, type Counts } from './messages';
import type { MemoryReport } from './servers';
import { inBatches, sleep } from './stats';

export interface MemorySide {
  before: MemoryReport;
  after: MemoryReport;
  /** Bytes per session. */
  rssPerSession: number;
  heapPerSession: number;
}

export interface MemoryRun {
  sessions: number;
  gateway: MemorySide;
  worker: MemorySide;
  counts: Counts;
  errors: string[];
}

function side(before: MemoryReport, after: MemoryReport, sessions: number): MemorySide {
  return {
    before,
    after,
    rssPerSession: (after.rss - before.rss) / sessions,
    heapPerSession: (after.heapUsed - before.heapUsed) / sessions,
  };
}

export async function measureMemory(
  tc: TestContext,
  llm: FakeLLM,
  options: { sessions: number; warmup: number; timeoutMs: number },
  log: (line: string) => void,
): Promise<MemoryRun> {
  const env = childEnv(tc, { TEMPORAL_TASK_QUEUE: uniqueId('bench-memory') });
  const children: ServerChild[] = [];
  const sessions: BenchSession[] = [];
  const counts = emptyCounts();
  const errors: string[] = [];
  const sent: { session: BenchSession; id: string }[] = [];
  try {
    log('memory: starting a gateway-only and a worker-only child process');
    const [gateway, worker] = await spawnAll(children, [
      spawnServer('gateway', ['--role', 'gateway'], env),
      spawnServer('worker', ['--role', 'worker'], env),
    ]);
    const wsUrl = gateway.urls.websocket;
    if (!wsUrl) throw new Error('the gateway child reported no WebSocket URL');
    const target = { tc, llm, wsUrl };
    const openOne = async (): Promise<void> => {
      const session = await BenchSession.open(target);
      sessions.push(session);
      const id = uniqueId('mem');
      sent.push({ session, id });
      count(counts, await session.ask(id, 'remember me', options.timeoutMs), errors);
    };
    // Warm-up sessions stay open: lazily built state (bundle, pools, JIT) belongs to the baseline.
    await inBatches(Array.from({ length: options.warmup }), 5, openOne);
    const [gatewayBefore, workerBefore] = await Promise.all([gateway.memory(), worker.memory()]);
    log(`memory: opening ${options.sessions} sessions (one message each, then idle)`);
    await inBatches(Array.from({ length: options.sessions }), 10, openOne);
    await sleep(1000);
    const [gatewayAfter, workerAfter] = await Promise.all([gateway.memory(), worker.memory()]);
    counts.duplicated = await countDuplicates(sent);
    return {
      sessions: options.sessions,
      gateway: side(gatewayBefore, gatewayAfter, options.sessions),
      worker: side(workerBefore, workerAfter, options.sessions),
      counts,
      errors,
    };
  } finally {
    await Promise.all(sessions.map((session) => session.close()));
    await Promise.all(children.map((child) => child.stop()));
  }
}
