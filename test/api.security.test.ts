// Authentication attacks, secrets at rest and in logs, rate limits, and the OpenAPI document.
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, SignJWT, generateKeyPair } from 'jose';
import { createTokenVerifier } from '../lib/auth';
import { startTestApi, type TestApi } from './support/api';

function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

function hsToken(secret: string, payload: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const unsigned = `${b64url(header)}.${b64url(payload)}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);

/** Rate limits count in fixed one-minute windows: a test that counts to a limit starts well inside one. */
async function awayFromWindowEdge(): Promise<void> {
  const into = Date.now() % 60_000;
  if (into > 55_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - into + 100));
}

describe('API security', function () {
  let api: TestApi;

  before(async () => {
    api = await startTestApi();
  });
  after(async () => {
    await api.close();
  });

  describe('JWT', () => {
    const attacks: [string, (api: TestApi) => string | undefined][] = [
      ['no token', () => undefined],
      ['a token that is not a JWT', () => 'not-a-jwt'],
      ['alg none', () => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'alice', exp: now() + 600 })}.`],
      ['alg none with a signature', (a) => hsToken(a.jwtSecret, { sub: 'alice', exp: now() + 600 }, { alg: 'none' })],
      ['an expired token', (a) => hsToken(a.jwtSecret, { sub: 'alice', exp: now() - 3600 })],
      ['a token not yet valid', (a) => hsToken(a.jwtSecret, { sub: 'alice', nbf: now() + 3600, exp: now() + 7200 })],
      ['a wrongly signed token', () => hsToken('some-other-secret-that-is-long-enough', { sub: 'alice', exp: now() + 600 })],
      ['a token without sub', (a) => hsToken(a.jwtSecret, { exp: now() + 600 })],
      ['a token with an empty sub', (a) => hsToken(a.jwtSecret, { sub: '', exp: now() + 600 })],
      ['a token with a sub that is not a safe id', (a) => hsToken(a.jwtSecret, { sub: 'alice/../bob', exp: now() + 600 })],
      ['a token without exp (valid forever)', (a) => hsToken(a.jwtSecret, { sub: 'alice', iat: now() })],
      ['a token whose exp is a century ahead', (a) => hsToken(a.jwtSecret, { sub: 'alice', exp: now() + 100 * 365 * 24 * 3600 })],
      [
        'an HS384 token (algorithm not accepted)',
        (a) => {
          const unsigned = `${b64url({ alg: 'HS384' })}.${b64url({ sub: 'alice', exp: now() + 600 })}`;
          return `${unsigned}.${createHmac('sha384', a.jwtSecret).update(unsigned).digest('base64url')}`;
        },
      ],
      [
        'a tampered payload',
        (a) => {
          const [header, , signature] = hsToken(a.jwtSecret, { sub: 'alice', exp: now() + 600 }).split('.');
          return `${header}.${b64url({ sub: 'bob', exp: now() + 600 })}.${signature}`;
        },
      ],
    ];
    for (const [title, make] of attacks) {
      it(`401 in the envelope for ${title}`, async () => {
        const token = make(api);
        const response = await api.request('GET', '/api/v1/ai-configs', token ? { token } : {});
        assert.equal(response.status, 401);
        assert.equal(response.body.code, 401);
        assert.equal(response.body.error, 'unauthorized');
        assert.equal(response.body.data, null);
        assert.equal(response.headers.get('www-authenticate'), 'Bearer');
      });
    }

    it('accepts a valid token signed with JWT_SECRET', async () => {
      const response = await api.request('GET', '/api/v1/ai-configs', {
        token: hsToken(api.jwtSecret, { sub: 'alice', exp: now() + 600 }),
      });
      assert.equal(response.status, 200);
    });

    it('a token for one user never reads another user’s data', async () => {
      const alice = `alice-${randomUUID()}`;
      const created = await api.request('POST', '/api/v1/ai-configs', {
        user: alice,
        body: { config_name: 'mine', config_type: 'llm', model_name: 'm' },
      });
      const bob = await api.request('GET', `/api/v1/ai-configs/${created.body.data.id}`, {
        token: hsToken(api.jwtSecret, { sub: 'bob', exp: now() + 600 }),
      });
      assert.equal(bob.status, 404);
    });

    it('verifies RS256 and ES256 tokens from a JWKS URL and refuses HS256 there', async () => {
      const rsa = await generateKeyPair('RS256');
      const ec = await generateKeyPair('ES256');
      const jwks = {
        keys: [
          { ...(await exportJWK(rsa.publicKey)), kid: 'rsa', alg: 'RS256' },
          { ...(await exportJWK(ec.publicKey)), kid: 'ec', alg: 'ES256' },
        ],
      };
      const server = http.createServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(jwks));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
        const verifier = createTokenVerifier(
          { JWT_JWKS_URL: url, JWT_ISSUER: undefined, JWT_AUDIENCE: undefined },
          { jwtSecret: undefined },
        );
        const rsToken = await new SignJWT({})
          .setProtectedHeader({ alg: 'RS256', kid: 'rsa' })
          .setSubject('carol')
          .setExpirationTime('5m')
          .sign(rsa.privateKey);
        const esToken = await new SignJWT({})
          .setProtectedHeader({ alg: 'ES256', kid: 'ec' })
          .setSubject('dave')
          .setExpirationTime('5m')
          .sign(ec.privateKey);
        assert.equal((await verifier.verify(rsToken)).userId, 'carol');
        assert.equal((await verifier.verify(esToken)).userId, 'dave');
        // Algorithm confusion: an HS256 token "signed" with the public key material.
        const confused = hsToken(JSON.stringify(jwks.keys[0]), { sub: 'mallory', exp: now() + 600 }, { alg: 'HS256', kid: 'rsa' });
        await assert.rejects(verifier.verify(confused), { status: 401 });
        const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const foreign = await new SignJWT({})
          .setProtectedHeader({ alg: 'RS256', kid: 'rsa' })
          .setSubject('eve')
          .setExpirationTime('5m')
          .sign(stranger.privateKey);
        await assert.rejects(verifier.verify(foreign), { status: 401 });
      } finally {
        server.close();
      }
    });
  });

  describe('API keys', () => {
    const plainKey = `sk-live-${randomUUID()}-${randomUUID()}`;
    let user: string;
    let id: number;

    before(async () => {
      user = `keys-${randomUUID()}`;
      const response = await api.request('POST', '/api/v1/ai-configs', {
        user,
        body: { config_name: 'keyed', config_type: 'llm', model_name: 'gpt-4o-mini', api_key: plainKey },
      });
      assert.equal(response.status, 201);
      id = response.body.data.id;
    });

    it('are stored as AES-256-GCM ciphertext with a key id, and decrypt to the key', async () => {
      const [rows] = await api.db.sequelize.query('SELECT api_key, api_key_hint FROM user_ai_configs WHERE id = :id', {
        replacements: { id },
      });
      const row = (rows as { api_key: string; api_key_hint: string }[])[0]!;
      assert.ok(!row.api_key.includes(plainKey));
      assert.match(row.api_key, /^enc:v1:[0-9a-f]{8}:/);
      assert.equal(api.secretBox.keyIdOf(row.api_key), api.secretBox.currentKeyId);
      assert.equal(api.secretBox.decrypt(row.api_key), plainKey);
      assert.equal(row.api_key_hint, `sk-…${plainKey.slice(-4)}`);
    });

    it('never appear in responses or logs, whichever route is used', async () => {
      const responses = [
        await api.request('GET', `/api/v1/ai-configs/${id}`, { user }),
        await api.request('GET', '/api/v1/ai-configs', { user }),
        await api.request('PATCH', `/api/v1/ai-configs/${id}`, { user, body: { api_key: plainKey, temperature: 1 } }),
        await api.request('PUT', `/api/v1/ai-configs/${id}`, { user, body: { config_name: 'keyed', model_name: 'x', api_key: plainKey } }),
        // A validation error on a request that carries the key must not echo it.
        await api.request('POST', '/api/v1/ai-configs', {
          user,
          body: { config_name: 'bad', config_type: 'llm', api_key: plainKey, temperature: 5 },
        }),
        await api.request('POST', '/api/v1/ai-configs', { user, raw: `{"api_key": "${plainKey}",` }),
      ];
      for (const response of responses) assert.ok(!JSON.stringify(response.body).includes(plainKey), JSON.stringify(response.body));
      const logs = api.logs.join('');
      assert.ok(api.logs.length > 0, 'the API logged requests');
      assert.ok(!logs.includes(plainKey));
      assert.ok(!logs.includes(plainKey.slice(8, 30)), 'not even a fragment');
    });

    it('malformed JSON errors do not echo the body', async () => {
      const response = await api.request('POST', '/api/v1/ai-configs', { user, raw: `{"api_key": "${plainKey}" "x"}` });
      assert.equal(response.status, 400);
      assert.ok(!JSON.stringify(response.body).includes(plainKey));
    });
  });

  describe('rate limit', () => {
    it('answers 429 with Retry-After once a user exceeds the per-minute limit, per user', async () => {
      const limited = await startTestApi({ RATE_LIMIT_PER_MINUTE: '5' });
      try {
        await awayFromWindowEdge();
        const user = `busy-${randomUUID()}`;
        const statuses: number[] = [];
        for (let i = 0; i < 7; i++) statuses.push((await limited.request('GET', '/api/v1/ai-configs', { user })).status);
        assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
        const last = await limited.request('GET', '/api/v1/ai-configs', { user });
        assert.equal(last.body.error, 'rate_limited');
        assert.ok(Number(last.headers.get('retry-after')) >= 1);
        const calm = await limited.request('GET', '/api/v1/ai-configs', { user: `calm-${randomUUID()}` });
        assert.equal(calm.status, 200, 'another user is not affected');
        assert.equal((await limited.request('GET', '/healthz')).status, 200, 'health is not limited');
      } finally {
        await limited.close();
      }
    });

    it('holds across API replicas: two instances on one database share one budget', async () => {
      // Per-process counters would let each instance admit 6: 12 in all.
      const [a, b] = await Promise.all([startTestApi({ RATE_LIMIT_PER_MINUTE: '6' }), startTestApi({ RATE_LIMIT_PER_MINUTE: '6' })]);
      try {
        await awayFromWindowEdge();
        const user = `replicated-${randomUUID()}`;
        const statuses: number[] = [];
        for (let i = 0; i < 10; i++) statuses.push((await (i % 2 ? b : a).request('GET', '/api/v1/ai-configs', { user })).status);
        assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 429, 429, 429, 429]);

        // Concurrent requests on both replicas, with allowances reserved in batches (limit 40: two at a time).
        const [c, d] = await Promise.all([startTestApi({ RATE_LIMIT_PER_MINUTE: '40' }), startTestApi({ RATE_LIMIT_PER_MINUTE: '40' })]);
        try {
          const burst = `burst-${randomUUID()}`;
          const answers = await Promise.all(
            Array.from({ length: 60 }, (_, i) => (i % 2 ? d : c).request('GET', '/api/v1/ai-configs', { user: burst })),
          );
          const ok = answers.filter((r) => r.status === 200).length;
          const limited = answers.filter((r) => r.status === 429).length;
          assert.equal(ok + limited, 60);
          assert.ok(ok <= 40, `at most the limit is served across replicas (served ${ok})`);
          assert.ok(ok >= 38, `at most one unspent allowance per replica is lost (served ${ok})`);
        } finally {
          await Promise.all([c.close(), d.close()]);
        }
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('limits failed authentication per client address, across replicas, before verifying the token', async () => {
      const env = { AUTH_FAILURES_PER_MINUTE: '3', TRUST_PROXY_HOPS: '1' };
      const [a, b] = await Promise.all([startTestApi(env), startTestApi(env)]);
      try {
        await awayFromWindowEdge();
        const attacker = { 'x-forwarded-for': `2001:db8::${randomUUID().slice(0, 4)}` };
        const bad = 'not-a-jwt';
        const tries: number[] = [];
        for (let i = 0; i < 3; i++)
          tries.push((await (i % 2 ? b : a).request('GET', '/api/v1/ai-configs', { token: bad, headers: attacker })).status);
        assert.deepEqual(tries, [401, 401, 401]);
        // The fourth failure, on the replica that has not seen the address blocked yet, is refused as one too many.
        const fourth = await b.request('GET', '/api/v1/ai-configs', { token: bad, headers: attacker });
        assert.equal(fourth.status, 429);
        assert.equal(fourth.body.error, 'rate_limited');
        assert.ok(Number(fourth.headers.get('retry-after')) >= 1);
        // Now both know: even a valid token from that address is refused before it is verified.
        for (const api of [a, b]) {
          const valid = await api.request('GET', '/api/v1/ai-configs', { user: `victim-${randomUUID()}`, headers: attacker });
          assert.equal(valid.status, 429);
          assert.ok(Number(valid.headers.get('retry-after')) >= 1);
        }
        // Another address is not affected.
        const other = { 'x-forwarded-for': `2001:db8:1::${randomUUID().slice(0, 4)}` };
        assert.equal((await a.request('GET', '/api/v1/ai-configs', { token: bad, headers: other })).status, 401);
        assert.equal((await a.request('GET', '/api/v1/ai-configs', { user: `fine-${randomUUID()}`, headers: other })).status, 200);
        // Successful requests never count as failures.
        const user = `many-${randomUUID()}`;
        for (let i = 0; i < 5; i++) assert.equal((await b.request('GET', '/api/v1/ai-configs', { user, headers: other })).status, 200);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('refuses a user’s config beyond the cap with 409', async () => {
      const capped = await startTestApi({ MAX_CONFIGS_PER_USER: '3' });
      try {
        const user = `cap-${randomUUID()}`;
        const results = await Promise.all(
          Array.from({ length: 5 }, (_, i) =>
            capped.request('POST', '/api/v1/ai-configs', { user, body: { config_name: `c${i}`, config_type: 'llm', model_name: 'm' } }),
          ),
        );
        const statuses = results.map((r) => r.status).sort();
        assert.deepEqual(statuses, [201, 201, 201, 409, 409], 'the cap holds under concurrent creates');
        const refused = results.find((r) => r.status === 409)!;
        assert.equal(refused.body.error, 'config_limit_reached');
        const list = await capped.request('GET', '/api/v1/ai-configs', { user });
        assert.equal(list.body.data.length, 3);
      } finally {
        await capped.close();
      }
    });
  });

  describe('OpenAPI document', () => {
    it('documents every mounted route, with request schemas from the validators', async () => {
      const response = await api.request('GET', '/openapi.json');
      assert.equal(response.status, 200);
      const doc = response.body;
      assert.equal(doc.openapi, '3.1.0');
      // Every $ref points into the document itself (the config schema is components.schemas.Config).
      const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!);
      assert.ok(refs.includes('#/components/schemas/Config'), 'the config schema is referenced');
      for (const ref of new Set(refs)) {
        const target = ref
          .replace(/^#\//, '')
          .split('/')
          .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);
        assert.ok(target, `${ref} resolves within the document`);
      }
      assert.deepEqual(Object.keys(doc.paths['/metrics'].get.responses['200'].content), ['text/plain; version=0.0.4']);
      assert.ok(doc.paths['/api/v1/ai-configs'].get.responses['400'], 'the list documents its 400 for bad query parameters');
      assert.ok(doc.paths['/api/v1/users/{userId}/ai-configs'].get.responses['403'], '/users/:userId documents its 403');
      const documented = new Set<string>();
      for (const [path, operations] of Object.entries(doc.paths as Record<string, Record<string, { summary?: string }>>)) {
        for (const [method, operation] of Object.entries(operations)) {
          assert.ok(operation.summary, `${method} ${path} has a summary`);
          documented.add(`${method.toUpperCase()} ${path}`);
        }
      }
      // Probe the running app: every route a client can reach must be in the document.
      const expected = [
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
        'GET /openapi.json',
        'GET /api/v1/llm-types',
        'GET /api/v1/ai-configs',
        'POST /api/v1/ai-configs',
        'GET /api/v1/ai-configs/{id}',
        'PUT /api/v1/ai-configs/{id}',
        'PATCH /api/v1/ai-configs/{id}',
        'DELETE /api/v1/ai-configs/{id}',
        'PATCH /api/v1/ai-configs/{id}/toggle',
        'PATCH /api/v1/ai-configs/{id}/priority',
        'GET /api/v1/users/{userId}/ai-configs',
        'POST /api/v1/users/{userId}/ai-configs',
      ];
      for (const route of expected) assert.ok(documented.has(route), `${route} is documented`);
      // And nothing documented is unreachable: each documented route answers something other than "no route".
      const user = `doc-${randomUUID()}`;
      for (const route of documented) {
        const [method, path] = route.split(' ') as [string, string];
        const concrete = path.replace('{userId}', user).replace('{id}', '1');
        const probe = await api.request(method, concrete, { user, body: method === 'GET' || method === 'DELETE' ? undefined : {} });
        assert.notEqual(probe.body?.message?.startsWith?.('No route'), true, `${route} is mounted`);
        assert.notEqual(probe.status, 405, `${route} is mounted`);
      }
      const create = doc.paths['/api/v1/ai-configs'].post.requestBody.content['application/json'].schema;
      const variants = JSON.stringify(create);
      assert.ok(variants.includes('model_name') && variants.includes('function_name'), 'both config types are described');
      assert.ok(variants.includes('^[a-zA-Z0-9_.-]{1,128}$'), 'the function name pattern comes from the validator');
    });
  });
});
