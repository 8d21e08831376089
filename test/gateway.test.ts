// The WebSocket gateway end to end: real sockets against startGateway, the real session worker on
// the shared Temporal dev server, PostgreSQL, and the scripted OpenAI-compatible fake as provider.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startGateway } from '../gateway';
import type { RunningRole } from '../app/context';
import { mintToken } from '../lib/auth';
import { projectRoot } from '../lib/temporal-cli';
import { newSessionId } from '../sessions/session-store';
import { startWorker } from '../worker';
import { sessionWorkflowId, stateQuery, userIdSearchAttribute, type PublicConfig } from '../contract';
import { createTestContext, insertLLMConfig, uniqueId, type TestContext } from './support/context';
import { eventually } from './support/eventually';
import { startFakeLLM, type FakeLLM } from './support/fake-llm';
import { testTemporal } from './support/temporal';
import { TestSocket } from './support/ws-client';

describe('gateway', function () {
  let tc: TestContext;
  let llm: FakeLLM;
  let worker: RunningRole;
  let gateway: RunningRole;
  let url: string;

  async function startSessionWorker(): Promise<RunningRole> {
    return startWorker(tc.ctx, { connection: (await testTemporal()).nativeConnection });
  }

  /** A fresh user with one LLM config answered (echo) by the fake provider. */
  async function newUser(prefix = 'alice'): Promise<{ userId: string; token: string; config: PublicConfig; model: string }> {
    const userId = uniqueId(prefix);
    const model = uniqueId('echo');
    const config = await insertLLMConfig(tc.ctx, userId, { model, baseUrl: llm.baseUrl, apiKey: 'sk-test-0123456789abcdef' });
    return { userId, token: await tc.token(userId), config, model };
  }

  async function connect(
    token: string,
    options: { sessionId?: string; deviceId?: string } = {},
    headers: Record<string, string> = {},
  ): Promise<{ socket: TestSocket; sessionId: string }> {
    const socket = await TestSocket.open(url, {
      token,
      deviceId: options.deviceId ?? 'laptop-1',
      sessionId: options.sessionId,
      headers,
    });
    const hello = await socket.next('hello');
    return { socket, sessionId: hello.session_id };
  }

  async function state(userId: string, sessionId: string) {
    return tc.ctx.temporal!.client.workflow.getHandle(sessionWorkflowId(userId, sessionId)).query(stateQuery);
  }

  before(async function () {
    tc = await createTestContext({ env: { EGRESS_ALLOW: '127.0.0.0/8' } });
    llm = await startFakeLLM();
    worker = await startSessionWorker();
    gateway = await startGateway(tc.ctx, { host: '127.0.0.1', port: 0 });
    url = gateway.urls.websocket!;
  });

  after(async function () {
    await gateway?.close();
    await worker?.close();
    await llm?.close();
    await tc?.close();
  });

  describe('authentication before the upgrade', function () {
    it('refuses a missing token with HTTP 401 and no socket', async function () {
      const refusal = await TestSocket.refusal(url);
      assert.equal(refusal.status, 401);
      assert.deepEqual(refusal.body, {
        code: 401,
        message: 'Missing bearer token (Authorization header or ?token=)',
        data: null,
        error: 'unauthorized',
      });
    });

    it('refuses a token signed with another secret, and an expired one', async function () {
      const forged = await mintToken('another-secret-another-secret-another', 'mallory');
      assert.equal((await TestSocket.refusal(url, { token: forged })).status, 401);
      const expired = await tc.token('alice', { expiresIn: '-1h' });
      assert.equal((await TestSocket.refusal(url, { token: expired })).status, 401);
      assert.equal((await TestSocket.refusal(url, { query: { token: forged } })).status, 401);
    });

    it('refuses malformed Device-Id and Session-Id values with 400', async function () {
      const token = await tc.token(uniqueId('alice'));
      const badDevice = await TestSocket.refusal(url, { token, headers: { 'Device-Id': 'a b/c' } });
      assert.equal(badDevice.status, 400);
      assert.equal((badDevice.body as { error: string }).error, 'invalid_device_id');
      const badSession = await TestSocket.refusal(url, { token, query: { session_id: '../../etc' } });
      assert.equal(badSession.status, 400);
      assert.equal((badSession.body as { error: string }).error, 'invalid_session_id');
    });

    it('accepts the token, device and session the browser way (query string)', async function () {
      const user = await newUser();
      const socket = await TestSocket.open(url, { query: { token: user.token, device_id: 'browser-7' } });
      const hello = await socket.next('hello');
      const row = await tc.ctx.db.models.UserSessionConfig.findOne({ where: { session_id: hello.session_id } });
      assert.equal(row?.device_id, 'browser-7');
      await socket.close();
    });
  });

  describe('a new session', function () {
    it('starts the workflow and says hello with the cached configs, without secrets', async function () {
      const user = await newUser();
      const { socket, sessionId } = await connect(user.token, { deviceId: 'phone-2' });
      const hello = socket.received[0]!;
      assert.equal(hello.type, 'hello');
      assert.ok(hello.type === 'hello' && !hello.resumed);
      assert.ok(hello.type === 'hello' && hello.configs.some((c) => c.id === user.config.id && c.has_api_key));
      assert.ok(!JSON.stringify(hello).includes('sk-test-0123456789abcdef'));
      assert.ok(!JSON.stringify(hello).includes('enc:v1'));

      const row = await tc.ctx.db.models.UserSessionConfig.findOne({ where: { session_id: sessionId } });
      assert.equal(row?.user_id, user.userId);
      assert.equal(row?.status, 'active');
      assert.equal(row?.device_id, 'phone-2');
      assert.equal(row?.workflow_id, sessionWorkflowId(user.userId, sessionId));
      assert.ok(row?.expires_at);

      const description = await tc.ctx.temporal!.client.workflow.getHandle(row.workflow_id).describe();
      assert.equal(description.typedSearchAttributes.get(userIdSearchAttribute), user.userId);
      await socket.close();
    });

    it('answers a message: accepted, progress, then the result', async function () {
      const user = await newUser();
      const { socket } = await connect(user.token);
      socket.send({ type: 'message', id: 'q-1', text: 'What is the capital of France?' });
      const result = await socket.next('function_call_result', (f) => f.id === 'q-1');
      assert.equal(result.status, 'success');
      assert.equal(result.config_id, user.config.id);
      assert.equal(result.config_name, user.config.config_name);
      assert.equal(result.result, `[${user.model}] What is the capital of France?`);
      assert.equal(result.routed_by, 'fallback');
      assert.equal(typeof result.execute_time, 'number');

      const order = socket.received.map((f) => f.type);
      const accepted = socket.received.findIndex((f) => f.type === 'accepted' && f.id === 'q-1');
      const progress = socket.received.findIndex((f) => f.type === 'progress' && f.id === 'q-1');
      const answered = socket.received.indexOf(result);
      assert.ok(accepted > 0 && accepted < answered, `accepted before the result: ${order.join(',')}`);
      assert.ok(progress > 0 && progress < answered, `progress before the result: ${order.join(',')}`);
      assert.equal(llm.hits(user.model), 1);
      await socket.close();
    });

    it('closes a socket when its token expires (4001, after a token_expired error frame)', async function () {
      const user = await newUser();
      const shortLived = await tc.token(user.userId, { expiresIn: '2s' });
      const { socket } = await connect(shortLived);
      const expired = await socket.next('error', (f) => f.code === 'token_expired', 10_000);
      assert.match(expired.message, /expired/);
      assert.equal((await socket.closed).code, 4001);
    });

    it('answers ping with pong', async function () {
      const user = await newUser();
      const { socket } = await connect(user.token);
      socket.send({ type: 'ping' });
      await socket.next('pong');
      await socket.close();
    });
  });

  describe('streamed answers', function () {
    it('streams deltas to a socket that asked (Stream header or ?stream=), and stops on session_config', async function () {
      const user = await newUser();
      llm.otherwise(user.model, { pieces: ['Streams ', 'arrive ', 'in ', 'pieces.'], pieceDelayMs: 100 });
      const { socket } = await connect(user.token, {}, { stream: 'true' });
      socket.send({ type: 'message', id: 's-1', text: 'stream please' });
      const result = await socket.next('function_call_result', (f) => f.id === 's-1');
      const deltas = socket.received.filter((f) => f.type === 'delta' && f.id === 's-1');
      assert.ok(deltas.length >= 2, JSON.stringify(socket.received));
      assert.equal(deltas.map((d) => (d.type === 'delta' ? d.text : '')).join(''), result.result);
      const order = socket.received.map((f) => f.type);
      assert.ok(order.indexOf('accepted') < order.indexOf('delta'), 'no delta before its accepted');
      assert.ok(order.lastIndexOf('delta') < order.indexOf('function_call_result'), 'no delta after its result');

      socket.send({ type: 'session_config', stream: false });
      socket.send({ type: 'message', id: 's-2', text: 'now plainly' });
      await socket.next('function_call_result', (f) => f.id === 's-2');
      assert.equal(socket.received.filter((f) => f.type === 'delta' && f.id === 's-2').length, 0);
      assert.equal(socket.received.filter((f) => f.type === 'error').length, 0, 'a stream-only session_config is no error');
      await socket.close();

      const refused = await TestSocket.refusal(url, { token: user.token, query: { stream: 'maybe' } });
      assert.equal(refused.status, 400);
      assert.equal((refused.body as { error: string }).error, 'invalid_stream');
    });
  });

  describe('bad frames', function () {
    it('answers each with an error frame and keeps the socket open', async function () {
      const user = await newUser();
      const { socket } = await connect(user.token);
      socket.send('{not json');
      assert.equal((await socket.next('error')).code, 'invalid_json');
      socket.send({ type: 'shout', id: 'x-1' });
      const unknown = await socket.next('error');
      assert.equal(unknown.code, 'unknown_type');
      assert.equal(unknown.id, 'x-1');
      socket.send({ type: 'message', id: 'x-2' });
      const missing = await socket.next('error');
      assert.equal(missing.code, 'invalid_frame');
      assert.equal(missing.id, 'x-2');
      assert.match(missing.message, /text/);
      socket.send({ type: 'message', id: 'x-3', text: 'hi', extra: 1 });
      socket.send({ type: 'message', id: 'x 4', text: 'bad id' });
      assert.match((await socket.next('error')).message, /^id:/);
      socket.send({ type: 'session_config', default_llm_id: 'three' });
      assert.match((await socket.next('error')).message, /default_llm_id/);
      socket.send({ type: 'message', id: 'x-5', text: 'x'.repeat(tc.ctx.config.WS_MAX_FRAME_BYTES + 1) });
      assert.equal((await socket.next('error')).code, 'frame_too_large');
      socket.send(Buffer.from([1, 2, 3]));
      assert.equal((await socket.next('error')).code, 'binary_not_supported');
      socket.send([1, 2]);
      assert.equal((await socket.next('error')).code, 'invalid_frame');

      // Still open and working.
      socket.send({ type: 'ping' });
      await socket.next('pong');
      await socket.next('function_call_result', (f) => f.id === 'x-3');
      await socket.close();
    });

    it("refuses a session_config naming another user's LLM config", async function () {
      const user = await newUser();
      const other = await newUser('bob');
      const { socket } = await connect(user.token);
      socket.send({ type: 'session_config', default_llm_id: other.config.id });
      const error = await socket.next('error');
      assert.equal(error.code, 'invalid_frame');
      assert.match(error.message, /default_llm_id/);
      await socket.close();
    });

    it('closes a client that keeps sending them with 1008', async function () {
      const user = await newUser();
      const { socket } = await connect(user.token);
      for (let i = 0; i < 10; i++) socket.send('nope');
      const closed = await socket.closed;
      assert.equal(closed.code, 1008);
      assert.ok(socket.received.filter((f) => f.type === 'error').length >= 9);
    });
  });

  describe('resuming', function () {
    it('delivers a result that was produced while the client was away, and ack removes it from the outbox', async function () {
      const user = await newUser();
      const first = await connect(user.token);
      // Answers must wait until the client is gone: stop the session worker first.
      await worker.close();
      first.socket.send({ type: 'message', id: 'away-1', text: 'answer me later' });
      await first.socket.next('accepted', (f) => f.id === 'away-1');
      await first.socket.close();
      worker = await startSessionWorker();

      const second = await TestSocket.open(url, { token: user.token, sessionId: first.sessionId });
      const hello = await second.next('hello');
      assert.equal(hello.session_id, first.sessionId);
      assert.equal(hello.resumed, true);
      const result = await second.next('function_call_result', (f) => f.id === 'away-1');
      assert.equal(result.result, `[${user.model}] answer me later`);
      assert.ok(!first.socket.received.some((f) => f.type === 'function_call_result'));

      assert.ok((await state(user.userId, first.sessionId)).outbox.some((f) => f.id === 'away-1'));
      second.send({ type: 'ack', id: 'away-1' });
      await eventually(async () => assert.deepEqual((await state(user.userId, first.sessionId)).outbox, []));
      await second.close();
    });

    it('refuses messages beyond the waiting budget with session_busy before they reach the session, and answers the rest', async function () {
      const user = await newUser();
      const { socket } = await connect(user.token);
      // Nothing is answered while the worker is away, so the messages pile up.
      await worker.close();
      const text = 'x'.repeat(60_000);
      const ids = Array.from({ length: 10 }, (_, i) => `big-${i}`);
      for (const id of ids) socket.send({ type: 'message', id, text });
      const busy = await socket.next('error', (f) => f.code === 'session_busy');
      const refused = ids.slice(ids.indexOf(busy.id!));
      const accepted = ids.slice(0, ids.indexOf(busy.id!));
      assert.equal(accepted.length, 8, '8 × 60,000 bytes fit in 512 KiB, the 9th does not');
      for (const id of accepted) await socket.next('accepted', (f) => f.id === id);
      worker = await startSessionWorker();
      for (const id of accepted) assert.equal((await socket.next('function_call_result', (f) => f.id === id, 60_000)).status, 'success');
      // With the answers in, a refused message is taken.
      socket.send({ type: 'message', id: refused[0]!, text });
      assert.equal((await socket.next('function_call_result', (f) => f.id === refused[0], 60_000)).status, 'success');
      await socket.close();
    });

    it('redelivers unacked results on every resume until acked', async function () {
      const user = await newUser();
      const first = await connect(user.token);
      first.socket.send({ type: 'message', id: 'unacked-1', text: 'remember me' });
      await first.socket.next('function_call_result', (f) => f.id === 'unacked-1');
      await first.socket.close();
      const second = await connect(user.token, { sessionId: first.sessionId });
      const hello = second.socket.received[0]!;
      assert.ok(hello.type === 'hello' && hello.resumed && hello.configs.some((c) => c.id === user.config.id));
      const again = await second.socket.next('function_call_result', (f) => f.id === 'unacked-1');
      assert.equal(again.result, `[${user.model}] remember me`);
      assert.equal(llm.hits(user.model), 1, 'answered once, delivered twice');
      await second.socket.close();
    });

    it("refuses another user's session exactly like an unknown one", async function () {
      const alice = await newUser();
      const bob = await newUser('bob');
      const { socket, sessionId } = await connect(alice.token);
      const stolen = await TestSocket.refusal(url, { token: bob.token, sessionId });
      const unknown = await TestSocket.refusal(url, { token: bob.token, sessionId: newSessionId() });
      assert.equal(stolen.status, 404);
      assert.deepEqual(stolen, unknown);
      // Alice's session was not touched: still attached to her socket.
      socket.send({ type: 'ping' });
      await socket.next('pong');
      await socket.close();
    });

    it('refuses to resume a session that has ended (410)', async function () {
      const user = await newUser();
      const { socket, sessionId } = await connect(user.token);
      socket.send({ type: 'close' });
      await socket.next('session_closed');
      assert.equal((await socket.closed).code, 1000);
      await eventually(async () => {
        const row = await tc.ctx.db.models.UserSessionConfig.findOne({ where: { session_id: sessionId } });
        assert.equal(row?.status, 'closed');
      });
      const refusal = await TestSocket.refusal(url, { token: user.token, sessionId });
      assert.equal(refusal.status, 410);
      assert.equal((refusal.body as { error: string }).error, 'session_ended');
    });
  });

  it('refuses to resume a session whose workflow is gone, and records that in its row', async function () {
    const user = await newUser();
    const { socket, sessionId } = await connect(user.token);
    await socket.close();
    await tc.ctx.temporal!.client.workflow.getHandle(sessionWorkflowId(user.userId, sessionId)).terminate('test');
    const refusal = await TestSocket.refusal(url, { token: user.token, sessionId });
    assert.equal(refusal.status, 410);
    const row = await tc.ctx.db.models.UserSessionConfig.findOne({ where: { session_id: sessionId } });
    assert.equal(row?.status, 'closed');
  });

  describe('the relay through PostgreSQL, as between separate processes', function () {
    let tcRemote: TestContext;
    let remoteWorker: RunningRole;
    let remoteGateway: RunningRole;

    before(async function () {
      // Its own task queue; the worker reaches this gateway with NOTIFY even though it is in this process.
      tcRemote = await createTestContext({ env: { EGRESS_ALLOW: '127.0.0.0/8' } });
      remoteWorker = await startWorker(tcRemote.ctx, { connection: (await testTemporal()).nativeConnection, relayInProcess: false });
      remoteGateway = await startGateway(tcRemote.ctx, { host: '127.0.0.1', port: 0 });
    });

    after(async function () {
      await remoteGateway?.close();
      await remoteWorker?.close();
      // tcRemote shares the run's database with tc, which closes it.
    });

    it('brings progress and results through NOTIFY, and a result too large for a notification through the outbox', async function () {
      const userId = uniqueId('remote');
      const model = uniqueId('echo');
      await insertLLMConfig(tcRemote.ctx, userId, { model, baseUrl: llm.baseUrl });
      const socket = await TestSocket.open(remoteGateway.urls.websocket!, { token: await tcRemote.token(userId), deviceId: 'far' });
      await socket.next('hello');

      socket.send({ type: 'message', id: 'small-1', text: 'hello over the relay' });
      const small = await socket.next('function_call_result', (f) => f.id === 'small-1');
      assert.equal(small.result, `[${model}] hello over the relay`);
      const stages = socket.received.filter((f) => f.type === 'progress').map((f) => (f.type === 'progress' ? f.stage : ''));
      assert.deepEqual(stages, ['routing', 'executing']);

      const long = 'x'.repeat(12_000);
      socket.send({ type: 'message', id: 'large-1', text: long });
      const large = await socket.next('function_call_result', (f) => f.id === 'large-1');
      assert.equal(large.result, `[${model}] ${long}`);
      const order = socket.received.filter((f) => 'id' in f && f.id === 'large-1').map((f) => f.type);
      assert.equal(order.indexOf('accepted') < order.indexOf('function_call_result'), true, 'accepted comes before the result');
      assert.equal(socket.received.filter((f) => f.type === 'function_call_result' && f.id === 'large-1').length, 1);
      await socket.close();
    });
  });

  it('caps the open sessions of a user: a new one beyond the cap is refused before the upgrade, resuming is not', async function () {
    const tcCapped = await createTestContext({ env: { EGRESS_ALLOW: '127.0.0.0/8', MAX_SESSIONS_PER_USER: '2' } });
    const capped = await startGateway(tcCapped.ctx, { host: '127.0.0.1', port: 0 });
    try {
      const userId = uniqueId('capped');
      const token = await tcCapped.token(userId);
      const cappedUrl = capped.urls.websocket!;
      const first = await TestSocket.open(cappedUrl, { token, deviceId: 'a' });
      const { session_id: firstId } = await first.next('hello');
      const second = await TestSocket.open(cappedUrl, { token, deviceId: 'b' });
      await second.next('hello');
      const third = await TestSocket.refusal(cappedUrl, { token, deviceId: 'c' });
      assert.equal(third.status, 409);
      assert.equal((third.body as { error: string }).error, 'session_limit_reached');
      // Another user is not affected, and an open session can still be resumed.
      const other = await TestSocket.open(cappedUrl, { token: await tcCapped.token(uniqueId('other')), deviceId: 'a' });
      await other.next('hello');
      await first.close();
      const resumed = await TestSocket.open(cappedUrl, { token, sessionId: firstId });
      assert.equal((await resumed.next('hello')).resumed, true);
      await Promise.all([second.close(), other.close(), resumed.close()]);
    } finally {
      await capped.close();
      // tcCapped shares the run's database with tc, which closes it.
    }
  });

  describe('limits and failures', function () {
    let limited: RunningRole;
    let connection: Connection;

    before(async function () {
      // Its own Temporal client connection, so the test can take Temporal away from this gateway only.
      const env = await testTemporal();
      connection = await Connection.connect({ address: env.address });
      const ctx = {
        ...tc.ctx,
        config: Object.freeze({ ...tc.ctx.config, WS_MESSAGES_PER_MINUTE: 3 }),
        temporal: { connection, client: new Client({ connection }) },
      };
      limited = await startGateway(ctx, { host: '127.0.0.1', port: 0 });
    });

    after(async function () {
      await limited?.close();
    });

    it('rate-limits frames per socket with rate_limited errors, and the socket stays open', async function () {
      const user = await newUser();
      const socket = await TestSocket.open(limited.urls.websocket!, { token: user.token });
      await socket.next('hello');
      for (const id of ['r-1', 'r-2', 'r-3', 'r-4']) socket.send({ type: 'ack', id });
      const limitedFrame = await socket.next('error');
      assert.equal(limitedFrame.code, 'rate_limited');
      assert.equal(limitedFrame.id, 'r-4');
      socket.send({ type: 'ping' });
      await socket.next('pong');
      await socket.close();
    });

    it('answers unavailable for a message whose signal fails, never dropping it silently', async function () {
      const user = await newUser();
      const socket = await TestSocket.open(limited.urls.websocket!, { token: user.token });
      await socket.next('hello');
      await connection.close();
      socket.send({ type: 'message', id: 'lost-1', text: 'is anyone there?' });
      const error = await socket.next('error');
      assert.equal(error.code, 'unavailable');
      assert.equal(error.id, 'lost-1');
      assert.ok(!socket.received.some((f) => f.type === 'accepted'));
      socket.send({ type: 'ping' });
      await socket.next('pong');
      await socket.close();
    });
  });

  describe('the chat CLI (scripts/chat.ts)', function () {
    /** Runs the CLI with piped stdin, as `npm run chat` would, with the test context's JWT secret. */
    function runChat(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts', 'chat.ts'), ...args], {
        cwd: projectRoot,
        env: {
          ...process.env,
          JWT_SECRET: tc.ctx.secrets.jwtSecret,
          // Given, so resolveSecrets() generates nothing under DATA_DIR.
          CONFIG_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
          LOG_LEVEL: 'silent',
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.stdin.end(input);
      return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
    }

    it('mints a token for --user, sends piped lines, prints and acks the results', async function () {
      const user = await newUser();
      const run = await runChat(['--user', user.userId, '--url', url, '--device', 'terminal'], 'What time is it in Paris?\n/ping\n');
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /connected: session \S+ \(new\)/);
      assert.ok(run.stdout.includes(user.config.config_name), run.stdout);
      // Streamed by default: the answer as it comes, then which config answered, how and how fast.
      const lines = run.stdout.split('\n');
      const streamed = lines.findIndex((l) => l.includes(`[${user.model}] What time is it in Paris?`));
      assert.ok(streamed >= 0, run.stdout);
      assert.match(lines[streamed]!, new RegExp(`^… ${user.config.config_name}: `));
      assert.match(lines[streamed + 1]!, new RegExp(`^\\[${user.config.config_name} · fallback · \\d+ ms\\] \\(streamed above\\)$`));
      assert.match(run.stdout, /pong/);

      const plain = await runChat(['--user', user.userId, '--url', url, '--no-stream'], 'And in Tokyo?\n');
      assert.equal(plain.code, 0, plain.stderr);
      const line = plain.stdout.split('\n').find((l) => l.includes(`[${user.model}] And in Tokyo?`));
      assert.match(line ?? plain.stdout, new RegExp(`^\\[${user.config.config_name} · fallback · \\d+ ms\\] `));

      // The CLI acked the result: the session's outbox is empty.
      const sessionId = /connected: session (\S+)/.exec(run.stdout)![1]!;
      await eventually(async () => assert.deepEqual((await state(user.userId, sessionId)).outbox, []));
    });

    it("exits non-zero with the gateway's reason when the token is refused", async function () {
      const run = await runChat(['--token', 'not-a-jwt', '--url', url], '');
      assert.equal(run.code, 1);
      assert.match(run.stderr, /401/);
    });
  });

  describe('shutdown', function () {
    it('closes sockets with 1012 (service restart: reconnect and resume) and detaches them from their sessions', async function () {
      const user = await newUser();
      const extra = await startGateway(tc.ctx, { host: '127.0.0.1', port: 0 });
      const socket = await TestSocket.open(extra.urls.websocket!, { token: user.token });
      const hello = await socket.next('hello');
      await eventually(async () => assert.ok((await state(user.userId, hello.session_id)).attached));
      await extra.close();
      assert.equal((await socket.closed).code, 1012);
      await eventually(async () => assert.equal((await state(user.userId, hello.session_id)).attached, null));
      await assert.rejects(TestSocket.open(extra.urls.websocket!, { token: user.token }));
    });
  });
});
