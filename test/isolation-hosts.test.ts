// Issue 14, findings 7 and 8: DNS rebinding and the WebSocket Origin. A rebound page sends its own
// DNS name as Host: the API (every path: /api/v1, the console, the codec routes, health, paths not
// yet routed) and the gateway (plain requests and the upgrade) answer such a request with a 421 in
// the envelope and do nothing else; IP literals, localhost names and ALLOWED_HOSTS pass. The
// gateway refuses a browser Origin that is neither the console's nor in ALLOWED_ORIGINS (403,
// before the upgrade and before the token is read); no Origin (devices, SDKs) passes. The
// development sign-in answers only a loopback peer. Real API, gateway, database and sockets.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { consoleSettings } from '../api/console';
import { createApiFromContext, noopNotifier } from '../api/server';
import { ConfigError, loadConfig } from '../config';
import { isLocalRequest, isLoopbackAddress } from '../lib/address';
import { isAllowedOrigin, isServedHost, normalizeHostPattern, normalizeOrigin, parseHost, unservedHost } from '../lib/host-policy';
import { reportBystander, STALL_BOUND_MS, watchBystander } from './support/bystander';
import { createTestContext, uniqueId, type TestContext } from './support/context';
import { startStack, type TestStack } from './support/stack';
import { TestSocket } from './support/ws-client';

const FOREIGN_HOST = 'evil.example:8080';

interface RawResponse {
  status: number;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- responses are asserted field by field
  body: any;
}

