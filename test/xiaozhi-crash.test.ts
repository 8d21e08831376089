// A worker SIGKILLed while a device's answer streams: what the device hears. The session worker
// runs in its own process (test/support/worker-process.ts), so the relay reaches the gateway by
// NOTIFY as in production; a new worker process takes the session over and calls the provider
// again. The sentences already spoken stand, a `tts stop` closes them, and the recorded answer
// follows whole, once (README, "Connecting xiaozhi devices"). Once with a raw socket playing the
// device, once with the real xiaozhi-sdk 0.5.1 (test/support/xiaozhi_crash_client.py).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import WebSocket from 'ws';
import { createApiFromContext, noopNotifier } from '../api/server';
import type { RunningRole } from '../app/context';
import { startGateway } from '../gateway';
import { projectRoot } from '../lib/temporal-cli';
import { createTestContext, insertLLMConfig, uniqueId, type TestContext } from './support/context';
import { runDatabaseUrlOnce } from './support/database';
import { eventually } from './support/eventually';
import { startFakeLLM, type FakeLLM } from './support/fake-llm';
import { freePort } from './support/net';
import { registerSecret } from './support/secret-scan';
import { testTemporal } from './support/temporal';
import { exited, spawnWorkerProcess } from './support/spawn-ready';

const PYTHON = path.join(projectRoot, '.tools', 'venv', 'bin', 'python');
const SDK_DRIVER = path.join(projectRoot, 'test', 'support', 'xiaozhi_crash_client.py');

/** What the device hears of the question: the spoken part closed by a tts stop, then the recorded answer once. */
const HEARD_ACROSS_THE_CRASH = [
  'stt',
  'llm',
  'tts start',
  'tts sentence_start Spoken before the crash.',
  'tts sentence_start This too.',
  'tts stop',
  'llm',
  'tts start',
  'tts sentence_start The recorded answer.',
  'tts sentence_start Said once.',
  'tts stop',
];

/** The first provider call streams two sentences and hangs (the worker dies meanwhile); the next worker's call answers differently, as a provider asked twice may. */
function scriptCrashingAnswer(llm: FakeLLM, model: string): void {
  llm.script(
    model,
    { pieces: ['Spoken before the crash. ', 'This too. ', 'never sent'], pieceDelayMs: 150, stallAfter: 2 },
    { pieces: ['The recorded answer. ', 'Said once.'], pieceDelayMs: 50 },
  );
}

type Frame = Record<string, unknown> & { type: string };

