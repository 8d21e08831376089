// Fault: LLM providers misbehaving for every call: 429 storms, 500 storms, hangs past the call's
// timeout, malformed JSON, bodies far over any sensible size, reset connections. Each message ends
// in a fallback answer (a second, healthy config) or, with no fallback, a `failed` result with a
// readable error; afterwards no session has a pending activity.
import assert from 'node:assert/strict';
import { closeSignal } from '../../contract';
import { uniqueId } from '../support/context';
import { DeliveryLedger } from '../support/fault-report';
import type { FakeBehaviour } from '../support/fake-llm';
import { startSessionHarness, type SessionHarness, type TestSession } from '../support/session-harness';

const STORMS: { name: string; behaviour: FakeBehaviour }[] = [
  { name: '429 storm', behaviour: { fail: 429, retryAfterSeconds: 0 } },
  { name: '500 storm', behaviour: { fail: 500 } },
  { name: 'hang past the timeout', behaviour: { hang: true } },
  { name: 'malformed JSON', behaviour: { malformed: true } },
  { name: 'body of 32 MiB', behaviour: { oversize: 32 * 1024 * 1024 } },
  { name: 'connection reset', behaviour: { reset: true } },
];
const MESSAGES = 2;

describe('fault: LLM providers misbehaving', function () {
  this.timeout(240_000);
  let h: SessionHarness;
  const sessions: TestSession[] = [];

  before(async () => {
    h = await startSessionHarness({ router: false });
  });
  after(async () => {
    await h?.close();
  });

  it('every message ends in a fallback answer or a readable failure, and no activity is left pending', async function () {
    const ledger = new DeliveryLedger();
    const outcomes = new Map<string, string>();
    const runs = STORMS.flatMap((storm) => [
      { storm, fallback: true },
      { storm, fallback: false },
    ]);
    await Promise.all(
      runs.map(async ({ storm, fallback }) => {
        const userId = uniqueId('fault-llm');
        const bad = uniqueId('bad');
        h.llm.otherwise(bad, storm.behaviour);
        await h.createLLMConfig(userId, { model_name: bad, priority: 10 });
        const good = uniqueId('good');
        if (fallback) await h.createLLMConfig(userId, { model_name: good, priority: 0 });
        const s = await h.startSession({ userId, tuning: { llmTimeout: '2 seconds', llmMaxAttempts: 2 } });
        sessions.push(s);
        for (let m = 0; m < MESSAGES; m++) {
          const id = await s.send(`${storm.name} ${m}`);
          ledger.sent(id);
          ledger.accepted(id); // signalled: durably recorded
          const result = await h.gateway.waitForResult(s.connectionId, id, 120_000);
          ledger.result(1, result);
          if (fallback) {
            assert.equal(result.status, 'success', `${storm.name}: ${JSON.stringify(result)}`);
            assert.equal(result.result, `[${good}] ${storm.name} ${m}`);
          } else {
            assert.equal(result.status, 'failed', `${storm.name}: ${JSON.stringify(result)}`);
            assert.ok(result.error && result.error.length < 500 && !/\n\s+at /.test(result.error), `${storm.name}: ${result.error}`);
            outcomes.set(storm.name, result.error.replace(/^.*\): /, '').slice(0, 80));
          }
        }
      }),
    );
    for (const s of sessions) {
      const description = await s.handle.describe();
      assert.deepEqual(description.raw.pendingActivities ?? [], [], `pending activities of ${s.handle.workflowId}`);
      await s.handle.signal(closeSignal, { reason: 'test_done' });
      assert.equal((await s.handle.result()).status, 'closed');
    }
    const figures = ledger.report(
      'LLM provider storms (429, 500, hang, malformed, 32 MiB, reset)',
      [...outcomes].map(([storm, error]) => `${storm}: ${error}`).join(' | '),
    );
    assert.equal(figures.lost, 0);
    assert.equal(figures.duplicated, 0);
  });
});
