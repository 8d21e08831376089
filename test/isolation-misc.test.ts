// Issue 14, findings 4, 9, 10, 11 and 12, each replaying its probe on real components: the
// similarity router on hostile descriptions and messages (pure, and through a socket on the real
// workflow while another user's session is timed), 100 concurrent opens against a session cap of
// 20, a codec-scoped token on the API and the gateway, temperatures a REAL column cannot hold, and
// concurrent PATCHes of base_url and api_key.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type RoutingCandidate, type SessionSettings } from '../contract';
import { routeWithoutRouter, ROUTING_BOUNDS } from '../routing';
import { mintToken } from '../lib/auth';
import { reportBystander, STALL_BOUND_MS, watchBystander } from './support/bystander';
import { startTestApi, type TestApi } from './support/api';
import { uniqueId } from './support/context';
import { createFunctionConfigRow } from './support/llm-configs';
import { startStack, type TestStack } from './support/stack';
import { TestSocket } from './support/ws-client';

const SESSION_CAP = 20;
const PARENS = '('.repeat(30_000);
const CAPITALS = 'A'.repeat(60_000);

/** A function config whose one parameter is described by 30,000 `(` (the probe of finding 4). */
function parenthesisParameters(): Record<string, unknown> {
  return { type: 'object', properties: { city: { type: 'string', description: PARENS } }, required: ['city'] };
}

