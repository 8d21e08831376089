// The sessions REST API (/api/v1/sessions) and the config-change notifier, over real HTTP, with
// real sockets on the gateway and the real session worker on the shared Temporal dev server.
import assert from 'node:assert/strict';
import { Client, Connection } from '@temporalio/client';
import { startApi } from '../api/server';
import { startGateway } from '../gateway';
import type { AppContext, RunningRole } from '../app/context';
import { createConfigChangeNotifier } from '../sessions/sessions.service';
import { startWorker } from '../worker';
import { SESSION_WORKFLOW_TYPE, sessionWorkflowId, type PublicConfig, type SessionWorkflowInput } from '../contract';
import { createTestContext, insertLLMConfig, uniqueId, type TestContext } from './support/context';
import { eventually } from './support/eventually';
import { startFakeLLM, type FakeLLM } from './support/fake-llm';
import { testTemporal } from './support/temporal';
import { TestSocket } from './support/ws-client';

/** The API exactly as main.ts starts it: config changes notify sessions, sessions routes mounted. */
async function startHttpApi(ctx: AppContext): Promise<{ url: string; close(): Promise<void> }> {
  const role = await startApi(ctx, { host: '127.0.0.1', port: 0 });
  return { url: role.urls.base!, close: () => role.close() };
}

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
  body: any;
}

