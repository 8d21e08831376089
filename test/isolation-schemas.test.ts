// Issue 14, findings 2, 3 and 5: a user's JSON Schema is code the service runs. A `$ref` bomb, a
// backtracking pattern and `uniqueItems` over a long array are refused at create or stopped at
// their budget, through `/test` and through a message (the real session workflow on the Temporal
// dev server); meanwhile another user's GET is timed (watchBystander). Each schema resolves `$ref`s
// only within itself, and the compiled-schema cache stays within its caps. The event loop's lag is
// on /metrics, and a blocked loop or an overrun is logged naming the config.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { compiledSchemaCache, validateArguments } from '../functions';
import { watchEventLoop } from '../lib/event-loop';
import { reportBystander, STALL_BOUND_MS, watchBystander } from './support/bystander';
import { uniqueId } from './support/context';
import { eventually } from './support/eventually';
import { createFunctionConfigRow } from './support/llm-configs';
import { capturingLogger } from './support/logger';
import { ROUTER_MODEL, startSessionHarness, type SessionHarness } from './support/session-harness';
import { startTestApi, type TestApi } from './support/api';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver';

const WEBHOOK_SECRET = 'whsec_isolation-schemas-5e1b7c93';

/** `levels` `$defs`, each an `anyOf` of two `$ref`s to the next: 2^levels paths in a couple of KB. */
function refBomb(levels: number): Record<string, unknown> {
  const defs: Record<string, unknown> = {};
  for (let i = 0; i < levels; i++) defs[`d${i}`] = { anyOf: [{ $ref: `#/$defs/d${i + 1}` }, { $ref: `#/$defs/d${i + 1}` }] };
  defs[`d${levels}`] = { type: 'string' };
  return { type: 'object', $defs: defs, properties: { x: { $ref: '#/$defs/d0' } } };
}

const BACKTRACKING = { type: 'object', properties: { s: { type: 'string', pattern: '^(a+)+$' } }, required: ['s'] };
const BACKTRACKING_INPUT = `${'a'.repeat(32)}!`;
const UNIQUE_ITEMS = { type: 'object', properties: { items: { type: 'array', uniqueItems: true } } };

