// Device tools with the real xiaozhi-sdk 0.5.1 (its own MCP side, xiaozhi_sdk/mcp.py): the SDK
// registers `self.light.set_brightness`, the gateway lists it over the device socket, the router
// LLM (scripted) picks it under its mapped name, and the SDK runs it once with the arguments; its
// result is spoken as the answer. The real API (OTA, binding), gateway, worker and Temporal; the
// driver is test/support/xiaozhi_tools_client.py.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { createApiFromContext, noopNotifier } from '../api/server';
import type { RunningRole } from '../app/context';
import { providerToolName } from '../contract';
import { createDeviceToolStore } from '../db';
import { startGateway } from '../gateway';
import { projectRoot } from '../lib/temporal-cli';
import { deviceSessionId } from '../sessions/session-store';
import { startWorker } from '../worker';
import { createTestContext, insertLLMConfig, uniqueId, type TestContext } from './support/context';
import { eventually } from './support/eventually';
import { startFakeLLM, type FakeLLM } from './support/fake-llm';
import { freePort } from './support/net';
import { randomKey } from './support/session-harness';
import { testTemporal } from './support/temporal';

const PYTHON = path.join(projectRoot, '.tools', 'venv', 'bin', 'python');
const DRIVER = path.join(projectRoot, 'test', 'support', 'xiaozhi_tools_client.py');
const ROUTER = 'sdk-tools-router';

interface DriverEvent {
  event: 'provisioned' | 'waiting' | 'connected' | 'tool_called' | 'answer' | 'done';
  code?: string;
  for_?: string;
  session_id?: string;
  arguments?: Record<string, unknown>;
  question?: string;
  sentences?: string[];
}

describe('xiaozhi-sdk 0.5.1 device tools', function () {
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
    const setup = spawnSync(process.execPath, [path.join(projectRoot, 'scripts', 'setup.mjs'), '--tool', 'xiaozhi-sdk'], {
      encoding: 'utf8',
      timeout: 280_000,
    });
    assert.equal(setup.status, 0, `setup --tool xiaozhi-sdk failed:\n${setup.stdout}\n${setup.stderr}`);
    const gatewayPort = await freePort();
    llm = await startFakeLLM();
    tc = await createTestContext({
      env: {
        EGRESS_ALLOW: '127.0.0.0/8',
        DEVICE_ACTIVATIONS_PER_ADDRESS: '100000',
        GATEWAY_PUBLIC_URL: `ws://127.0.0.1:${gatewayPort}/ws`,
        ROUTER_LLM_BASE_URL: llm.baseUrl,
        ROUTER_LLM_MODEL: ROUTER,
        ROUTER_LLM_API_KEY: randomKey(),
        TEMPORAL_TASK_QUEUE: uniqueId('sdk-tools'),
      },
    });
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

  it('the router picks the SDK’s tool by its mapped name; the SDK runs it once and its result is spoken', async function () {
    const userId = uniqueId('sdk-tools-user');
    await insertLLMConfig(tc.ctx, userId, { model: uniqueId('sdk-model'), baseUrl: llm.baseUrl, apiKey: 'sk-test-0123456789abcdef' });
    const mapped = providerToolName('self.light.set_brightness');
    llm.script(ROUTER, { toolCall: mapped, arguments: { brightness: 30 } });
    const mac = [...randomBytes(6)].map((b) => b.toString(16).padStart(2, '0')).join(':');

    const events: DriverEvent[] = [];
    const stderr: string[] = [];
    let rowId: number | undefined;
    child = spawn(PYTHON, [DRIVER, `${apiUrl}/xiaozhi/ota/`, mac, 'Dim the light to 30'], {
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
        rowId = bound.body.data.id;
        child.stdin!.write('bound\n');
      }
      if (event.event === 'waiting' && event.for_ === 'listed') {
        const store = createDeviceToolStore(tc.ctx.db.sequelize);
        await eventually(async () => (await store.loadTools(userId, deviceSessionId(rowId!))).length === 1 || false);
        child.stdin!.write('listed\n');
      }
    }
    assert.equal(await exited, 0, `driver failed:\n${stderr.join('')}\nevents: ${JSON.stringify(events)}`);

    const offered =
      llm
        .requests(ROUTER)
        .at(-1)
        ?.body.tools?.map((t) => t.function.name) ?? [];
    assert.ok(offered.includes(mapped), `offered: ${offered.join(', ')}`);
    assert.deepEqual(
      events.filter((e) => e.event === 'tool_called').map((e) => e.arguments),
      [{ brightness: 30 }],
    );
    const answer = events.find((e) => e.event === 'answer' && e.question === 'Dim the light to 30');
    assert.match((answer?.sentences ?? []).join(' '), /"brightness": 30/);
    assert.equal(events.at(-1)!.event, 'done');
  });
});