describe('sessions API', function () {
  let tc: TestContext;
  let llm: FakeLLM;
  let worker: RunningRole;
  let gateway: RunningRole;
  let api: { url: string; close(): Promise<void> };

  async function call(method: string, path: string, userId: string, body?: unknown): Promise<Answer> {
    const headers: Record<string, string> = { authorization: `Bearer ${await tc.token(userId)}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(api.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, body: await response.json() };
  }

  async function newUser(prefix = 'alice'): Promise<{ userId: string; token: string; configs: PublicConfig[] }> {
    const userId = uniqueId(prefix);
    const configs = [
      await insertLLMConfig(tc.ctx, userId, {
        name: 'Main',
        model: uniqueId('main'),
        baseUrl: llm.baseUrl,
        priority: 10,
        apiKey: 'sk-main-0123456789abcdef',
      }),
      await insertLLMConfig(tc.ctx, userId, { name: 'Second', model: uniqueId('second'), baseUrl: llm.baseUrl, priority: 1 }),
    ];
    return { userId, token: await tc.token(userId), configs };
  }

  async function open(token: string, deviceId = 'laptop'): Promise<{ socket: TestSocket; sessionId: string }> {
    const socket = await TestSocket.open(gateway.urls.websocket!, { token, deviceId });
    return { socket, sessionId: (await socket.next('hello')).session_id };
  }

  before(async function () {
    tc = await createTestContext({ env: { EGRESS_ALLOW: '127.0.0.0/8' } });
    llm = await startFakeLLM();
    worker = await startWorker(tc.ctx, { connection: (await testTemporal()).nativeConnection });
    gateway = await startGateway(tc.ctx, { host: '127.0.0.1', port: 0 });
    api = await startHttpApi(tc.ctx);
  });

  after(async function () {
    await api?.close();
    await gateway?.close();
    await worker?.close();
    await llm?.close();
    await tc?.close();
  });

  it('documents the sessions routes in the OpenAPI document of the API role', async function () {
    const response = await fetch(`${api.url}/openapi.json`);
    const doc = (await response.json()) as { paths: Record<string, Record<string, { summary?: string }>> };
    assert.deepEqual(Object.keys(doc.paths['/api/v1/sessions'] ?? {}), ['get']);
    const list = doc.paths['/api/v1/sessions']!.get as unknown as {
      parameters: { name: string; in: string; schema: Record<string, unknown> }[];
      responses: Record<string, { content: { 'application/json': { schema: { properties: Record<string, unknown> } } } }>;
    };
    assert.deepEqual(
      list.parameters.map((p) => `${p.in}:${p.name}`),
      ['query:limit', 'query:cursor', 'query:status'],
    );
    assert.deepEqual(list.parameters[0]!.schema, {
      default: 50,
      type: 'integer',
      minimum: 1,
      maximum: 100,
      description: 'Sessions per page, 1 to 100',
    });
    assert.ok(list.responses['200']!.content['application/json'].schema.properties.next_cursor, 'next_cursor is documented');
    assert.ok(list.responses['400'], 'bad paging is a documented 400');
    assert.deepEqual(Object.keys(doc.paths['/api/v1/sessions/{id}'] ?? {}).sort(), ['delete', 'get', 'patch']);
    for (const operation of Object.values(doc.paths['/api/v1/sessions/{id}']!)) assert.ok(operation.summary);
  });

  it('readyz checks the database and Temporal', async function () {
    const response = await fetch(`${api.url}/readyz`);
    const body = (await response.json()) as { data: { checks: Record<string, string> } };
    assert.equal(response.status, 200);
    assert.deepEqual(body.data.checks, { database: 'ok', temporal: 'ok' });
  });

  it("lists only the caller's sessions, with status, device and times", async function () {
    const alice = await newUser();
    const bob = await newUser('bob');
    const a1 = await open(alice.token, 'laptop');
    const a2 = await open(alice.token, 'phone');
    const b1 = await open(bob.token);
    const { status, body } = await call('GET', '/api/v1/sessions', alice.userId);
    assert.equal(status, 200);
    const ids = body.data.map((s: { id: string }) => s.id);
    assert.deepEqual(new Set(ids), new Set([a1.sessionId, a2.sessionId]));
    const phone = body.data.find((s: { id: string }) => s.id === a2.sessionId);
    assert.equal(phone.status, 'active');
    assert.equal(phone.device_id, 'phone');
    assert.ok(!Number.isNaN(Date.parse(phone.created_at)));
    assert.ok(!Number.isNaN(Date.parse(phone.last_activity_at)));
    await Promise.all([a1.socket.close(), a2.socket.close(), b1.socket.close()]);
  });

  it('pages the list newest first with limit and an opaque cursor, never skipping or repeating a session', async function () {
    const userId = uniqueId('pager');
    // Seven rows: three share a creation time to the microsecond (the id breaks the tie), one is
    // a microsecond apart from another (a millisecond cursor would lose it).
    const times = [
      '2026-01-01 10:00:00.000001+00',
      '2026-01-01 10:00:00.000002+00',
      '2026-01-02 10:00:00+00',
      '2026-01-02 10:00:00+00',
      '2026-01-02 10:00:00+00',
      '2026-01-03 10:00:00.5+00',
      '2026-01-04 10:00:00+00',
    ];
    const ids: string[] = [];
    for (const [i, created] of times.entries()) {
      const sessionId = uniqueId(`page${i}`);
      ids.push(sessionId);
      await tc.ctx.db.sequelize.query(
        `INSERT INTO user_session_configs (user_id, session_id, workflow_id, status, created_at, updated_at)
         VALUES ($1, $2, $3, 'closed', $4, $4)`,
        { bind: [userId, sessionId, `wf-${sessionId}`, created] },
      );
    }
    const newestFirst = [ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]];
    const seen: string[] = [];
    let cursor: string | null = null;
    const pages: number[] = [];
    do {
      const query: string = cursor ? `?limit=3&cursor=${encodeURIComponent(cursor)}` : '?limit=3';
      const { status, body } = await call('GET', `/api/v1/sessions${query}`, userId);
      assert.equal(status, 200);
      pages.push(body.data.length);
      seen.push(...body.data.map((s: { id: string }) => s.id));
      cursor = body.next_cursor;
      assert.ok(cursor === null || typeof cursor === 'string');
    } while (cursor);
    assert.deepEqual(pages, [3, 3, 1]);
    assert.deepEqual(seen, newestFirst);
    // Default page size 50; exactly a page's worth ends with next_cursor null.
    const all = await call('GET', '/api/v1/sessions', userId);
    assert.deepEqual(
      all.body.data.map((s: { id: string }) => s.id),
      newestFirst,
    );
    assert.equal(all.body.next_cursor, null);
    assert.equal((await call('GET', '/api/v1/sessions?limit=7', userId)).body.next_cursor, null);
    // Bad paging is a 400 naming the parameter.
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=2.5', 'limit'],
      ['cursor=not-a-cursor', 'cursor'],
      ['cursor=' + Buffer.from('1.2; DROP TABLE x').toString('base64url'), 'cursor'],
      ['page=2', 'page'],
    ]) {
      const { status, body } = await call('GET', `/api/v1/sessions?${query}`, userId);
      assert.equal(status, 400, query);
      assert.deepEqual(
        body.errors.map((e: { field: string }) => e.field),
        [field],
        query,
      );
    }
  });

  it('filters the list by status (the open sessions that count toward the limit), paging within the filter', async function () {
    const userId = uniqueId('filter');
    const rows: [string, string][] = [
      ['active', '2026-02-01 10:00:00+00'],
      ['closed', '2026-02-02 10:00:00+00'],
      ['active', '2026-02-03 10:00:00+00'],
      ['expired', '2026-02-04 10:00:00+00'],
      ['active', '2026-02-05 10:00:00+00'],
    ];
    const ids: string[] = [];
    for (const [i, [status, created]] of rows.entries()) {
      const sessionId = uniqueId(`filter${i}`);
      ids.push(sessionId);
      await tc.ctx.db.sequelize.query(
        `INSERT INTO user_session_configs (user_id, session_id, workflow_id, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)`,
        { bind: [userId, sessionId, `wf-${sessionId}`, status, created] },
      );
    }
    const active = await call('GET', '/api/v1/sessions?status=active', userId);
    assert.equal(active.status, 200);
    assert.deepEqual(
      active.body.data.map((s: { id: string; status: string }) => `${s.status}:${s.id}`),
      [ids[4], ids[2], ids[0]].map((id) => `active:${id}`),
    );
    const first = await call('GET', '/api/v1/sessions?status=active&limit=2', userId);
    assert.deepEqual(
      first.body.data.map((s: { id: string }) => s.id),
      [ids[4], ids[2]],
    );
    const second = await call('GET', `/api/v1/sessions?status=active&limit=2&cursor=${encodeURIComponent(first.body.next_cursor)}`, userId);
    assert.deepEqual(
      second.body.data.map((s: { id: string }) => s.id),
      [ids[0]],
    );
    assert.equal(second.body.next_cursor, null);
    assert.deepEqual(
      (await call('GET', '/api/v1/sessions?status=expired', userId)).body.data.map((s: { id: string }) => s.id),
      [ids[3]],
    );
    const bad = await call('GET', '/api/v1/sessions?status=open', userId);
    assert.equal(bad.status, 400);
    assert.deepEqual(
      bad.body.errors.map((e: { field: string }) => e.field),
      ['status'],
    );
  });

  it('shows one session live: settings, cached configs without secrets, transcript', async function () {
    const alice = await newUser();
    const { socket, sessionId } = await open(alice.token);
    socket.send({ type: 'message', id: 'm-1', text: 'hello there' });
    const result = await socket.next('function_call_result', (f) => f.id === 'm-1');
    const { status, body } = await call('GET', `/api/v1/sessions/${sessionId}`, alice.userId);
    assert.equal(status, 200);
    const session = body.data;
    assert.equal(session.id, sessionId);
    assert.equal(session.source, 'workflow');
    assert.equal(session.status, 'active');
    assert.deepEqual(session.settings, { default_llm_id: null, enabled_functions: null, role: null });
    assert.deepEqual(session.configs.map((c: PublicConfig) => c.config_name).sort(), ['Main', 'Second']);
    assert.equal(session.transcript.length, 1);
    assert.equal(session.transcript[0].id, 'm-1');
    assert.equal(session.transcript[0].text, 'hello there');
    assert.deepEqual(session.transcript[0].result, result);
    assert.equal(session.unacked_results, 1);
    assert.ok(!JSON.stringify(body).includes('sk-main-0123456789abcdef'));
    assert.ok(!JSON.stringify(body).includes('enc:v1'));
    await socket.close();
  });

  it("answers 404 for another user's session, exactly as for a missing one", async function () {
    const alice = await newUser();
    const bob = await newUser('bob');
    const { socket, sessionId } = await open(alice.token);
    for (const [method, body] of [
      ['GET', undefined],
      ['PATCH', { enabled_functions: [] }],
      ['DELETE', undefined],
    ] as const) {
      const stolen = await call(method, `/api/v1/sessions/${sessionId}`, bob.userId, body);
      const missing = await call(method, `/api/v1/sessions/no-such-session`, bob.userId, body);
      assert.equal(stolen.status, 404, method);
      delete stolen.body.request_id;
      delete missing.body.request_id;
      assert.deepEqual(stolen.body, missing.body, method);
    }
    // Bob's DELETE did nothing to Alice's session.
    socket.send({ type: 'ping' });
    await socket.next('pong');
    assert.equal((await call('GET', `/api/v1/sessions/${sessionId}`, alice.userId)).body.data.status, 'active');
    await socket.close();
  });

  it('validates PATCH bodies, naming the field', async function () {
    const alice = await newUser();
    const bob = await newUser('bob');
    const { socket, sessionId } = await open(alice.token);
    const path = `/api/v1/sessions/${sessionId}`;
    const cases: [unknown, string][] = [
      [{ default_llm_id: 'three' }, 'default_llm_id'],
      [{ enabled_functions: [1] }, 'enabled_functions.0'],
      [{ enabled_functions: ['not a name'] }, 'enabled_functions.0'],
      [{ colour: 'blue' }, 'colour'],
      [{}, '(body)'],
      [{ default_llm_id: bob.configs[0]!.id }, 'default_llm_id'],
    ];
    for (const [body, field] of cases) {
      const answer = await call('PATCH', path, alice.userId, body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.ok(
        answer.body.errors.some((e: { field: string }) => e.field === field),
        `${JSON.stringify(body)} names ${field}: ${JSON.stringify(answer.body.errors)}`,
      );
    }
    await socket.close();
  });

  it('PATCH changes the live session: the new default LLM answers the next message', async function () {
    const alice = await newUser();
    const second = alice.configs[1]!;
    const { socket, sessionId } = await open(alice.token);
    const answer = await call('PATCH', `/api/v1/sessions/${sessionId}`, alice.userId, {
      default_llm_id: second.id,
      enabled_functions: ['get_time'],
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.data.settings.default_llm_id, second.id);
    assert.deepEqual(answer.body.data.settings.enabled_functions, ['get_time']);

    socket.send({ type: 'message', id: 'after-patch', text: 'who answers?' });
    const result = await socket.next('function_call_result', (f) => f.id === 'after-patch');
    assert.equal(result.config_id, second.id);
    assert.equal(result.config_name, 'Second');
    await eventually(async () => {
      const row = await tc.ctx.db.models.UserSessionConfig.findOne({ where: { session_id: sessionId } });
      assert.equal(row?.default_llm_id, second.id);
      assert.deepEqual(row?.enabled_functions, ['get_time']);
    });
    await socket.close();
  });

  it('DELETE closes the session: the client is told, the row and the API say closed', async function () {
    const alice = await newUser();
    const { socket, sessionId } = await open(alice.token);
    const path = `/api/v1/sessions/${sessionId}`;
    const closed = await call('DELETE', path, alice.userId);
    assert.equal(closed.status, 200);
    assert.equal(closed.body.data.status, 'closed');
    await socket.next('session_closed');
    assert.equal((await socket.closed).code, 1000);
    await eventually(async () => assert.equal((await call('GET', path, alice.userId)).body.data.status, 'closed'));
    const after = await call('GET', path, alice.userId);
    assert.equal(after.body.data.source, 'database');
    assert.deepEqual(after.body.data.configs.map((c: PublicConfig) => c.config_name).sort(), ['Main', 'Second']);
    assert.equal((await call('DELETE', path, alice.userId)).status, 200, 'closing twice is fine');
    const patch = await call('PATCH', path, alice.userId, { enabled_functions: [] });
    assert.equal(patch.status, 409);
    assert.equal(patch.body.error, 'session_ended');
  });

  it('DELETE ends a session whose workflow task keeps failing, instead of saying closed while it goes on', async function () {
    const userId = uniqueId('stuck');
    const sessionId = uniqueId('stuck-session');
    const workflowId = sessionWorkflowId(userId, sessionId);
    await tc.ctx.db.models.UserSessionConfig.create({
      user_id: userId,
      session_id: sessionId,
      workflow_id: workflowId,
      device_id: null,
      status: 'active',
    });
    // Carried state no release writes (pending is not a list): every workflow task of this run fails.
    const broken = { userId, sessionId, deviceId: null, idleTtlMs: 60_000, carried: { pending: 5 } } as unknown as SessionWorkflowInput;
    const handle = await tc.ctx.temporal!.client.workflow.start(SESSION_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: tc.ctx.config.TEMPORAL_TASK_QUEUE,
      args: [broken],
    });
    await eventually(async () => ((await handle.describe()).raw.pendingWorkflowTask?.attempt ?? 0) >= 2, 60_000);

    const closed = await call('DELETE', `/api/v1/sessions/${sessionId}`, userId);
    assert.equal(closed.status, 200);
    assert.equal(closed.body.data.status, 'closed');
    assert.equal((await handle.describe()).status.name, 'TERMINATED');
    const row = await tc.ctx.db.models.UserSessionConfig.findOne({ where: { session_id: sessionId } });
    assert.equal(row?.status, 'closed');
  });

  it("a config change through the REST API refreshes the user's open sessions (configs_updated)", async function () {
    const alice = await newUser();
    const bob = await newUser('bob');
    const a = await open(alice.token);
    const b = await open(bob.token);
    const created = await call('POST', '/api/v1/ai-configs', alice.userId, {
      config_name: 'Fresh',
      config_type: 'llm',
      model_name: uniqueId('fresh'),
      base_url: llm.baseUrl,
      priority: 99,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const updated = await a.socket.next('configs_updated');
    assert.ok(updated.configs.some((c) => c.id === created.body.data.id && c.config_name === 'Fresh'));

    // The new config is live: the highest priority now answers.
    a.socket.send({ type: 'message', id: 'fresh-1', text: 'new config?' });
    assert.equal((await a.socket.next('function_call_result', (f) => f.id === 'fresh-1')).config_name, 'Fresh');

    // Bob's session heard nothing about Alice's change.
    b.socket.send({ type: 'ping' });
    await b.socket.next('pong');
    assert.ok(!b.socket.received.some((f) => f.type === 'configs_updated'));
    await Promise.all([a.socket.close(), b.socket.close()]);
  });

  it('the notifier never throws into the API, even when Temporal refuses', async function () {
    const alice = await newUser();
    const { socket } = await open(alice.token);
    const env = await testTemporal();
    const connection = await Connection.connect({ address: env.address });
    await connection.close();
    const broken = createConfigChangeNotifier({ ...tc.ctx, temporal: { connection, client: new Client({ connection }) } });
    await broken.configsChanged(alice.userId);
    await createConfigChangeNotifier({ ...tc.ctx, temporal: undefined }).configsChanged(alice.userId);
    await socket.close();
  });
});