describe('isolation: routing, session cap, codec scope, numbers, key and base_url (issue 14: 4, 9-12)', function () {
  this.timeout(180_000);

  describe('on the message path (gateway, worker, real workflow)', function () {
    let stack: TestStack;

    before(async function () {
      stack = await startStack({ MAX_SESSIONS_PER_USER: String(SESSION_CAP) });
    });

    after(async function () {
      await stack?.close();
    });

    it('4: routes a 60,000-`A` message past three configs described by 30,000 `(` without stalling anyone', async function () {
      // The pure function first: the workflow's way (no bounds) and the activities' (ROUTING_BOUNDS).
      const settings: SessionSettings = { default_llm_id: null, enabled_functions: null, role: null };
      const candidates: RoutingCandidate[] = [1, 2, 3].map((id) => ({
        id,
        config_name: `paren-${id}`,
        config_type: 'function_call',
        description: PARENS.slice(0, 4000),
        model_name: null,
        function_name: `paren_${id}`,
        is_active: true,
        priority: 0,
        parameters: parenthesisParameters(),
      }));
      for (const [label, bounds] of [
        ['unbounded', undefined],
        ['bounded', ROUTING_BOUNDS],
      ] as const) {
        const started = performance.now();
        const decision = routeWithoutRouter(candidates, settings, CAPITALS, 'probe', bounds);
        const ms = performance.now() - started;
        process.stdout.write(`      routing (${label}) of a 60,000-A message over three 30,000-( configs: ${ms.toFixed(1)} ms\n`);
        assert.equal(decision.kind, 'none'); // nothing matches, and no LLM config is offered
        assert.ok(ms < STALL_BOUND_MS, `${label} routing took ${ms} ms`);
      }

      // Then through a socket: the hostile user's configs, message and session; another user's
      // session answers meanwhile.
      const hostile = await stack.newUser('paren');
      for (const n of [1, 2, 3]) {
        await createFunctionConfigRow(stack.tc.ctx, hostile.userId, {
          config_name: `paren-${n}`,
          description: PARENS.slice(0, 4000),
          function_name: `paren_${n}`,
          parameters: parenthesisParameters(),
          webhook_url: 'http://127.0.0.1:9/never-called',
        });
      }
      const bystander = await stack.newUser('bystander');
      const hostileSocket = await TestSocket.open(stack.url, { token: hostile.token, deviceId: 'hostile' });
      const bystanderSocket = await TestSocket.open(stack.url, { token: bystander.token, deviceId: 'bystander' });
      await Promise.all([hostileSocket.next('hello'), bystanderSocket.next('hello')]);
      let probes = 0;
      const watched = await watchBystander(
        async () => {
          hostileSocket.send({ type: 'message', id: 'caps', text: CAPITALS });
          return hostileSocket.next('function_call_result', (f) => f.id === 'caps', 120_000);
        },
        async () => {
          const id = `b-${probes++}`;
          bystanderSocket.send({ type: 'message', id, text: 'hello there' });
          const result = await bystanderSocket.next('function_call_result', (f) => f.id === id);
          assert.equal(result.status, 'success');
        },
      );
      reportBystander('4 similarity router (60,000 A over three 30,000-( configs, socket)', watched);
      assert.equal(watched.error, undefined);
      const result = watched.result!;
      assert.equal(result.status, 'success');
      assert.equal(result.routed_by, 'fallback'); // no description matched: the default LLM config answered
      assert.ok(result.result.startsWith(`[${hostile.model}] AAAA`));
      assert.ok(watched.max < STALL_BOUND_MS, `bystander max ${watched.max} ms`);
      await Promise.all([hostileSocket.close(), bystanderSocket.close()]);
    });

    it('9: 100 concurrent opens against a cap of 20 open 20 (the rest 409 session_limit_reached); a resume still works', async function () {
      const user = await stack.newUser('opener');
      const attempts = await Promise.allSettled(
        Array.from({ length: 100 }, (_, i) => TestSocket.open(stack.url, { token: user.token, deviceId: `d-${i}` })),
      );
      const opened = attempts.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
      const refused = attempts.flatMap((a) =>
        a.status === 'rejected' ? [a.reason as { refusal?: { status: number; body: unknown } }] : [],
      );
      process.stdout.write(`      100 concurrent opens, cap ${SESSION_CAP}: ${opened.length} opened, ${refused.length} refused\n`);
      assert.ok(opened.length <= SESSION_CAP, `${opened.length} sessions opened`);
      assert.ok(opened.length > 0);
      for (const error of refused) {
        assert.equal(error.refusal?.status, 409, JSON.stringify(error.refusal ?? String(error)));
        assert.equal((error.refusal.body as { error: string }).error, 'session_limit_reached');
      }
      const active = await stack.tc.ctx.db.models.UserSessionConfig.count({ where: { user_id: user.userId, status: 'active' } });
      assert.equal(active, opened.length);

      const hellos = await Promise.all(opened.map((socket) => socket.next('hello')));
      const first = hellos[0]!.session_id;
      await Promise.all(opened.map((socket) => socket.close()));
      // Resuming is always allowed, even at the cap; a new session is not.
      const resumed = await TestSocket.open(stack.url, { token: user.token, sessionId: first });
      assert.equal((await resumed.next('hello')).resumed, true);
      if (opened.length === SESSION_CAP) {
        const more = await TestSocket.refusal(stack.url, { token: user.token, deviceId: 'one-more' });
        assert.equal(more.status, 409);
      }
      await resumed.close();
    });

    it('10: a codec-scoped token is refused on /ws (403), and a user token of the same user is not', async function () {
      const userId = uniqueId('auditor');
      const codecToken = await mintToken(stack.tc.ctx.secrets.jwtSecret!, userId, { scopes: ['codec'] });
      const refusal = await TestSocket.refusal(stack.url, { token: codecToken, deviceId: 'codec' });
      assert.equal(refusal.status, 403);
      assert.equal((refusal.body as { error: string }).error, 'forbidden');
      const viaQuery = await TestSocket.refusal(stack.url, { query: { token: codecToken } });
      assert.equal(viaQuery.status, 403);
      const active = await stack.tc.ctx.db.models.UserSessionConfig.count({ where: { user_id: userId } });
      assert.equal(active, 0);
      const control = await TestSocket.open(stack.url, { token: await stack.tc.token(userId), deviceId: 'user' });
      await control.next('hello');
      await control.close();
    });
  });

  describe('on the REST API', function () {
    let api: TestApi;

    before(async function () {
      api = await startTestApi({ TEMPORAL_PAYLOAD_KEY: randomBytes(32).toString('base64') });
    });

    after(async function () {
      await api?.close();
    });

    it('10: a codec-scoped token is a 403 on /api/v1 (in the envelope) and still encodes and decodes on /codec', async function () {
      const userId = uniqueId('auditor');
      const codecToken = await mintToken(api.jwtSecret, userId, { scopes: ['codec'] });
      const llm = { config_name: 'via-codec', config_type: 'llm', model_name: 'm', base_url: 'http://127.0.0.1:9/v1' };
      for (const [method, path, body] of [
        ['GET', '/api/v1/ai-configs', undefined],
        ['POST', '/api/v1/ai-configs', llm],
        ['GET', '/api/v1/sessions', undefined],
        ['GET', '/api/v1/llm-types', undefined],
        ['DELETE', '/api/v1/ai-configs/1', undefined],
      ] as const) {
        const response = await api.request(method, path, { token: codecToken, body });
        assert.equal(response.status, 403, `${method} ${path}: ${JSON.stringify(response.body)}`);
        assert.equal(response.body.code, 403);
        assert.equal(response.body.error, 'forbidden');
        assert.equal(response.body.data, null);
      }
      assert.equal(await api.db.models.UserAIConfig.count({ where: { user_id: userId } }), 0);
      // The same user's plain token is served.
      assert.equal((await api.request('GET', '/api/v1/ai-configs', { user: userId })).status, 200);

      const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"hi"').toString('base64') };
      const codec = (direction: string, payloads: unknown[]) =>
        api.request('POST', `/codec/${direction}`, { token: codecToken, body: { payloads } });
      const encoded = await codec('encode', [plain]);
      assert.equal(encoded.status, 200, JSON.stringify(encoded.body));
      const decoded = await codec('decode', encoded.body.payloads);
      assert.equal(decoded.status, 200, JSON.stringify(decoded.body));
      assert.deepEqual(decoded.body.payloads, [plain]);
    });

    it('11: a temperature the REAL column cannot hold is a 400 naming temperature on POST, PUT, PATCH and the nested spelling', async function () {
      const user = uniqueId('numbers');
      const base = { config_type: 'llm', model_name: 'm', base_url: 'http://127.0.0.1:9/v1' };
      const created = await api.request('POST', '/api/v1/ai-configs', { user, body: { ...base, config_name: 'tiny' } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.data.id as number;
      for (const temperature of [1e-46, 2.77e-148, 1e-39]) {
        const attempts: [string, string, unknown][] = [
          ['POST', '/api/v1/ai-configs', { ...base, config_name: uniqueId('t'), temperature }],
          ['POST', '/api/v1/ai-configs', { name: uniqueId('t'), ai_type: 'llm', model_name: 'm', parameters: { temperature } }],
          ['PUT', `/api/v1/ai-configs/${id}`, { ...base, config_name: 'tiny', temperature }],
          ['PATCH', `/api/v1/ai-configs/${id}`, { temperature }],
          ['PATCH', `/api/v1/ai-configs/${id}`, { parameters: { temperature } }],
        ];
        for (const [method, path, body] of attempts) {
          const response = await api.request(method, path, { user, body });
          assert.equal(response.status, 400, `${method} ${temperature} ${JSON.stringify(body)}: ${JSON.stringify(response.body)}`);
          assert.deepEqual(
            response.body.errors.map((e: { field: string }) => e.field),
            ['temperature'],
          );
        }
      }
      // The smallest normal float and 0 are stored and read back.
      for (const temperature of [0, 2 ** -126, 0.7]) {
        const patched = await api.request('PATCH', `/api/v1/ai-configs/${id}`, { user, body: { temperature } });
        assert.equal(patched.status, 200, JSON.stringify(patched.body));
        const read = await api.request('GET', `/api/v1/ai-configs/${id}`, { user });
        assert.ok(Math.abs(read.body.data.temperature - temperature) <= temperature * 1e-6, `${read.body.data.temperature}`);
      }
      // The integer columns refuse what they cannot hold the same way.
      for (const [field, value] of [
        ['max_tokens', 2 ** 31],
        ['priority', 2 ** 31],
        ['max_tokens', 1e300],
      ] as const) {
        const response = await api.request('PATCH', `/api/v1/ai-configs/${id}`, { user, body: { [field]: value } });
        assert.equal(response.status, 400, `${field}=${value}: ${JSON.stringify(response.body)}`);
        assert.deepEqual([...new Set(response.body.errors.map((e: { field: string }) => e.field))], [field]);
      }
    });

    it('12: concurrent PATCH {base_url: X, api_key: null} and PATCH {api_key: K}, 15 times, never store K for X behind a client that saw the old URL', async function () {
      const user = uniqueId('race');
      const oldUrl = 'http://127.0.0.1:9/old/v1';
      const created = await api.request('POST', '/api/v1/ai-configs', {
        user,
        body: { config_type: 'llm', config_name: 'race', model_name: 'm', base_url: oldUrl, api_key: 'sk-original-key-0000' },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.data.id as number;
      const path = `/api/v1/ai-configs/${id}`;
      const outcomes = new Map<string, number>();
      for (let run = 0; run < 15; run++) {
        const reset = await api.request('PUT', path, {
          user,
          body: { config_type: 'llm', config_name: 'race', model_name: 'm', base_url: oldUrl, api_key: `sk-original-key-${run}000` },
        });
        assert.equal(reset.status, 200, JSON.stringify(reset.body));
        const newUrl = `http://127.0.0.1:9/new-${run}/v1`;
        const key = `sk-racing-key-${run}-abcd`;
        const [move, setKey] = await Promise.all([
          api.request('PATCH', path, { user, body: { base_url: newUrl, api_key: null } }),
          api.request('PATCH', path, { user, body: { api_key: key } }),
        ]);
        assert.equal(move.status, 200, JSON.stringify(move.body));
        assert.equal(setKey.status, 200, JSON.stringify(setKey.body));
        const row = await api.db.models.UserAIConfig.findByPk(id);
        const stored = row!.api_key === null ? null : api.secretBox.decrypt(row!.api_key);
        const final = { base_url: row!.base_url, key: stored };
        // Serial outcomes only: the key request last (it saw the new URL, and its answer says so),
        // or the move last (no key for the new URL). K stored for X by a request that saw the old
        // URL is the race this finding is about.
        if (final.key === key) {
          assert.equal(
            setKey.body.data.base_url,
            final.base_url,
            `K stored for ${final.base_url} by a request that saw ${setKey.body.data.base_url}`,
          );
          assert.ok(final.base_url === oldUrl || setKey.body.data.base_url === newUrl);
        } else {
          assert.deepEqual(final, { base_url: newUrl, key: null });
          assert.equal(move.body.data.has_api_key, false);
        }
        const label =
          final.key === key ? (final.base_url === newUrl ? 'move, then key (K for X, seen)' : 'K for old') : 'key, then move (null for X)';
        outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
      }
      process.stdout.write(`      15 races: ${JSON.stringify(Object.fromEntries(outcomes))}\n`);
    });
  });
});