describe('xiaozhi device socket: a worker killed mid-answer', function () {
  this.timeout(180_000);
  let tc: TestContext;
  let llm: FakeLLM;
  let gateway: RunningRole;
  let api: http.Server;
  let apiUrl: string;
  const workers: ChildProcess[] = [];
  let workerEnv: Record<string, string>;

  async function request(
    method: string,
    urlPath: string,
    options: { user?: string; body?: unknown; headers?: Record<string, string> } = {},
  ) {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
    if (options.user) headers.authorization = `Bearer ${await tc.token(options.user)}`;
    const response = await fetch(apiUrl + urlPath, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- responses are asserted field by field
    return { status: response.status, body: (await response.json()) as any };
  }

  before(async function () {
    // No worker in this process: the context's task queue is served by worker processes only.
    const gatewayPort = await freePort();
    tc = await createTestContext({
      env: {
        EGRESS_ALLOW: '127.0.0.0/8',
        DEVICE_ACTIVATIONS_PER_ADDRESS: '100000',
        // The OTA reply names the socket URL from configuration only (the SDK connects where it says).
        GATEWAY_PUBLIC_URL: `ws://127.0.0.1:${gatewayPort}/ws`,
      },
    });
    llm = await startFakeLLM();
    gateway = await startGateway(tc.ctx, { host: '127.0.0.1', port: gatewayPort });
    api = http.createServer(createApiFromContext(tc.ctx, noopNotifier).callback());
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    workerEnv = {
      DATABASE_URL: await runDatabaseUrlOnce(),
      TEMPORAL_ADDRESS: (await testTemporal()).address,
      TEMPORAL_TASK_QUEUE: tc.ctx.config.TEMPORAL_TASK_QUEUE,
      CONFIG_ENCRYPTION_KEY: tc.ctx.secrets.encryptionKeys[0]!.toString('base64'),
      EGRESS_ALLOW: '127.0.0.0/8',
      LOG_LEVEL: 'silent',
      ROUTER_LLM_BASE_URL: '',
      ROUTER_LLM_MODEL: '',
    };
  });

  after(async function () {
    for (const worker of workers) {
      worker.kill('SIGKILL');
      await exited(worker);
    }
    await gateway?.close();
    await new Promise<void>((resolve) => (api ? api.close(() => resolve()) : resolve()));
    await llm?.close();
    await tc?.close();
  });

  it('the spoken sentences stand, a tts stop closes them, and the recorded answer follows once', async function () {
    const userId = uniqueId('xz-crash');
    const model = uniqueId('xz-crash-model');
    await insertLLMConfig(tc.ctx, userId, { model, baseUrl: llm.baseUrl, apiKey: 'sk-test-0123456789abcdef' });
    scriptCrashingAnswer(llm, model);
    const mac = [...randomBytes(6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
    const clientId = randomUUID();
    const ota = await request('POST', '/xiaozhi/ota/', { headers: { 'Device-Id': mac, 'Client-Id': clientId }, body: {} });
    assert.equal(ota.status, 200, JSON.stringify(ota.body));
    registerSecret(ota.body.websocket.token);
    const bound = await request('POST', '/api/v1/devices/bind', { user: userId, body: { code: ota.body.activation.code } });
    assert.equal(bound.status, 201);

    workers.push(await spawnWorkerProcess(workerEnv));
    const url = gateway.urls.websocket!.replace(/\/ws$/, '/xiaozhi/v1/');
    const ws = new WebSocket(url, {
      headers: { Authorization: `Bearer ${ota.body.websocket.token}`, 'Device-Id': mac, 'Client-Id': clientId, 'Protocol-Version': '1' },
    });
    const frames: Frame[] = [];
    ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as Frame));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(JSON.stringify({ type: 'hello', version: 1, transport: 'websocket', features: { mcp: true } }));
    await eventually(() => frames.some((f) => f.type === 'hello'));
    ws.send(JSON.stringify({ type: 'listen', state: 'detect', text: 'Crash while you answer' }));

    const spoken = () => frames.filter((f) => f.type === 'tts' && f.state === 'sentence_start').map((f) => f.text);
    await eventually(() => spoken().length === 2, 60_000);
    const first = workers[0]!;
    first.kill('SIGKILL');
    await exited(first);
    workers.push(await spawnWorkerProcess(workerEnv));

    const stops = () => frames.filter((f) => f.type === 'tts' && f.state === 'stop').length;
    await eventually(() => stops() === 2, 120_000);
    // Nothing more comes for it (a result is written once per socket).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.deepEqual(
      frames
        // Not the hello, nor the gateway's MCP client initialising (gateway/device-tools.ts).
        .filter((f) => f.type !== 'hello' && f.type !== 'mcp')
        .map((f) => (f.type === 'tts' ? `tts ${String(f.state)}${f.text ? ` ${String(f.text)}` : ''}` : f.type)),
      HEARD_ACROSS_THE_CRASH,
    );
    assert.equal(llm.hits(model), 2);
    ws.close();
  });

  it('the same through the real xiaozhi-sdk 0.5.1: it hears the spoken sentences, a tts stop, and the recorded answer once', async function () {
    const setup = spawnSync(process.execPath, [path.join(projectRoot, 'scripts', 'setup.mjs'), '--tool', 'xiaozhi-sdk'], {
      encoding: 'utf8',
      timeout: 170_000,
    });
    assert.equal(setup.status, 0, `setup --tool xiaozhi-sdk failed:\n${setup.stdout}\n${setup.stderr}`);
    // Only this test's workers serve the queue, so the one killed is the one answering.
    for (const worker of workers.splice(0)) {
      worker.kill('SIGKILL');
      await exited(worker);
    }
    const userId = uniqueId('xz-sdk-crash');
    const model = uniqueId('xz-sdk-crash-model');
    await insertLLMConfig(tc.ctx, userId, { model, baseUrl: llm.baseUrl, apiKey: 'sk-test-0123456789abcdef' });
    scriptCrashingAnswer(llm, model);
    const mac = [...randomBytes(6)].map((b) => b.toString(16).padStart(2, '0')).join(':');

    const events: { event: string; code?: string; frames?: string[] }[] = [];
    const stderr: string[] = [];
    const child = spawn(PYTHON, [SDK_DRIVER, `${apiUrl}/xiaozhi/ota/`, mac, 'Crash while you answer'], {
      cwd: projectRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const driverExit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      for await (const line of readline.createInterface({ input: child.stdout! })) {
        const event = JSON.parse(line) as (typeof events)[number];
        events.push(event);
        if (event.event === 'waiting') {
          const bound = await request('POST', '/api/v1/devices/bind', { user: userId, body: { code: event.code ?? events[0]!.code } });
          assert.equal(bound.status, 201, JSON.stringify(bound.body));
          workers.push(await spawnWorkerProcess(workerEnv));
          child.stdin!.write('bound\n');
        }
        if (event.event === 'spoken') {
          const answering = workers.at(-1)!;
          answering.kill('SIGKILL');
          await exited(answering);
          workers.push(await spawnWorkerProcess(workerEnv));
        }
      }
      assert.equal(await driverExit, 0, `driver failed:\n${stderr.join('')}\nevents: ${JSON.stringify(events)}`);
    } finally {
      child.kill('SIGKILL');
    }
    assert.ok(
      events.some((e) => e.event === 'spoken'),
      `the worker was killed mid-answer: ${JSON.stringify(events)}`,
    );
    assert.deepEqual(events.find((e) => e.event === 'heard')?.frames, HEARD_ACROSS_THE_CRASH);
    assert.equal(llm.hits(model), 2);
  });
});
