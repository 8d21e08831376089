// Fault: a worker process shut down gracefully (SIGTERM: it closes its worker, as the service does)
// while slow LLM calls are in flight, with a second worker (in this process) polling the same task
// queue. One call ends within the worker's shutdown grace time (5 s), the other outlasts it. The
// LLM call is a local activity: the closing worker waits for it whatever the grace time (which
// bounds remote activities only), so both calls finish there and their results are recorded
// before the process exits; the second worker carries the sessions on. Each message's result
// arrives, one per id (the first copy, as the gateway writes it; a later copy is counted).
import assert from 'node:assert/strict';
import path from 'node:path';
import type { RunningRole } from '../../app/context';
import { closeSignal } from '../../contract';
import { startWorker } from '../../worker';
import { uniqueId } from '../support/context';
import { runDatabaseUrlOnce } from '../support/database';
import { DeliveryLedger } from '../support/fault-report';
import { startSessionHarness, type SessionHarness } from '../support/session-harness';
import { exited, killHard, spawnReady } from '../support/spawn-ready';

const WORKER_SCRIPT = path.join(__dirname, '..', 'support', 'worker-process.ts');

const CASES = [
  { name: 'shorter than the grace time', delayMs: 2_000 },
  { name: 'longer than the grace time', delayMs: 14_000 },
];

describe('fault: graceful worker shutdown mid-activity', function () {
  this.timeout(120_000);
  let h: SessionHarness;
  const queue = uniqueId('test-graceful');
  const workers: RunningRole[] = [];

  before(async () => {
    h = await startSessionHarness({ router: false });
  });
  after(async () => {
    await h?.close();
    for (const worker of workers) await worker.close();
  });

  it('slow calls in flight when the worker closes: each finishes there or on the other worker, one result per id', async function () {
    const ledger = new DeliveryLedger();
    const { child: first } = await spawnReady(
      WORKER_SCRIPT,
      {
        DATABASE_URL: await runDatabaseUrlOnce(),
        TEMPORAL_ADDRESS: h.env.address,
        TEMPORAL_TASK_QUEUE: queue,
        CONFIG_ENCRYPTION_KEY: h.ctx.secrets.encryptionKeys[0]!.toString('base64'),
        EGRESS_ALLOW: '127.0.0.0/8',
        LOG_LEVEL: 'silent',
        ROUTER_LLM_BASE_URL: '',
        ROUTER_LLM_MODEL: '',
      },
      /worker ready/,
    );
    after(() => killHard(first));
    const sessions = await Promise.all(
      CASES.map(async ({ name, delayMs }) => {
        const userId = uniqueId('graceful');
        const model = uniqueId('slow');
        h.llm.otherwise(model, { echo: true, delayMs });
        await h.createLLMConfig(userId, { model_name: model });
        const s = await h.startSession({ userId, taskQueue: queue, tuning: { llmTimeout: '30 seconds' }, label: 'graceful' });
        const id = `graceful-${delayMs}`;
        ledger.sent(id);
        await s.send(`${name}`, id);
        ledger.accepted(id); // signalled: durably recorded
        return { name, model, s, id };
      }),
    );
    // Both calls have reached the provider before the worker is asked to stop.
    const deadline = Date.now() + 30_000;
    while (sessions.some(({ model }) => h.llm.requests(model).length === 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    workers.push(await startWorker(h.ctx, { taskQueue: queue, connection: h.env.nativeConnection }));
    const stopped = Date.now();
    first.kill('SIGTERM');
    await exited(first);
    assert.equal(first.exitCode, 0, 'the worker process stopped cleanly');
    const stopSeconds = ((Date.now() - stopped) / 1000).toFixed(1);

    const calls: string[] = [];
    let copies = 0;
    for (const { name, model, s, id } of sessions) {
      const result = await h.gateway.waitForResult(s.connectionId, id, 90_000);
      ledger.result(1, result);
      assert.equal(result.status, 'success', `${name}: ${JSON.stringify(result)}`);
      assert.equal(result.result, `[${model}] ${name}`);
      await s.handle.signal(closeSignal, { reason: 'test_done' });
      assert.equal((await s.handle.result()).handledCount, 1, name);
      const frames = h.gateway.resultsFor(s.connectionId, id);
      copies += frames.length - 1;
      for (const frame of frames) assert.equal(frame.result, result.result, `${name}: every copy carries the same answer`);
      calls.push(`${name}: ${h.llm.requests(model).length} provider call(s)`);
    }
    const figures = ledger.report(
      'graceful worker shutdown mid-activity (2 s and 14 s calls, 5 s grace)',
      `${calls.join('; ')}; ${copies} second copies on the relay; the worker process took ${stopSeconds} s to stop`,
    );
    assert.equal(figures.lost, 0);
    assert.equal(figures.duplicated, 0);
    assert.equal(figures.answered, CASES.length);
    assert.equal(h.llm.requests(sessions[0]!.model).length, 1, 'the shorter call finished on the closing worker');
    assert.ok(h.llm.requests(sessions[1]!.model).length <= 2, 'the longer call finished there or ran once more on the other worker');
  });
});
