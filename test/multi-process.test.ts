// Several gateways and workers, as the compose file runs them: separate OS processes of
// `main.ts --role api|gateway|worker` against one Temporal dev server (the run's) and one
// PostgreSQL (the run's database). One user has sessions on both gateways. A config change
// through the API reaches the sessions on both; a gateway stopped with SIGTERM closes its sockets
// with 1012 and its clients resume on the other gateway with every unacked result; a worker
// killed with SIGKILL mid-traffic loses nothing.
import assert from 'node:assert/strict';
import { AppProcess, appEnv, tempDataDir } from './support/app-process';
import { createTestContext, uniqueId, type TestContext } from './support/context';
import { runDatabaseUrlOnce } from './support/database';
import { FaultClient, waitAnswered } from './support/fault-client';
import { DeliveryLedger } from './support/fault-report';
import { startFakeLLM, type FakeLLM } from './support/fake-llm';
import { freePort } from './support/net';
import { testTemporal } from './support/temporal';

const READY = /Switchboard ready in [\d.]+ s/;
const CLIENTS = 4;
const MESSAGES_PER_CLIENT = 3;

describe('several gateways and workers in separate processes', function () {
  this.timeout(300_000);
  let tc: TestContext;
  let llm: FakeLLM;
  const processes: AppProcess[] = [];
  const clients: FaultClient[] = [];

  async function start(role: 'api' | 'gateway' | 'worker', env: Record<string, string>): Promise<{ app: AppProcess; port: string }> {
    const port = String(await freePort());
    const portVariable: Record<string, string> = role === 'api' ? { API_PORT: port } : role === 'gateway' ? { GATEWAY_PORT: port } : {};
    const app = new AppProcess('main', appEnv({ ...env, ...portVariable, DATA_DIR: tempDataDir('switchboard-multi-') }), ['--role', role]);
    processes.push(app);
    await app.waitFor(READY, 120_000);
    return { app, port };
  }

  before(async function () {
    tc = await createTestContext();
    llm = await startFakeLLM();
  });

  after(async function () {
    for (const client of clients) await client.close();
    for (const app of processes) if (app.running()) app.process.kill('SIGKILL');
    await Promise.all(processes.map((app) => app.exited));
    await llm?.close();
    await tc?.close();
  });

  it('a config change reaches both gateways; a stopped gateway and a killed worker lose nothing', async function () {
    const env = {
      DATABASE_URL: await runDatabaseUrlOnce(),
      TEMPORAL_ADDRESS: (await testTemporal()).address,
      TEMPORAL_TASK_QUEUE: uniqueId('multi'),
      JWT_SECRET: tc.ctx.secrets.jwtSecret!,
      CONFIG_ENCRYPTION_KEY: tc.ctx.secrets.encryptionKeys[0]!.toString('base64'),
      EGRESS_ALLOW: '127.0.0.0/8',
      AUTH_FAILURES_PER_MINUTE: '1000000',
      HOST: '127.0.0.1',
    };
    const [api, gatewayA, gatewayB, worker1] = await Promise.all([
      start('api', env),
      start('gateway', env),
      start('gateway', env),
      start('worker', env),
      start('worker', env),
    ]);
    const apiUrl = `http://127.0.0.1:${api.port}/api/v1`;
    const wsUrl = (port: string) => `ws://127.0.0.1:${port}/ws`;
    const userId = uniqueId('multi');
    const token = await tc.token(userId);
    const request = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(apiUrl + path, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as { data: { id: number } } };
    };
    const model = uniqueId('slow');
    llm.otherwise(model, { echo: true, delayMs: 2_000 });
    assert.equal(
      (await request('POST', '/ai-configs', { config_name: 'slow', config_type: 'llm', model_name: model, base_url: llm.baseUrl })).status,
      201,
    );

    const ledger = new DeliveryLedger();
    for (let c = 0; c < CLIENTS; c++) {
      const client = new FaultClient(`c${c}`, token, ledger);
      clients.push(client);
      await client.connect(wsUrl(c < CLIENTS / 2 ? gatewayA.port : gatewayB.port));
    }

    // A config change through the API reaches the sessions on both gateways.
    assert.equal(
      (await request('POST', '/ai-configs', { config_name: 'added', config_type: 'llm', model_name: 'other', base_url: llm.baseUrl }))
        .status,
      201,
    );
    for (const client of clients) {
      await client.socket!.next('configs_updated', (f) => f.configs.some((c) => c.config_name === 'added'), 60_000);
    }

    for (const client of clients) {
      for (let m = 0; m < MESSAGES_PER_CLIENT; m++) client.send(`${client.name}-m${m}`, `question ${m} from ${client.name}`);
    }
    await Promise.all(clients.map((client) => client.socket!.next('accepted', () => true, 60_000)));

    // Gateway A stops (SIGTERM, as a deploy does) while its clients' answers are pending.
    const onA = clients.slice(0, CLIENTS / 2);
    const closes = onA.map((client) => client.socket!.closed);
    gatewayA.app.process.kill('SIGTERM');
    const codes = (await Promise.all(closes)).map((c) => c.code);
    assert.deepEqual(
      codes,
      onA.map(() => 1012),
      'sockets closed with 1012 (service restart)',
    );
    assert.equal((await gatewayA.app.exited).code, 0, 'gateway A stopped cleanly');
    for (const client of onA) await client.reconnect(wsUrl(gatewayB.port));

    // A worker dies mid-traffic; the other takes over.
    worker1.app.process.kill('SIGKILL');
    await worker1.app.exited;

    const ids = clients.flatMap((client) => client.ids());
    await waitAnswered(ledger, ids, 180_000, () => clients.forEach((client) => client.resendRefused()));
    const figures = ledger.report('two gateways and two workers (separate processes): gateway A stopped with SIGTERM, worker 1 killed');
    assert.equal(figures.sent, CLIENTS * MESSAGES_PER_CLIENT);
    assert.equal(figures.lost, 0, `unanswered: ${ledger.unanswered().join(', ')}`);
    assert.equal(figures.duplicated, 0);
    assert.equal(figures.answered, figures.accepted);
    for (const id of ids) assert.equal(ledger.results.get(id)?.status, 'success', id);
  });
});
