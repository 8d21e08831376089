// What a message can do beyond an LLM answer, through the real session workflow and worker on the
// Temporal dev server: function configs run as tools on a real MCP server (the SDK's, over
// Streamable HTTP) and as signed webhooks to a real receiver; routing without a router LLM; and
// streamed answers. The scripted OpenAI-compatible server is the only stand-in (router and provider).
import assert from 'node:assert/strict';
import { updateSessionConfigSignal, type PublicConfig, type ServerFrame } from '../contract';
import { uniqueId } from './support/context';
import { fetchAllRuns, historyText, HISTORY_FIXTURES_DIR, replayFailures, writeHistoryFixtures } from './support/histories';
import { createFunctionConfigRow } from './support/llm-configs';
import { capturingLogger } from './support/logger';
import { startMcpServer, type TestMcpServer } from './support/mcp-server';
import { labelledRuns, ROUTER_MODEL, startSessionHarness, type SessionHarness } from './support/session-harness';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver';

const MCP_TOKEN = 'mcp-session-token-3b8e1f0a9c';
const WEBHOOK_SECRET = 'whsec_session-test-secret-51c2d9e7';

/** Short backoff and two attempts, so retry paths finish quickly. */
const FUNCTION_TUNING = { functionMaxAttempts: 2, functionTimeout: '5 seconds', retryInitialInterval: '100 milliseconds' } as const;

