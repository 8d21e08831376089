// User API keys (issue 17, first increment): create, list and revoke under /api/v1/api-keys; a key
// authenticates /v1 (GET /v1/models, with the real openai SDK) and the WebSocket; revocation holds
// at once across replicas; /v1 answers errors in OpenAI's shape. Real API processes' code on real
// sockets, the run's PostgreSQL, the shared Temporal dev server for the socket part.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import OpenAI from 'openai';
import { QueryTypes } from 'sequelize';
import { mintToken } from '../lib/auth';
import { startTestApi, type TestApi } from './support/api';
import { uniqueId } from './support/context';
import { startStack, type TestStack } from './support/stack';
import { recordResponse } from './support/secret-scan';
import { TestSocket } from './support/ws-client';

const KEY_PATTERN = /^sb-[A-Za-z0-9_-]{43}$/;

/** Rate limits count in fixed one-minute windows: a test that counts to a limit starts well inside one. */
async function awayFromWindowEdge(): Promise<void> {
  const into = Date.now() % 60_000;
  if (into > 55_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - into + 100));
}

interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** A GET with a Host header of our choosing (fetch cannot set Host). */
function withHost(base: string, path: string, host: string, token: string): Promise<{ status: number; body: OpenAiErrorBody }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path, headers: { Host: host, Authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        recordResponse(text);
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as OpenAiErrorBody });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('API keys', function () {
  this.timeout(120_000);
  let api: TestApi;

  before(async () => {
    api = await startTestApi();
  });
  after(async () => {
    await api?.close();
  });

  async function createKey(
    user: string,
    body: Record<string, unknown> = { name: 'laptop' },
  ): Promise<{ id: number; key: string; prefix: string }> {
    const created = await api.request('POST', '/api/v1/api-keys', { user, body });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body.data;
  }

  async function llmConfig(user: string, name: string, extra: Record<string, unknown> = {}): Promise<void> {
    const created = await api.request('POST', '/api/v1/ai-configs', {
      user,
      body: { config_name: name, config_type: 'llm', model_name: 'gpt-test', base_url: 'http://127.0.0.1:9/v1', ...extra },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }

  describe('managing keys', () => {
    it('creates a key shown once (sb-, 256 bits), stores only its SHA-256, and lists it without the key', async () => {
      const user = uniqueId('keys');
      const expires = new Date(Date.now() + 86_400_000).toISOString();
      const created = await api.request('POST', '/api/v1/api-keys', { user, body: { name: ' ci runner ', expires_at: expires } });
      assert.equal(created.status, 201);
      const data = created.body.data;
      assert.deepEqual(Object.keys(data).sort(), ['created_at', 'expires_at', 'id', 'key', 'name', 'prefix']);
      assert.match(data.key, KEY_PATTERN);
      assert.equal(data.name, 'ci runner');
      assert.equal(data.prefix, data.key.slice(0, 11));
      assert.equal(data.expires_at, expires);

      const [row] = await api.db.sequelize.query<Record<string, unknown>>('SELECT * FROM api_keys WHERE id = :id', {
        replacements: { id: data.id },
        type: QueryTypes.SELECT,
      });
      assert.equal(row!.key_hash, createHash('sha256').update(data.key).digest('hex'));
      assert.ok(!JSON.stringify(row).includes(data.key), 'the key itself is stored nowhere');

      const listed = await api.request('GET', '/api/v1/api-keys', { user });
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.data, [
        { id: data.id, name: 'ci runner', prefix: data.prefix, created_at: data.created_at, last_used_at: null, expires_at: expires },
      ]);
      assert.ok(!JSON.stringify(listed.body).includes(data.key.slice(11)), 'no list shows the key');
      // Another user sees none of them.
      assert.deepEqual((await api.request('GET', '/api/v1/api-keys', { user: uniqueId('other') })).body.data, []);
    });

    it('refuses bad input with 400 naming the field', async () => {
      const user = uniqueId('keys');
      const cases: [unknown, string][] = [
        [{}, 'name'],
        [{ name: '' }, 'name'],
        [{ name: '   ' }, 'name'],
        [{ name: 'x'.repeat(101) }, 'name'],
        [{ name: 42 }, 'name'],
        [{ name: 'ok', expires_at: new Date(Date.now() - 60_000).toISOString() }, 'expires_at'],
        [{ name: 'ok', expires_at: 'next tuesday' }, 'expires_at'],
        [{ name: 'ok', expires_at: 1_900_000_000 }, 'expires_at'],
        [{ name: 'ok', scope: 'admin' }, 'scope'],
      ];
      for (const [body, field] of cases) {
        const refused = await api.request('POST', '/api/v1/api-keys', { user, body });
        assert.equal(refused.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(refused.body)}`);
        assert.equal(refused.body.error, 'validation_failed');
        assert.deepEqual(
          refused.body.errors.map((e: { field: string }) => e.field),
          [field],
          JSON.stringify(body),
        );
      }
      assert.equal((await api.request('POST', '/api/v1/api-keys', { user, body: { name: 'x'.repeat(100) } })).status, 201);
      assert.equal((await api.request('POST', '/api/v1/api-keys', { user, body: { name: 'never', expires_at: null } })).status, 201);
    });

    it('holds at most 20 keys per user, under concurrent creates (409 api_key_limit_reached)', async () => {
      const user = uniqueId('keys');
      const answers = await Promise.all(
        Array.from({ length: 23 }, (_, i) => api.request('POST', '/api/v1/api-keys', { user, body: { name: `key ${i}` } })),
      );
      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(statuses, [...Array(20).fill(201), ...Array(3).fill(409)]);
      const refused = answers.find((a) => a.status === 409)!;
      assert.equal(refused.body.error, 'api_key_limit_reached');
      assert.equal((await api.request('GET', '/api/v1/api-keys', { user })).body.data.length, 20);
      // Revoking one makes room for one.
      const id = answers.find((a) => a.status === 201)!.body.data.id;
      assert.equal((await api.request('DELETE', `/api/v1/api-keys/${id}`, { user })).status, 200);
      assert.equal((await api.request('POST', '/api/v1/api-keys', { user, body: { name: 'again' } })).status, 201);
    });

    it("revokes only the caller's own keys: another user's id and unknown ids are 404s", async () => {
      const alice = uniqueId('alice');
      const { id, key } = await createKey(alice);
      for (const path of [`/api/v1/api-keys/${id}`, '/api/v1/api-keys/999999999', '/api/v1/api-keys/abc', '/api/v1/api-keys/99999999999']) {
        const refused = await api.request('DELETE', path, { user: uniqueId('mallory') });
        assert.equal(refused.status, 404, path);
        assert.equal(refused.body.error, 'not_found');
      }
      assert.equal((await api.request('GET', '/v1/models', { token: key })).status, 200, 'the key still works');
    });

    it('takes a user token only: an API key or a codec token on /api/v1 is a 403 in the envelope', async () => {
      const user = uniqueId('keys');
      const { id, key } = await createKey(user);
      const codec = await mintToken(api.jwtSecret, user, { scopes: ['codec'] });
      for (const token of [key, codec]) {
        for (const [method, path] of [
          ['GET', '/api/v1/api-keys'],
          ['POST', '/api/v1/api-keys'],
          ['DELETE', `/api/v1/api-keys/${id}`],
          ['GET', '/api/v1/ai-configs'],
        ] as const) {
          const refused = await api.request(method, path, { token, body: method === 'POST' ? { name: 'more' } : undefined });
          assert.equal(refused.status, 403, `${method} ${path}`);
          assert.equal(refused.body.error, 'forbidden');
        }
      }
      assert.equal((await api.request('GET', '/api/v1/api-keys', { user })).body.data.length, 1, 'no key made or revoked a key');
      assert.equal((await api.request('GET', '/v1/models', { token: key })).status, 200, 'the key still works');
    });
  });

  describe('authenticating /v1 with a key', () => {
    it('lists auto and the active LLM configs by name; a JWT works there too', async () => {
      const user = uniqueId('models');
      await llmConfig(user, 'fast');
      await llmConfig(user, 'smart', { llm_type: 'qwen', priority: 5 });
      await llmConfig(user, 'parked', { is_active: false });
      const { key } = await createKey(user);
      for (const token of [key, await api.token(user)]) {
        const listed = await api.request('GET', '/v1/models', { token });
        assert.equal(listed.status, 200);
        assert.equal(listed.body.object, 'list');
        assert.deepEqual(
          listed.body.data.map((m: { id: string }) => m.id),
          ['auto', 'smart', 'fast'],
        );
        for (const model of listed.body.data) {
          assert.equal(model.object, 'model');
          assert.ok(Number.isInteger(model.created));
          assert.equal(typeof model.owned_by, 'string');
        }
        assert.equal(listed.body.data[1].owned_by, 'qwen');
      }
      // Another user's key sees only that user's configs.
      const { key: otherKey } = await createKey(uniqueId('models'));
      assert.deepEqual(
        (await api.request('GET', '/v1/models', { token: otherKey })).body.data.map((m: { id: string }) => m.id),
        ['auto'],
      );
    });

    it('records last use at most once a minute', async () => {
      const user = uniqueId('keys');
      const { key, id } = await createKey(user);
      const lastUsed = async () =>
        (await api.request('GET', '/api/v1/api-keys', { user })).body.data.find((k: { id: number }) => k.id === id).last_used_at;
      assert.equal(await lastUsed(), null);
      assert.equal((await api.request('GET', '/v1/models', { token: key })).status, 200);
      const first = await lastUsed();
      assert.ok(first !== null && Date.now() - Date.parse(first) < 60_000, `last_used_at ${first}`);
      assert.equal((await api.request('GET', '/v1/models', { token: key })).status, 200);
      assert.equal(await lastUsed(), first, 'not written again within the minute');
      // A minute later (moved back in the table) it is written again.
      await api.db.sequelize.query("UPDATE api_keys SET last_used_at = now() - interval '2 minutes' WHERE id = :id", {
        replacements: { id },
      });
      const stale = await lastUsed();
      assert.equal((await api.request('GET', '/v1/models', { token: key })).status, 200);
      assert.ok(Date.parse(await lastUsed()) > Date.parse(stale));
    });

    it('refuses a revoked key at once on every replica, and an expired key, with 401 in OpenAI shape', async () => {
      const other = await startTestApi();
      try {
        const user = uniqueId('keys');
        const { id, key } = await createKey(user);
        assert.equal((await other.request('GET', '/v1/models', { token: key })).status, 200, 'the other replica takes the key');
        assert.equal((await api.request('DELETE', `/api/v1/api-keys/${id}`, { user })).status, 200);
        for (const replica of [api, other]) {
          const refused = await replica.request('GET', '/v1/models', { token: key });
          assert.equal(refused.status, 401);
          assert.deepEqual(refused.body, {
            error: { message: 'Invalid or revoked API key', type: 'authentication_error', param: null, code: 'invalid_api_key' },
          });
          assert.equal(refused.headers.get('www-authenticate'), 'Bearer');
        }
        assert.equal((await api.request('DELETE', `/api/v1/api-keys/${id}`, { user })).status, 404, 'revoked once');

        const expiring = await createKey(user, { name: 'short', expires_at: new Date(Date.now() + 3_600_000).toISOString() });
        assert.equal((await api.request('GET', '/v1/models', { token: expiring.key })).status, 200);
        await api.db.sequelize.query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = :id", {
          replacements: { id: expiring.id },
        });
        const expired = await other.request('GET', '/v1/models', { token: expiring.key });
        assert.equal(expired.status, 401);
        assert.equal(expired.body.error.message, 'API key expired');
      } finally {
        await other.close();
      }
    });

    it('answers every /v1 failure in OpenAI shape: no or bad key, unknown route, codec token, unserved host', async () => {
      const user = uniqueId('keys');
      const { key } = await createKey(user);
      const missing = await api.request('GET', '/v1/models');
      assert.equal(missing.status, 401);
      assert.equal(missing.body.error.type, 'authentication_error');
      assert.equal(missing.body.error.code, 'invalid_api_key');
      const unknownKey = await api.request('GET', '/v1/models', { token: `sb-${'A'.repeat(43)}` });
      assert.equal(unknownKey.status, 401);
      assert.equal(unknownKey.body.error.code, 'invalid_api_key');
      const route = await api.request('POST', '/v1/embeddings', { token: key, body: { input: 'hi', model: 'auto' } });
      assert.equal(route.status, 404);
      assert.equal(route.body.error.type, 'not_found_error');
      assert.equal(route.body.error.param, null);
      const method = await api.request('DELETE', '/v1/models', { token: key });
      assert.equal(method.status, 405);
      assert.equal(method.body.error.type, 'invalid_request_error');
      const host = await withHost(api.url, '/v1/models', 'evil.example', key);
      assert.equal(host.status, 421);
      assert.equal(host.body.error.type, 'invalid_request_error');
      assert.equal(host.body.error.code, 'misdirected_request');
      const codec = await api.request('GET', '/v1/models', { token: await mintToken(api.jwtSecret, user, { scopes: ['codec'] }) });
      assert.equal(codec.status, 403);
      assert.equal(codec.body.error.type, 'permission_error');
      // The REST API keeps its envelope.
      assert.equal((await api.request('GET', '/api/v1/nothing', { user })).body.error, 'not_found');
    });

    it('counts bad keys with the failed-authentication limit (429 in OpenAI shape)', async () => {
      const limited = await startTestApi({ AUTH_FAILURES_PER_MINUTE: '3', TRUST_PROXY_HOPS: '1' });
      try {
        await awayFromWindowEdge();
        const attacker = { 'x-forwarded-for': `2001:db8:17::${randomUUID().slice(0, 4)}` };
        const statuses: number[] = [];
        for (let i = 0; i < 4; i++) {
          statuses.push((await limited.request('GET', '/v1/models', { token: `sb-guess${i}${'x'.repeat(40)}`, headers: attacker })).status);
        }
        assert.deepEqual(statuses, [401, 401, 401, 429]);
        const blocked = await limited.request('GET', '/v1/models', { token: `sb-${'y'.repeat(43)}`, headers: attacker });
        assert.equal(blocked.status, 429);
        assert.equal(blocked.body.error.type, 'rate_limit_error');
        assert.ok(Number(blocked.headers.get('retry-after')) >= 1);
      } finally {
        await limited.close();
      }
    });

    it('serves the openai SDK: models.list() sees auto and the configs; a bad key is its AuthenticationError', async () => {
      const user = uniqueId('sdk');
      await llmConfig(user, 'writer');
      await llmConfig(user, 'coder');
      const { key } = await createKey(user, { name: 'sdk' });
      const client = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: key, maxRetries: 0 });
      const ids: string[] = [];
      for await (const model of client.models.list()) ids.push(model.id);
      assert.deepEqual(ids.sort(), ['auto', 'coder', 'writer']);

      const wrong = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: `sb-${'Z'.repeat(43)}`, maxRetries: 0 });
      await assert.rejects(
        async () => {
          for await (const _ of wrong.models.list()) assert.fail('no model for a bad key');
        },
        (error: unknown) => {
          assert.ok(error instanceof OpenAI.AuthenticationError, String(error));
          assert.equal(error.status, 401);
          assert.equal(error.code, 'invalid_api_key');
          assert.equal(error.type, 'authentication_error');
          return true;
        },
      );
    });

    it('documents the routes: /api/v1/api-keys in the envelope, /v1/models bare with OpenAI errors', async () => {
      const doc = (await api.request('GET', '/openapi.json')).body;
      assert.ok(doc.paths['/api/v1/api-keys'].post.responses['201'], 'create documented');
      assert.ok(doc.paths['/api/v1/api-keys'].post.responses['409'], 'the cap documented');
      assert.ok(doc.paths['/api/v1/api-keys'].get, 'list documented');
      assert.ok(doc.paths['/api/v1/api-keys/{id}'].delete, 'revoke documented');
      const models = doc.paths['/v1/models'].get;
      assert.equal(models.responses['200'].content['application/json'].schema.$ref, '#/components/schemas/OpenAIModelList');
      assert.equal(models.responses['401'].content['application/json'].schema.$ref, '#/components/schemas/OpenAIError');
      assert.ok(doc.components.schemas.CreatedApiKey.properties.key);
      assert.ok(!doc.components.schemas.ApiKey.properties.key, 'lists have no key field');
    });
  });

  describe('the WebSocket with a key', function () {
    let stack: TestStack;
    before(async () => {
      stack = await startStack();
    });
    after(async () => {
      await stack?.close();
    });

    it('opens a socket as the key’s user (Authorization header only, never ?token=), refuses it once revoked; JWTs still open one', async () => {
      const { userId, token, model } = await stack.newUser('wskey');
      const { id, key } = await createKey(userId);
      const socket = await TestSocket.open(stack.url, { token: key });
      const hello = await socket.next('hello');
      assert.deepEqual(
        hello.configs.map((c) => c.model_name),
        [model],
        'the configs of the key’s user',
      );
      await socket.close();
      const inQuery = await TestSocket.refusal(stack.url, { query: { token: key } });
      assert.equal(inQuery.status, 401, 'a key in the query string would be logged by proxies');
      assert.match((inQuery.body as { message: string }).message, /Authorization header/);
      const withJwt = await TestSocket.open(stack.url, { token });
      await withJwt.next('hello');
      await withJwt.close();

      assert.equal((await api.request('DELETE', `/api/v1/api-keys/${id}`, { user: userId })).status, 200);
      const refused = await TestSocket.refusal(stack.url, { token: key });
      assert.equal(refused.status, 401);
      assert.equal((refused.body as { error: string }).error, 'unauthorized');
    });

    it('closes an open socket within a second of its key’s revocation (key_revoked, 4003); other keys’ and JWTs’ sockets stay', async () => {
      const { userId, token } = await stack.newUser('wsrevoke');
      const revoked = await createKey(userId, { name: 'to revoke' });
      const kept = await createKey(userId, { name: 'kept' });
      const sockets = await Promise.all([
        TestSocket.open(stack.url, { token: revoked.key }),
        TestSocket.open(stack.url, { token: revoked.key }),
        TestSocket.open(stack.url, { token: kept.key }),
        TestSocket.open(stack.url, { token }),
      ]);
      for (const socket of sockets) await socket.next('hello');
      const [first, second, other, withJwt] = sockets as [TestSocket, TestSocket, TestSocket, TestSocket];

      const started = Date.now();
      assert.equal((await api.request('DELETE', `/api/v1/api-keys/${revoked.id}`, { user: userId })).status, 200);
      for (const socket of [first, second]) {
        const frame = await socket.next('error', (f) => f.code === 'key_revoked', 5_000);
        assert.match(frame.message, /revoked/);
        assert.equal((await socket.closed).code, 4003);
      }
      const took = Date.now() - started;
      assert.ok(took < 1_000, `closed ${took} ms after the revocation`);

      for (const socket of [other, withJwt]) {
        socket.send({ type: 'ping' });
        await socket.next('pong');
        await socket.close();
      }
    });

    it('closes a socket when its key expires (token_expired, 4001); the key is then refused', async () => {
      const { userId } = await stack.newUser('wsexpire');
      const expiring = await createKey(userId, { name: 'brief', expires_at: new Date(Date.now() + 2_500).toISOString() });
      const socket = await TestSocket.open(stack.url, { token: expiring.key });
      await socket.next('hello');
      await socket.next('error', (f) => f.code === 'token_expired', 10_000);
      assert.equal((await socket.closed).code, 4001);
      const refused = await TestSocket.refusal(stack.url, { token: expiring.key });
      assert.equal(refused.status, 401);
      assert.match((refused.body as { message: string }).message, /expired/);
    });
  });
});
