// Fault: the whole embedded service (`node --import tsx main.ts`: API, gateway, worker, its
// Temporal dev server and PostgreSQL) killed with SIGKILL mid-traffic, PostgreSQL along with it as
// in a power cut, then started again on the same DATA_DIR. Start-up copes with the stale pid files
// (postmaster.pid, .tools/running/<pid>), open sessions resume with their Session-Id, nothing
// accepted is lost, and a resumed socket gets each result once.
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { mintToken } from '../../lib/auth';
import { runningDir } from '../../runtime/in-use';
import { AppProcess, appEnv, appPorts, killLeftovers, processesMentioning, READY, tempDataDir } from '../support/app-process';
import { eventually } from '../support/eventually';
import { FaultClient, waitAnswered } from '../support/fault-client';
import { DeliveryLedger } from '../support/fault-report';
import { startFakeLLM, type FakeLLM } from '../support/fake-llm';

const SESSIONS = 5;
const MESSAGES_PER_SESSION = 4;
const LLM_DELAY_MS = 1_500;
const JWT_SECRET = 'fault-suite-jwt-secret-0123456789abcdef0123456789';

describe('fault: the whole embedded app killed with SIGKILL and started again', function () {
  this.timeout(300_000);
  let dir: string;
  let llm: FakeLLM;
  const apps: AppProcess[] = [];
  const clients: FaultClient[] = [];

  before(async function () {
    if (!existsSync('/proc')) throw new Error('this suite reads /proc (Linux)');
    dir = tempDataDir();
    llm = await startFakeLLM();
  });
  after(async function () {
    for (const client of clients) client.kill();
    for (const app of apps) if (app.running()) app.process.kill('SIGKILL');
    killLeftovers(dir);
    rmSync(dir, { recursive: true, force: true });
    // The entry the killed run could not remove (setup.mjs would recognise it as stale).
    for (const app of apps) rmSync(path.join(runningDir, String(app.pid)), { force: true });
    await llm?.close();
  });

  it('20 slow messages from 5 sessions: every accepted one answered, each once per socket, after a restart on the same DATA_DIR', async function () {
    const ports = await appPorts();
    const env = appEnv({ DATA_DIR: dir, JWT_SECRET, EGRESS_ALLOW: '127.0.0.0/8', ...ports });
    const api = `http://127.0.0.1:${ports.API_PORT}/api/v1`;
    const ws = `ws://127.0.0.1:${ports.GATEWAY_PORT}/ws`;
    const start = async (): Promise<AppProcess> => {
      const app = new AppProcess('main', env);
      apps.push(app);
      await app.waitFor(READY);
      return app;
    };

    const first = await start();
    const ledger = new DeliveryLedger();
    for (let s = 0; s < SESSIONS; s++) {
      const userId = `fault-app-${s}`;
      const model = `slow-${s}`;
      llm.otherwise(model, { echo: true, delayMs: LLM_DELAY_MS });
      const token = await mintToken(JWT_SECRET, userId);
      const created = await fetch(`${api}/ai-configs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          config_name: model,
          config_type: 'llm',
          model_name: model,
          base_url: llm.baseUrl,
          api_key: 'sk-fault-0123456789',
        }),
      });
      assert.equal(created.status, 201, await created.text());
      const client = new FaultClient(`s${s}`, token, ledger);
      clients.push(client);
      await client.connect(ws);
    }
    // Mid-traffic: half the messages accepted and the first LLM calls under way, the other half
    // sent at the moment of the kill (the client resends those it has no `accepted` for).
    const half = MESSAGES_PER_SESSION / 2;
    for (let m = 0; m < half; m++) {
      for (const [s, client] of clients.entries()) client.send(`s${s}-m${m}`, `question ${m} of session ${s}`);
    }
    await eventually(() => ledger.notAccepted().length === 0, 60_000);
    await eventually(() => llm.requests().length >= SESSIONS, 60_000);
    for (let m = half; m < MESSAGES_PER_SESSION; m++) {
      for (const [s, client] of clients.entries()) client.send(`s${s}-m${m}`, `question ${m} of session ${s}`);
    }
    const beforeKill = ledger.answeredIds().length;
    const unacceptedAtKill = ledger.notAccepted().length;

    const postgres = processesMentioning(path.join(dir, 'postgres', 'pgdata'));
    first.process.kill('SIGKILL');
    for (const { pid } of postgres) process.kill(pid, 'SIGKILL'); // the power cut takes PostgreSQL too
    await first.exited;
    for (const client of clients) client.kill();
    await eventually(() => assert.deepEqual(processesMentioning(dir), []), 30_000);
    assert.ok(existsSync(path.join(dir, 'postgres', 'pgdata', 'postmaster.pid')), 'a stale postmaster.pid is left behind');
    assert.ok(existsSync(path.join(runningDir, String(first.pid))), 'a stale .tools/running entry is left behind');

    const second = await start();
    for (const client of clients) await client.reconnect(ws);
    const ids = clients.flatMap((c) => c.ids());
    await waitAnswered(ledger, ids, 120_000);

    const sessions = new Set(clients.map((c) => c.sessionId));
    const figures = ledger.report(
      'whole app SIGKILL, restart on DATA_DIR',
      `${beforeKill} answered before the kill, ${unacceptedAtKill} not yet accepted (resent); ${sessions.size} sessions resumed`,
    );
    const duplicates = clients.flatMap((c) =>
      c.frames.filter(
        (f, i, all) =>
          f.frame.type === 'function_call_result' &&
          all.findIndex(
            (g) =>
              g.socket === f.socket &&
              g.frame.type === 'function_call_result' &&
              (g.frame as { id: string }).id === (f.frame as { id: string }).id,
          ) !== i,
      ),
    );
    assert.deepEqual(duplicates, [], 'a result written twice to one socket');
    assert.equal(figures.lost, 0, `lost: ${JSON.stringify(ledger.unanswered())}`);
    assert.equal(figures.duplicated, 0);
    assert.equal(figures.accepted, SESSIONS * MESSAGES_PER_SESSION);
    for (const id of ids) assert.equal(ledger.results.get(id)?.status, 'success', id);

    for (const client of clients) await client.close();
    second.process.kill('SIGTERM');
    assert.deepEqual(await second.exited, { code: 0, signal: null }, second.output());
    await eventually(() => assert.deepEqual(processesMentioning(dir), []), 30_000);
  });
});
