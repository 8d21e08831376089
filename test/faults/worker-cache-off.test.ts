// Fault: a worker that keeps no session in memory (`maxCachedWorkflows: 0`), so every workflow task
// replays the run from history. The same scripted session (a plain answer, a retry after a 500, a
// fallback to the second config, a plain answer again) runs once on the harness's worker (cache on)
// and once on a worker with the cache off; the result frames, minus timings, ids and names, are the
// same, each id answered once.
import assert from 'node:assert/strict';
import type { RunningRole } from '../../app/context';
import { closeSignal, stateQuery, transcriptQuery, type ResultFrame } from '../../contract';
import { startWorker } from '../../worker';
import { uniqueId } from '../support/context';
import { DeliveryLedger } from '../support/fault-report';
import { startSessionHarness, type SessionHarness } from '../support/session-harness';

const SCRIPT = ['hello', 'retry me', 'fall back', 'after the fallback', 'last one'];

describe('fault: worker cache off (maxCachedWorkflows 0)', function () {
  this.timeout(120_000);
  let h: SessionHarness;
  let uncached: RunningRole | undefined;
  const uncachedQueue = uniqueId('test-uncached');

  before(async () => {
    h = await startSessionHarness({ router: false });
    uncached = await startWorker(h.ctx, { taskQueue: uncachedQueue, connection: h.env.nativeConnection, maxCachedWorkflows: 0 });
  });
  after(async () => {
    await h?.close();
    await uncached?.close();
  });

  /** The scripted session on `taskQueue`; its result frames with what differs between runs replaced. */
  async function run(ledger: DeliveryLedger, label: string, taskQueue: string): Promise<unknown[]> {
    const userId = uniqueId(`cache-${label}`);
    const [a, b] = [uniqueId('first'), uniqueId('second')];
    // The first config: answers, fails once then answers (a retry), fails twice (the fallback), answers.
    h.llm.script(a, { echo: true }, { fail: 500 }, { echo: true }, { fail: 500 }, { fail: 500 });
    const first = await h.createLLMConfig(userId, { model_name: a, config_name: `${label}-a`, priority: 10 });
    const second = await h.createLLMConfig(userId, { model_name: b, config_name: `${label}-b`, priority: 0 });
    const s = await h.startSession({ userId, taskQueue, tuning: { llmMaxAttempts: 2 }, label: `cache-${label}` });
    const names = new Map<number, string>([
      [first.id, 'A'],
      [second.id, 'B'],
    ]);
    const normal = (text: string) => text.replaceAll(a, 'A').replaceAll(b, 'B').replaceAll(`${label}-`, '');
    const frames: unknown[] = [];
    for (const [m, text] of SCRIPT.entries()) {
      const id = `${label}-m${m}`;
      ledger.sent(id);
      ledger.accepted(id); // signalled: durably recorded
      const result: ResultFrame = await h.gateway.waitForResult(s.connectionId, await s.send(text, id));
      const { execute_time: _time, id: _id, config_id, fallback_from, ...rest } = result;
      frames.push({
        ...JSON.parse(normal(JSON.stringify(rest))),
        config: names.get(config_id),
        ...(fallback_from
          ? {
              fallback_from: {
                config: names.get(fallback_from.config_id),
                error: normal(fallback_from.error).replace(/^config \d+/, 'config N'),
              },
            }
          : {}),
      });
    }
    // Each id answered once: no second frame on the recorder, one transcript entry each.
    for (const m of SCRIPT.keys()) {
      const id = `${label}-m${m}`;
      for (const frame of h.gateway.resultsFor(s.connectionId, id)) ledger.result(1, frame);
    }
    const transcript = await s.handle.query(transcriptQuery);
    assert.deepEqual(
      transcript.map((e) => e.id),
      SCRIPT.map((_, m) => `${label}-m${m}`),
    );
    assert.equal((await s.handle.query(stateQuery)).handledCount, SCRIPT.length);
    await s.handle.signal(closeSignal, { reason: 'test_done' });
    assert.equal((await s.handle.result()).status, 'closed');
    assert.equal(h.llm.requests(a).length, 7, `calls of the first config (${label})`);
    return frames;
  }

  it('the same scripted session gives the same results with the cache off as with it on', async function () {
    const ledger = new DeliveryLedger();
    const cached = await run(ledger, 'on', h.taskQueue);
    const replayed = await run(ledger, 'off', uncachedQueue);
    assert.deepEqual(replayed, cached);
    const statuses = cached.map((f) => (f as { status: string; config?: string }).config);
    assert.deepEqual(statuses, ['A', 'A', 'B', 'A', 'A'], JSON.stringify(cached));
    assert.ok((cached[2] as { fallback_from?: unknown }).fallback_from, 'the third message fell back');
    const figures = ledger.report('worker cache off (maxCachedWorkflows 0) vs on', 'result frames equal minus timings');
    assert.equal(figures.lost, 0);
    assert.equal(figures.duplicated, 0);
    assert.equal(figures.answered, 2 * SCRIPT.length);
  });
});
