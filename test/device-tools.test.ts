// Device tools (issue 16): a device's MCP tools listed over its socket (paged, bounded), offered to
// routing under their mapped names beside the user's configs, and called on the device exactly
// once per message: checked against the tool's inputSchema first, failed after the timeout or
// when the device is gone, and never sent twice, not even when the worker is SIGKILLed after
// `tools/call` reached the device. The real session worker, Temporal dev server and PostgreSQL; a
// stand-in gateway (the relay subscription and a raw `ws` server wired to gateway/device-tools.ts)
// and a scripted device (test/support/mcp-device.ts) over a real socket.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { defaultDataConverter } from '@temporalio/common';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  attachSignal,
  closeSignal,
  detachSignal,
  deviceNotConnectedText,
  deviceToolTimeoutText,
  providerToolName,
  relayAddressFor,
  sessionWorkflowId,
  transcriptQuery,
  type AuditEntry,
  type DeviceTool,
  type ResultFrame,
  type SessionTuning,
} from '../contract';
import { createDeviceToolStore } from '../db';
import { DeviceTools, visionUrl } from '../gateway/device-tools';
import { offerDeviceTools } from '../llm/router';
import { subscribeRelay, type RelaySubscription } from '../relay';
import { routeWithoutRouter } from '../routing';
import { auditRunEvents } from '../sessions/session-audit';
import { uniqueId } from './support/context';
import { runDatabaseUrlOnce } from './support/database';
import { eventually } from './support/eventually';
import { HISTORY_FIXTURES_DIR, replayFailures, writeHistoryFixtures } from './support/histories';
import { connectMcpDevice, type DeviceToolSpec, type McpDevice } from './support/mcp-device';
import { exited, spawnWorkerProcess } from './support/spawn-ready';
import {
  FrameRecorder,
  labelledRuns,
  randomKey,
  ROUTER_MODEL,
  startSessionHarness,
  type SessionHarness,
  type TestSession,
} from './support/session-harness';

const BRIGHTNESS = 'self.light.set_brightness';
const TOOLS: DeviceToolSpec[] = [
  {
    name: BRIGHTNESS,
    description: 'Set the brightness of the light',
    inputSchema: { type: 'object', properties: { brightness: { type: 'integer', minimum: 0, maximum: 100 } }, required: ['brightness'] },
  },
  {
    name: 'self.audio_speaker.set_volume',
    description: 'Set the speaker volume',
    inputSchema: { type: 'object', properties: { volume: { type: 'integer', minimum: 0, maximum: 100 } }, required: ['volume'] },
  },
  {
    name: 'self.get_device_status',
    description: 'The device status: battery, volume, screen',
    inputSchema: { type: 'object', properties: {} },
  },
  // Unusable: a name providers and MCP refuse, and a schema over DEVICE_TOOL_BOUNDS.schemaBytes.
  { name: 'bad name!', description: 'refused', inputSchema: { type: 'object' } },
  { name: 'self.huge', description: 'too large', inputSchema: { type: 'object', description: 'x'.repeat(9_000) } },
];
const MAPPED = providerToolName(BRIGHTNESS);

/** The stand-in gateway: the relay (device tool calls to gateway/device-tools.ts, the rest recorded) and a device socket server. */
interface DeviceGateway {
  recorder: FrameRecorder;
  deviceTools: DeviceTools;
  url: string;
  listed(connectionId: string): Promise<DeviceTool[]>;
  close(): Promise<void>;
}

