// The real xiaozhi-sdk 0.5.1 (PyPI, pinned in scripts/setup.mjs, installed into the git-ignored
// .tools/venv) against the real API (OTA), gateway (/xiaozhi/v1/), session worker and Temporal,
// with the scripted provider as the user's LLM: provisioning, the activation code spoken to an
// unbound device, binding by code through the REST API, text questions answered as tts sentences,
// a reconnection that resumes the same session, and unbinding (the SDK's next start hears a new
// code). The driver is test/support/xiaozhi_client.py (the SDK's core class, headless: no audio device).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { createApiFromContext, noopNotifier } from '../api/server';
import type { RunningRole } from '../app/context';
import { startGateway } from '../gateway';
import { projectRoot } from '../lib/temporal-cli';
import { deviceSessionId } from '../sessions/session-store';
import { startWorker } from '../worker';
import { createTestContext, insertLLMConfig, uniqueId, type TestContext } from './support/context';
import { startFakeLLM, type FakeLLM } from './support/fake-llm';
import { freePort } from './support/net';
import { testTemporal } from './support/temporal';

const PYTHON = path.join(projectRoot, '.tools', 'venv', 'bin', 'python');
const DRIVER = path.join(projectRoot, 'test', 'support', 'xiaozhi_client.py');

interface DriverEvent {
  event: 'provisioned' | 'answer' | 'waiting' | 'connected' | 'done';
  code?: string;
  question?: string;
  sentences?: string[];
  session_id?: string;
  for_?: string;
}

describe('xiaozhi-sdk 0.5.1 against Switchboard', function () {
  this.timeout(300_000);
  let tc: TestContext;
  let llm: FakeLLM;
  let worker: RunningRole;
  let gateway: RunningRole;
  let api: http.Server;
  let apiUrl: string;
  let child: ChildProcess | undefined;

  async function request(method: string, urlPath: string, user: string, body?: unknown) {
    const response = await fetch(apiUrl + urlPath, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tc.token(user)}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- responses are asserted field by field
    return { status: response.status, body: (await response.json()) as any };
  }

  before(async function () {
    // Installs the pinned SDK into .tools/venv the first time (a stamp makes it instant after).
    const setup = spawnSync(process.execPath, [path.join(projectRoot, 'scripts', 'setup.mjs'), '--tool', 'xiaozhi-sdk'], {
      encoding: 'utf8',
      timeout: 280_000,
    });
    assert.equal(setup.status, 0, `setup --tool xiaozhi-sdk failed:\n${setup.stdout}\n${setup.stderr}`);
    const gatewayPort = await freePort();
    tc = await createTestContext({
      env: {
        EGRESS_ALLOW: '127.0.0.0/8',
        // Suites share the run's rate-limit counters and 127.0.0.1: other suites' activations must not count here.
        DEVICE_ACTIVATIONS_PER_ADDRESS: '100000',
        // The OTA reply names the socket URL from configuration only, never from the request.
        GATEWAY_PUBLIC_URL: `ws://127.0.0.1:${gatewayPort}/ws`,
      },
    });
    llm = await startFakeLLM();
    worker = await startWorker(tc.ctx, { connection: (await testTemporal()).nativeConnection });
    gateway = await startGateway(tc.ctx, { host: '127.0.0.1', port: gatewayPort });
    api = http.createServer(createApiFromContext(tc.ctx, noopNotifier).callback());
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });

  after(async function () {
    child?.kill('SIGKILL');
    await gateway?.close();
    await worker?.close();
    await new Promise<void>((resolve) => (api ? api.close(() => resolve()) : resolve()));
    await llm?.close();
    await tc?.close();
  });

  it('provisions, hears its code, is bound, answers text questions as tts sentences, resumes its session, and is cut off by unbinding', async function () {
    const userId = uniqueId('sdk-user');
    const model = uniqueId('sdk-model');
    await insertLLMConfig(tc.ctx, userId, { model, baseUrl: llm.baseUrl, apiKey: 'sk-test-0123456789abcdef' });
    llm.script(model, { pieces: ['你好！', '我是小智。', 'Nice to ', 'meet you.'], pieceDelayMs: 150 });
    const mac = [...randomBytes(6)].map((b) => b.toString(16).padStart(2, '0')).join(':');

    const events: DriverEvent[] = [];
    const stderr: string[] = [];
    let deviceRowId: number | undefined;
    child = spawn(PYTHON, [DRIVER, `${apiUrl}/xiaozhi/ota/`, mac, 'Who are you?', 'What is 6 times 7?'], {
      cwd: projectRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
    for await (const line of readline.createInterface({ input: child.stdout! })) {
      const event = JSON.parse(line) as DriverEvent;
      events.push(event);
      if (event.event === 'waiting' && event.for_ === 'bound') {
        const code = events.find((e) => e.event === 'provisioned')!.code!;
        const bound = await request('POST', '/api/v1/devices/bind', userId, { code });
        assert.equal(bound.status, 201, JSON.stringify(bound.body));
        deviceRowId = bound.body.data.id;
        child.stdin!.write('bound\n');
      }
      if (event.event === 'waiting' && event.for_ === 'unbound') {
        const unbound = await request('DELETE', `/api/v1/devices/${deviceRowId}`, userId);
        assert.equal(unbound.status, 200);
        child.stdin!.write('unbound\n');
      }
    }
    assert.equal(await exited, 0, `driver failed:\n${stderr.join('')}\nevents: ${JSON.stringify(events)}`);

    const [firstCode, secondCode] = events.filter((e) => e.event === 'provisioned').map((e) => e.code!);
    assert.match(firstCode!, /^\d{6}$/);
    assert.match(secondCode!, /^\d{6}$/);
    const answers = events.filter((e) => e.event === 'answer');
    const spaced = (code: string) => code.split('').join(' ');
    // Unbound: "hi" (the SDK's own) is answered with the code.
    assert.ok(answers[0]!.sentences!.join(' ').includes(spaced(firstCode!)), JSON.stringify(answers[0]));
    // Bound: the user's config answers, sentence by sentence.
    assert.deepEqual(answers[1], {
      event: 'answer',
      question: 'Who are you?',
      sentences: ['你好！', '我是小智。', 'Nice to meet you.'],
      session_id: deviceSessionId(deviceRowId!),
    });
    assert.deepEqual(answers[2]!.sentences, [`[${model}] What is 6 times 7?`]);
    // Reconnected: the same session.
    const connected = events.filter((e) => e.event === 'connected').map((e) => e.session_id);
    assert.deepEqual(connected, [deviceSessionId(deviceRowId!), deviceSessionId(deviceRowId!)]);
    assert.deepEqual(answers[3]!.sentences, [`[${model}] What is 6 times 7?`]);
    assert.equal(answers[3]!.session_id, deviceSessionId(deviceRowId!));
    // Unbound: its token no longer reaches the session; the SDK's next start hears a new code.
    assert.ok(answers[4]!.sentences!.join(' ').includes(spaced(secondCode!)), JSON.stringify(answers[4]));
    assert.match(answers[4]!.session_id!, /^unbound-/);
    assert.equal(events.at(-1)!.event, 'done');
  });
});