describe('function calls, routing without a router LLM, streamed answers', function () {
  this.timeout(120_000);
  const { logger, lines: logLines } = capturingLogger();
  let h: SessionHarness;
  let noRouter: SessionHarness;
  let mcp: TestMcpServer;
  let hook: WebhookReceiver;

  before(async () => {
    h = await startSessionHarness({ logger });
    noRouter = await startSessionHarness({ router: false, logger });
    mcp = await startMcpServer({ token: MCP_TOKEN });
    hook = await startWebhookReceiver(WEBHOOK_SECRET);
  });

  after(async () => {
    for (const harness of [h, noRouter]) await harness?.close();
    await mcp?.close();
    await hook?.close();
  });

  const weatherSchema = {
    type: 'object',
    properties: { city: { type: 'string', description: 'The city to report the weather for' } },
    required: ['city'],
  };

  function weatherTool(harness: SessionHarness, userId: string, url = mcp.url): Promise<PublicConfig> {
    return createFunctionConfigRow(harness.ctx, userId, {
      config_name: 'Weather',
      description: 'Current weather conditions and forecast for a city',
      function_name: 'get_weather',
      parameters: weatherSchema,
      mcp_server_url: url,
      mcp_headers: { Authorization: `Bearer ${MCP_TOKEN}` },
    });
  }

  function orderHook(harness: SessionHarness, userId: string): Promise<PublicConfig> {
    return createFunctionConfigRow(harness.ctx, userId, {
      config_name: 'Orders',
      description: 'Delivery status of a shop order by its order number',
      function_name: 'order_status',
      parameters: { type: 'object', properties: { order_id: { type: 'string', description: 'Order number' } }, required: ['order_id'] },
      webhook_url: hook.url,
      webhook_secret: WEBHOOK_SECRET,
    });
  }

  describe('with a router LLM', () => {
    it('runs an MCP tool the router chose, offered with its own schema, and sends the configured header', async () => {
      const userId = uniqueId('user');
      await h.createLLMConfig(userId, { model_name: uniqueId('chat') });
      const tool = await weatherTool(h, userId);
      const s = await h.startSession({ userId, label: 'fn-mcp-routed' });
      h.llm.script(ROUTER_MODEL, { toolCall: 'get_weather', arguments: { city: 'Paris' } });

      const result = await s.ask('what is the weather in Paris?');

      assert.equal(result.status, 'success', result.error);
      assert.equal(result.result, 'Sunny in Paris');
      assert.equal(result.config_id, tool.id);
      assert.equal(result.config_name, 'Weather');
      assert.equal(result.routed_by, 'router_llm');
      const offered = h.llm
        .requests(ROUTER_MODEL)
        .at(-1)
        ?.body.tools?.find((t) => t.function.name === 'get_weather');
      assert.deepEqual(offered?.function.parameters, weatherSchema, "the router sees the config's JSON Schema");
      assert.ok(mcp.requests.some((r) => r.rpcMethods.includes('tools/call') && r.authorization === `Bearer ${MCP_TOKEN}`));
    });

    it('refuses arguments that do not fit the schema, naming the argument, without calling the server', async () => {
      const userId = uniqueId('user');
      await h.createLLMConfig(userId, { model_name: uniqueId('chat') });
      await weatherTool(h, userId);
      const s = await h.startSession({ userId, label: 'fn-mcp-bad-arguments' });
      const calls = mcp.requests.filter((r) => r.rpcMethods.includes('tools/call')).length;
      h.llm.script(ROUTER_MODEL, { toolCall: 'get_weather', arguments: { town: 'Paris' } });

      const result = await s.ask('weather please');

      assert.equal(result.status, 'failed');
      assert.match(result.error ?? '', /city/);
      assert.equal(mcp.requests.filter((r) => r.rpcMethods.includes('tools/call')).length, calls, 'no call was made');
    });

    it('calls a webhook signed with its secret, the message id as idempotency key, and retries a 500', async () => {
      const userId = uniqueId('user');
      await h.createLLMConfig(userId, { model_name: uniqueId('chat') });
      const config = await orderHook(h, userId);
      const s = await h.startSession({ userId, tuning: FUNCTION_TUNING, label: 'fn-webhook-retry' });
      hook.script({ status: 500, text: 'database down' }, { status: 200, json: { result: 'Order A-17 ships tomorrow' } });
      h.llm.script(ROUTER_MODEL, { toolCall: 'order_status', arguments: { order_id: 'A-17' } });
      const before = hook.received.length;

      const id = await s.send('where is my order A-17?');
      const result = await h.gateway.waitForResult(s.connectionId, id);

      assert.equal(result.status, 'success', result.error);
      assert.equal(result.result, 'Order A-17 ships tomorrow');
      assert.equal(result.config_id, config.id);
      const received = hook.received.slice(before);
      assert.equal(received.length, 2, 'the 500 was tried again, once');
      for (const r of received) {
        assert.equal(r.signatureValid, true);
        assert.equal(r.headers['idempotency-key'], id);
      }
      assert.deepEqual(received[1]!.body, {
        function: 'order_status',
        arguments: { order_id: 'A-17' },
        user_id: userId,
        session_id: s.sessionId,
        message_id: id,
      });
    });

    it('does not retry a webhook 400, and answers failed with its reason', async () => {
      const userId = uniqueId('user');
      await h.createLLMConfig(userId, { model_name: uniqueId('chat') });
      await orderHook(h, userId);
      const s = await h.startSession({ userId, tuning: FUNCTION_TUNING, label: 'fn-webhook-400' });
      hook.script({ status: 400, text: 'unknown order' });
      h.llm.script(ROUTER_MODEL, { toolCall: 'order_status', arguments: { order_id: 'Z-0' } });
      const before = hook.received.length;

      const result = await s.ask('where is order Z-0?');

      assert.equal(result.status, 'failed');
      assert.match(result.error ?? '', /400/);
      assert.equal(hook.received.length - before, 1, 'a 400 is not tried again');
    });

    it('answers failed when the MCP server is down, after its attempts', async () => {
      const userId = uniqueId('user');
      await h.createLLMConfig(userId, { model_name: uniqueId('chat') });
      const down = await startMcpServer();
      const url = down.url;
      await down.close();
      await weatherTool(h, userId, url);
      const s = await h.startSession({ userId, tuning: FUNCTION_TUNING, label: 'fn-mcp-down' });
      h.llm.script(ROUTER_MODEL, { toolCall: 'get_weather', arguments: { city: 'Rome' } });

      const result = await s.ask('weather in Rome?');

      assert.equal(result.status, 'failed');
      assert.match(result.error ?? '', /connect|ECONNREFUSED|fetch failed/i);
    });

    it('offers only the functions the session enables', async () => {
      const userId = uniqueId('user');
      await h.createLLMConfig(userId, { model_name: uniqueId('chat') });
      await weatherTool(h, userId);
      await orderHook(h, userId);
      const s = await h.startSession({ userId, label: 'fn-enabled-functions' });
      await s.handle.signal(updateSessionConfigSignal, { enabled_functions: ['order_status'] });
      h.llm.script(ROUTER_MODEL, { toolCall: 'get_weather', arguments: { city: 'Oslo' } });

      const result = await s.ask('weather in Oslo?');

      const tools =
        h.llm
          .requests(ROUTER_MODEL)
          .at(-1)
          ?.body.tools?.map((t) => t.function.name) ?? [];
      assert.ok(tools.includes('order_status') && !tools.includes('get_weather'), JSON.stringify(tools));
      assert.notEqual(result.config_name, 'Weather', 'a function that was not offered never runs');
      assert.equal(result.routed_by === 'router_llm', false);
    });

    it('offers a tool providers cannot take by its real name under its mapped name, and calls the server with the real one', async () => {
      const userId = uniqueId('user');
      await h.createLLMConfig(userId, { model_name: uniqueId('chat') });
      const light = await createFunctionConfigRow(h.ctx, userId, {
        config_name: 'Light',
        description: 'Set the brightness of the living room light',
        function_name: 'self.light.set_brightness',
        parameters: { type: 'object', properties: { level: { type: 'integer' } }, required: ['level'] },
        mcp_server_url: mcp.url,
        mcp_headers: { Authorization: `Bearer ${MCP_TOKEN}` },
      });
      await createFunctionConfigRow(h.ctx, userId, {
        config_name: 'Sum',
        description: 'Adds two numbers',
        function_name: 'get-sum',
        parameters: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } },
        mcp_server_url: mcp.url,
        mcp_headers: { Authorization: `Bearer ${MCP_TOKEN}` },
      });
      const mapped = 'self_light_set_brightness';
      assert.equal(light.tool_name, mapped);
      const s = await h.startSession({ userId, label: 'fn-mcp-mapped-name' });
      // enabled_functions may name a function by its mapped name as well as by its real one.
      await s.handle.signal(updateSessionConfigSignal, { enabled_functions: [mapped, 'get-sum'] });
      h.llm.script(ROUTER_MODEL, { toolCall: mapped, arguments: { level: 40 } });

      const result = await s.ask('dim the light to 40');

      assert.equal(result.status, 'success', result.error);
      assert.equal(result.result, 'brightness 40');
      assert.equal(result.config_id, light.id);
      const tools =
        h.llm
          .requests(ROUTER_MODEL)
          .at(-1)
          ?.body.tools?.map((t) => t.function.name) ?? [];
      assert.ok(tools.includes(mapped) && tools.includes('get-sum'), JSON.stringify(tools));
      assert.ok(!tools.includes('self.light.set_brightness'), 'the real name is never offered to a provider that refuses it');
      const call = mcp.requests.filter((r) => r.toolCall).at(-1);
      assert.deepEqual(call?.toolCall, { name: 'self.light.set_brightness', arguments: { level: 40 } });
    });
  });

  describe('without a router LLM', () => {
    it('routes by description similarity: a matching function gets the message as its one string argument', async () => {
      const userId = uniqueId('user');
      await noRouter.createLLMConfig(userId, { model_name: uniqueId('chat'), description: 'General chat' });
      const tool = await weatherTool(noRouter, userId);
      const s = await noRouter.startSession({ userId, label: 'fn-similarity' });

      const weather = await s.ask('天气 weather forecast for Berlin');
      assert.equal(weather.routed_by, 'similarity');
      assert.equal(weather.config_id, tool.id);
      assert.equal(weather.result, 'Sunny in 天气 weather forecast for Berlin');

      const chat = await s.ask('hello there');
      assert.equal(chat.routed_by, 'fallback', 'nothing matched: the default LLM config answered');
      assert.equal(chat.status, 'success');
    });

    it('says which arguments a function chosen by similarity is missing, instead of calling it', async () => {
      const userId = uniqueId('user');
      await noRouter.createLLMConfig(userId, { model_name: uniqueId('chat'), description: 'General chat' });
      const convert = await createFunctionConfigRow(noRouter.ctx, userId, {
        config_name: 'Currency converter',
        description: 'Convert an amount of money between currencies at the current exchange rate',
        function_name: 'convert_currency',
        parameters: {
          type: 'object',
          properties: { amount: { type: 'number' }, from: { type: 'string' }, to: { type: 'string' } },
          required: ['amount', 'from', 'to'],
        },
        webhook_url: hook.url,
        webhook_secret: WEBHOOK_SECRET,
      });
      const s = await noRouter.startSession({ userId, label: 'fn-similarity-missing' });
      const before = hook.received.length;

      const result = await s.ask('convert currency exchange rate money');

      assert.equal(result.config_id, convert.id);
      assert.equal(result.status, 'failed');
      assert.match(result.error ?? '', /amount/);
      assert.match(result.error ?? '', /from/);
      assert.equal(hook.received.length, before, 'nothing was called');
    });
  });

  describe('streamed answers', () => {
    it('sends deltas while the provider streams, then exactly one result with the whole answer', async () => {
      const userId = uniqueId('user');
      const model = uniqueId('streamer');
      const config = await noRouter.createLLMConfig(userId, { model_name: model });
      const s = await noRouter.startSession({ userId, label: 'stream' });
      const pieces = ['Once ', 'upon ', 'a ', 'time, ', 'a ', 'workflow ', 'streamed.'];
      noRouter.llm.script(model, { pieces, pieceDelayMs: 120 });

      const id = await s.send('tell me a story', undefined, { stream: true });
      const result = await noRouter.gateway.waitForResult(s.connectionId, id);

      assert.equal(result.result, pieces.join(''));
      const frames = noRouter.gateway.framesFor(s.connectionId).filter((f) => 'id' in f && f.id === id);
      const deltas = frames.filter((f): f is Extract<ServerFrame, { type: 'delta' }> => f.type === 'delta');
      assert.ok(deltas.length >= 2, `several deltas, got ${deltas.length}`);
      assert.equal(deltas.map((d) => d.text).join(''), result.result, 'the deltas add up to the answer');
      let offset = 0;
      for (const delta of deltas) {
        assert.equal(delta.offset, offset);
        assert.equal(delta.config_id, config.id);
        offset += delta.text.length;
      }
      assert.ok(frames.findIndex((f) => f.type === 'function_call_result') > frames.findIndex((f) => f.type === 'delta'));
      assert.equal(frames.filter((f) => f.type === 'function_call_result').length, 1);
      assert.equal(noRouter.llm.requests(model).at(-1)?.body.stream, true);

      const history = historyText(await fetchAllRuns(noRouter.env.client, s.handle.workflowId));
      assert.ok(!history.includes('"delta"'), 'deltas are not recorded');

      const plainId = await s.send('and without streaming?');
      await noRouter.gateway.waitForResult(s.connectionId, plainId);
      assert.equal(noRouter.gateway.framesFor(s.connectionId).filter((f) => f.type === 'delta' && f.id === plainId).length, 0);
    });
  });

  describe('secrets and replay', () => {
    it('no webhook secret or MCP header value appears in any history or log line', async () => {
      const texts: string[] = [];
      for (const harness of [h, noRouter]) {
        for (const { workflowId } of harness.started) texts.push(historyText(await fetchAllRuns(harness.env.client, workflowId)));
      }
      const all = texts.join('\n');
      assert.ok(all.includes('Sunny in Paris'), 'histories are searched decoded');
      // Logged by accident, a row, a request body or a call target still keeps them out (lib/logger.ts).
      const headers = { Authorization: `Bearer ${MCP_TOKEN}` };
      logger.warn(
        { webhook_secret: WEBHOOK_SECRET, mcp_headers: headers, row: { webhook_secret: WEBHOOK_SECRET, mcp_headers: headers } },
        'a config row logged by mistake',
      );
      logger.warn({ req: { body: { webhook_secret: WEBHOOK_SECRET, mcp_headers: headers } } }, 'a request body logged by mistake');
      logger.warn(
        { target: { kind: 'mcp', headers }, call: { target: { kind: 'webhook', secret: WEBHOOK_SECRET } } },
        'a call target logged by mistake',
      );
      const logs = logLines.join('');
      assert.ok(logs.includes('a call target logged by mistake'));
      assert.ok(logs.length > 0);
      for (const secret of [MCP_TOKEN, WEBHOOK_SECRET]) {
        assert.ok(!all.includes(secret), `a history holds ${secret}`);
        assert.ok(!logs.includes(secret), `a log line holds ${secret}`);
      }
    });

    it('replays every history recorded here (and records them as fixtures with RECORD_HISTORIES=1)', async function () {
      this.timeout(300_000);
      const recorded = await labelledRuns([h, noRouter]);
      assert.ok(recorded.length >= 8);
      assert.deepEqual(await replayFailures(recorded.map((r) => r.run)), []);
      if (process.env.RECORD_HISTORIES) writeHistoryFixtures(HISTORY_FIXTURES_DIR, recorded);
    });
  });
});