/** One HTTP request with a Host header of our choosing (fetch cannot set Host). */
function request(
  base: { host: string; port: number },
  method: string,
  path: string,
  options: { host?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<RawResponse> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: base.host,
        port: base.port,
        method,
        path,
        headers: {
          ...(options.host ? { Host: options.host } : {}),
          ...(payload ? { 'Content-Type': 'application/json' } : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, text, body });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function assertMisdirected(response: RawResponse, what: string): void {
  assert.equal(response.status, 421, `${what}: ${response.text}`);
  assert.equal(response.body.code, 421, what);
  assert.equal(response.body.error, 'misdirected_request', what);
  assert.equal(response.body.data, null, what);
  assert.match(response.body.message, /ALLOWED_HOSTS/, what);
}

describe('isolation: Host and Origin (issue 14, findings 7 and 8)', function () {
  describe('the host and origin matcher (lib/host-policy)', function () {
    const served = ['switchboard.test', '*.apps.test'];

    it('always serves IP literals (any port) and localhost names; a DNS name only when listed', function () {
      for (const host of [
        '127.0.0.1',
        '127.0.0.1:8080',
        '192.0.2.7:1',
        '[::1]:8080',
        '[::1]',
        '[fd00::2]:443',
        'localhost',
        'LOCALHOST:8080',
        'localhost.:8080',
        'foo.localhost:3000',
        'a.b.localhost',
        'switchboard.test:8080',
        'Switchboard.Test.',
        'eu.apps.test',
        'x.eu.apps.test:443',
      ]) {
        assert.equal(isServedHost(host, served), true, host);
      }
      for (const host of [
        'evil.example',
        'evil.example:8080',
        'localhost.evil.example',
        'evillocalhost',
        '127.0.0.1.evil.example',
        'apps.test', // the wildcard names what is under it, not itself
        'badapps.test',
        'switchboard.test.evil.example',
        '::1', // an IPv6 literal must be bracketed
        '[::1]x',
        '[evil.example]',
        '127.0.0.1:99999',
        '127.0.0.1:80a',
        'a b',
        'evil.example:8080@127.0.0.1',
        '',
      ]) {
        assert.equal(isServedHost(host, served), false, JSON.stringify(host));
      }
      assert.deepEqual(parseHost('[::1]:8080'), { hostname: '::1', port: 8080 });
      assert.deepEqual(parseHost('Foo.Localhost.'), { hostname: 'foo.localhost', port: undefined });
    });

    it('checks X-Forwarded-Host too (every entry) behind trusted proxies, and only then; no Host at all has no name to rebind', function () {
      assert.equal(unservedHost({ host: '127.0.0.1:8080', forwardedHost: 'evil.example' }, served, false), undefined);
      assert.equal(unservedHost({ host: '127.0.0.1:8080', forwardedHost: 'evil.example' }, served, true), 'evil.example');
      assert.equal(unservedHost({ host: '127.0.0.1', forwardedHost: 'switchboard.test, evil.example' }, served, true), 'evil.example');
      assert.equal(unservedHost({ host: '127.0.0.1', forwardedHost: ['switchboard.test'] }, served, true), undefined);
      assert.equal(unservedHost({ host: FOREIGN_HOST }, served, true), FOREIGN_HOST);
      assert.equal(unservedHost({}, served, false), undefined);
    });

    it("accepts the console's origin (PUBLIC_HOST, or a served host on the API port) and ALLOWED_ORIGINS; refuses the rest", function () {
      const policy = { served, origins: ['https://app.partner.test'], consolePort: 8080, publicHost: 'console.example.com' };
      const accepted: [string, string | undefined][] = [
        ['https://app.partner.test', '127.0.0.1'],
        ['https://app.partner.test:443', undefined],
        ['https://console.example.com', 'console.example.com'],
        ['http://console.example.com:9000', '10.0.0.1'],
        ['http://switchboard.test:8080', '10.0.0.1'],
        ['https://eu.apps.test:8080', 'eu.apps.test'],
        ['http://127.0.0.1:8080', '127.0.0.1'],
        ['http://[::1]:8080', '::1'],
        ['http://localhost:8080', 'localhost'],
        ['http://192.0.2.2:8080', '192.0.2.2'],
      ];
      for (const [origin, socketHost] of accepted) assert.equal(isAllowedOrigin(origin, socketHost, policy), true, origin);
      const refused: [string, string | undefined][] = [
        ['http://evil.example', '127.0.0.1'],
        ['http://evil.example:8080', '127.0.0.1'],
        ['http://app.partner.test', '127.0.0.1'], // http, not the listed https
        ['https://app.partner.test:8443', '127.0.0.1'],
        ['http://switchboard.test:9000', 'switchboard.test'], // not the console's port
        ['http://127.0.0.1:9000', '127.0.0.1'],
        ['http://6.6.6.6:8080', '127.0.0.1'], // some other address's port 8080 is not our console
        ['http://localhost:8080', '127.0.0.1'],
        ['http://foo.localhost:8080', 'localhost'],
        ['null', '127.0.0.1'],
        ['file://', '127.0.0.1'],
        ['chrome-extension://abcdef', '127.0.0.1'],
        ['https://app.partner.test/path', '127.0.0.1'],
        ['', '127.0.0.1'],
      ];
      for (const [origin, socketHost] of refused) assert.equal(isAllowedOrigin(origin, socketHost, policy), false, origin);
    });

    it('tells a loopback peer from any other (the dev sign-in predicate); X-Forwarded-For can only refuse', function () {
      for (const address of ['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) {
        assert.equal(isLoopbackAddress(address), true, address);
      }
      for (const address of [
        '192.0.2.2',
        '10.0.0.1',
        '::ffff:10.0.0.1',
        'fd00::2',
        'fe80::1',
        '0.0.0.0',
        '::',
        'localhost',
        '',
        undefined,
      ]) {
        assert.equal(isLoopbackAddress(address), false, String(address));
      }
      assert.equal(isLocalRequest('127.0.0.1', undefined), true);
      assert.equal(isLocalRequest('::1', '127.0.0.1'), true, 'relayed by a proxy on this machine for this machine');
      assert.equal(isLocalRequest('127.0.0.1', '203.0.113.9'), false, 'relayed by a local proxy for someone else');
      assert.equal(isLocalRequest('127.0.0.1', ['127.0.0.1', '203.0.113.9']), false);
      assert.equal(isLocalRequest('192.0.2.2', '127.0.0.1'), false, 'the header cannot make a remote peer local');
      assert.equal(isLocalRequest(undefined, undefined), false);
    });
  });

  describe('ALLOWED_HOSTS and ALLOWED_ORIGINS (config/index.ts)', function () {
    const base = { JWT_SECRET: 'x'.repeat(32) };

    function problemsOf(env: Record<string, string>): { variable: string; message: string }[] {
      try {
        loadConfig({ ...base, ...env });
      } catch (error) {
        assert.ok(error instanceof ConfigError, String(error));
        return error.problems;
      }
      assert.fail(`accepted ${JSON.stringify(env)}`);
    }

    it('normalises the lists and serves PUBLIC_HOST, GATEWAY_PUBLIC_URL’s host and a named HOST without listing them', function () {
      const config = loadConfig({
        ...base,
        HOST: 'api.internal',
        ALLOWED_HOSTS: ' Switchboard.Test. , *.Apps.test,switchboard.test',
        ALLOWED_ORIGINS: 'https://App.Partner.test:443, http://10.0.0.5:3000/',
        PUBLIC_HOST: 'Console.Example.com',
        GATEWAY_PUBLIC_URL: 'wss://ws.example.com/ws',
      });
      assert.deepEqual(config.ALLOWED_HOSTS, ['switchboard.test', '*.apps.test']);
      assert.deepEqual(config.ALLOWED_ORIGINS, ['https://app.partner.test', 'http://10.0.0.5:3000']);
      assert.equal(config.publicHostname, 'console.example.com');
      assert.deepEqual(config.servedHosts, ['switchboard.test', '*.apps.test', 'console.example.com', 'ws.example.com', 'api.internal']);
      const defaults = loadConfig(base);
      assert.deepEqual(defaults.ALLOWED_HOSTS, []);
      assert.deepEqual(defaults.ALLOWED_ORIGINS, []);
      assert.deepEqual(defaults.servedHosts, [], 'IP literals and localhost need no entry');
      assert.equal(normalizeHostPattern('*.example.com:8080'), undefined);
      assert.equal(normalizeOrigin('https://a.example/x'), undefined);
    });

    it('refuses a malformed entry with a ConfigError naming the variable and the entry', function () {
      for (const entry of ['api.example.com:8080', 'https://api.example.com', '*', '*.', 'a*.example.com', 'evil example', '[::1]']) {
        const problems = problemsOf({ ALLOWED_HOSTS: `ok.example.com, ${entry}` });
        assert.deepEqual(
          problems.map((p) => p.variable),
          ['ALLOWED_HOSTS'],
          entry,
        );
        assert.ok(problems[0]!.message.includes(JSON.stringify(entry)), problems[0]!.message);
      }
      for (const entry of ['app.example.com', 'https://app.example.com/console', 'ftp://app.example.com', 'null', '*']) {
        const problems = problemsOf({ ALLOWED_ORIGINS: entry });
        assert.deepEqual(
          problems.map((p) => p.variable),
          ['ALLOWED_ORIGINS'],
          entry,
        );
        assert.match(problems[0]!.message, /origin like https:\/\/app\.example\.com/);
      }
      assert.deepEqual(
        problemsOf({ PUBLIC_HOST: 'https://console.example.com/' }).map((p) => p.variable),
        ['PUBLIC_HOST'],
      );
    });
  });

  describe('the API refuses foreign Host names on every path (DNS rebinding)', function () {
    this.timeout(60_000);
    let tc: TestContext;
    const servers: http.Server[] = [];
    let local: { host: string; port: number };

    async function listen(address: string): Promise<{ host: string; port: number }> {
      const server = http.createServer(createApiFromContext(tc.ctx, noopNotifier).callback());
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, address, resolve));
      return { host: address, port: (server.address() as AddressInfo).port };
    }

    before(async function () {
      tc = await createTestContext({
        temporal: false,
        env: {
          // As `npm start` runs: no operator secret, so the development sign-in exists.
          JWT_SECRET: '',
          TEMPORAL_PAYLOAD_KEY: randomBytes(32).toString('base64'),
          ALLOWED_HOSTS: 'switchboard.test,*.apps.test',
        },
      });
      local = await listen('127.0.0.1');
    });

    after(async function () {
      for (const server of servers) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      await tc?.close();
    });

    it('answers Host: evil.example:8080 with a 421 envelope on /api/v1, the console, dev-token, config.json, the codec and unrouted paths, and mints nothing', async function () {
      const victim = uniqueId('victim');
      const token = await tc.token(victim);
      const bystander = await tc.token(uniqueId('bystander'));
      const auth = { Authorization: `Bearer ${token}` };
      const probes: [string, string, { headers?: Record<string, string>; body?: unknown }][] = [
        ['GET', '/api/v1/ai-configs', { headers: auth }],
        ['POST', '/api/v1/ai-configs', { headers: auth, body: { name: 'rebound', model: 'm', base_url: 'http://127.0.0.1:1/v1' } }],
        ['GET', '/api/v1/sessions', { headers: auth }],
        ['POST', '/console/dev-token', { body: { user: victim } }],
        ['GET', '/console/config.json', {}],
        ['GET', '/', {}],
        ['POST', '/codec/decode', { headers: auth, body: { payloads: [] } }],
        ['POST', '/codec/encode', { headers: auth, body: { payloads: [] } }],
        ['GET', '/ota/firmware/latest', {}], // no such route yet: refused by the app-wide check, not a 404
        ['GET', '/healthz', {}],
      ];
      const watched = await watchBystander(
        async () => {
          const answers: RawResponse[] = [];
          for (const [method, path, options] of probes)
            answers.push(await request(local, method, path, { ...options, host: FOREIGN_HOST }));
          return answers;
        },
        async () => {
          const answer = await request(local, 'GET', '/api/v1/ai-configs', { headers: { Authorization: `Bearer ${bystander}` } });
          assert.equal(answer.status, 200, answer.text);
        },
      );
      reportBystander('7 (DNS rebinding, API)', watched);
      assert.ok(watched.max < STALL_BOUND_MS);
      const answers = watched.result!;
      probes.forEach(([method, path], i) => {
        const answer = answers[i]!;
        assertMisdirected(answer, `${method} ${path}`);
        assert.doesNotMatch(answer.text, /eyJ/, `${method} ${path}: no token in the answer`);
        assert.doesNotMatch(answer.text, /websocket_url/, `${method} ${path}: no settings echoing the Host`);
      });
      assert.match(answers[0]!.body.request_id, /\S/, 'the refusal has the request id like every envelope');
      // Nothing was created for the victim by the refused POST.
      const list = await request(local, 'GET', '/api/v1/ai-configs', { headers: auth });
      assert.equal(list.status, 200, list.text);
      assert.deepEqual(list.body.data, []);
    });

    it('serves IP literals, localhost names and ALLOWED_HOSTS names; config.json builds the socket URL from that accepted host', async function () {
      const hosts: [string, string][] = [
        [`127.0.0.1:${local.port}`, '127.0.0.1'],
        [`[::1]:${local.port}`, '[::1]'],
        [`localhost:${local.port}`, 'localhost'],
        [`foo.localhost:${local.port}`, 'foo.localhost'],
        [`switchboard.test:${local.port}`, 'switchboard.test'],
        ['eu.apps.test', 'eu.apps.test'],
      ];
      for (const [host, hostname] of hosts) {
        const settings = await request(local, 'GET', '/console/config.json', { host });
        assert.equal(settings.status, 200, `${host}: ${settings.text}`);
        assert.equal(settings.body.websocket_url, `ws://${hostname}:${tc.ctx.config.GATEWAY_PORT}/ws`, host);
        assert.equal((await request(local, 'GET', '/healthz', { host })).status, 200, host);

        const user = uniqueId('signin');
        const minted = await request(local, 'POST', '/console/dev-token', { host, body: { user } });
        assert.equal(minted.status, 200, `${host}: ${minted.text}`);
        assert.equal(minted.body.data.user, user);
        const listed = await request(local, 'GET', '/api/v1/ai-configs', {
          host,
          headers: { Authorization: `Bearer ${minted.body.data.token}` },
        });
        assert.equal(listed.status, 200, `${host}: ${listed.text}`);
      }
    });

    it('builds websocket_url only from a served host, whatever the caller passes', function () {
      const config = { ...tc.ctx.config, GATEWAY_PUBLIC_URL: undefined, PUBLIC_HOST: undefined, embeddedTemporal: false };
      assert.equal(consoleSettings(config, 'evil.example', false).websocket_url, `ws://127.0.0.1:${config.GATEWAY_PORT}/ws`);
      assert.equal(consoleSettings(config, 'switchboard.test', false).websocket_url, `ws://switchboard.test:${config.GATEWAY_PORT}/ws`);
      assert.equal(consoleSettings(config, '[::1]', false).websocket_url, `ws://[::1]:${config.GATEWAY_PORT}/ws`);
    });

    it('the development sign-in refuses a request relayed for another address', async function () {
      const relayed = await request(local, 'POST', '/console/dev-token', {
        headers: { 'X-Forwarded-For': '203.0.113.9' },
        body: { user: uniqueId('relayed') },
      });
      assert.equal(relayed.status, 403, relayed.text);
      assert.equal(relayed.body.error, 'forbidden');
      assert.equal(relayed.body.data, null);
      assert.doesNotMatch(relayed.text, /eyJ/);

      // A real non-loopback peer would need traffic to an address other than loopback, which tests here
      // never send; the peer predicate itself (isLocalRequest on the socket's address) is unit-tested above.
    });
  });

  describe('the gateway refuses foreign Host names and foreign browser Origins before the upgrade', function () {
    this.timeout(120_000);
    let stack: TestStack;
    let gateway: { host: string; port: number };

    before(async function () {
      stack = await startStack({ ALLOWED_HOSTS: 'switchboard.test', ALLOWED_ORIGINS: 'https://app.partner.test' });
      gateway = { host: '127.0.0.1', port: Number(new URL(stack.url).port) };
    });
    after(async function () {
      await stack?.close();
    });

    async function sessionsOf(userId: string): Promise<number> {
      return stack.tc.ctx.db.models.UserSessionConfig.count({ where: { user_id: userId } });
    }

    async function opens(headers: Record<string, string>, token: string): Promise<void> {
      const socket = await TestSocket.open(stack.url, { token, headers });
      await socket.next('hello');
      await socket.close();
    }

    it('answers Host: evil.example:8080 with a 421 envelope (upgrade and plain requests) and starts no session', async function () {
      const victim = await stack.newUser('rebound');
      const other = await stack.newUser('bystander');
      const watched = await watchBystander(
        () => TestSocket.refusal(stack.url, { token: victim.token, headers: { Host: FOREIGN_HOST } }),
        () => opens({}, other.token),
        { minProbes: 1 },
      );
      reportBystander('7 (DNS rebinding, gateway upgrade)', watched);
      assert.ok(watched.max < STALL_BOUND_MS);
      const refusal = watched.result!;
      assert.equal(refusal.status, 421);
      assert.deepEqual(
        { ...(refusal.body as Record<string, unknown>), message: undefined },
        { code: 421, data: null, error: 'misdirected_request', message: undefined },
      );
      // Before the token is read: a bad one is refused the same way, not counted as an auth failure.
      assert.equal((await TestSocket.refusal(stack.url, { token: 'not-a-token', headers: { Host: FOREIGN_HOST } })).status, 421);
      assertMisdirected(await request(gateway, 'GET', '/healthz', { host: FOREIGN_HOST }), 'gateway /healthz');
      assert.equal((await request(gateway, 'GET', '/healthz')).status, 200, 'a probe by address passes');
      assert.equal(await sessionsOf(victim.userId), 0, 'no session started for the refused upgrade');
    });

    it('opens sockets for IP literal, localhost and ALLOWED_HOSTS hosts', async function () {
      const user = await stack.newUser('hosts');
      for (const host of [
        `127.0.0.1:${gateway.port}`,
        `[::1]:${gateway.port}`,
        `localhost:${gateway.port}`,
        'foo.localhost',
        `switchboard.test:${gateway.port}`,
      ]) {
        await opens({ Host: host }, user.token);
      }
      assert.equal(await sessionsOf(user.userId), 5);
    });

    it("refuses a foreign browser Origin with 403 before reading the token; accepts the console's, ALLOWED_ORIGINS and no Origin", async function () {
      const user = await stack.newUser('origin');
      const other = await stack.newUser('bystander');
      const watched = await watchBystander(
        async () => {
          const refusals = [];
          for (const origin of ['http://evil.example', 'http://evil.example:8080', 'http://6.6.6.6:8080', 'null']) {
            refusals.push(await TestSocket.refusal(stack.url, { token: user.token, headers: { Origin: origin } }));
          }
          return refusals;
        },
        () => opens({}, other.token),
        { minProbes: 1 },
      );
      reportBystander('8 (foreign Origin, gateway upgrade)', watched);
      assert.ok(watched.max < STALL_BOUND_MS);
      for (const refusal of watched.result!) {
        assert.equal(refusal.status, 403, JSON.stringify(refusal.body));
        const body = refusal.body as { code: number; error: string; data: null };
        assert.deepEqual([body.code, body.error, body.data], [403, 'origin_not_allowed', null]);
      }
      const before = await sessionsOf(user.userId);
      const noToken = await TestSocket.refusal(stack.url, { headers: { Origin: 'http://evil.example' } });
      assert.equal(noToken.status, 403, 'refused for its origin before the missing token');
      assert.equal(await sessionsOf(user.userId), before, 'no session for a refused origin');

      const consolePort = stack.tc.ctx.config.API_PORT;
      await opens({ Origin: `http://127.0.0.1:${consolePort}` }, user.token);
      await opens({ Origin: `http://localhost:${consolePort}`, Host: `localhost:${gateway.port}` }, user.token);
      await opens({ Origin: `http://switchboard.test:${consolePort}` }, user.token);
      await opens({ Origin: 'https://app.partner.test' }, user.token);
      await opens({}, user.token);
      assert.equal(await sessionsOf(user.userId), before + 5);
    });
  });
});
