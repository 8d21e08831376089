// The replay gate (`npm run replay:check`, scripts/replay-export.ts) as a deploy pipeline runs it:
// its own process, configured by the service's environment, against the Temporal dev server that
// holds a real session, and a session recorded by different workflow code that must fail the gate
// (it has no marker of the message path's patch either, as a session of the first release had none).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { projectRoot } from '../lib/temporal-cli';
import { MESSAGE_PATH_PATCH } from '../workflows/session';
import { uniqueId } from './support/context';
import { eventually } from './support/eventually';
import { readHistoryFixtures, replayFailures } from './support/histories';
import { startSessionHarness, type SessionHarness } from './support/session-harness';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function replayCheck(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(projectRoot, 'scripts', 'replay-export.ts'), ...args],
      { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, cwd: projectRoot, timeout: 120_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('replay gate (npm run replay:check)', function () {
  this.timeout(180_000);
  let h: SessionHarness;
  const out = mkdtempSync(path.join(tmpdir(), 'replay-export-'));

  before(async () => {
    h = await startSessionHarness({ router: false });
  });

  after(async () => {
    await h?.close();
    rmSync(out, { recursive: true, force: true });
  });

  it('exports the sessions a query finds, replays them on this code, and fails on one that does not replay', async function () {
    const userId = uniqueId('user');
    await h.createLLMConfig(userId, { model_name: uniqueId('chat') });
    const good = await h.startSession({ userId, label: 'replay-gate' });
    const answered = await good.ask('hello');
    assert.equal(answered.status, 'success', answered.error);

    // A "sessionWorkflow" recorded by other code (a timer the real one never sets): replay must refuse it.
    const badQueue = uniqueId('nondeterministic');
    const badId = uniqueId('session-bad');
    const worker = await Worker.create({
      connection: h.env.nativeConnection,
      taskQueue: badQueue,
      workflowsPath: require.resolve('./support/nondeterministic-workflow'),
    });
    await worker.runUntil(async () => {
      const handle = await h.env.client.workflow.start('sessionWorkflow', { workflowId: badId, taskQueue: badQueue, args: [] });
      await eventually(async () => ((await handle.fetchHistory()).events?.some((e) => e.timerStartedEventAttributes) ? true : false));
    });
    const env = { TEMPORAL_ADDRESS: h.env.address, TEMPORAL_NAMESPACE: 'default', LOG_LEVEL: 'warn' };
    const query = (ids: string[]) => ids.map((id) => `WorkflowId = "${id}"`).join(' OR ');
    await eventually(async () => {
      const found = [];
      for await (const w of h.env.client.workflow.list({ query: query([good.handle.workflowId, badId]) })) found.push(w.workflowId);
      return found.length === 2;
    });

    const passing = await replayCheck(
      ['--query', query([good.handle.workflowId]), '--limit', '5', '--out', out, '--require-patch', MESSAGE_PATH_PATCH],
      env,
    );
    assert.equal(passing.code, 0, passing.stderr + passing.stdout);
    assert.match(passing.stdout, new RegExp(`^ok +${good.handle.workflowId} +${good.handle.firstExecutionRunId}$`, 'm'));
    assert.match(passing.stdout, new RegExp(`^1 replayed, 0 failed, 0 without ${MESSAGE_PATH_PATCH} `, 'm'));
    // The written fixture reads back and replays like a committed one.
    assert.equal(readdirSync(out).length, 1);
    const fixtures = readHistoryFixtures(out);
    assert.equal(fixtures[0]!.workflowId, good.handle.workflowId);
    assert.deepEqual(await replayFailures(fixtures), []);

    const failing = await replayCheck(['--query', query([good.handle.workflowId, badId])], env);
    assert.equal(failing.code, 1, failing.stdout);
    assert.match(failing.stdout, new RegExp(`^FAIL +${badId} `, 'm'));
    assert.match(failing.stdout, new RegExp(`^ok +${good.handle.workflowId} `, 'm'));
    assert.match(failing.stdout, /^1 replayed, 1 failed/m);

    // A session without the marker still needs the path the patch replaced: the gate says which and fails.
    const old = await replayCheck(['--query', query([good.handle.workflowId, badId]), '--require-patch', MESSAGE_PATH_PATCH], env);
    assert.equal(old.code, 1, old.stdout);
    assert.match(old.stdout, new RegExp(`^OLD +${badId} .*no marker of patch ${MESSAGE_PATH_PATCH}`, 'm'));
    assert.doesNotMatch(old.stdout, new RegExp(`^OLD +${good.handle.workflowId} `, 'm'));
    assert.match(old.stdout, new RegExp(`^1 replayed, 1 failed, 1 without ${MESSAGE_PATH_PATCH} `, 'm'));
    assert.match(old.stderr, new RegExp(`cannot continue these sessions`));
    await h.env.client.workflow.getHandle(badId).terminate('test done');
  });

  it('refuses a bad --limit with the usage line (exit 2)', async () => {
    const run = await replayCheck(['--limit', 'zero'], { TEMPORAL_ADDRESS: h.env.address });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /usage: npm run replay:check/);
  });
});
