// The xiaozhi device socket (/xiaozhi/v1/ on the gateway, issue 16) at the protocol level: real
// sockets (ws) against startGateway, the real session worker on the shared Temporal dev server,
// the real API (OTA, bind, unbind) on the run's PostgreSQL, and the scripted provider.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { createApiFromContext, noopNotifier } from '../api/server';
import type { RunningRole } from '../app/context';
import { deviceIdSearchAttribute, sessionWorkflowId, stateQuery } from '../contract';
import { AUDIO_FRAMES_PER_MINUTE, startGateway } from '../gateway';
import { splitSentences, XiaozhiProtocol } from '../gateway/xiaozhi-protocol';
import { deviceSessionId } from '../sessions/session-store';
import { startWorker } from '../worker';
import { createTestContext, insertLLMConfig, uniqueId, type TestContext } from './support/context';
import { eventually } from './support/eventually';
import { startFakeLLM, type FakeLLM } from './support/fake-llm';
import { recordResponse, registerSecret } from './support/secret-scan';
import { testTemporal } from './support/temporal';

type Frame = Record<string, unknown> & { type: string };

interface Device {
  mac: string;
  clientId: string;
  token: string;
  code: string;
}

/** A device's socket: every text frame it got, in order, with when it came. */
class DeviceSocket {
  readonly frames: { frame: Frame; at: number }[] = [];
  private read = 0;
  private readonly waiters = new Set<() => void>();
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      recordResponse(text);
      this.frames.push({ frame: JSON.parse(text) as Frame, at: Date.now() });
      for (const waiter of this.waiters) waiter();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static open(url: string, headers: Record<string, string>): Promise<DeviceSocket> {
    const ws = new WebSocket(url, { headers });
    const socket = new DeviceSocket(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(socket));
      ws.once('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          reject(Object.assign(new Error('refused'), { status: res.statusCode, body: Buffer.concat(chunks).toString() })),
        );
      });
      ws.once('error', reject);
    });
  }

  send(frame: unknown): void {
    this.ws.send(Buffer.isBuffer(frame) ? frame : JSON.stringify(frame), { binary: Buffer.isBuffer(frame) });
  }

  /** The next unread frame matching `where` (frames before it are passed over and stay read). */
  next(where: (frame: Frame) => boolean, ms = 30_000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        for (; this.read < this.frames.length;) {
          const { frame } = this.frames[this.read++]!;
          if (where(frame)) {
            this.waiters.delete(waiter);
            clearTimeout(timer);
            resolve(frame);
            return true;
          }
        }
        return false;
      };
      const waiter = (): void => void check();
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no matching frame within ${ms} ms; got ${JSON.stringify(this.frames.map((f) => f.frame))}`));
      }, ms);
      this.waiters.add(waiter);
      check();
    });
  }

  /** The frames of one whole answer, from the next `tts stop` back to the position before it. */
  async answer(ms = 30_000): Promise<Frame[]> {
    const from = this.read;
    await this.next((f) => f.type === 'tts' && f.state === 'stop', ms);
    return this.frames.slice(from, this.read).map((f) => f.frame);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    await this.closed;
  }
}

const sentences = (frames: Frame[]) => frames.filter((f) => f.type === 'tts' && f.state === 'sentence_start').map((f) => f.text);
const hello = {
  type: 'hello',
  version: 1,
  features: { mcp: true },
  transport: 'websocket',
  audio_params: { format: 'opus', sample_rate: 16000, channels: 1, frame_duration: 60 },
};

describe('xiaozhi device socket (/xiaozhi/v1/)', function () {
  this.timeout(120_000);
  let tc: TestContext;
  let llm: FakeLLM;
  let worker: RunningRole;
  let gateway: RunningRole;
  let api: http.Server;
  let apiUrl: string;
  let deviceUrl: string;
  /** A second gateway (its own instance and LISTEN), with room for one unbound device socket. */
  let tc2: TestContext;
  let gateway2: RunningRole;
  let deviceUrl2: string;
  /** What the second gateway's MCP hook heard (the seam device-side MCP plugs into). */
  const mcpHeard: { event: string; sessionId: string; value: unknown }[] = [];

  async function request(method: string, path: string, options: { user?: string; body?: unknown; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
    if (options.user) headers.authorization = `Bearer ${await tc.token(options.user)}`;
    const response = await fetch(apiUrl + path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- responses are asserted field by field
    return { status: response.status, body: (await response.json()) as any };
  }

  /** A device provisioned through the OTA URL, as the firmware does it. */
  async function provision(): Promise<Device> {
    const mac = [...randomBytes(6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
    const clientId = randomUUID();
    const ota = await request('POST', '/xiaozhi/ota/', {
      headers: { 'Device-Id': mac, 'Client-Id': clientId },
      body: { application: { version: '1.0.0' }, board: { type: 'test-board' } },
    });
    assert.equal(ota.status, 200, JSON.stringify(ota.body));
    assert.equal(ota.body.websocket.url.endsWith('/xiaozhi/v1/'), true);
    // Device tokens are secrets: the run's scan looks for them in every history, log line and frame.
    registerSecret(ota.body.websocket.token);
    return { mac, clientId, token: ota.body.websocket.token, code: ota.body.activation.code };
  }

  /** A user with an LLM config answered by the fake, and a device bound to them. */
  async function boundDevice(): Promise<{ device: Device; userId: string; model: string; rowId: number }> {
    const userId = uniqueId('xz-user');
    const model = uniqueId('xz-model');
    await insertLLMConfig(tc.ctx, userId, { model, baseUrl: llm.baseUrl, apiKey: 'sk-test-0123456789abcdef' });
    const device = await provision();
    const bound = await request('POST', '/api/v1/devices/bind', { user: userId, body: { code: device.code } });
    assert.equal(bound.status, 201, JSON.stringify(bound.body));
    return { device, userId, model, rowId: bound.body.data.id };
  }

  const headersOf = (device: Device, extra: Record<string, string> = {}) => ({
    Authorization: `Bearer ${device.token}`,
    'Protocol-Version': '1',
    'Device-Id': device.mac,
    'Client-Id': device.clientId,
    ...extra,
  });

  async function connect(device: Device, url = deviceUrl): Promise<{ socket: DeviceSocket; sessionId: string }> {
    const socket = await DeviceSocket.open(url, headersOf(device));
    socket.send(hello);
    const answer = await socket.next((f) => f.type === 'hello', 10_000);
    return { socket, sessionId: answer.session_id as string };
  }

  async function refusal(headers: Record<string, string>, url = deviceUrl): Promise<{ status: number; body: string }> {
    try {
      const socket = await DeviceSocket.open(url, headers);
      await socket.close();
    } catch (error) {
      const { status, body } = error as { status?: number; body?: string };
      if (status !== undefined) return { status, body: body ?? '' };
      throw error;
    }
    throw new Error('the gateway accepted a socket it should have refused');
  }

  before(async function () {
    tc = await createTestContext({
      // A provider that stalls mid-stream fails after 2 s of silence (and is tried again).
      env: { EGRESS_ALLOW: '127.0.0.0/8', DEVICE_ACTIVATIONS_PER_ADDRESS: '100000', UPSTREAM_GAP_TIMEOUT: '2s' },
    });
    llm = await startFakeLLM();
    worker = await startWorker(tc.ctx, { connection: (await testTemporal()).nativeConnection });
    gateway = await startGateway(tc.ctx, { host: '127.0.0.1', port: 0 });
    deviceUrl = gateway.urls.websocket!.replace(/\/ws$/, '/xiaozhi/v1/');
    tc2 = await createTestContext({ env: { MAX_UNBOUND_DEVICE_SOCKETS: '1', TEMPORAL_TASK_QUEUE: tc.ctx.config.TEMPORAL_TASK_QUEUE } });
    gateway2 = await startGateway(tc2.ctx, {
      host: '127.0.0.1',
      port: 0,
      deviceMcp: {
        onHello(features, connection) {
          mcpHeard.push({ event: 'hello', sessionId: connection.sessionId, value: features });
          if (features.mcp) connection.sendMcp({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} });
        },
        onMcpPayload(payload, connection) {
          mcpHeard.push({ event: 'payload', sessionId: connection.sessionId, value: payload });
        },
        onClose(connection) {
          mcpHeard.push({ event: 'close', sessionId: connection.sessionId, value: null });
        },
      },
    });
    deviceUrl2 = gateway2.urls.websocket!.replace(/\/ws$/, '/xiaozhi/v1/');
    api = http.createServer(createApiFromContext(tc.ctx, noopNotifier).callback());
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });

  after(async function () {
    await gateway2?.close();
    await tc2?.close();
    await gateway?.close();
    await worker?.close();
    await new Promise<void>((resolve) => (api ? api.close(() => resolve()) : resolve()));
    await llm?.close();
    await tc?.close();
  });

  it('cuts answers into sentences at Chinese and Latin punctuation, not inside numbers', function () {
    assert.deepEqual(splitSentences('你好。今天天气很好！Pi is 3.14. Really? Yes', false), {
      sentences: ['你好。', '今天天气很好！', 'Pi is 3.14.', 'Really?'],
      consumed: '你好。今天天气很好！Pi is 3.14. Really?'.length,
    });
    assert.deepEqual(splitSentences('Yes', true).sentences, ['Yes']);
  });

  it('continues a restarted answer that repeats what was spoken, without saying it twice', function () {
    const protocol = new XiaozhiProtocol({ sessionId: 'device-1' });
    const said = (frames: string[]) =>
      frames
        .map((text) => JSON.parse(text) as Frame)
        .map((f) => (f.type === 'tts' ? `${String(f.state)} ${String(f.text ?? '')}`.trim() : f.type));
    const delta = (text: string, offset: number) => said(protocol.render({ type: 'delta', id: 'q1', text, offset, config_id: 1 }));
    assert.deepEqual(delta('One. Two', 0), ['llm', 'start', 'sentence_start One.']);
    assert.deepEqual(delta('One. Tw', 0), []);
    assert.deepEqual(delta('o. Three.', 7), []);
    const result = protocol.render({
      type: 'function_call_result',
      id: 'q1',
      config_id: 1,
      config_name: 'c',
      result: 'One. Two. Three.',
      execute_time: 1,
      status: 'success',
    });
    assert.deepEqual(said(result), ['sentence_start Two.', 'sentence_start Three.', 'stop']);
  });

  it('refuses a missing or unknown token, another device’s headers and a bad Protocol-Version before the upgrade', async function () {
    const device = await provision();
    const missing = await refusal({ 'Device-Id': device.mac, 'Client-Id': device.clientId });
    assert.equal(missing.status, 401);
    assert.match(missing.body, /Missing device token/);
    assert.equal((await refusal(headersOf({ ...device, token: 'sbd_' + randomBytes(32).toString('base64url') }))).status, 401);
    assert.equal((await refusal(headersOf({ ...device, mac: '00:11:22:33:44:55' }))).status, 401);
    const noClient = await refusal({ Authorization: `Bearer ${device.token}`, 'Device-Id': device.mac });
    assert.equal(noClient.status, 400);
    assert.match(noClient.body, /Client-Id/);
    assert.equal((await refusal(headersOf(device, { 'Protocol-Version': '9' }))).status, 400);
    // The query-parameter spelling some clients use is accepted.
    const query = new URL(deviceUrl);
    query.searchParams.set('authorization', `Bearer ${device.token}`);
    query.searchParams.set('device-id', device.mac);
    query.searchParams.set('client-id', device.clientId);
    const socket = await DeviceSocket.open(query.toString(), {});
    socket.send(hello);
    await socket.next((f) => f.type === 'hello');
    await socket.close();
  });

  it('answers a bad hello and text before hello with an error and keeps the socket; then greets with audio_params', async function () {
    const device = await provision();
    const socket = await DeviceSocket.open(deviceUrl, headersOf(device));
    socket.send({ type: 'listen', state: 'detect', text: 'too early' });
    const early = await socket.next((f) => f.type === 'error');
    assert.match(String(early.message), /hello first/);
    socket.send({ type: 'hello', transport: 'mqtt' });
    const bad = await socket.next((f) => f.type === 'error');
    assert.match(String(bad.message), /Bad hello: transport/);
    assert.equal(socket.ws.readyState, WebSocket.OPEN);
    socket.send(hello);
    const greeting = await socket.next((f) => f.type === 'hello');
    assert.equal(greeting.transport, 'websocket');
    assert.deepEqual(greeting.audio_params, { format: 'opus', sample_rate: 24000, channels: 1, frame_duration: 60 });
    assert.match(String(greeting.session_id), /^unbound-/);
    await socket.close();
  });

  it('closes a socket whose device never says hello (1008) after 10 s', async function () {
    const device = await provision();
    const socket = await DeviceSocket.open(deviceUrl, headersOf(device));
    const started = Date.now();
    const closed = await socket.closed;
    assert.equal(closed.code, 1008);
    assert.ok(Date.now() - started >= 9_000);
    assert.match(String(socket.frames.at(-1)?.frame.message), /No hello within 10 s/);
  });

  it('tells an unbound device its activation code as speech, whatever it asks', async function () {
    const device = await provision();
    const { socket, sessionId } = await connect(device);
    socket.send({ session_id: sessionId, type: 'listen', state: 'detect', text: '你好小智' });
    const frames = await socket.answer();
    assert.deepEqual(
      frames.map((f) => (f.type === 'tts' ? `tts ${String(f.state)}` : f.type)),
      ['stt', 'llm', 'tts start', 'tts sentence_start', 'tts sentence_start', 'tts stop'],
    );
    assert.equal(frames[0]!.text, '你好小智');
    assert.ok(frames.every((f) => f.session_id === sessionId));
    assert.deepEqual(sentences(frames), [
      'This device is not bound yet.',
      `In Switchboard, open Devices and bind it with the code ${device.code.split('').join(' ')}.`,
    ]);
    await socket.close();
  });

  it('answers a bound device’s question as stt, llm, tts start, sentences streamed as they come, tts stop', async function () {
    const { device, userId, model, rowId } = await boundDevice();
    const { socket, sessionId } = await connect(device);
    assert.equal(sessionId, deviceSessionId(rowId));
    const description = await tc.ctx.temporal!.client.workflow.getHandle(sessionWorkflowId(userId, sessionId)).describe();
    assert.equal(description.typedSearchAttributes.get(deviceIdSearchAttribute), device.mac);

    const pieceDelayMs = 400;
    llm.script(model, { pieces: ['Hello there. ', 'How are ', 'you today? ', '我很好。', 'Bye'], pieceDelayMs });
    socket.send({ session_id: sessionId, type: 'listen', state: 'detect', text: 'How are you?' });
    const frames = await socket.answer();
    assert.deepEqual(
      frames.map((f) => (f.type === 'tts' ? `tts ${String(f.state)}` : f.type)),
      ['stt', 'llm', 'tts start', 'tts sentence_start', 'tts sentence_start', 'tts sentence_start', 'tts sentence_start', 'tts stop'],
    );
    assert.deepEqual(sentences(frames), ['Hello there.', 'How are you today?', '我很好。', 'Bye']);
    assert.equal(frames[0]!.text, 'How are you?');
    assert.equal(frames[1]!.emotion, 'neutral');
    // The first sentence was spoken while the provider still had pieces to send (each pieceDelayMs apart).
    const at = (text: string) => socket.frames.find((f) => f.frame.text === text)!.at;
    const stopAt = socket.frames.filter((f) => f.frame.type === 'tts' && f.frame.state === 'stop').at(-1)!.at;
    assert.ok(stopAt - at('Hello there.') >= 2 * pieceDelayMs, `first sentence ${stopAt - at('Hello there.')} ms before the end`);
    // Written is acked: the outbox empties without an ack frame from the device.
    await eventually(async () => {
      const state = await tc.ctx.temporal!.client.workflow.getHandle(sessionWorkflowId(userId, sessionId)).query(stateQuery);
      assert.equal(state.outbox.length, 0);
    });
    await socket.close();
  });

  it('resumes the same session on reconnect and speaks an answer made while the device was away', async function () {
    const { device, model } = await boundDevice();
    const first = await connect(device);
    llm.script(model, { echo: true, delayMs: 1_200 });
    first.socket.send({ type: 'listen', state: 'detect', text: 'Answer me later.' });
    await first.socket.next((f) => f.type === 'stt');
    await first.socket.close();
    await llm.waitForHits(model, 1);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const second = await connect(device);
    assert.equal(second.sessionId, first.sessionId);
    const frames = await second.socket.answer();
    assert.deepEqual(sentences(frames), [`[${model}] Answer me later.`]);
    await second.socket.close();
  });

  it('starts a device session that has ended again under the same id on the next connection', async function () {
    const { device, userId, model } = await boundDevice();
    const first = await connect(device);
    await first.socket.close();
    const closed = await request('DELETE', `/api/v1/sessions/${first.sessionId}`, { user: userId });
    assert.equal(closed.status, 200, JSON.stringify(closed.body));
    const handle = tc.ctx.temporal!.client.workflow.getHandle(sessionWorkflowId(userId, first.sessionId));
    await eventually(async () => assert.equal((await handle.describe()).status.name, 'COMPLETED'));
    const firstRun = (await handle.describe()).runId;
    const second = await connect(device);
    assert.equal(second.sessionId, first.sessionId);
    assert.notEqual((await handle.describe()).runId, firstRun);
    const row = await request('GET', `/api/v1/sessions/${first.sessionId}`, { user: userId });
    assert.equal(row.body.data.status, 'active');
    second.socket.send({ type: 'listen', state: 'detect', text: 'Back again' });
    assert.deepEqual(sentences(await second.socket.answer()), [`[${model}] Back again`]);
    await second.socket.close();
  });

  it('after a retry restarted the stream, the sentences spoken stand and the recorded answer follows after a tts stop', async function () {
    const { device, model } = await boundDevice();
    const { socket } = await connect(device);
    // The first attempt streams two sentences and stalls (the gap timeout fails it); the retry says something else.
    llm.script(
      model,
      { pieces: ['First sentence here. ', 'Second one. ', 'never sent'], pieceDelayMs: 150, stallAfter: 2 },
      { pieces: ['A different answer. ', 'All of it.'], pieceDelayMs: 50 },
    );
    socket.send({ type: 'listen', state: 'detect', text: 'Tell me' });
    await socket.next((f) => f.type === 'tts' && f.state === 'stop');
    await socket.next((f) => f.type === 'tts' && f.state === 'stop');
    assert.deepEqual(
      socket.frames
        .map(({ frame: f }) => (f.type === 'tts' ? `tts ${String(f.state)}${f.text ? ` ${String(f.text)}` : ''}` : f.type))
        .slice(1),
      [
        'stt',
        'llm',
        'tts start',
        'tts sentence_start First sentence here.',
        'tts sentence_start Second one.',
        'tts stop',
        'llm',
        'tts start',
        'tts sentence_start A different answer.',
        'tts sentence_start All of it.',
        'tts stop',
      ],
    );
    assert.equal(llm.hits(model), 2);
    await socket.close();
  });

  it('gives the device session the device’s settings: a PATCH reaches the running session', async function () {
    const { device, userId, model, rowId } = await boundDevice();
    const other = await insertLLMConfig(tc.ctx, userId, {
      model: uniqueId('xz-other'),
      baseUrl: llm.baseUrl,
      apiKey: 'sk-test-0123456789abcdef',
    });
    const { socket, sessionId } = await connect(device);
    socket.send({ type: 'listen', state: 'detect', text: 'Who answers?' });
    const before = sentences(await socket.answer());
    assert.ok(before[0] === `[${model}] Who answers?` || before[0] === `[${other.model_name}] Who answers?`, JSON.stringify(before));
    const patched = await request('PATCH', `/api/v1/devices/${rowId}`, {
      user: userId,
      body: { default_llm_id: other.id, enabled_functions: [] },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    await eventually(async () => {
      const state = await tc.ctx.temporal!.client.workflow.getHandle(sessionWorkflowId(userId, sessionId)).query(stateQuery);
      assert.equal(state.settings.default_llm_id, other.id);
      assert.deepEqual(state.settings.enabled_functions, []);
    });
    socket.send({ type: 'listen', state: 'detect', text: 'Who answers now?' });
    assert.deepEqual(sentences(await socket.answer()), [`[${other.model_name}] Who answers now?`]);
    await socket.close();
  });

  it('stops speaking on abort: tts stop, and no further sentence of that answer', async function () {
    const { device, model } = await boundDevice();
    const { socket } = await connect(device);
    llm.script(model, { pieces: ['One. ', 'Two. ', 'Three. ', 'Four. ', 'Five.'], pieceDelayMs: 400 });
    socket.send({ type: 'listen', state: 'detect', text: 'Count' });
    await socket.next((f) => f.type === 'tts' && f.state === 'sentence_start');
    socket.send({ type: 'abort', reason: 'wake_word_detected' });
    await socket.next((f) => f.type === 'tts' && f.state === 'stop');
    const spoken = sentences(socket.frames.map((f) => f.frame)).length;
    assert.ok(spoken < 5);
    // Wait past the provider's end: nothing more of that answer comes.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    assert.equal(sentences(socket.frames.map((f) => f.frame)).length, spoken);
    // The next question is answered as usual.
    socket.send({ type: 'listen', state: 'detect', text: 'Again' });
    assert.deepEqual(sentences(await socket.answer()), [`[${model}] Again`]);
    await socket.close();
  });

  it('drops audio frames unread within their own budget; beyond it rate_limited, and the socket stays open', async function () {
    const { device, model } = await boundDevice();
    const { socket } = await connect(device);
    const opus = randomBytes(120);
    for (let i = 0; i < AUDIO_FRAMES_PER_MINUTE + 3; i++) socket.send(opus);
    const limited = await socket.next((f) => f.type === 'error');
    assert.equal(limited.code, 'rate_limited');
    assert.match(String(limited.message), /audio frames a minute/);
    assert.equal(socket.ws.readyState, WebSocket.OPEN);
    // Text frames have their own limit: a question is still answered.
    socket.send({ type: 'listen', state: 'detect', text: 'Still there?' });
    assert.deepEqual(sentences(await socket.answer()), [`[${model}] Still there?`]);
    assert.equal(socket.frames.filter((f) => f.frame.type === 'error').length, 3);
    await socket.close();
  });

  it('hands device-side MCP to the gateway’s hook: hello features, every mcp payload, close; sendMcp writes an mcp frame', async function () {
    const { device } = await boundDevice();
    const { socket, sessionId } = await connect(device, deviceUrl2);
    const initialize = await socket.next((f) => f.type === 'mcp');
    assert.deepEqual(initialize, {
      type: 'mcp',
      payload: { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} },
      session_id: sessionId,
    });
    const reply = { jsonrpc: '2.0', id: 1, result: { protocolVersion: '2024-11-05', serverInfo: { name: 'device' } } };
    socket.send({ session_id: sessionId, type: 'mcp', payload: reply });
    socket.send({ session_id: sessionId, type: 'mcp' });
    const invalid = await socket.next((f) => f.type === 'error');
    assert.match(String(invalid.message), /payload: required/);
    await socket.close();
    await eventually(() => mcpHeard.some((h) => h.event === 'close' && h.sessionId === sessionId));
    assert.deepEqual(
      mcpHeard.filter((h) => h.sessionId === sessionId),
      [
        { event: 'hello', sessionId, value: { mcp: true } },
        { event: 'payload', sessionId, value: reply },
        { event: 'close', sessionId, value: null },
      ],
    );
  });

  it('caps unbound device sockets over all gateways (MAX_UNBOUND_DEVICE_SOCKETS): 503 beyond', async function () {
    // Sockets of earlier tests may still be clearing their rows: the first socket waits for room.
    const first = await eventually(async () => connect(await provision(), deviceUrl2));
    const refused = await refusal(headersOf(await provision()), deviceUrl2);
    assert.equal(refused.status, 503);
    assert.match(refused.body, /unbound_devices_full/);
    await first.socket.close();
    await eventually(async () => (await connect(await provision(), deviceUrl2)).socket.close());
  });

  it('shows the device online while its socket is open; unbinding closes the socket at once, on another gateway too, and refuses the token', async function () {
    const { device, userId, rowId } = await boundDevice();
    // Held by the second gateway: the API reaches it only through the notification.
    const { socket, sessionId } = await connect(device, deviceUrl2);
    await eventually(async () => {
      const list = await request('GET', '/api/v1/devices', { user: userId });
      assert.equal(list.body.data[0].online, true);
    });
    const unbound = await request('DELETE', `/api/v1/devices/${rowId}`, { user: userId });
    assert.equal(unbound.status, 200);
    const closed = await socket.closed;
    assert.equal(closed.code, 4003);
    assert.equal((await refusal(headersOf(device))).status, 401);
    const list = await request('GET', '/api/v1/devices', { user: userId });
    assert.deepEqual(list.body.data, []);
    await eventually(async () => {
      const description = await tc.ctx.temporal!.client.workflow.getHandle(sessionWorkflowId(userId, sessionId)).describe();
      assert.equal(description.status.name, 'COMPLETED');
    });
  });
});
