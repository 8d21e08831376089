// Recovery: the worker process dies with SIGKILL while an LLM call is in flight; a new worker
// process picks the session up and the result still reaches the socket, exactly once.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { closeSignal, transcriptQuery } from '../contract';
import { runDatabaseUrlOnce } from './support/database';
import { uniqueId } from './support/context';
import { eventually } from './support/eventually';
import { startSessionHarness, type SessionHarness } from './support/session-harness';
import { exited, spawnWorkerProcess } from './support/spawn-ready';

describe('worker crash', function () {
  this.timeout(180_000);
  let h: SessionHarness;
  const children: ChildProcess[] = [];
  let workerEnv: Record<string, string>;

  before(async () => {
    h = await startSessionHarness({ router: false });
    workerEnv = {
      DATABASE_URL: await runDatabaseUrlOnce(),
      TEMPORAL_ADDRESS: h.env.address,
      CONFIG_ENCRYPTION_KEY: h.ctx.secrets.encryptionKeys[0]!.toString('base64'),
      EGRESS_ALLOW: '127.0.0.0/8',
      LOG_LEVEL: 'silent',
      ROUTER_LLM_BASE_URL: '',
      ROUTER_LLM_MODEL: '',
    };
  });
  after(async () => {
    for (const child of children) {
      child.kill('SIGKILL');
      await exited(child);
    }
    await h?.close();
  });

  it('a worker killed with SIGKILL mid-call is replaced and the result arrives once', async () => {
    const taskQueue = uniqueId('test-crash');
    const env = { ...workerEnv, TEMPORAL_TASK_QUEUE: taskQueue };
    const userId = uniqueId('user');
    const model = uniqueId('crashy');
    await h.createLLMConfig(userId, { model_name: model });
    h.llm.script(model, { hang: true }); // the first call never answers; later ones echo

    const first = await spawnWorkerProcess(env);
    children.push(first);
    const s = await h.startSession({ userId, taskQueue, tuning: { llmTimeout: '4 seconds' }, label: 'worker-crash' });
    const id = await s.send('survive this');
    await h.llm.waitForHits(model, 1, 60_000);

    first.kill('SIGKILL');
    await exited(first);
    assert.equal(first.signalCode, 'SIGKILL');
    children.push(await spawnWorkerProcess(env));

    const result = await h.gateway.waitForResult(s.connectionId, id, 120_000);
    assert.equal(result.status, 'success');
    assert.equal(result.result, `[${model}] survive this`);

    await s.ask('barrier');
    assert.equal(h.gateway.resultsFor(s.connectionId, id).length, 1);
    assert.equal((await s.handle.query(transcriptQuery)).filter((e) => e.id === id).length, 1);
    await s.handle.signal(closeSignal, { reason: 'test_done' });
    assert.equal((await s.handle.result()).status, 'closed');
  });

  it('a worker killed mid-stream: the deltas start again from offset 0 on the new worker, and the result arrives once', async () => {
    const taskQueue = uniqueId('test-crash-stream');
    const env = { ...workerEnv, TEMPORAL_TASK_QUEUE: taskQueue };
    const userId = uniqueId('user');
    const model = uniqueId('streamy');
    await h.createLLMConfig(userId, { model_name: model });
    const pieces = ['The first ', 'half arrives, ', 'then the worker dies; ', 'the rest comes later.'];
    // The first call streams two pieces and then stalls; the retry on the new worker streams it all.
    h.llm.script(model, { pieces, pieceDelayMs: 100, stallAfter: 2 }, { pieces, pieceDelayMs: 50 });

    const first = await spawnWorkerProcess(env);
    children.push(first);
    const s = await h.startSession({ userId, taskQueue, tuning: { llmTimeout: '4 seconds' }, label: 'worker-crash-stream' });
    const id = await s.send('stream, then crash', undefined, { stream: true });
    const deltas = () => h.gateway.framesFor(s.connectionId).flatMap((f) => (f.type === 'delta' && f.id === id ? [f] : []));
    await eventually(async () => deltas().length >= 2);

    first.kill('SIGKILL');
    await exited(first);
    children.push(await spawnWorkerProcess(env));

    const result = await h.gateway.waitForResult(s.connectionId, id, 120_000);
    assert.equal(result.result, pieces.join(''));
    const seen = deltas();
    const restarts = seen.flatMap((d, i) => (d.offset === 0 ? [i] : []));
    assert.equal(restarts.length, 2, `the answer started twice: ${JSON.stringify(seen)}`);
    assert.equal(
      seen
        .slice(restarts[1])
        .map((d) => d.text)
        .join(''),
      result.result,
      'from the second start, the deltas add up to the answer',
    );
    await s.ask('barrier');
    assert.equal(h.gateway.resultsFor(s.connectionId, id).length, 1);
  });
});
