// functions/: function configs executed for real against a real MCP server (the SDK's McpServer over
// Streamable HTTP) and a real webhook receiver that verifies signatures, both on 127.0.0.1.
import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { BlockList } from 'node:net';
import os from 'node:os';
import { ApplicationFailure } from '@temporalio/common';
import { buildBlockList } from '../config';
import {
  callFunction,
  FUNCTION_FAILURE,
  FunctionCallError,
  generateWebhookSecret,
  listMcpTools,
  signWebhook,
  toFunctionFailure,
  validateArguments,
  type FunctionCall,
  type FunctionTarget,
} from '../functions';
import { startMcpServer, type TestMcpServer } from './support/mcp-server';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver';

const allowLoopback = buildBlockList(['127.0.0.1']);
const context = { functionName: 'get_weather', userId: 'user-1', sessionId: 'session-1', messageId: 'msg-42' };

function call(
  target: FunctionTarget,
  args: Record<string, unknown>,
  extra: Partial<FunctionCall> = {},
): Promise<Awaited<ReturnType<typeof callFunction>>> {
  return callFunction({ target, arguments: args, context, timeoutMs: 5000, egressAllow: allowLoopback, ...extra });
}

/** The FunctionCallError `promise` rejects with (fails the test if it resolves or throws anything else). */
async function failure(promise: Promise<unknown>): Promise<FunctionCallError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof FunctionCallError, `expected a FunctionCallError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

describe('functions', () => {
  describe('arguments', () => {
    const schema = {
      type: 'object',
      properties: { city: { type: 'string' }, count: { type: 'number' }, unit: { enum: ['c', 'f'] } },
      required: ['city'],
    };

    it('accepts arguments that match the schema', async () => {
      assert.deepEqual(await validateArguments(schema, { city: 'Paris', count: 2 }), { ok: true });
    });

    it('names a missing required argument', async () => {
      assert.deepEqual(await validateArguments(schema, { count: 2 }), { ok: false, field: 'city', message: 'is required' });
    });

    it('names an argument of the wrong type and says which type it must be', async () => {
      assert.deepEqual(await validateArguments(schema, { city: 'Paris', count: 'two' }), {
        ok: false,
        field: 'count',
        message: 'must be a number',
      });
    });

    it('lists the allowed values of an enum', async () => {
      const check = await validateArguments(schema, { city: 'Paris', unit: 'k' });
      assert.equal(check.ok, false);
      assert.equal(!check.ok && check.field, 'unit');
      assert.match(!check.ok ? check.message : '', /must be one of "c", "f"/);
    });

    it('names nested fields with dots and indexes', async () => {
      const nested = {
        type: 'object',
        properties: { stops: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } } },
      };
      assert.deepEqual(await validateArguments(nested, { stops: [{ name: 'a' }, {}] }), {
        ok: false,
        field: 'stops[1].name',
        message: 'is required',
      });
    });

    it('reports a schema that does not compile instead of throwing', async () => {
      const check = await validateArguments({ type: 'object', properties: { a: { type: 'no-such-type' } } }, {});
      assert.equal(check.ok, false);
      assert.equal(!check.ok && check.field, '(parameters)');
    });
  });

  describe('MCP tools', () => {
    let mcp: TestMcpServer;
    const target = (tool: string, headers: Record<string, string> = {}): FunctionTarget => ({ kind: 'mcp', url: mcp.url, headers, tool });

    beforeEach(async () => {
      mcp = await startMcpServer();
    });
    afterEach(async () => {
      await mcp.close();
    });

    it('calls the configured tool with the arguments and returns its text', async () => {
      const answer = await call(target('get_weather'), { city: 'Paris' });
      assert.deepEqual(answer, { result: 'Sunny in Paris', contentType: 'text' });
      const toolCalls = mcp.requests.filter((r) => r.toolCall);
      assert.equal(toolCalls.length, 1);
      assert.deepEqual(toolCalls[0]!.toolCall, { name: 'get_weather', arguments: { city: 'Paris' } });
      assert.equal(mcp.requests[0]!.rpcMethods[0], 'initialize');
      assert.ok(mcp.requests.every((r) => r.authorization === undefined));
    });

    it('calls another tool on the same server', async () => {
      assert.equal((await call(target('add'), { a: 2, b: 3.5 })).result, '5.5');
    });

    it('refuses invalid arguments before anything is sent, naming the argument', async () => {
      const parameters = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
      const err = await failure(call(target('get_weather'), { town: 'Paris' }, { parameters }));
      assert.equal(err.type, FUNCTION_FAILURE.invalidArguments);
      assert.equal(err.retryable, false);
      assert.match(err.message, /argument city is required/);
      assert.equal(mcp.requests.length, 0);
    });

    it('a tool result with isError is a non-retryable FunctionToolError carrying the tool text', async () => {
      const err = await failure(call(target('get_weather'), { city: 'Nowhere' }));
      assert.equal(err.type, FUNCTION_FAILURE.toolError);
      assert.equal(err.retryable, false);
      assert.match(err.message, /no weather station in Nowhere/);
    });

    it('a tool the server does not have fails non-retryably, naming the tool', async () => {
      const err = await failure(call(target('get_forecast'), { city: 'Paris' }));
      assert.equal(err.type, FUNCTION_FAILURE.toolNotFound);
      assert.equal(err.retryable, false);
      assert.match(err.message, /no tool named "get_forecast"/);
    });

    it('a server that is down is a retryable connection failure', async () => {
      const url = mcp.url;
      await mcp.close();
      mcp = await startMcpServer(); // for afterEach; a different port
      const err = await failure(call({ kind: 'mcp', url, headers: {}, tool: 'get_weather' }, { city: 'Paris' }));
      assert.equal(err.type, FUNCTION_FAILURE.connection);
      assert.equal(err.retryable, true);
    });

    it('a 5xx from the server is a retryable server error', async () => {
      mcp.failNext(503);
      const err = await failure(call(target('get_weather'), { city: 'Paris' }));
      assert.equal(err.type, FUNCTION_FAILURE.serverError);
      assert.equal(err.retryable, true);
      assert.equal(err.status, 503);
    });

    it('never follows a redirect, not even one the SDK would follow (same origin)', async () => {
      mcp.failNext(307, 1, { location: mcp.url });
      const err = await failure(call(target('get_weather'), { city: 'Paris' }));
      assert.equal(err.type, FUNCTION_FAILURE.egressDenied);
      assert.equal(err.retryable, false);
      assert.equal(mcp.requests.length, 1);
    });

    it('a call that outlasts its timeout is a retryable timeout, on time', async () => {
      const started = Date.now();
      const err = await failure(call(target('get_weather'), { city: 'Slowtown' }, { timeoutMs: 500 }));
      assert.equal(err.type, FUNCTION_FAILURE.timeout);
      assert.equal(err.retryable, true);
      assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
    });

    it('lists the tools with their input schemas, under their real names', async () => {
      const tools = await listMcpTools({ url: mcp.url, headers: {}, timeoutMs: 5000, egressAllow: allowLoopback });
      assert.deepEqual(tools.map((t) => t.name).sort(), ['add', 'get-sum', 'get_weather', 'self.light.set_brightness']);
      const weather = tools.find((t) => t.name === 'get_weather')!;
      assert.equal(weather.description, 'The weather in a city');
      assert.equal(weather.inputSchema.type, 'object');
      assert.deepEqual((weather.inputSchema.properties as Record<string, { type: string }>).city!.type, 'string');
      assert.deepEqual(weather.inputSchema.required, ['city']);
      const add = tools.find((t) => t.name === 'add')!;
      assert.deepEqual(Object.keys(add.inputSchema.properties as object).sort(), ['a', 'b']);
    });

    it('is refused by the egress policy when loopback is not allow-listed, before any request', async () => {
      const err = await failure(call(target('get_weather'), { city: 'Paris' }, { egressAllow: new BlockList() }));
      assert.equal(err.type, FUNCTION_FAILURE.egressDenied);
      assert.equal(err.retryable, false);
      assert.equal(mcp.requests.length, 0);
    });
  });

  describe('MCP with a bearer token', () => {
    const token = 'mcp-token-' + generateWebhookSecret().slice(6, 20);
    let mcp: TestMcpServer;
    before(async () => {
      mcp = await startMcpServer({ token });
    });
    after(async () => {
      await mcp.close();
    });

    it('sends the configured header on every request', async () => {
      const before = mcp.requests.length;
      const answer = await call(
        { kind: 'mcp', url: mcp.url, headers: { Authorization: `Bearer ${token}` }, tool: 'get_weather' },
        { city: 'Oslo' },
      );
      assert.equal(answer.result, 'Sunny in Oslo');
      const sent = mcp.requests.slice(before);
      assert.ok(sent.length >= 2);
      for (const r of sent) assert.equal(r.authorization, `Bearer ${token}`);
    });

    it('without the token the server refuses (401), non-retryably, and no header value reaches the message', async () => {
      const team = 'kiwi-banana-mango-42';
      const wrong = 'Bearer wrong-token-value';
      const headers = { Authorization: wrong, 'X-Team': team };
      const err = await failure(call({ kind: 'mcp', url: mcp.url, headers, tool: 'get_weather' }, { city: 'Oslo' }));
      assert.equal(err.type, FUNCTION_FAILURE.rejected);
      assert.equal(err.retryable, false);
      assert.equal(err.status, 401);
      // The server echoed both values in its body; the message keeps the body's words, not the values.
      assert.match(err.message, /invalid credentials/);
      assert.match(err.message, /\[redacted\]/);
      assert.ok(!err.message.includes(team), err.message);
      assert.ok(!err.message.includes('wrong-token-value'), err.message);
      const failure_ = toFunctionFailure(err, 'function get_weather', [wrong, team]);
      assert.ok(!failure_.message.includes(team) && !failure_.message.includes('wrong-token-value'), failure_.message);
      assert.equal(failure_.nonRetryable, true);
    });

    it('listing tools needs the token too', async () => {
      const err = await failure(listMcpTools({ url: mcp.url, headers: {}, timeoutMs: 5000, egressAllow: allowLoopback }));
      assert.equal(err.status, 401);
      const tools = await listMcpTools({
        url: mcp.url,
        headers: { Authorization: `Bearer ${token}` },
        timeoutMs: 5000,
        egressAllow: allowLoopback,
      });
      assert.equal(tools.length, 4);
    });
  });

  describe('webhooks', () => {
    const secret = generateWebhookSecret();
    let hook: WebhookReceiver;
    const target = (): FunctionTarget => ({ kind: 'webhook', url: hook.url, secret });

    beforeEach(async () => {
      hook = await startWebhookReceiver(secret);
    });
    afterEach(async () => {
      await hook.close();
    });

    it('generates distinct secrets of the documented shape', () => {
      const other = generateWebhookSecret();
      assert.match(secret, /^whsec_[A-Za-z0-9_-]{43}$/);
      assert.notEqual(other, secret);
    });

    it('posts a signed JSON body with the message id as idempotency key', async () => {
      hook.script({ status: 200, json: { result: 'Sunny in Rome' } });
      const answer = await call(target(), { city: 'Rome' });
      assert.deepEqual(answer, { result: 'Sunny in Rome', contentType: 'text' });
      assert.equal(hook.received.length, 1);
      const got = hook.received[0]!;
      assert.equal(got.signatureValid, true);
      assert.equal(got.headers['idempotency-key'], 'msg-42');
      assert.equal(got.headers['content-type'], 'application/json');
      assert.deepEqual(got.body, {
        function: 'get_weather',
        arguments: { city: 'Rome' },
        user_id: 'user-1',
        session_id: 'session-1',
        message_id: 'msg-42',
      });
      const timestamp = Number(got.headers['x-switchboard-timestamp']);
      assert.ok(Math.abs(timestamp - Date.now() / 1000) < 10);
      assert.equal(got.headers['x-switchboard-signature'], signWebhook(secret, timestamp, got.rawBody));
      assert.match(String(got.headers['x-switchboard-signature']), /^v1=[0-9a-f]{64}$/);
      assert.ok(!got.rawBody.includes(secret));
      assert.ok(!JSON.stringify(got.headers).includes(secret));
    });

    it('a receiver with another secret refuses the signature (401, non-retryable)', async () => {
      const err = await failure(call({ kind: 'webhook', url: hook.url, secret: generateWebhookSecret() }, { city: 'Rome' }));
      assert.equal(hook.received[0]!.signatureValid, false);
      assert.equal(err.type, FUNCTION_FAILURE.rejected);
      assert.equal(err.status, 401);
      assert.equal(err.retryable, false);
    });

    it('returns JSON without a result field as compact JSON, and text as text', async () => {
      hook.script({ status: 200, json: { temp: 21, sky: 'clear' } }, { status: 201, text: 'plain answer' });
      assert.deepEqual(await call(target(), { city: 'Rome' }), { result: '{"temp":21,"sky":"clear"}', contentType: 'json' });
      assert.deepEqual(await call(target(), { city: 'Rome' }), { result: 'plain answer', contentType: 'text' });
    });

    it('a 500 is retryable and a second attempt with the same idempotency key succeeds', async () => {
      hook.script({ status: 500, text: 'database down' }, { status: 200, json: { result: 'ok now' } });
      const err = await failure(call(target(), { city: 'Rome' }));
      assert.equal(err.type, FUNCTION_FAILURE.serverError);
      assert.equal(err.retryable, true);
      assert.equal(err.status, 500);
      assert.equal((await call(target(), { city: 'Rome' })).result, 'ok now');
      assert.deepEqual(
        hook.received.map((r) => r.headers['idempotency-key']),
        ['msg-42', 'msg-42'],
      );
      const activityFailure = toFunctionFailure(err, 'function get_weather', [secret]);
      assert.ok(activityFailure instanceof ApplicationFailure);
      assert.equal(activityFailure.type, 'FunctionServerError');
      assert.equal(activityFailure.nonRetryable, false);
    });

    it('a 400 is non-retryable and quotes the start of the body', async () => {
      hook.script({ status: 400, text: 'city must be a real place ' + 'or else '.repeat(200) });
      const err = await failure(call(target(), { city: 'Rome' }));
      assert.equal(err.type, FUNCTION_FAILURE.rejected);
      assert.equal(err.retryable, false);
      assert.equal(err.status, 400);
      assert.match(err.message, /^HTTP 400: city must be a real place (or else )+(or e?l?s?e?)?…$/);
      assert.ok(err.message.length < 300);
      assert.equal(toFunctionFailure(err, 'function get_weather', [secret]).nonRetryable, true);
    });

    it('a 429 is retryable after the Retry-After the receiver asked for', async () => {
      hook.script({ status: 429, retryAfter: 7, text: 'slow down' });
      const err = await failure(call(target(), { city: 'Rome' }));
      assert.equal(err.type, FUNCTION_FAILURE.rateLimited);
      assert.equal(err.retryable, true);
      assert.equal(err.retryAfterMs, 7000);
      const activityFailure = toFunctionFailure(err, 'function get_weather', [secret]);
      assert.equal(activityFailure.nonRetryable, false);
      assert.equal(activityFailure.nextRetryDelay, 7000);
    });

    it('never follows a redirect, not even to the same receiver', async () => {
      hook.script({ status: 307, location: hook.url + '?again' });
      const err = await failure(call(target(), { city: 'Rome' }));
      assert.equal(err.type, FUNCTION_FAILURE.egressDenied);
      assert.equal(err.retryable, false);
      assert.equal(err.status, 307);
      assert.equal(hook.received.length, 1);
    });

    it('a loopback receiver is refused when not allow-listed, and no request reaches it', async () => {
      const err = await failure(call(target(), { city: 'Rome' }, { egressAllow: new BlockList() }));
      assert.equal(err.type, FUNCTION_FAILURE.egressDenied);
      assert.equal(err.retryable, false);
      assert.match(err.message, /EGRESS_ALLOW/);
      assert.equal(hook.received.length, 0);
      assert.equal(toFunctionFailure(err, 'function get_weather', [secret]).type, 'EgressDenied');
    });

    it('a host name that resolves to loopback is refused at connect time', async () => {
      const name = os.hostname();
      const addresses = await lookup(name, { all: true }).catch(() => []);
      // Debian maps the machine's own name to 127.0.1.1 in /etc/hosts, as on every machine this runs on.
      assert.ok(
        addresses.length && addresses.every((a) => a.address.startsWith('127.')),
        `${name} should resolve to loopback: ${JSON.stringify(addresses)}`,
      );
      const url = hook.url.replace('127.0.0.1', name);
      const err = await failure(call({ kind: 'webhook', url, secret }, { city: 'Rome' }, { egressAllow: new BlockList() }));
      assert.equal(err.type, FUNCTION_FAILURE.egressDenied);
      assert.match(err.message, /resolves to an address that is not allowed/);
      assert.equal(hook.received.length, 0);
      // The same name with loopback allowed goes through: the refusal came from the policy, not the name.
      assert.equal((await call({ kind: 'webhook', url, secret }, { city: 'Rome' })).result, '{"ok":true}');
    });

    it('a response over 256 KiB fails non-retryably; one under it is returned whole', async () => {
      hook.script({ status: 200, bytes: 300 * 1024 }, { status: 200, bytes: 200 * 1024 });
      const err = await failure(call(target(), { city: 'Rome' }));
      assert.equal(err.type, FUNCTION_FAILURE.responseTooLarge);
      assert.equal(err.retryable, false);
      assert.match(err.message, /larger than 256 KiB/);
      assert.equal((await call(target(), { city: 'Rome' })).result.length, 200 * 1024);
    });

    it('a receiver slower than the timeout is a retryable timeout, on time', async () => {
      hook.script({ status: 200, delayMs: 2000, text: 'late' });
      const started = Date.now();
      const err = await failure(call(target(), { city: 'Rome' }, { timeoutMs: 300 }));
      assert.equal(err.type, FUNCTION_FAILURE.timeout);
      assert.equal(err.retryable, true);
      assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
    });

    it("the caller's signal cancels the call", async () => {
      hook.script({ status: 200, delayMs: 2000, text: 'late' });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const started = Date.now();
      const err = await failure(call(target(), { city: 'Rome' }, { signal: controller.signal }));
      assert.equal(err.type, FUNCTION_FAILURE.timeout);
      assert.match(err.message, /aborted/);
      assert.ok(Date.now() - started < 1500);
    });

    it('a receiver that echoes the secret does not get it into any message', async () => {
      hook.script({ status: 403, text: `refused, your secret ${secret} is revoked` });
      const err = await failure(call(target(), { city: 'Rome' }));
      assert.equal(err.status, 403);
      assert.match(err.message, /refused, your secret \[redacted\] is revoked/);
      assert.ok(!err.message.includes(secret));
      // A raw error that never went through callFunction is scrubbed by toFunctionFailure as well.
      const raw = new Error(`boom with ${secret} inside`);
      const activityFailure = toFunctionFailure(raw, 'function get_weather', [secret]);
      assert.ok(!activityFailure.message.includes(secret), activityFailure.message);
      assert.match(activityFailure.message, /^function get_weather: boom with \[redacted\] inside$/);
    });
  });
});
