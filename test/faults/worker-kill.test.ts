// Fault: the session worker (a child process) killed with SIGKILL while 20 messages from 5
// sessions are in flight on a slow provider, then a new worker started. Real sockets on a gateway
// in this process; the worker reaches it through the relay's PostgreSQL NOTIFY. Every accepted
// message is answered, exactly once per id at the client.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { startGateway } from '../../gateway';
import type { RunningRole } from '../../app/context';
import { createTestContext, insertLLMConfig, uniqueId, type TestContext } from '../support/context';
import { runDatabaseUrlOnce } from '../support/database';
import { eventually } from '../support/eventually';
import { FaultClient, waitAnswered } from '../support/fault-client';
import { DeliveryLedger } from '../support/fault-report';
import { startFakeLLM, type FakeLLM } from '../support/fake-llm';
import { killHard, spawnReady } from '../support/spawn-ready';
import { testTemporal } from '../support/temporal';

const WORKER_SCRIPT = path.join(__dirname, '..', 'support', 'worker-process.ts');
const SESSIONS = 5;
const MESSAGES_PER_SESSION = 4;

describe('fault: worker killed with SIGKILL mid-traffic', function () {
  this.timeout(240_000);
  let tc: TestContext;
  let llm: FakeLLM;
  let gateway: RunningRole;
  const workers: ChildProcess[] = [];
  const clients: FaultClient[] = [];

  before(async function () {
    tc = await createTestContext({ env: { EGRESS_ALLOW: '127.0.0.0/8' } });
    llm = await startFakeLLM();
    gateway = await startGateway(tc.ctx, { host: '127.0.0.1', port: 0 });
  });
  after(async function () {
    for (const client of clients) await client.close();
    for (const worker of workers) await killHard(worker);
    await gateway?.close();
    await llm?.close();
    await tc?.close();
  });

  async function spawnWorker(): Promise<ChildProcess> {
    const env = {
      DATABASE_URL: await runDatabaseUrlOnce(),
      TEMPORAL_ADDRESS: (await testTemporal()).address,
      TEMPORAL_TASK_QUEUE: tc.ctx.config.TEMPORAL_TASK_QUEUE,
      CONFIG_ENCRYPTION_KEY: tc.ctx.secrets.encryptionKeys[0]!.toString('base64'),
      EGRESS_ALLOW: '127.0.0.0/8',
      LOG_LEVEL: 'silent',
      ROUTER_LLM_BASE_URL: '',
      ROUTER_LLM_MODEL: '',
    };
    const { child } = await spawnReady(WORKER_SCRIPT, env, /worker ready/);
    workers.push(child);
    return child;
  }

  it('20 messages from 5 sessions on a slow provider: every accepted one answered once per id', async function () {
    const url = gateway.urls.websocket!;
    const ledger = new DeliveryLedger();
    const first = await spawnWorker();
    for (let s = 0; s < SESSIONS; s++) {
      const userId = uniqueId('fault-worker');
      const model = uniqueId('slow');
      llm.otherwise(model, { echo: true, delayMs: 1_500 });
      await insertLLMConfig(tc.ctx, userId, { model, baseUrl: llm.baseUrl, apiKey: 'sk-fault-0123456789' });
      const client = new FaultClient(`s${s}`, await tc.token(userId), ledger);
      clients.push(client);
      await client.connect(url);
    }
    for (let m = 0; m < MESSAGES_PER_SESSION; m++) {
      for (const [s, client] of clients.entries()) client.send(`s${s}-m${m}`, `question ${m} of session ${s}`);
    }
    await eventually(() => ledger.notAccepted().length === 0, 60_000);
    await eventually(() => llm.requests().length >= SESSIONS, 60_000);
    const beforeKill = ledger.answeredIds().length;

    await killHard(first);
    assert.equal(first.signalCode, 'SIGKILL');
    await spawnWorker();
    const ids = clients.flatMap((c) => c.ids());
    await waitAnswered(ledger, ids, 120_000);

    const figures = ledger.report(
      'worker SIGKILL, restarted',
      `${beforeKill} answered before the kill; ${llm.requests().length} provider calls for ${ids.length} messages`,
    );
    assert.equal(figures.lost, 0, `lost: ${JSON.stringify(ledger.unanswered())}`);
    assert.equal(figures.duplicated, 0);
    assert.equal(figures.redelivered, 0, 'no socket broke, so no second copy');
    assert.equal(figures.accepted, SESSIONS * MESSAGES_PER_SESSION);
    for (const id of ids) assert.equal(ledger.results.get(id)?.status, 'success', id);
  });
});
