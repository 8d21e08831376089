// Function configs over REST: their secrets (a webhook's signing secret shown once, an MCP
// server's header values never), and trying any config before relying on it (`/test`, `/tools`),
// against a real MCP server, a real webhook receiver and the scripted OpenAI-compatible server.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startTestApi, type TestApi } from './support/api';
import { startFakeLLM, type FakeLLM } from './support/fake-llm';
import { startMcpServer, type TestMcpServer } from './support/mcp-server';
import { startWebhookReceiver, verifySignature, type WebhookReceiver } from './support/webhook-receiver';

const MCP_TOKEN = 'mcp-bearer-token-7f3a9c2e41d8';

describe('function configs over REST', function () {
  let api: TestApi;
  let llm: FakeLLM;
  let mcp: TestMcpServer;
  let hook: WebhookReceiver;
  let user: string;

  before(async () => {
    api = await startTestApi();
    llm = await startFakeLLM();
    mcp = await startMcpServer({ token: MCP_TOKEN });
    hook = await startWebhookReceiver('not-yet-known');
  });
  after(async () => {
    await hook?.close();
    await mcp?.close();
    await llm?.close();
    await api?.close();
  });
  beforeEach(() => {
    user = `user-${randomUUID()}`;
  });

  const weather = (overrides: Record<string, unknown> = {}) => ({
    config_name: 'Weather',
    config_type: 'function_call',
    description: 'Current weather for a city',
    function_name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string', description: 'City name' } }, required: ['city'] },
    ...overrides,
  });

  async function create(body: unknown) {
    const response = await api.request('POST', '/api/v1/ai-configs', { user, body });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    return response.body.data;
  }

  describe('secrets', () => {
    it('makes a webhook signing secret, shows it in the create response only, and stores it encrypted', async () => {
      const created = await create(weather({ webhook_url: hook.url }));
      assert.match(created.webhook_secret, /^whsec_[A-Za-z0-9_-]{43}$/);
      assert.equal(created.has_webhook_secret, true);
      const read = await api.request('GET', `/api/v1/ai-configs/${created.id}`, { user });
      assert.equal('webhook_secret' in read.body.data, false);
      assert.equal(read.body.data.has_webhook_secret, true);
      const list = await api.request('GET', '/api/v1/ai-configs', { user });
      assert.ok(!JSON.stringify(list.body).includes(created.webhook_secret));
      const row = await api.db.models.UserAIConfig.findByPk(created.id, { raw: true });
      assert.match(row!.webhook_secret!, /^enc:v1:/);
      assert.equal(api.secretBox.decrypt(row!.webhook_secret!), created.webhook_secret);
      assert.ok(!api.logs.join('').includes(created.webhook_secret), 'the secret is in no log line');
    });

    it('keeps the secret across updates, takes your own, and rotates on request', async () => {
      const created = await create(weather({ webhook_url: hook.url }));
      const patched = await api.request('PATCH', `/api/v1/ai-configs/${created.id}`, { user, body: { description: 'Weather now' } });
      assert.equal(patched.status, 200);
      assert.equal('webhook_secret' in patched.body.data, false, 'an update shows no secret');
      const stored = await api.db.models.UserAIConfig.findByPk(created.id, { raw: true });
      assert.equal(api.secretBox.decrypt(stored!.webhook_secret!), created.webhook_secret, 'unchanged by the update');

      const rotated = await api.request('POST', `/api/v1/ai-configs/${created.id}/webhook-secret`, { user });
      assert.equal(rotated.status, 200);
      assert.match(rotated.body.data.webhook_secret, /^whsec_/);
      assert.notEqual(rotated.body.data.webhook_secret, created.webhook_secret);

      const own = await api.request('PATCH', `/api/v1/ai-configs/${created.id}`, {
        user,
        body: { webhook_secret: 'my-own-secret-0123456789' },
      });
      assert.equal(own.status, 200);
      assert.equal('webhook_secret' in own.body.data, false, 'your own secret is not echoed');
      const after = await api.db.models.UserAIConfig.findByPk(created.id, { raw: true });
      assert.equal(api.secretBox.decrypt(after!.webhook_secret!), 'my-own-secret-0123456789');

      const mcpConfig = await create(weather({ config_name: 'W2', function_name: 'w2', mcp_server_url: mcp.url }));
      const refused = await api.request('POST', `/api/v1/ai-configs/${mcpConfig.id}/webhook-secret`, { user });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error, 'not_a_webhook');
    });

    it('stores MCP header values encrypted and shows only their names; a new server needs them sent again', async () => {
      const created = await create(weather({ mcp_server_url: mcp.url, mcp_headers: { Authorization: `Bearer ${MCP_TOKEN}` } }));
      assert.deepEqual(created.mcp_header_names, ['Authorization']);
      assert.ok(!JSON.stringify(created).includes(MCP_TOKEN));
      const row = await api.db.models.UserAIConfig.findByPk(created.id, { raw: true });
      assert.match(row!.mcp_headers!.Authorization!, /^enc:v1:/);

      const moved = await api.request('PATCH', `/api/v1/ai-configs/${created.id}`, {
        user,
        body: { mcp_server_url: 'https://mcp.example.com/mcp' },
      });
      assert.equal(moved.status, 400);
      assert.deepEqual(
        moved.body.errors.map((e: { field: string }) => e.field),
        ['mcp_headers'],
      );
      const kept = await api.request('PATCH', `/api/v1/ai-configs/${created.id}`, { user, body: { description: 'Weather, now' } });
      assert.deepEqual(kept.body.data.mcp_header_names, ['Authorization'], 'omitted headers are kept');
      const cleared = await api.request('PATCH', `/api/v1/ai-configs/${created.id}`, { user, body: { mcp_headers: null } });
      assert.deepEqual(cleared.body.data.mcp_header_names, []);
      assert.ok(!api.logs.join('').includes(MCP_TOKEN), 'the header value is in no log line');
    });

    it('refuses a function config that cannot run, and headers the transport owns, naming the field', async () => {
      const cases: [string, Record<string, unknown>, string][] = [
        ['no endpoint', weather(), 'mcp_server_url'],
        ['reserved header', weather({ mcp_server_url: mcp.url, mcp_headers: { 'Mcp-Session-Id': 'x' } }), 'mcp_headers.Mcp-Session-Id'],
        ['header with a newline', weather({ mcp_server_url: mcp.url, mcp_headers: { 'X-Key': 'a\r\nHost: evil' } }), 'mcp_headers.X-Key'],
        ['headers on a webhook', weather({ webhook_url: hook.url, mcp_headers: { 'X-Key': 'a' } }), 'mcp_headers'],
        ['short own secret', weather({ webhook_url: hook.url, webhook_secret: 'short' }), 'webhook_secret'],
      ];
      for (const [label, body, field] of cases) {
        const response = await api.request('POST', '/api/v1/ai-configs', { user, body });
        assert.equal(response.status, 400, label);
        assert.ok(
          response.body.errors.some((e: { field: string }) => e.field === field),
          `${label}: ${JSON.stringify(response.body.errors)}`,
        );
      }
    });
  });

  describe('POST /ai-configs/:id/test', () => {
    it('runs an LLM config once with a short prompt or your text, and reports a provider failure as data', async () => {
      const model = `m-${randomUUID()}`;
      const config = await create({
        config_name: 'Echo',
        config_type: 'llm',
        model_name: model,
        base_url: llm.baseUrl,
        api_key: 'sk-trial-0123456789',
      });
      const first = await api.request('POST', `/api/v1/ai-configs/${config.id}/test`, { user, body: { text: 'ping?' } });
      assert.equal(first.status, 200);
      assert.equal(first.body.data.status, 'success');
      assert.equal(first.body.data.result, `[${model}] ping?`);
      assert.equal(first.body.data.model, model);
      assert.equal(typeof first.body.data.execute_time, 'number');

      llm.script(model, { fail: 401, echoKey: true });
      const failed = await api.request('POST', `/api/v1/ai-configs/${config.id}/test`, { user });
      assert.equal(failed.status, 200);
      assert.equal(failed.body.data.status, 'failed');
      assert.equal(failed.body.data.error_type, 'LLMRequestRejected');
      assert.equal(failed.body.data.retryable, false);
      assert.ok(!JSON.stringify(failed.body).includes('sk-trial-0123456789'), 'the key an error echoes is scrubbed');

      const wrongField = await api.request('POST', `/api/v1/ai-configs/${config.id}/test`, { user, body: { arguments: { a: 1 } } });
      assert.equal(wrongField.status, 400);
      assert.equal(wrongField.body.errors[0].field, 'arguments');
    });

    it('runs a webhook function with your arguments, signed with its secret and a fresh idempotency key', async () => {
      const config = await create(weather({ webhook_url: hook.url }));
      hook.secret = config.webhook_secret;
      hook.script({ status: 200, json: { result: 'Sunny in Lyon' } });
      const before = hook.received.length;
      const trial = await api.request('POST', `/api/v1/ai-configs/${config.id}/test`, { user, body: { arguments: { city: 'Lyon' } } });
      assert.equal(trial.status, 200, JSON.stringify(trial.body));
      assert.equal(trial.body.data.status, 'success', JSON.stringify(trial.body));
      assert.equal(trial.body.data.result, 'Sunny in Lyon');
      const received = hook.received[before]!;
      assert.equal(received.signatureValid, true);
      assert.ok(verifySignature(config.webhook_secret, received.headers, received.rawBody));
      assert.deepEqual((received.body as { arguments: unknown }).arguments, { city: 'Lyon' });
      assert.match(String(received.headers['idempotency-key']), /^test-/);

      const bad = await api.request('POST', `/api/v1/ai-configs/${config.id}/test`, { user, body: { arguments: { city: 7 } } });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.errors[0].field, 'arguments.city');
      assert.equal(hook.received.length, before + 1, 'arguments that do not fit the schema are never sent');
    });

    it('runs an MCP tool, and a disabled config too (a check before enabling it)', async () => {
      const config = await create(
        weather({ mcp_server_url: mcp.url, mcp_headers: { Authorization: `Bearer ${MCP_TOKEN}` }, is_active: false }),
      );
      const trial = await api.request('POST', `/api/v1/ai-configs/${config.id}/test`, { user, body: { arguments: { city: 'Oslo' } } });
      assert.equal(trial.body.data.status, 'success', JSON.stringify(trial.body));
      assert.equal(trial.body.data.result, 'Sunny in Oslo');
      assert.ok(mcp.requests.some((r) => r.authorization === `Bearer ${MCP_TOKEN}`));
    });

    it('is a 404 for another user and for no such config', async () => {
      const config = await create(weather({ webhook_url: hook.url }));
      const other = await api.request('POST', `/api/v1/ai-configs/${config.id}/test`, { user: `other-${randomUUID()}`, body: {} });
      assert.equal(other.status, 404);
      assert.equal((await api.request('POST', '/api/v1/ai-configs/999999999/test', { user, body: {} })).status, 404);
    });
  });

  describe('real tool names', () => {
    const mcpTool = (function_name: string, overrides: Record<string, unknown> = {}) =>
      weather({
        config_name: `Tool ${function_name.slice(0, 40)} ${randomUUID()}`,
        function_name,
        mcp_server_url: mcp.url,
        mcp_headers: { Authorization: `Bearer ${MCP_TOKEN}` },
        ...overrides,
      });

    it('stores names with "-", "." and up to 128 characters as they are, and shows the mapped tool_name beside them', async () => {
      const sum = await create(mcpTool('get-sum'));
      assert.equal(sum.function_name, 'get-sum');
      assert.equal(sum.tool_name, 'get-sum', 'a name providers take is its own tool name');
      const light = await create(mcpTool('self.light.set_brightness'));
      assert.equal(light.function_name, 'self.light.set_brightness');
      assert.equal(light.tool_name, 'self_light_set_brightness');
      const long = `${'very_long_tool_name.'.repeat(6)}${'x'.repeat(8)}`;
      assert.equal(long.length, 128);
      const created = await create(mcpTool(long));
      const read = await api.request('GET', `/api/v1/ai-configs/${created.id}`, { user });
      assert.equal(read.body.data.function_name, long, 'the real name survives the column');
      assert.match(read.body.data.tool_name, /^[a-zA-Z0-9_-]{64}$/);
      const list = await api.request('GET', '/api/v1/ai-configs?type=function_call', { user });
      assert.deepEqual(list.body.data.map((c: { tool_name: string }) => c.tool_name).sort(), [
        'get-sum',
        'self_light_set_brightness',
        read.body.data.tool_name,
      ]);
      const llmConfig = await create({ config_name: 'Chat', config_type: 'llm', model_name: 'm' });
      assert.equal(llmConfig.tool_name, null);
    });

    it('refuses a name over 128 characters or with other characters, naming function_name', async () => {
      for (const name of ['x'.repeat(129), 'get sum', 'get/sum', 'résumé', '']) {
        const refused = await api.request('POST', '/api/v1/ai-configs', { user, body: mcpTool(name) });
        assert.equal(refused.status, 400, name);
        assert.equal(refused.body.errors[0].field, 'function_name');
        assert.match(refused.body.errors[0].message, /128/);
      }
    });

    it('refuses a second function offered under the same mapped name (409 naming function_name), on create and rename', async () => {
      await create(mcpTool('self.light.set_brightness'));
      const clash = await api.request('POST', '/api/v1/ai-configs', { user, body: mcpTool('self_light_set_brightness') });
      assert.equal(clash.status, 409, JSON.stringify(clash.body));
      assert.equal(clash.body.errors[0].field, 'function_name');
      assert.match(clash.body.errors[0].message, /self\.light\.set_brightness/);
      const other = await create(mcpTool('dim_light'));
      const renamed = await api.request('PATCH', `/api/v1/ai-configs/${other.id}`, {
        user,
        body: { function_name: 'self_light_set_brightness' },
      });
      assert.equal(renamed.status, 409);
      assert.equal(renamed.body.errors[0].field, 'function_name');
      // Another user has names of their own.
      const elsewhere = await api.request('POST', '/api/v1/ai-configs', {
        user: `other-${randomUUID()}`,
        body: mcpTool('self_light_set_brightness'),
      });
      assert.equal(elsewhere.status, 201);
    });

    it('calls the MCP server with the real name', async () => {
      const config = await create(
        mcpTool('self.light.set_brightness', { parameters: { type: 'object', properties: { level: { type: 'integer' } } } }),
      );
      const trial = await api.request('POST', `/api/v1/ai-configs/${config.id}/test`, { user, body: { arguments: { level: 70 } } });
      assert.equal(trial.body.data.status, 'success', JSON.stringify(trial.body));
      assert.equal(trial.body.data.result, 'brightness 70');
      assert.deepEqual(mcp.requests.filter((r) => r.toolCall).at(-1)?.toolCall, {
        name: 'self.light.set_brightness',
        arguments: { level: 70 },
      });
    });
  });

  describe("parameters from the MCP tool's inputSchema", () => {
    const withoutParameters = (overrides: Record<string, unknown> = {}) => {
      const { parameters: _omitted, ...body } = weather({
        mcp_server_url: mcp.url,
        mcp_headers: { Authorization: `Bearer ${MCP_TOKEN}` },
        ...overrides,
      });
      return body;
    };

    it('takes the schema the server lists when parameters is omitted, for real names too', async () => {
      const config = await create(withoutParameters());
      assert.equal(config.parameters.type, 'object');
      assert.deepEqual(Object.keys(config.parameters.properties), ['city']);
      assert.deepEqual(config.parameters.required, ['city']);
      const sum = await create(withoutParameters({ config_name: 'Sum', function_name: 'get-sum' }));
      assert.deepEqual(Object.keys(sum.parameters.properties).sort(), ['a', 'b']);
      // The stored schema is what calls are checked against.
      const trial = await api.request('POST', `/api/v1/ai-configs/${sum.id}/test`, { user, body: { arguments: { a: 'x', b: 2 } } });
      assert.equal(trial.status, 400);
      assert.equal(trial.body.errors[0].field, 'arguments.a');
      const replaced = await api.request('PUT', `/api/v1/ai-configs/${sum.id}`, {
        user,
        body: withoutParameters({ config_name: 'Sum', function_name: 'self.light.set_brightness' }),
      });
      assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
      assert.deepEqual(
        Object.keys(replaced.body.data.parameters.properties),
        ['level'],
        'a PUT without parameters asks the server too, with the stored headers',
      );
    });

    it('is a 400 naming parameters when the server cannot be asked, and function_name when it lacks the tool', async () => {
      const refused = await api.request('POST', '/api/v1/ai-configs', {
        user,
        body: withoutParameters({ mcp_headers: { Authorization: 'Bearer wrong-token-0e7d2c9b13' } }),
      });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.errors[0].field, 'parameters');
      assert.match(refused.body.errors[0].message, /could not be asked/);
      assert.ok(!JSON.stringify(refused.body).includes('wrong-token-0e7d2c9b13'), 'the echoed token is scrubbed');

      const down = await api.request('POST', '/api/v1/ai-configs', {
        user,
        body: withoutParameters({ mcp_server_url: 'http://127.0.0.1:9/mcp' }),
      });
      assert.equal(down.status, 400);
      assert.equal(down.body.errors[0].field, 'parameters');

      const missing = await api.request('POST', '/api/v1/ai-configs', { user, body: withoutParameters({ function_name: 'get_wether' }) });
      assert.equal(missing.status, 400);
      assert.equal(missing.body.errors[0].field, 'function_name');
      assert.match(missing.body.errors[0].message, /get_weather/);

      const { parameters: _none, ...webhook } = weather({ webhook_url: hook.url });
      const hookRefused = await api.request('POST', '/api/v1/ai-configs', { user, body: webhook });
      assert.equal(hookRefused.status, 400);
      assert.equal(hookRefused.body.errors[0].field, 'parameters', 'a webhook has no server to ask');
    });
  });

  describe('POST /mcp/tools', () => {
    it("lists a server's tools before any config is saved, real and mapped names, with the given headers", async () => {
      const listed = await api.request('POST', '/api/v1/mcp/tools', {
        user,
        body: { mcp_server_url: mcp.url, mcp_headers: { Authorization: `Bearer ${MCP_TOKEN}` } },
      });
      assert.equal(listed.status, 200, JSON.stringify(listed.body));
      const light = listed.body.data.find((t: { name: string }) => t.name === 'self.light.set_brightness');
      assert.equal(light.tool_name, 'self_light_set_brightness');
      assert.equal(light.input_schema.type, 'object');
      assert.equal(listed.body.data.find((t: { name: string }) => t.name === 'get-sum').tool_name, 'get-sum');
      assert.equal((await api.request('GET', '/api/v1/ai-configs', { user })).body.data.length, 0, 'nothing is stored');
    });

    it('is a 502 mcp_server_failed when the server refuses (header value scrubbed), a 400 naming the field for bad input', async () => {
      const refused = await api.request('POST', '/api/v1/mcp/tools', {
        user,
        body: { mcp_server_url: mcp.url, mcp_headers: { Authorization: 'Bearer wrong-token-8c1f4a7e22' } },
      });
      assert.equal(refused.status, 502);
      assert.equal(refused.body.error, 'mcp_server_failed');
      assert.ok(!JSON.stringify(refused.body).includes('wrong-token-8c1f4a7e22'));
      for (const [body, field] of [
        [{}, 'mcp_server_url'],
        [{ mcp_server_url: 'ftp://127.0.0.1/mcp' }, 'mcp_server_url'],
        [{ mcp_server_url: 'http://169.254.169.254/mcp' }, 'mcp_server_url'],
        [{ mcp_server_url: mcp.url, mcp_headers: { Host: 'x' } }, 'mcp_headers.Host'],
        [{ mcp_server_url: mcp.url, extra: 1 }, 'extra'],
      ] as const) {
        const bad = await api.request('POST', '/api/v1/mcp/tools', { user, body });
        assert.equal(bad.status, 400, JSON.stringify(body));
        assert.equal(bad.body.errors[0].field, field, JSON.stringify(bad.body));
      }
    });
  });

  describe('GET /ai-configs/:id/tools', () => {
    it("lists the MCP server's tools with their schemas, with the config's headers", async () => {
      const config = await create(weather({ mcp_server_url: mcp.url, mcp_headers: { Authorization: `Bearer ${MCP_TOKEN}` } }));
      const tools = await api.request('GET', `/api/v1/ai-configs/${config.id}/tools`, { user });
      assert.equal(tools.status, 200, JSON.stringify(tools.body));
      const names = tools.body.data.map((t: { name: string }) => t.name).sort();
      assert.deepEqual(names, ['add', 'get-sum', 'get_weather', 'self.light.set_brightness']);
      const getWeather = tools.body.data.find((t: { name: string }) => t.name === 'get_weather');
      assert.equal(getWeather.input_schema.type, 'object');
      assert.ok('city' in getWeather.input_schema.properties);
    });

    it('is a 502 naming the failure when the server refuses, without the header value; a 400 for a webhook config', async () => {
      const config = await create(weather({ mcp_server_url: mcp.url, mcp_headers: { Authorization: 'Bearer wrong-token-5d1c8e0b7a' } }));
      const refused = await api.request('GET', `/api/v1/ai-configs/${config.id}/tools`, { user });
      assert.equal(refused.status, 502);
      assert.equal(refused.body.error, 'mcp_server_failed');
      assert.ok(!JSON.stringify(refused.body).includes('wrong-token-5d1c8e0b7a'), 'the echoed token is scrubbed');

      const webhook = await create(weather({ config_name: 'Hook', function_name: 'hooked', webhook_url: hook.url }));
      const notMcp = await api.request('GET', `/api/v1/ai-configs/${webhook.id}/tools`, { user });
      assert.equal(notMcp.status, 400);
      assert.equal(notMcp.body.error, 'not_an_mcp_config');
    });
  });
});
