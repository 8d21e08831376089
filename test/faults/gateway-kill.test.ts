// Fault: the gateway (a child process) killed with SIGKILL while results are pending; the clients
// reconnect with their Session-Id to a second gateway process. Every result not acked arrives;
// a result whose ack the session had recorded before the kill does not come again.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { RunningRole } from '../../app/context';
import { sessionWorkflowId, stateQuery } from '../../contract';
import { startWorker } from '../../worker';
import { createTestContext, insertLLMConfig, uniqueId, type TestContext } from '../support/context';
import { runDatabaseUrlOnce } from '../support/database';
import { eventually } from '../support/eventually';
import { FaultClient, waitAnswered } from '../support/fault-client';
import { DeliveryLedger } from '../support/fault-report';
import { startFakeLLM, type FakeLLM } from '../support/fake-llm';
import { freePort } from '../support/net';
import { exited, killHard, spawnReady } from '../support/spawn-ready';
import { testTemporal } from '../support/temporal';

const GATEWAY_SCRIPT = path.join(__dirname, '..', 'support', 'gateway-process.ts');
const SESSIONS = 5;
const MESSAGES_PER_SESSION = 4;

describe('fault: gateway killed with SIGKILL with results pending', function () {
  this.timeout(240_000);
  let tc: TestContext;
  let llm: FakeLLM;
  let worker: RunningRole;
  const gateways: ChildProcess[] = [];
  const clients: { client: FaultClient; userId: string }[] = [];

  before(async function () {
    tc = await createTestContext({ env: { EGRESS_ALLOW: '127.0.0.0/8' } });
    llm = await startFakeLLM();
    worker = await startWorker(tc.ctx, { connection: (await testTemporal()).nativeConnection });
  });
  after(async function () {
    for (const { client } of clients) await client.close();
    for (const gateway of gateways) await killHard(gateway);
    await worker?.close();
    await llm?.close();
    await tc?.close();
  });

  async function spawnGateway(): Promise<{ child: ChildProcess; url: string }> {
    const env = {
      DATABASE_URL: await runDatabaseUrlOnce(),
      TEMPORAL_ADDRESS: (await testTemporal()).address,
      TEMPORAL_TASK_QUEUE: tc.ctx.config.TEMPORAL_TASK_QUEUE,
      JWT_SECRET: tc.ctx.secrets.jwtSecret!,
      CONFIG_ENCRYPTION_KEY: tc.ctx.secrets.encryptionKeys[0]!.toString('base64'),
      GATEWAY_PORT: String(await freePort()),
      LOG_LEVEL: 'silent',
    };
    const { child, match } = await spawnReady(GATEWAY_SCRIPT, env, /gateway ready (\S+)/);
    gateways.push(child);
    return { child, url: match[1]! };
  }

  it('20 messages from 5 sessions: unacked results arrive on the new gateway, recorded acks keep theirs away', async function () {
    const ledger = new DeliveryLedger();
    const first = await spawnGateway();
    for (let s = 0; s < SESSIONS; s++) {
      const userId = uniqueId('fault-gw');
      const model = uniqueId('slow');
      llm.otherwise(model, { echo: true, delayMs: 1_500 });
      await insertLLMConfig(tc.ctx, userId, { model, baseUrl: llm.baseUrl, apiKey: 'sk-fault-0123456789' });
      const client = new FaultClient(`s${s}`, await tc.token(userId), ledger);
      clients.push({ client, userId });
      await client.connect(first.url);
    }
    // First one message per session, answered, acked, and the ack recorded by the session.
    for (const [s, { client }] of clients.entries()) client.send(`s${s}-m0`, `question 0 of session ${s}`);
    const firstIds = clients.map((_, s) => `s${s}-m0`);
    await waitAnswered(ledger, firstIds, 60_000);
    for (const { client, userId } of clients) {
      const handle = tc.ctx.temporal!.client.workflow.getHandle(sessionWorkflowId(userId, client.sessionId!));
      const ackedId = `${client.name}-m0`;
      await eventually(async () => !(await handle.query(stateQuery)).outbox.some((f) => f.id === ackedId), 30_000);
      ledger.ackRecorded(ackedId);
    }
    // Then the rest, slow: the kill finds them accepted and pending.
    for (let m = 1; m < MESSAGES_PER_SESSION; m++) {
      for (const [s, { client }] of clients.entries()) client.send(`s${s}-m${m}`, `question ${m} of session ${s}`);
    }
    await eventually(() => ledger.notAccepted().length === 0, 60_000);
    const beforeKill = ledger.answeredIds().length;
    const pending = SESSIONS * MESSAGES_PER_SESSION - beforeKill;

    await killHard(first.child);
    for (const { client } of clients) client.kill();
    const second = await spawnGateway();
    for (const { client } of clients) await client.reconnect(second.url);
    const ids = clients.flatMap(({ client }) => client.ids());
    await waitAnswered(ledger, ids, 120_000);
    // A little longer: a recorded ack's result coming again would show up now.
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    const figures = ledger.report(
      'gateway SIGKILL, clients resume on a second gateway',
      `${beforeKill} answered (and acked) before the kill, ${pending} pending`,
    );
    assert.equal(figures.lost, 0, `lost: ${JSON.stringify(ledger.unanswered())}`);
    assert.equal(figures.duplicated, 0);
    assert.equal(figures.accepted, SESSIONS * MESSAGES_PER_SESSION);
    for (const id of ids) assert.equal(ledger.results.get(id)?.status, 'success', id);

    second.child.kill('SIGTERM');
    await exited(second.child);
    assert.equal(second.child.exitCode, 0);
  });
});