describe('isolation: users’ JSON Schemas (issue 14, findings 2, 3, 5)', function () {
  this.timeout(180_000);
  const { logger, lines } = capturingLogger();
  let api: TestApi;
  let h: SessionHarness;
  let hook: WebhookReceiver;
  let stopWatching: () => void;
  const bystander = uniqueId('bystander');
  const probe = async () => {
    const response = await api.request('GET', '/api/v1/ai-configs', { user: bystander });
    assert.equal(response.status, 200);
  };

  before(async () => {
    stopWatching = watchEventLoop(logger);
    api = await startTestApi({ RATE_LIMIT_PER_MINUTE: '100000' });
    h = await startSessionHarness({ logger });
    hook = await startWebhookReceiver(WEBHOOK_SECRET);
  });
  after(async () => {
    stopWatching?.();
    await h?.close();
    await hook?.close();
    await api?.close();
  });

  const fn = (parameters: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    config_name: uniqueId('fn'),
    config_type: 'function_call',
    description: 'A function with a hostile schema',
    function_name: 'hostile',
    parameters,
    webhook_url: hook.url,
    ...extra,
  });

  /** A config stored before schemas were checked at create: straight into the table. */
  const storedRow = (ctx: Parameters<typeof createFunctionConfigRow>[0], userId: string, parameters: Record<string, unknown>) =>
    createFunctionConfigRow(ctx, userId, {
      config_name: uniqueId('stored'),
      description: 'A function stored before schemas were checked',
      function_name: 'hostile',
      parameters,
      webhook_url: hook.url,
      webhook_secret: WEBHOOK_SECRET,
    });

  function fieldError(body: { errors?: { field: string; message: string }[] }, field: string): string {
    const error = body.errors?.find((e) => e.field === field);
    assert.ok(error, `an error on ${field}: ${JSON.stringify(body)}`);
    return error.message;
  }

  async function trial(user: string, id: number, args: Record<string, unknown>) {
    return api.request('POST', `/api/v1/ai-configs/${id}/test`, { user, body: { arguments: args } });
  }

  /** A message whose router picks the function with `args`, answered through the real workflow. */
  async function message(userId: string, args: Record<string, unknown>) {
    await h.createLLMConfig(userId, { model_name: uniqueId('chat') });
    const s = await h.startSession({ userId, label: 'isolation-schemas' });
    h.llm.script(ROUTER_MODEL, { toolCall: 'hostile', arguments: args });
    return s.ask('run the hostile function');
  }

  describe('refused at create and update (400 naming parameters)', () => {
    it('the $ref bomb', async () => {
      const user = uniqueId('user');
      const bomb = refBomb(26);
      assert.ok(JSON.stringify(bomb).length < 2_000, 'a couple of KB');
      const created = await api.request('POST', '/api/v1/ai-configs', { user, body: fn(bomb) });
      assert.equal(created.status, 400);
      assert.match(fieldError(created.body, 'parameters'), /\$refs expand to more than/);

      const fine = await api.request('POST', '/api/v1/ai-configs', { user, body: fn({ type: 'object' }) });
      assert.equal(fine.status, 201, JSON.stringify(fine.body));
      const patched = await api.request('PATCH', `/api/v1/ai-configs/${fine.body.data.id}`, { user, body: { parameters: bomb } });
      assert.equal(patched.status, 400);
      assert.match(fieldError(patched.body, 'parameters'), /\$refs expand/);
    });

    it('a pattern only a backtracking engine runs, and more $refs than the cap', async () => {
      const user = uniqueId('user');
      const lookahead = { type: 'object', properties: { s: { type: 'string', pattern: '^(?=a)a+$' } } };
      const refused = await api.request('POST', '/api/v1/ai-configs', { user, body: fn(lookahead) });
      assert.equal(refused.status, 400);
      assert.match(fieldError(refused.body, 'parameters'), /linear-time/);

      const properties = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`p${i}`, { $ref: '#/$defs/s' }]));
      const manyRefs = { type: 'object', $defs: { s: { type: 'string' } }, properties };
      const tooMany = await api.request('POST', '/api/v1/ai-configs', { user, body: fn(manyRefs) });
      assert.equal(tooMany.status, 400);
      assert.match(fieldError(tooMany.body, 'parameters'), /more than 64 \$refs/);
    });
  });

  describe('a bomb stored before this change is stopped at its budget', () => {
    it('through /test: a clear failure, the process lives, another user is answered', async () => {
      const user = uniqueId('user');
      const config = await storedRow(api, user, refBomb(26));
      const watched = await watchBystander(() => trial(user, config.id, { x: 1 }), probe);
      reportBystander('2: $ref bomb via /test', watched);
      const response = watched.result!;
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(response.body.data.status, 'failed');
      assert.equal(response.body.data.error_type, 'FunctionSchemaOverBudget');
      assert.match(response.body.data.error, /parameter schema could not be checked/);
      assert.ok(watched.max < STALL_BOUND_MS, `bystander max ${watched.max} ms`);
      await probe(); // the process survived
      // The overrun is logged naming the config and its user.
      const warning = lines.find((l) => l.includes('overran its budget') && l.includes(`"configId":${config.id}`));
      assert.ok(warning, 'a warning names the config');
      assert.ok(warning.includes(`"userId":"${user}"`));
      assert.equal(hook.received.length, 0, 'the webhook was never called');
    });

    it('through a message: the session answers failed, another user is answered', async () => {
      const userId = uniqueId('user');
      const config = await storedRow(h.ctx, userId, refBomb(26));
      const watched = await watchBystander(() => message(userId, { x: 1 }), probe);
      reportBystander('2: $ref bomb via a message', watched);
      const result = watched.result!;
      assert.equal(result.status, 'failed');
      assert.match(result.error ?? '', /parameter schema could not be checked/);
      assert.ok(watched.max < STALL_BOUND_MS, `bystander max ${watched.max} ms`);
      assert.ok(lines.some((l) => l.includes('overran its budget') && l.includes(`"configId":${config.id}`)));
      await probe();
    });
  });

  describe('backtracking patterns and uniqueItems', () => {
    it('^(a+)+$ against 32 a and ! through /test: refused on the argument, promptly', async () => {
      const user = uniqueId('user');
      const created = await api.request('POST', '/api/v1/ai-configs', { user, body: fn(BACKTRACKING) });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const watched = await watchBystander(() => trial(user, created.body.data.id, { s: BACKTRACKING_INPUT }), probe);
      reportBystander('3: ^(a+)+$ via /test', watched);
      assert.equal(watched.result!.status, 400);
      assert.match(fieldError(watched.result!.body, 'arguments.s'), /must match pattern/);
      assert.ok(watched.max < STALL_BOUND_MS, `bystander max ${watched.max} ms`);
    });

    it('^(a+)+$ through a message: answered failed, naming the argument', async () => {
      const userId = uniqueId('user');
      await storedRow(h.ctx, userId, BACKTRACKING);
      const watched = await watchBystander(() => message(userId, { s: BACKTRACKING_INPUT }), probe);
      reportBystander('3: ^(a+)+$ via a message', watched);
      assert.equal(watched.result!.status, 'failed');
      assert.match(watched.result!.error ?? '', /argument s must match pattern/);
      assert.ok(watched.max < STALL_BOUND_MS, `bystander max ${watched.max} ms`);
    });

    // The probe's 20,000 items take about the budget itself on this machine (the result then depends
    // on the load); 40,000 (4x the work, still under BODY_LIMIT_BYTES) are over it on any machine.
    it('uniqueItems over 40,000 items through /test: stopped at the budget', async () => {
      const user = uniqueId('user');
      const created = await api.request('POST', '/api/v1/ai-configs', { user, body: fn(UNIQUE_ITEMS) });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const items = Array.from({ length: 40_000 }, (_, i) => i);
      const watched = await watchBystander(() => trial(user, created.body.data.id, { items }), probe);
      reportBystander('3: uniqueItems over 40,000 via /test', watched);
      assert.equal(watched.result!.body.data.status, 'failed', JSON.stringify(watched.result!.body));
      assert.equal(watched.result!.body.data.error_type, 'FunctionSchemaOverBudget');
      assert.ok(watched.max < STALL_BOUND_MS, `bystander max ${watched.max} ms`);
    });
  });

  describe('one registry per schema', () => {
    const privateEnum = ['alice-secret-plan-7', 'alice-secret-plan-9'];
    const sharedId = 'https://schemas.example/shared';

    it('two users may use the same $id, and each is checked against their own', async () => {
      const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
      const aliceSchema = { $id: sharedId, type: 'object', properties: { plan: { enum: privateEnum } } };
      const bobSchema = { $id: sharedId, type: 'object', properties: { plan: { enum: ['basic'] } } };
      const a = await api.request('POST', '/api/v1/ai-configs', { user: alice, body: fn(aliceSchema) });
      const b = await api.request('POST', '/api/v1/ai-configs', { user: bob, body: fn(bobSchema) });
      assert.equal(a.status, 201, JSON.stringify(a.body));
      assert.equal(b.status, 201, JSON.stringify(b.body));
      const bobTrial = await trial(bob, b.body.data.id, { plan: 'x' });
      assert.equal(bobTrial.status, 400);
      assert.equal(fieldError(bobTrial.body, 'arguments.plan'), 'must be one of "basic"');
    });

    it("bob's $ref to alice's $id does not resolve, and none of alice's values reach bob", async () => {
      const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
      const aliceSchema = { $id: sharedId, type: 'object', properties: { plan: { enum: privateEnum } } };
      assert.equal((await api.request('POST', '/api/v1/ai-configs', { user: alice, body: fn(aliceSchema) })).status, 201);
      // Alice's schema compiled and warm in the checker, as it would be in a busy process.
      assert.equal((await validateArguments(aliceSchema, { plan: privateEnum[0] })).ok, true);
      const probing = { type: 'object', properties: { p: { $ref: sharedId } } };
      const refused = await api.request('POST', '/api/v1/ai-configs', { user: bob, body: fn(probing) });
      assert.equal(refused.status, 400);
      fieldError(refused.body, 'parameters');
      // Stored before this change: at call time it fails the same way.
      const stored = await storedRow(api, bob, probing);
      const tried = await trial(bob, stored.id, { p: 'x' });
      assert.equal(tried.status, 400);
      assert.match(fieldError(tried.body, 'arguments.(parameters)'), /can't resolve reference/);
      for (const text of [JSON.stringify(refused.body), JSON.stringify(tried.body)]) {
        for (const value of privateEnum) assert.ok(!text.includes(value), `${value} leaked to bob`);
      }
    });
  });

  it('the compiled-schema cache stays within its caps (count and bytes)', async () => {
    const cap = compiledSchemaCache();
    let fullest = 0;
    // 20 KB schemas, more than the byte cap holds, then tiny ones, more than the count cap.
    for (let i = 0; i < 260; i++) {
      const check = await validateArguments({ type: 'object', description: `${i} ${'x'.repeat(20_000)}` }, {});
      assert.equal(check.ok, true);
      const cache = compiledSchemaCache();
      assert.ok(cache.bytes <= cap.maxBytes, `${cache.bytes} bytes`);
      fullest = Math.max(fullest, cache.bytes);
    }
    assert.ok(fullest > cap.maxBytes / 2, `the cache filled (${fullest} bytes at most)`);
    let most = 0;
    for (let i = 0; i < cap.maxEntries * 2 + 50; i++) {
      await validateArguments({ type: 'object', properties: { [`p${i}`]: { type: 'string' } } }, {});
      const cache = compiledSchemaCache();
      assert.ok(cache.entries <= cap.maxEntries, `${cache.entries} entries`);
      most = Math.max(most, cache.entries);
    }
    assert.equal(most, cap.maxEntries, 'the count cap was reached and held');
  });

  it('the event-loop lag is on /metrics, and a blocked loop is logged naming the running config', async () => {
    // A webhook that blocks this process's event loop while answering: the function step is running.
    const blocking = http.createServer((_req, res) => {
      const until = performance.now() + 800;
      while (performance.now() < until); // the stall under test
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ result: 'done' }));
    });
    await new Promise<void>((resolve) => blocking.listen(0, '127.0.0.1', resolve));
    try {
      const user = uniqueId('user');
      const url = `http://127.0.0.1:${(blocking.address() as AddressInfo).port}/hook`;
      const config = await createFunctionConfigRow(api, user, {
        config_name: uniqueId('slow'),
        description: 'A webhook that blocks the loop',
        function_name: 'slow',
        parameters: { type: 'object' },
        webhook_url: url,
        webhook_secret: WEBHOOK_SECRET,
      });
      const tried = await trial(user, config.id, {});
      assert.equal(tried.body.data.status, 'success', JSON.stringify(tried.body));
      const warning = await eventually(
        () => lines.find((l) => l.includes('the event loop was blocked') && l.includes(`"configId":${config.id}`)) ?? false,
      );
      assert.ok(warning.includes(`"userId":"${user}"`));
      assert.ok(!warning.includes(WEBHOOK_SECRET));
    } finally {
      await new Promise((resolve) => blocking.close(resolve));
    }
    const metrics = await api.request('GET', '/metrics');
    assert.equal(metrics.status, 200);
    const count = /event_loop_lag_seconds_count (\d+)/.exec(metrics.body);
    assert.ok(count && Number(count[1]) > 0, 'lag samples are counted');
    assert.match(metrics.body, /event_loop_lag_seconds_bucket\{le="1"\} \d+/);
  });
});
