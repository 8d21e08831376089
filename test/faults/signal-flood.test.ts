// Fault: a flood of message signals into one session whose runs continue as new every 20 messages:
// 200 messages signalled at once by 8 senders (straight signals, no gateway rate limit), so
// signals keep arriving while runs hand over. Every message is answered, with one answer per id
// (the first copy per id, as the gateway writes it; later copies on the relay are counted, and
// must carry the same answer), the handled count over all runs is 200, the transcript holds no id
// twice, every signal is in exactly one run's history, and every run replays.
import assert from 'node:assert/strict';
import { closeSignal, messageSignal, stateQuery, transcriptQuery } from '../../contract';
import { uniqueId } from '../support/context';
import { DeliveryLedger } from '../support/fault-report';
import { fetchAllRuns, replayFailures } from '../support/histories';
import { startSessionHarness, type SessionHarness } from '../support/session-harness';

const MESSAGES = 200;
const SENDERS = 8;
const CONTINUE_AS_NEW_AFTER = 20;

describe('fault: a signal flood across continue-as-new', function () {
  this.timeout(180_000);
  let h: SessionHarness;

  before(async () => {
    h = await startSessionHarness({ router: false });
  });
  after(async () => {
    await h?.close();
  });

  it(`${MESSAGES} messages from ${SENDERS} senders at once: each answered once, none lost, over several runs`, async function () {
    const ledger = new DeliveryLedger();
    const userId = uniqueId('flood');
    const model = uniqueId('echo');
    await h.createLLMConfig(userId, { model_name: model });
    const s = await h.startSession({ userId, tuning: { continueAsNewAfter: CONTINUE_AS_NEW_AFTER }, label: 'flood' });
    const ids = Array.from({ length: MESSAGES }, (_, i) => `flood-${i}`);
    await Promise.all(
      Array.from({ length: SENDERS }, async (_, sender) => {
        for (let i = sender; i < MESSAGES; i += SENDERS) {
          ledger.sent(ids[i]!);
          await s.send(`message ${i}`, ids[i]);
          ledger.accepted(ids[i]!); // the signal returned: durably recorded
        }
      }),
    );
    const deadline = Date.now() + 120_000;
    while (ids.some((id) => h.gateway.resultsFor(s.connectionId, id).length === 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    // The gateway writes the first result of an id to the socket and drops later copies. A copy
    // that differs (other execute_time) is an answer computed again: a task the server failed
    // once 100 signals had queued behind it runs again from its last recorded event.
    let copies = 0;
    let recomputed = 0;
    for (const [i, id] of ids.entries()) {
      const frames = h.gateway.resultsFor(s.connectionId, id);
      if (frames.length === 0) continue;
      ledger.result(1, frames[0]!);
      copies += frames.length - 1;
      if (new Set(frames.map((f) => JSON.stringify(f))).size > 1) recomputed += 1;
      for (const frame of frames) {
        assert.equal(frame.status, 'success', id);
        assert.equal(frame.result, `[${model}] message ${i}`, id);
      }
    }

    const state = await s.handle.query(stateQuery);
    const transcript = await s.handle.query(transcriptQuery);
    await s.handle.signal(closeSignal, { reason: 'test_done' });
    const outcome = await s.handle.result();
    const runs = await fetchAllRuns(h.env.client, s.handle.workflowId);
    const signalled = new Map<string, number>();
    for (const run of runs) {
      for (const event of run.history.events ?? []) {
        const signal = event.workflowExecutionSignaledEventAttributes;
        if (signal?.signalName !== messageSignal.name) continue;
        const payload = signal.input?.payloads?.[0]?.data;
        const id = payload ? (JSON.parse(Buffer.from(payload).toString('utf8')) as { id: string }).id : '';
        signalled.set(id, (signalled.get(id) ?? 0) + 1);
      }
    }
    const failures = await replayFailures(runs);

    const figures = ledger.report(
      `signal flood: ${MESSAGES} messages across continue-as-new every ${CONTINUE_AS_NEW_AFTER}`,
      `${runs.length} runs; ${h.llm.requests(model).length} provider calls; ${copies} second copies on the relay (dropped by the gateway), ${recomputed} of them computed again`,
    );
    assert.equal(figures.lost, 0, `lost: ${JSON.stringify(ledger.unanswered())}`);
    assert.equal(figures.duplicated, 0);
    assert.equal(figures.answered, MESSAGES);
    assert.ok(runs.length >= MESSAGES / CONTINUE_AS_NEW_AFTER / 2, `${runs.length} runs`);
    assert.equal(state.handledCount, MESSAGES, 'handled count over all runs');
    assert.deepEqual(state.pendingIds, []);
    assert.equal(outcome.handledCount, MESSAGES);
    assert.equal(new Set(transcript.map((e) => e.id)).size, transcript.length, 'no message twice in the transcript');
    assert.deepEqual(
      ids.filter((id) => signalled.get(id) !== 1),
      [],
      'each message signal in exactly one run',
    );
    assert.deepEqual(failures, []);
  });
});