async function startDeviceGateway(h: SessionHarness): Promise<DeviceGateway> {
  const recorder = new FrameRecorder();
  const deviceTools = new DeviceTools({
    db: h.ctx.db,
    client: h.ctx.temporal!.client,
    instanceId: recorder.instanceId,
    logger: h.ctx.logger,
    vision: { url: visionUrl(h.ctx.config), token: 'unsupported' },
  });
  const subscription: RelaySubscription = await subscribeRelay(
    h.ctx.db,
    recorder.instanceId,
    (connectionId, delivery) => {
      const rest = deviceTools.take(connectionId, delivery);
      if (rest) recorder.receive(connectionId, rest);
    },
    { logger: h.ctx.logger },
  );
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss.once('listening', resolve));
  const listings = new Map<string, Promise<DeviceTool[]>>();
  wss.on('connection', (ws: WebSocket, req) => {
    const query = new URL(req.url ?? '/', 'http://device').searchParams;
    const [connectionId, userId, sessionId] = ['connection', 'user', 'session'].map((k) => query.get(k) ?? '');
    const client = deviceTools.attach(connectionId, {
      userId,
      sessionId,
      workflowId: sessionWorkflowId(userId, sessionId),
      send: (payload) => ws.send(JSON.stringify({ type: 'mcp', payload })),
      vision: { url: visionUrl(h.ctx.config), token: 'unsupported' },
      logger: h.ctx.logger,
    });
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type?: string; payload?: unknown };
      if (frame.type === 'mcp') client.onDevicePayload(frame.payload);
    });
    ws.on('close', () => deviceTools.detach(connectionId));
    listings.set(connectionId, client.start());
  });
  const { port } = wss.address() as { port: number };
  return {
    recorder,
    deviceTools,
    url: `ws://127.0.0.1:${port}/xiaozhi/v1/`,
    listed: (connectionId) => eventually(() => listings.get(connectionId) ?? false).then((p) => p),
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((resolve) => wss.close(resolve));
      await subscription.close();
    },
  };
}

interface DeviceSession {
  s: TestSession;
  device: McpDevice;
  connectionId: string;
  ask(text: string): Promise<ResultFrame>;
}

async function auditOf(h: SessionHarness, workflowId: string): Promise<AuditEntry[]> {
  const history = await h.env.client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  const runId = events[0]?.workflowExecutionStartedEventAttributes?.originalExecutionRunId ?? 'run';
  return auditRunEvents(defaultDataConverter, { namespace: 'default', uiBaseUrl: null }, workflowId, runId, events);
}

