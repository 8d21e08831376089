// Input within the documented limits must never stop a session: the largest configs a user may
// store, floods of the largest messages, signals racing a close. Real worker, real Temporal.
import assert from 'node:assert/strict';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { closeSignal, messageSignal, stateQuery, type ResultFrame } from '../contract';
import { uniqueId } from './support/context';
import { fetchAllRuns } from './support/histories';
import { startSessionHarness, type SessionHarness } from './support/session-harness';
import { eventually } from './support/eventually';

const TaskFailedCause = temporal.api.enums.v1.WorkflowTaskFailedCause;

describe('session bounds', function () {
  this.timeout(180_000);
  let h: SessionHarness;

  before(async () => {
    h = await startSessionHarness({ router: false });
  });

  after(async () => {
    await h?.close();
  });

  /** No workflow task of the session failed (a payload over Temporal's limits fails every task). */
  async function assertNoTaskFailures(workflowId: string): Promise<void> {
    const description = await h.env.client.workflow.getHandle(workflowId).describe();
    assert.ok((description.raw.pendingWorkflowTask?.attempt ?? 1) <= 1, 'a workflow task is being retried');
    // A flood's signals alone can make a page of history larger than gRPC's default 4 MB.
    const connection = await Connection.connect({
      address: h.env.connection.options.address,
      channelArgs: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 },
    });
    const runs = await fetchAllRuns(new Client({ connection }), workflowId).finally(() => connection.close());
    for (const { history } of runs) {
      for (const event of history.events ?? []) {
        const failed = event.workflowTaskFailedEventAttributes;
        // Temporal's own ways of making a task run again with what arrived meanwhile: a signal
        // during a task that completes the run (UnhandledCommand), or more signals buffered during
        // a task than the server holds (2 MB: FORCE_CLOSE_COMMAND). Anything else is a bug.
        const { WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND: unhandled, WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND: forced } =
          TaskFailedCause;
        if (failed && (failed.cause === unhandled || failed.cause === forced)) continue;
        assert.ok(!failed, `workflow task failed: ${JSON.stringify(failed)}`);
      }
    }
  }

  it('answers for a user with 200 configs whose system prompts and descriptions are as long as allowed', async () => {
    const userId = uniqueId('big');
    const model = uniqueId('big-model');
    const rows = Array.from({ length: 200 }, (_, i) => ({
      user_id: userId,
      config_name: `config-${i}`,
      config_type: 'llm' as const,
      description: `${i} `.padEnd(4000, 'd'),
      llm_type: 'openai',
      model_name: model,
      base_url: h.llm.baseUrl,
      system_prompt: 'p'.repeat(32_000),
      priority: i,
      is_active: true,
    }));
    await h.ctx.db.models.UserAIConfig.bulkCreate(rows);
    const s = await h.startSession({ userId });
    const result = await s.ask('hello from a big account');
    assert.equal(result.status, 'success');
    assert.equal(result.config_name, 'config-199');
    const state = await s.handle.query(stateQuery);
    assert.equal(state.configs.length, 200);
    assert.ok(JSON.stringify(state.configs).length < 300_000, 'the cache stays small whatever the configs hold');
    await assertNoTaskFailures(s.handle.workflowId);
  });

  it('a flood of the largest messages across continue-as-new: every message gets a result, none is lost', async () => {
    const userId = uniqueId('flood');
    await h.createLLMConfig(userId, { model_name: uniqueId('flood-model') });
    const s = await h.startSession({ userId, tuning: { continueAsNewAfter: 5 } });
    const text = (i: number) => `${i} `.padEnd(60_000, 'x');
    const ids: string[] = [];
    for (let i = 0; i < 45; i++) ids.push(await s.send(text(i)));
    const results = new Map<string, ResultFrame>();
    await eventually(() => {
      for (const id of ids) {
        const [result] = h.gateway.resultsFor(s.connectionId, id);
        if (result) results.set(id, result);
      }
      return results.size === ids.length;
    }, 150_000);
    const busy = [...results.values()].filter((r) => r.status === 'failed');
    for (const r of busy) assert.match(r.error ?? '', /^session_busy/);
    assert.ok(results.size - busy.length >= 8, 'messages within the pending budget are answered');
    // Refused messages may be sent again with the same id and are answered then.
    if (busy[0]) {
      await s.send(text(0), busy[0].id);
      await eventually(() => h.gateway.resultsFor(s.connectionId, busy[0]!.id).some((r) => r.status === 'success'), 60_000);
    }
    const description = await s.handle.describe();
    assert.notEqual(description.runId, s.handle.firstExecutionRunId, 'the session continued as new');
    assert.equal((await s.ask('still here?')).status, 'success');
    await assertNoTaskFailures(s.handle.workflowId);
  });

  it('a message signalled while the session closes gets a failed result, never silence', async () => {
    const userId = uniqueId('closing');
    await h.createLLMConfig(userId, { model_name: uniqueId('closing-model') });
    const s = await h.startSession({ userId });
    await s.ask('first');
    // Messages racing the session's completion once the close is recorded. (Sent together with the
    // close, one could be recorded before it and rightly be answered `success`: the test flaked so.)
    const late = Array.from({ length: 5 }, () => uniqueId('late'));
    const recorded: string[] = [];
    await s.handle.signal(closeSignal, { reason: 'client_closed' });
    await Promise.all([
      // A signal to a session that has already completed is refused (the gateway says so); a recorded one is answered.
      ...late.map((id) =>
        s.handle.signal(messageSignal, { id, text: 'too late?', receivedAt: Date.now() }).then(
          () => recorded.push(id),
          () => undefined,
        ),
      ),
    ]);
    await s.handle.result();
    for (const id of recorded) {
      // A task the server refused (a signal arrived while it completed the run) runs again and may
      // hand the same frames to the relay again; the gateway writes a result id once per socket.
      const results = h.gateway.resultsFor(s.connectionId, id);
      assert.ok(results.length >= 1, `message ${id} got no result`);
      for (const r of results) assert.deepEqual(r, results[0]);
      assert.equal(results[0]!.status, 'failed');
    }
  });
});
