// Attacks on a real API server (HTTP on loopback, the run's PostgreSQL, no mocks): forged and
// misused JWTs against JWKS verification, one user's token on another user's configs and
// sessions, and SSRF through every user-supplied URL. Each must be refused; the README's
// "Attacks and bad input" table lists them.
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload, type CryptoKey } from 'jose';
import { startApi } from '../api/server';
import type { RunningRole } from '../app/context';
import { startTestApi, type TestApi } from './support/api';
import { createTestContext, uniqueId, type TestContext } from './support/context';
import { startStack, type TestStack } from './support/stack';
import { TestSocket } from './support/ws-client';

const ISSUER = 'https://id.switchboard.test';
const AUDIENCE = 'switchboard-api';
const now = () => Math.floor(Date.now() / 1000);

function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

/** An HS256 token signed with any bytes, the header as given: what a forger can make. */
function hmacToken(key: string | Buffer, payload: Record<string, unknown>, header: Record<string, unknown>): string {
  const unsigned = `${b64url({ typ: 'JWT', ...header })}.${b64url(payload)}`;
  return `${unsigned}.${createHmac('sha256', key).update(unsigned).digest('base64url')}`;
}

interface KeyPair {
  publicKey: CryptoKey;
  privateKey: CryptoKey;
}

describe('attacks', function () {
  let jwks: http.Server;
  let jwksUrl: string;
  let rsa: KeyPair;
  let ec: KeyPair;
  let stranger: KeyPair;
  let api: TestApi;

  const claims = (sub: string): JWTPayload => ({ sub, iss: ISSUER, aud: AUDIENCE });

  async function signed(
    key: CryptoKey,
    header: { alg: string; kid?: string; [name: string]: unknown },
    payload: JWTPayload,
    expiresIn: string | number = '5m',
  ): Promise<string> {
    return new SignJWT(payload).setProtectedHeader(header).setIssuedAt().setExpirationTime(expiresIn).sign(key);
  }

  before(async function () {
    rsa = await generateKeyPair('RS256', { extractable: true });
    ec = await generateKeyPair('ES256', { extractable: true });
    stranger = await generateKeyPair('RS256', { extractable: true });
    const keys = {
      keys: [
        { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
        { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
      ],
    };
    jwks = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(keys));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
    api = await startTestApi({ JWT_JWKS_URL: jwksUrl, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
  });

  after(async function () {
    await api?.close();
    jwks?.close();
  });

  describe('JWT against JWKS verification (RS256/ES256, issuer and audience required)', function () {
    it('accepts a well-formed RS256 and ES256 token (the control)', async function () {
      for (const token of [
        await signed(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, claims('carol')),
        await signed(ec.privateKey, { alg: 'ES256', kid: 'ec-1' }, claims('dave')),
      ]) {
        assert.equal((await api.request('GET', '/api/v1/ai-configs', { token })).status, 200);
      }
    });

    const attacks: [string, () => Promise<string>][] = [
      ['alg none, no signature', async () => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ ...claims('alice'), exp: now() + 600 })}.`],
      [
        'alg none with the RSA kid and a signature copied from a real token',
        async () => {
          const real = await signed(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, claims('alice'));
          return `${b64url({ alg: 'none', kid: 'rsa-1' })}.${b64url({ ...claims('mallory'), exp: now() + 600 })}.${real.split('.')[2]}`;
        },
      ],
      [
        'HS256 signed with the RSA public key as PEM (algorithm confusion)',
        async () => hmacToken(await exportSPKI(rsa.publicKey), { ...claims('mallory'), exp: now() + 600 }, { alg: 'HS256', kid: 'rsa-1' }),
      ],
      [
        'HS256 signed with the RSA public key as DER',
        async () => {
          const der = createPublicKey(await exportSPKI(rsa.publicKey)).export({ type: 'spki', format: 'der' });
          return hmacToken(der, { ...claims('mallory'), exp: now() + 600 }, { alg: 'HS256', kid: 'rsa-1' });
        },
      ],
      [
        'HS256 signed with the JWK JSON of the published key',
        async () =>
          hmacToken(
            JSON.stringify({ ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1' }),
            { ...claims('mallory'), exp: now() + 600 },
            { alg: 'HS256', kid: 'rsa-1' },
          ),
      ],
      ['an expired token', async () => signed(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, claims('alice'), now() - 60)],
      [
        'a token not valid before an hour from now (nbf)',
        async () => signed(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, { ...claims('alice'), nbf: now() + 3600 }, '2h'),
      ],
      [
        'a wrong issuer',
        async () => signed(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, { ...claims('alice'), iss: 'https://evil.test' }),
      ],
      ['no issuer', async () => signed(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, { sub: 'alice', aud: AUDIENCE })],
      ['a wrong audience', async () => signed(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, { ...claims('alice'), aud: 'another-api' })],
      ['no audience', async () => signed(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, { sub: 'alice', iss: ISSUER })],
      ['an unknown kid (a key of our own)', async () => signed(stranger.privateKey, { alg: 'RS256', kid: 'attacker-1' }, claims('alice'))],
      [
        'the published kid, signed with another key',
        async () => signed(stranger.privateKey, { alg: 'RS256', kid: 'rsa-1' }, claims('alice')),
      ],
      [
        'a key embedded in the header (jwk) signing its own token',
        async () =>
          signed(stranger.privateKey, { alg: 'RS256', jwk: { ...(await exportJWK(stranger.publicKey)), alg: 'RS256' } }, claims('alice')),
      ],
      [
        'a jku header pointing at the attacker’s key set',
        async () => signed(stranger.privateKey, { alg: 'RS256', kid: 'attacker-1', jku: 'http://127.0.0.1:1/jwks.json' }, claims('alice')),
      ],
      ['the ES256 kid with RS256', async () => signed(rsa.privateKey, { alg: 'RS256', kid: 'ec-1' }, claims('alice'))],
      [
        'a token valid for a century (exp beyond JWT_MAX_LIFETIME)',
        async () => signed(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, claims('alice'), now() + 100 * 365 * 86_400),
      ],
      ['an HS256 token made with JWT_SECRET (HS256 is off when JWKS is configured)', async () => api.token('alice')],
    ];
    for (const [title, make] of attacks) {
      it(`refuses ${title} with 401`, async function () {
        const response = await api.request('GET', '/api/v1/ai-configs', { token: await make() });
        assert.equal(response.status, 401);
        assert.equal(response.body.error, 'unauthorized');
        assert.equal(response.body.data, null);
      });
    }
  });

  describe("one user's token on another user's resources", function () {
    let tc: TestContext;
    let role: RunningRole;

    before(async function () {
      // The API as main.ts starts it, sessions routes included (they need Temporal).
      tc = await createTestContext({ env: { EGRESS_ALLOW: '127.0.0.0/8' } });
      role = await startApi(tc.ctx, { host: '127.0.0.1', port: 0 });
    });
    after(async function () {
      await role?.close();
      await tc?.close();
    });

    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
    async function call(user: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
      const headers: Record<string, string> = { authorization: `Bearer ${await tc.token(user)}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(role.urls.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: response.status, body: await response.json() };
    }

    it("answers 404 on every route for another user's config and session, exactly as for missing ones, and changes nothing", async function () {
      const alice = uniqueId('alice');
      const bob = uniqueId('bob');
      const created = await call(alice, 'POST', '/api/v1/ai-configs', {
        config_name: 'hook',
        config_type: 'function_call',
        function_name: 'order_status',
        description: 'Order status',
        parameters: { type: 'object', properties: {} },
        webhook_url: 'http://127.0.0.1:9/hook',
      });
      assert.equal(created.status, 201);
      const id = created.body.data.id as number;
      const sessionId = uniqueId('s');
      await tc.ctx.db.sequelize.query(
        `INSERT INTO user_session_configs (user_id, session_id, workflow_id, status) VALUES ($1, $2, $3, 'closed')`,
        { bind: [alice, sessionId, `wf-${sessionId}`] },
      );
      const probes: [string, string, unknown?][] = [
        ['GET', `/api/v1/ai-configs/${id}`],
        ['PUT', `/api/v1/ai-configs/${id}`, { config_name: 'stolen', config_type: 'llm', model_name: 'm' }],
        ['PATCH', `/api/v1/ai-configs/${id}`, { description: 'stolen' }],
        ['PATCH', `/api/v1/ai-configs/${id}/toggle`, { is_active: false }],
        ['PATCH', `/api/v1/ai-configs/${id}/priority`, { priority: 99 }],
        ['POST', `/api/v1/ai-configs/${id}/test`, { arguments: {} }],
        ['GET', `/api/v1/ai-configs/${id}/tools`],
        ['POST', `/api/v1/ai-configs/${id}/webhook-secret`],
        ['DELETE', `/api/v1/ai-configs/${id}`],
        ['GET', `/api/v1/sessions/${sessionId}`],
        ['PATCH', `/api/v1/sessions/${sessionId}`, { enabled_functions: null }],
        ['DELETE', `/api/v1/sessions/${sessionId}`],
      ];
      for (const [method, path, body] of probes) {
        const stolen = await call(bob, method, path, body);
        const missingPath = path.replace(`/ai-configs/${id}`, '/ai-configs/2147483647').replace(sessionId, 'no-such-session');
        const missing = await call(bob, method, missingPath, body);
        assert.equal(stolen.status, 404, `${method} ${path}`);
        assert.deepEqual({ ...stolen.body, request_id: undefined }, { ...missing.body, request_id: undefined }, `${method} ${path}`);
      }
      // Bob's list shows none of it; the seed's path with Alice's id is a 403.
      assert.deepEqual((await call(bob, 'GET', '/api/v1/ai-configs')).body.data, []);
      assert.deepEqual((await call(bob, 'GET', '/api/v1/sessions')).body.data, []);
      assert.equal((await call(bob, 'GET', `/api/v1/users/${alice}/ai-configs`)).status, 403);
      assert.equal((await call(bob, 'GET', `/api/v1/users/${alice}/ai-configs/${id}`)).status, 403);
      // Nothing changed for Alice.
      const mine = await call(alice, 'GET', `/api/v1/ai-configs/${id}`);
      assert.equal(mine.status, 200);
      assert.equal(mine.body.data.config_name, 'hook');
      assert.equal(mine.body.data.is_active, true);
      assert.equal(mine.body.data.priority, 0);
      assert.equal((await call(alice, 'GET', `/api/v1/sessions/${sessionId}`)).body.data.status, 'closed');
    });
  });

  describe('SSRF through base_url, mcp_server_url and webhook_url', function () {
    let strict: TestApi;
    let loopbackAllowed: TestApi;

    before(async function () {
      [strict, loopbackAllowed] = await Promise.all([
        // An allow list without loopback (a private network of the operator's), and one with it.
        startTestApi({ EGRESS_ALLOW: '10.0.0.0/8' }),
        startTestApi({ EGRESS_ALLOW: '127.0.0.0/8' }),
      ]);
    });
    after(async function () {
      await strict?.close();
      await loopbackAllowed?.close();
    });

    const bodies: Record<string, (url: string) => Record<string, unknown>> = {
      base_url: (url) => ({ config_name: uniqueId('llm'), config_type: 'llm', model_name: 'm', base_url: url }),
      mcp_server_url: (url) => ({
        config_name: uniqueId('mcp'),
        config_type: 'function_call',
        function_name: `f_${randomUUID().slice(0, 8)}`,
        description: 'a tool',
        parameters: { type: 'object', properties: {} },
        mcp_server_url: url,
      }),
      webhook_url: (url) => ({
        config_name: uniqueId('hook'),
        config_type: 'function_call',
        function_name: `f_${randomUUID().slice(0, 8)}`,
        description: 'a webhook',
        parameters: { type: 'object', properties: {} },
        webhook_url: url,
      }),
    };

    /** Never reachable, whatever EGRESS_ALLOW says. */
    const alwaysRefused = [
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'http://[::ffff:169.254.169.254]/',
      'http://[::ffff:a9fe:a9fe]/',
      'http://2852039166/', // 169.254.169.254 as one decimal number
      'http://metadata.google.internal/computeMetadata/v1/',
      'http://METADATA.google.internal./',
      'http://100.100.100.200/latest/meta-data/',
      'http://[fd00:ec2::254]/',
      'http://0.0.0.0/',
      'http://0/',
      'http://[::]/',
      'file:///etc/passwd',
      'gopher://127.0.0.1:6379/_INFO',
      'ftp://example.com/',
      'http://user:secret@example.com/',
      'not a url',
    ];
    /** Loopback in its many spellings: refused unless EGRESS_ALLOW lists 127.0.0.0/8. */
    const loopback = [
      'http://127.0.0.1:8080/',
      'http://[::ffff:127.0.0.1]/',
      'http://2130706433/',
      'http://0177.0.0.1/',
      'http://0x7f.0.0.1/',
      'http://0x7f000001/',
      'http://127.1/',
      'http://１２７.0.0.1/', // full-width digits
      'http://localhost./',
      'http://LOCALHOST:11434/v1',
      'http://ollama.localhost/',
    ];

    for (const [field, body] of Object.entries(bodies)) {
      it(`refuses metadata, reserved and non-http URLs in ${field} with 400 naming it, even with loopback allowed`, async function () {
        for (const api of [strict, loopbackAllowed]) {
          for (const url of alwaysRefused) {
            const response = await api.request('POST', '/api/v1/ai-configs', { user: uniqueId('ssrf'), body: body(url) });
            assert.equal(response.status, 400, `${field} ${url}`);
            assert.deepEqual(
              response.body.errors.map((e: { field: string }) => e.field),
              [field],
              `${field} ${url}`,
            );
          }
        }
      });

      it(`refuses loopback in every spelling in ${field} when the allow list lacks it, and accepts it when listed`, async function () {
        for (const url of [...loopback, 'http://[::1]/', 'http://192.168.0.10/']) {
          const response = await strict.request('POST', '/api/v1/ai-configs', { user: uniqueId('ssrf'), body: body(url) });
          assert.equal(response.status, 400, `${field} ${url}`);
          assert.deepEqual(
            response.body.errors.map((e: { field: string }) => e.field),
            [field],
            `${field} ${url}`,
          );
        }
        // The operator's own network, listed, is fine (the control).
        assert.equal(
          (await strict.request('POST', '/api/v1/ai-configs', { user: uniqueId('ssrf'), body: body('http://10.1.2.3/v1') })).status,
          201,
        );
        for (const url of loopback) {
          const response = await loopbackAllowed.request('POST', '/api/v1/ai-configs', { user: uniqueId('ssrf'), body: body(url) });
          assert.equal(response.status, 201, `${field} ${url}: ${JSON.stringify(response.body)}`);
        }
      });
    }

    it('refuses the same URLs on update (PATCH, PUT) and in the seed’s nested parameters.base_url', async function () {
      const user = uniqueId('ssrf');
      const created = await strict.request('POST', '/api/v1/ai-configs', { user, body: bodies.base_url!('https://api.example.com/v1') });
      assert.equal(created.status, 201);
      const id = created.body.data.id as number;
      const patched = await strict.request('PATCH', `/api/v1/ai-configs/${id}`, {
        user,
        body: { base_url: 'http://0x7f.0.0.1/', api_key: null },
      });
      assert.equal(patched.status, 400);
      assert.deepEqual(
        patched.body.errors.map((e: { field: string }) => e.field),
        ['base_url'],
      );
      const replaced = await strict.request('PUT', `/api/v1/ai-configs/${id}`, {
        user,
        body: { name: 'seed', ai_type: 'llm', model_name: 'm', parameters: { base_url: 'http://169.254.169.254/' } },
      });
      assert.equal(replaced.status, 400);
      assert.match(replaced.body.errors[0].field, /base_url$/);
      assert.equal((await strict.request('GET', `/api/v1/ai-configs/${id}`, { user })).body.data.base_url, 'https://api.example.com/v1');
    });
  });
});

describe('guessing tokens at the WebSocket handshake', function () {
  this.timeout(120_000);
  let stack: TestStack;

  before(async () => {
    // One proxy hop is trusted, so each test stands for its own client address (X-Forwarded-For).
    stack = await startStack({ AUTH_FAILURES_PER_MINUTE: '3', TRUST_PROXY_HOPS: '1' });
  });
  after(async () => {
    await stack?.close();
  });

  it('counts failed upgrades per address, then refuses that address with 429 before reading its token', async () => {
    const address = `203.0.113.${Math.floor(Math.random() * 250) + 1}`;
    const from = (extra: Record<string, string> = {}) => ({ headers: { 'X-Forwarded-For': address, ...extra } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await TestSocket.refusal(stack.url, { token: `not-a-token-${i}`, ...from() })).status);
    assert.deepEqual(statuses.slice(0, 3), [401, 401, 401]);
    assert.equal(statuses[3], 429);
    const user = await stack.newUser('guessed');
    const valid = await TestSocket.refusal(stack.url, { token: user.token, ...from() });
    assert.equal(valid.status, 429, 'a valid token from the blocked address waits too');
    assert.equal((valid.body as { error: string }).error, 'rate_limited');

    const elsewhere = await TestSocket.open(stack.url, { token: user.token, headers: { 'X-Forwarded-For': '198.51.100.7' } });
    await elsewhere.next('hello');
    await elsewhere.close();
  });
});