describe('device tools', function () {
  this.timeout(180_000);
  let h: SessionHarness;
  let gw: DeviceGateway;
  const devices: McpDevice[] = [];

  before(async () => {
    h = await startSessionHarness();
    gw = await startDeviceGateway(h);
  });
  after(async () => {
    for (const device of devices) await device.close();
    await gw?.close();
    await h?.close();
  });

  async function deviceSession(
    label: string,
    options: { tuning?: Partial<SessionTuning>; taskQueue?: string } = {},
  ): Promise<DeviceSession> {
    const userId = uniqueId('user');
    await h.createLLMConfig(userId, { model_name: uniqueId('chat'), description: 'Small talk and general questions' });
    const s = await h.startSession({ userId, attach: false, label, ...options });
    const connectionId = uniqueId('device');
    const device = await connectMcpDevice(`${gw.url}?connection=${connectionId}&user=${s.userId}&session=${s.sessionId}`, {
      tools: TOOLS,
      pageSize: 2,
    });
    devices.push(device);
    await gw.listed(connectionId);
    await s.handle.signal(attachSignal, relayAddressFor(gw.recorder.instanceId, connectionId));
    return {
      s,
      device,
      connectionId,
      ask: async (text) => gw.recorder.waitForResult(connectionId, await s.send(text), 60_000),
    };
  }

  it('lists the device tools after initialize (vision capability given), page by page, within the bounds, and stores them for the session', async () => {
    const { s, device } = await deviceSession('device-tool-list');
    assert.equal((device.initialize?.capabilities as { vision?: { url?: string } }).vision?.url, visionUrl(h.ctx.config));
    assert.ok(device.initialized, 'notifications/initialized was sent');
    assert.deepEqual(device.listCursors, [undefined, 'page-2', 'page-4']);
    const stored = await createDeviceToolStore(h.ctx.db.sequelize).loadTools(s.userId, s.sessionId);
    assert.deepEqual(
      stored.map((t) => t.name),
      [BRIGHTNESS, 'self.audio_speaker.set_volume', 'self.get_device_status'],
    );
    assert.deepEqual(stored[0]?.inputSchema, TOOLS[0]?.inputSchema);
  });

  it('a router LLM picks the mapped name: exactly one tools/call with the real name and the arguments; the device result is the answer; the audit names the device tool', async () => {
    const { s, device, ask } = await deviceSession('device-tool-router');
    device.behave({ kind: 'answer', text: '{"success":true,"brightness":40}' });
    h.llm.script(ROUTER_MODEL, { toolCall: MAPPED, arguments: { brightness: 40 } });
    const result = await ask('dim the light to 40');
    assert.equal(result.status, 'success', JSON.stringify(result));
    assert.equal(result.result, '{"success":true,"brightness":40}');
    assert.equal(result.config_name, BRIGHTNESS);
    assert.equal(result.routed_by, 'router_llm');
    assert.deepEqual(device.calls, [{ name: BRIGHTNESS, arguments: { brightness: 40 } }]);

    const offered = h.llm.requests(ROUTER_MODEL).at(-1)?.body.tools ?? [];
    const tool = offered.find((t) => t.function.name === MAPPED);
    assert.ok(tool, `offered: ${offered.map((t) => t.function.name).join(', ')}`);
    assert.deepEqual(tool.function.parameters, TOOLS[0]?.inputSchema);
    assert.ok(!offered.some((t) => t.function.name.startsWith('bad')), 'an unusable tool is not offered');

    const [entry] = await auditOf(h, s.handle.workflowId);
    assert.equal(entry?.chosen, BRIGHTNESS);
    assert.equal(entry?.status, 'success');
    assert.equal(entry?.answer, result.result);
    assert.deepEqual(
      entry?.offered.filter((o) => o.kind === 'device_tool').map((o) => o.tool),
      offered.filter((t) => t.function.name.startsWith('self_')).map((t) => t.function.name),
    );
    assert.equal(entry?.offered.filter((o) => o.kind === 'device_tool').length, 3);
    assert.equal(entry?.routing?.kind, 'device_tool');
  });

  it('arguments the inputSchema refuses are never sent: failed, naming the argument', async () => {
    const { s, device, ask } = await deviceSession('device-tool-invalid');
    h.llm.script(ROUTER_MODEL, { toolCall: MAPPED, arguments: { brightness: 'very bright' } });
    const result = await ask('make it very bright');
    assert.equal(result.status, 'failed');
    assert.match(result.error ?? '', /was not called: argument .*brightness/);
    assert.equal(device.calls.length, 0);
    const [entry] = await auditOf(h, s.handle.workflowId);
    assert.equal(entry?.status, 'failed');
    assert.equal(entry?.error, result.error);
  });

  it('a device that never answers: failed after the timeout, saying the tool may have run (one call)', async () => {
    const { s, device, ask } = await deviceSession('device-tool-timeout', { tuning: { deviceToolTimeout: '2 seconds' } });
    device.behave({ kind: 'silent' });
    h.llm.script(ROUTER_MODEL, { toolCall: MAPPED, arguments: { brightness: 10 } });
    const result = await ask('dim the light to 10');
    assert.equal(result.status, 'failed');
    assert.equal(result.error, deviceToolTimeoutText(BRIGHTNESS, 2));
    assert.equal(device.calls.length, 1);
    const [entry] = await auditOf(h, s.handle.workflowId);
    assert.equal(entry?.error, result.error);
  });

  it('a device that disconnects before answering: failed, saying the tool may have run', async () => {
    const { device, ask } = await deviceSession('device-tool-disconnect');
    device.behave({ kind: 'close' });
    h.llm.script(ROUTER_MODEL, { toolCall: MAPPED, arguments: { brightness: 70 } });
    const result = await ask('brighter, 70');
    assert.equal(result.status, 'failed');
    assert.match(result.error ?? '', /disconnected before it answered .*may have run/);
    assert.equal(device.calls.length, 1);
  });

  it('a device that is gone: failed saying it is not connected, nothing sent', async () => {
    const { s, device, connectionId, ask } = await deviceSession('device-tool-gone');
    await device.close();
    // The session still names the socket (no detach yet): the gateway finds no device there.
    h.llm.script(ROUTER_MODEL, { toolCall: MAPPED, arguments: { brightness: 5 } });
    const first = await ask('dim to 5');
    assert.equal(first.status, 'failed');
    assert.equal(first.error, deviceNotConnectedText(BRIGHTNESS));
    // Detached: the workflow knows at once and asks no gateway.
    await s.handle.signal(detachSignal, { connectionId });
    h.llm.script(ROUTER_MODEL, { toolCall: MAPPED, arguments: { brightness: 6 } });
    const id = await s.send('dim to 6');
    const transcript = await eventually(async () => {
      const entries = await s.handle.query(transcriptQuery);
      return entries.find((e) => e.id === id && e.result) ?? false;
    });
    assert.equal(transcript.result?.error, deviceNotConnectedText(BRIGHTNESS));
    assert.equal(device.calls.length, 0);
    const entries = await auditOf(h, s.handle.workflowId);
    assert.equal(entries.at(-1)?.error, deviceNotConnectedText(BRIGHTNESS));
  });

  it('the same call asked for twice (a step run again) reaches the device once', async () => {
    const { s, device, connectionId } = await deviceSession('device-tool-claim');
    device.behave({ kind: 'answer', text: 'done', delayMs: 300 });
    const frame = {
      type: 'device_tool_call' as const,
      callId: `another-run/${uniqueId('m')}`,
      workflowId: s.handle.workflowId,
      name: BRIGHTNESS,
      arguments: { brightness: 1 },
    };
    gw.deviceTools.take(connectionId, { frames: [frame] });
    gw.deviceTools.take(connectionId, { frames: [frame] });
    await device.waitForCalls(1);
    await new Promise((r) => setTimeout(r, 600));
    gw.deviceTools.take(connectionId, { frames: [frame] });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(device.calls.length, 1);
  });

  it('without a router LLM, the similarity router picks a device tool and takes its arguments from the message', () => {
    const settings = { default_llm_id: null, enabled_functions: null, role: null };
    const configs = [
      {
        id: 1,
        config_name: 'chat',
        config_type: 'llm' as const,
        description: 'Small talk',
        model_name: 'm',
        function_name: null,
        is_active: true,
        priority: 1,
      },
    ];
    const deviceTools = offerDeviceTools({ configs, settings, deviceTools: TOOLS.slice(0, 3) });
    const decision = routeWithoutRouter(
      configs,
      settings,
      'set the light brightness to 35',
      'no router LLM is configured',
      undefined,
      deviceTools,
    );
    assert.equal(decision.kind, 'device_tool');
    assert.ok(decision.kind === 'device_tool');
    assert.equal(decision.name, BRIGHTNESS);
    assert.equal(decision.tool, MAPPED);
    assert.deepEqual(decision.arguments, { brightness: 35 });
    // A session that enables other functions only offers no device tool.
    assert.deepEqual(
      offerDeviceTools({ configs, settings: { ...settings, enabled_functions: ['get_time'] }, deviceTools: TOOLS.slice(0, 3) }),
      [],
    );
  });

  describe('worker SIGKILLed after tools/call reached the device', () => {
    const children: ChildProcess[] = [];
    /** A worker process's environment: this harness's database, Temporal, key, and the fake router. */
    const workerEnv = async (): Promise<Record<string, string>> => ({
      DATABASE_URL: await runDatabaseUrlOnce(),
      TEMPORAL_ADDRESS: h.env.address,
      CONFIG_ENCRYPTION_KEY: h.ctx.secrets.encryptionKeys[0]!.toString('base64'),
      EGRESS_ALLOW: '127.0.0.0/8',
      LOG_LEVEL: 'silent',
      ROUTER_LLM_BASE_URL: h.llm.baseUrl,
      ROUTER_LLM_API_KEY: randomKey(),
    });
    after(async () => {
      for (const child of children) {
        child.kill('SIGKILL');
        await exited(child);
      }
    });

    it('exactly one call, and a failed result that says the tool may have run', async () => {
      const taskQueue = uniqueId('test-device-kill');
      const routerModel = uniqueId('router-kill');
      const env = { ...(await workerEnv()), TEMPORAL_TASK_QUEUE: taskQueue, ROUTER_LLM_MODEL: routerModel };
      // Every routing call (a step run again on the new worker too) picks the device tool.
      h.llm.otherwise(routerModel, { toolCall: MAPPED, arguments: { brightness: 55 } });
      const first = await spawnWorkerProcess(env);
      children.push(first);
      const { s, device, connectionId } = await deviceSession('device-tool-worker-kill', {
        taskQueue,
        tuning: { deviceToolTimeout: '4 seconds' },
      });
      device.behave({ kind: 'silent' });
      const id = await s.send('set the light to 55');
      await device.waitForCalls(1, 60_000);

      first.kill('SIGKILL');
      await exited(first);
      assert.equal(first.signalCode, 'SIGKILL');
      children.push(await spawnWorkerProcess(env));

      const result = await gw.recorder.waitForResult(connectionId, id, 120_000);
      assert.equal(result.status, 'failed');
      assert.match(result.error ?? '', /may have run/);
      assert.deepEqual(device.calls, [{ name: BRIGHTNESS, arguments: { brightness: 55 } }]);
      // The session goes on: the next message is answered (and the device still got one call).
      h.llm.otherwise(routerModel, { reply: 'hello there' });
      const next = await gw.recorder.waitForResult(connectionId, await s.send('hi'), 60_000);
      assert.equal(next.result, 'hello there');
      assert.equal(device.calls.length, 1);
      assert.equal(gw.recorder.resultsFor(connectionId, id).length, 1);
      await s.handle.signal(closeSignal, { reason: 'test_done' });
    });

    it('the device answers while no worker runs: its answer is kept (a signal) and is the result, once', async () => {
      const taskQueue = uniqueId('test-device-kill-answered');
      const routerModel = uniqueId('router-kill-answered');
      const env = { ...(await workerEnv()), TEMPORAL_TASK_QUEUE: taskQueue, ROUTER_LLM_MODEL: routerModel };
      h.llm.otherwise(routerModel, { toolCall: MAPPED, arguments: { brightness: 65 } });
      const first = await spawnWorkerProcess(env);
      children.push(first);
      const { s, device, connectionId } = await deviceSession('device-tool-worker-kill-answered', { taskQueue });
      // Answered 1.5 s after the call: by then the worker is dead, and the next one not started.
      device.behave({ kind: 'answer', text: 'brightness 65', delayMs: 1_500 });
      const id = await s.send('set the light to 65');
      await device.waitForCalls(1, 60_000);
      first.kill('SIGKILL');
      await exited(first);
      await new Promise((r) => setTimeout(r, 2_500));
      children.push(await spawnWorkerProcess(env));

      const result = await gw.recorder.waitForResult(connectionId, id, 120_000);
      assert.equal(result.status, 'success', JSON.stringify(result));
      assert.equal(result.result, 'brightness 65');
      assert.equal(device.calls.length, 1);
      await s.handle.signal(closeSignal, { reason: 'test_done' });
    });
  });

  // Last: after the worker-kill session, so its history is recorded and replayed too.
  describe('histories', () => {
    it('replays every history recorded here (and records them as fixtures with RECORD_HISTORIES=1)', async function () {
      this.timeout(300_000);
      const recorded = (await labelledRuns([h])).filter((r) => r.name.startsWith('device-tool-'));
      assert.ok(recorded.length >= 8);
      assert.deepEqual(await replayFailures(recorded.map((r) => r.run)), []);
      if (process.env.RECORD_HISTORIES) writeHistoryFixtures(HISTORY_FIXTURES_DIR, recorded);
    });
  });
});
