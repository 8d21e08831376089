// xiaozhi provisioning (POST /xiaozhi/ota/, /xiaozhi/ota/activate) and the devices REST API
// (/api/v1/devices), over real HTTP against the real API app and the run's PostgreSQL.
import assert from 'node:assert/strict';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import http from 'node:http';
import { findDeviceByToken } from '../db';
import { startTestApi, type TestApi } from './support/api';
import { uniqueId } from './support/context';
import { createLLMConfigRow } from './support/llm-configs';

/** A random device identity, as xiaozhi firmware sends it. */
function newDevice(): { mac: string; clientId: string } {
  const mac = [...randomBytes(6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  return { mac, clientId: randomUUID() };
}

/** The body the firmware posts (trimmed): application and board. */
const otaBody = (version = '1.6.2') => ({
  version: 2,
  language: 'zh-CN',
  application: { name: 'xiaozhi', version },
  board: { type: 'bread-compact-wifi', name: 'bread-compact-wifi' },
});

/** Rate limits count in fixed one-minute windows: a test that counts to a limit starts well inside one. */
async function awayFromWindowEdge(): Promise<void> {
  const into = Date.now() % 60_000;
  if (into > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - into + 100));
}

describe('xiaozhi devices: provisioning and binding', function () {
  this.timeout(120_000);
  let api: TestApi;

  before(async () => {
    // Every test here provisions from 127.0.0.1: the per-address limits get their own API below.
    api = await startTestApi({ DEVICE_ACTIVATIONS_PER_ADDRESS: '100000', DEVICE_BIND_FAILURES_PER_ADDRESS: '100000' });
  });
  after(async () => {
    await api?.close();
  });

  const ota = (
    device: { mac: string; clientId: string },
    options: { path?: string; body?: unknown; forwardedFor?: string; on?: TestApi } = {},
  ) =>
    (options.on ?? api).request('POST', options.path ?? '/xiaozhi/ota/', {
      headers: {
        'Device-Id': device.mac,
        'Client-Id': device.clientId,
        ...(options.forwardedFor ? { 'X-Forwarded-For': options.forwardedFor } : {}),
      },
      body: options.body ?? otaBody(),
    });
  const activate = (device: { mac: string; clientId: string }, body: unknown, path = '/xiaozhi/ota/activate') =>
    api.request('POST', path, { headers: { 'Device-Id': device.mac, 'Client-Id': device.clientId }, body });
  const bind = (user: string, code: string, on: TestApi = api, forwardedFor?: string) =>
    on.request('POST', '/api/v1/devices/bind', { user, body: { code }, headers: forwardedFor ? { 'X-Forwarded-For': forwardedFor } : {} });
  /** A device bound to `user`, and the token of the OTA call that provisioned it. */
  async function boundDevice(user: string): Promise<{ id: number; token: string; device: { mac: string; clientId: string } }> {
    const device = newDevice();
    const provisioned = await ota(device);
    assert.equal(provisioned.status, 200);
    const bound = await bind(user, provisioned.body.activation.code);
    assert.equal(bound.status, 201, JSON.stringify(bound.body));
    return { id: bound.body.data.id, token: provisioned.body.websocket.token, device };
  }

  it('answers an unbound device exactly as the contract says: server_time, firmware (its own version), websocket, activation; no mqtt', async () => {
    const device = newDevice();
    const before = Date.now();
    const response = await ota(device, { body: otaBody('1.7.5') });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const reply = response.body;
    assert.deepEqual(Object.keys(reply).sort(), ['activation', 'firmware', 'server_time', 'websocket']);
    assert.equal(reply.mqtt, undefined);
    assert.deepEqual(Object.keys(reply.server_time).sort(), ['timestamp', 'timezone_offset']);
    assert.ok(
      Number.isInteger(reply.server_time.timestamp) && reply.server_time.timestamp >= before && reply.server_time.timestamp <= Date.now(),
    );
    assert.equal(reply.server_time.timezone_offset, 0 - new Date().getTimezoneOffset());
    assert.deepEqual(reply.firmware, { version: '1.7.5', url: '' });
    assert.deepEqual(Object.keys(reply.websocket).sort(), ['token', 'url']);
    // From configuration (HOST and GATEWAY_PORT here), never from the request's Host.
    assert.equal(reply.websocket.url, `ws://127.0.0.1:${api.config.GATEWAY_PORT}/xiaozhi/v1/`);
    assert.match(reply.websocket.token, /^sbd_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(Object.keys(reply.activation).sort(), ['challenge', 'code', 'message']);
    assert.match(reply.activation.code, /^\d{6}$/);
    assert.ok(reply.activation.message.includes(reply.activation.code));
    assert.ok(reply.activation.challenge.length >= 16);
    // The token is stored as its hash only.
    const [rows] = await api.db.sequelize.query('SELECT token_hash FROM xiaozhi_devices WHERE device_id = $1', { bind: [device.mac] });
    const stored = (rows as { token_hash: string }[])[0]!.token_hash;
    assert.match(stored, /^[0-9a-f]{64}$/);
    assert.notEqual(stored, reply.websocket.token);
    // The same pending activation while it lasts (the user may be typing the code), with and without the slash.
    const again = await ota(device, { path: '/xiaozhi/ota' });
    assert.equal(again.status, 200);
    assert.equal(again.body.activation.code, reply.activation.code);
    assert.equal(again.body.activation.challenge, reply.activation.challenge);
  });

  it('activation: 202 while unbound, bound by code (201), then 200; the next OTA call has no activation and a working token', async () => {
    const user = uniqueId('owner');
    const device = newDevice();
    const first = await ota(device);
    const { code, challenge } = first.body.activation;
    const firstToken: string = first.body.websocket.token;
    assert.equal((await findDeviceByToken(api.db.sequelize, firstToken))?.user_id, null, 'an unbound device token names no user');

    const waiting = await activate(device, { serial_number: 'SN-1', challenge, hmac: 'f'.repeat(64) });
    assert.equal(waiting.status, 202, JSON.stringify(waiting.body));
    assert.equal((await activate(device, {})).status, 202, 'firmware without a serial number posts {}');
    assert.equal((await activate(device, {}, '/xiaozhi/ota/activate/')).status, 202);

    const bound = await bind(user, code);
    assert.equal(bound.status, 201, JSON.stringify(bound.body));
    const deviceView = bound.body.data;
    assert.deepEqual(Object.keys(deviceView).sort(), [
      'bound_at',
      'client_id',
      'default_llm_id',
      'device_id',
      'enabled_functions',
      'firmware_version',
      'id',
      'last_seen_at',
      'name',
      'online',
    ]);
    assert.equal(deviceView.device_id, device.mac);
    assert.equal(deviceView.client_id, device.clientId);
    assert.equal(deviceView.name, 'bread-compact-wifi');
    assert.equal(deviceView.online, false);
    assert.equal(deviceView.firmware_version, '1.6.2');

    const done = await activate(device, { challenge, hmac: 'ignored' });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.body.data.status, 'activated');
    // The token of the provisioning call is the user's now.
    assert.equal((await findDeviceByToken(api.db.sequelize, firstToken))?.user_id, user);

    const later = await ota(device);
    assert.equal(later.status, 200);
    assert.equal(later.body.activation, undefined);
    assert.deepEqual(Object.keys(later.body).sort(), ['firmware', 'server_time', 'websocket']);
    const laterToken: string = later.body.websocket.token;
    assert.equal((await findDeviceByToken(api.db.sequelize, laterToken))?.user_id, user);
    assert.equal(await findDeviceByToken(api.db.sequelize, firstToken), undefined, 'a reissued token retires the previous one');

    const listed = await api.request('GET', '/api/v1/devices', { user });
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.body.data.map((d: { id: number }) => d.id),
      [deviceView.id],
    );
    assert.equal(listed.body.data[0].online, false);
  });

  it('a code is used once, and expires', async () => {
    const device = newDevice();
    const { code } = (await ota(device)).body.activation;
    assert.equal((await bind(uniqueId('first'), code)).status, 201);
    const second = await bind(uniqueId('second'), code);
    assert.equal(second.status, 400);
    assert.deepEqual(
      second.body.errors.map((e: { field: string }) => e.field),
      ['code'],
    );

    const late = newDevice();
    const provisioned = (await ota(late)).body.activation;
    await api.db.sequelize.query("UPDATE xiaozhi_devices SET activation_expires_at = now() - interval '1 second' WHERE device_id = $1", {
      bind: [late.mac],
    });
    const expired = await bind(uniqueId('late'), provisioned.code);
    assert.equal(expired.status, 400);
    assert.equal(expired.body.errors[0].field, 'code');
    const poll = await activate(late, { challenge: provisioned.challenge });
    assert.equal(poll.status, 410);
    assert.equal(poll.body.error, 'activation_expired');
    // The device's next call gets a new code and challenge, which binds.
    const renewed = (await ota(late)).body.activation;
    assert.notEqual(renewed.challenge, provisioned.challenge);
    assert.equal((await activate(late, { challenge: provisioned.challenge })).status, 404, 'the old challenge is unknown now');
    assert.equal((await bind(uniqueId('late'), renewed.code)).status, 201);
  });

  it('a wrong or malformed code is a 400 naming code; an unknown challenge or device a 404', async () => {
    const user = uniqueId('guess');
    for (const code of ['12345', 'abcdef', '1234567']) {
      const response = await bind(user, code);
      assert.equal(response.status, 400, code);
      assert.equal(response.body.errors[0].field, 'code', code);
    }
    const missing = await api.request('POST', '/api/v1/devices/bind', { user, body: {} });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.errors[0].field, 'code');

    const device = newDevice();
    await ota(device);
    const wrongChallenge = await activate(device, { challenge: 'not-the-challenge' });
    assert.equal(wrongChallenge.status, 404);
    assert.equal(wrongChallenge.body.error, 'activation_not_found');
    assert.equal((await activate(newDevice(), {})).status, 404);
  });

  it('bad device headers are a 400 naming the header', async () => {
    const cases: [Record<string, string>, string[]][] = [
      [{ 'Client-Id': randomUUID() }, ['Device-Id']],
      [{ 'Device-Id': 'aa:bb:cc:dd:ee:ff' }, ['Client-Id']],
      [{ 'Device-Id': 'not-a-mac', 'Client-Id': randomUUID() }, ['Device-Id']],
      [{ 'Device-Id': 'aa:bb:cc:dd:ee:ff', 'Client-Id': 'not-a-uuid' }, ['Client-Id']],
      [{}, ['Device-Id', 'Client-Id']],
    ];
    for (const path of ['/xiaozhi/ota/', '/xiaozhi/ota/activate']) {
      for (const [headers, fields] of cases) {
        const response = await api.request('POST', path, { headers, body: otaBody() });
        assert.equal(response.status, 400, `${path} ${JSON.stringify(headers)}`);
        assert.equal(response.body.error, 'validation_failed');
        assert.deepEqual(
          response.body.errors.map((e: { field: string }) => e.field),
          fields,
        );
      }
    }
  });

  it('is behind the Host check: a foreign name gets 421 on /xiaozhi/ota', async () => {
    const { port, hostname } = new URL(api.url);
    const device = newDevice();
    for (const [path, host, expected] of [
      ['/xiaozhi/ota/', 'evil.example', 421],
      ['/xiaozhi/ota/activate', 'evil.example', 421],
      ['/xiaozhi/ota/', `127.0.0.1:${port}`, 200],
    ] as const) {
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(
          {
            host: hostname,
            port: Number(port),
            method: 'POST',
            path,
            headers: { Host: host, 'Content-Type': 'application/json', 'Device-Id': device.mac, 'Client-Id': device.clientId },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(otaBody()));
      });
      assert.equal(status, expected, `${path} with Host ${host}`);
    }
  });

  it("lists only the caller's devices; another user's device is a 404 to PATCH and DELETE", async () => {
    const alice = uniqueId('alice');
    const bob = uniqueId('bob');
    const mine = await boundDevice(alice);
    await boundDevice(bob);
    const listed = await api.request('GET', '/api/v1/devices', { user: alice });
    assert.deepEqual(
      listed.body.data.map((d: { id: number }) => d.id),
      [mine.id],
    );
    assert.equal((await api.request('PATCH', `/api/v1/devices/${mine.id}`, { user: bob, body: { name: 'mine now' } })).status, 404);
    assert.equal((await api.request('DELETE', `/api/v1/devices/${mine.id}`, { user: bob })).status, 404);
    assert.equal((await api.request('DELETE', '/api/v1/devices/not-a-number', { user: alice })).status, 404);
    assert.equal((await api.request('GET', '/api/v1/devices')).status, 401);
    // Still Alice's, untouched.
    assert.equal((await api.request('GET', '/api/v1/devices', { user: alice })).body.data[0].name, 'bread-compact-wifi');
  });

  it('PATCH renames and sets the session settings, validated like a session’s', async () => {
    const user = uniqueId('patch');
    const { id } = await boundDevice(user);
    const { config: llm } = await createLLMConfigRow(api, user, { config_name: 'Device LLM', model_name: 'device-model' });
    const { config: foreignLlm } = await createLLMConfigRow(api, uniqueId('stranger'), { config_name: 'Theirs', model_name: 'theirs' });

    const renamed = await api.request('PATCH', `/api/v1/devices/${id}`, {
      user,
      body: { name: '  Kitchen  ', default_llm_id: llm.id, enabled_functions: ['get_time', 'self.light.set_brightness'] },
    });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assert.equal(renamed.body.data.name, 'Kitchen');
    assert.equal(renamed.body.data.default_llm_id, llm.id);
    assert.deepEqual(renamed.body.data.enabled_functions, ['get_time', 'self.light.set_brightness']);

    const invalid: [unknown, string][] = [
      [{}, '(body)'],
      [{ name: '' }, 'name'],
      [{ name: 'x'.repeat(65) }, 'name'],
      [{ name: 'bell\u0007' }, 'name'],
      [{ default_llm_id: foreignLlm.id }, 'default_llm_id'],
      [{ default_llm_id: 'three' }, 'default_llm_id'],
      [{ enabled_functions: ['not a name!'] }, 'enabled_functions.0'],
      [{ enabled_functions: 'get_time' }, 'enabled_functions'],
      [{ colour: 'red' }, 'colour'],
    ];
    for (const [body, field] of invalid) {
      const response = await api.request('PATCH', `/api/v1/devices/${id}`, { user, body });
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.ok(
        response.body.errors.some((e: { field: string }) => e.field === field),
        `${JSON.stringify(body)}: ${JSON.stringify(response.body.errors)}`,
      );
    }
    const cleared = await api.request('PATCH', `/api/v1/devices/${id}`, { user, body: { default_llm_id: null, enabled_functions: null } });
    assert.equal(cleared.status, 200);
    assert.equal(cleared.body.data.default_llm_id, null);
    assert.equal(cleared.body.data.enabled_functions, null);
    assert.equal(cleared.body.data.name, 'Kitchen');
  });

  it('DELETE unbinds: the row and its token are gone at once; the device provisions afresh with a new code', async () => {
    const user = uniqueId('unbind');
    const { id, token, device } = await boundDevice(user);
    assert.equal((await findDeviceByToken(api.db.sequelize, token))?.id, id);
    const removed = await api.request('DELETE', `/api/v1/devices/${id}`, { user });
    assert.equal(removed.status, 200);
    assert.equal(removed.body.data.id, id);
    assert.equal(await findDeviceByToken(api.db.sequelize, token), undefined);
    const [rows] = await api.db.sequelize.query('SELECT id FROM xiaozhi_devices WHERE id = $1', { bind: [id] });
    assert.equal(rows.length, 0);
    assert.deepEqual((await api.request('GET', '/api/v1/devices', { user })).body.data, []);
    assert.equal((await api.request('DELETE', `/api/v1/devices/${id}`, { user })).status, 404);
    const fresh = await ota(device);
    assert.match(fresh.body.activation.code, /^\d{6}$/);
  });

  it('holds a user to 20 devices (409 device_limit_reached), and a free slot binds again', async () => {
    const user = uniqueId('many');
    const ids: number[] = [];
    for (let i = 0; i < 20; i++) ids.push((await boundDevice(user)).id);
    const extra = newDevice();
    const { code } = (await ota(extra)).body.activation;
    const refused = await bind(user, code);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error, 'device_limit_reached');
    assert.equal((await api.request('GET', '/api/v1/devices', { user })).body.data.length, 20);
    assert.equal((await api.request('DELETE', `/api/v1/devices/${ids[0]}`, { user })).status, 200);
    assert.equal((await bind(user, code)).status, 201, 'the code was not spent by the refused bind');
  });

  it('limits wrong codes per user: past DEVICE_BIND_FAILURES_PER_MINUTE (5) a 429, even for a right code', async () => {
    await awayFromWindowEdge();
    const user = uniqueId('guesser');
    const { code } = (await ota(newDevice())).body.activation;
    const wrong = code === '000000' ? '000001' : '000000';
    for (let i = 0; i < 5; i++) assert.equal((await bind(user, wrong)).status, 400, `guess ${i + 1}`);
    const sixth = await bind(user, wrong);
    assert.equal(sixth.status, 429);
    assert.ok(Number(sixth.headers.get('retry-after')) >= 1);
    assert.equal((await bind(user, code)).status, 429, 'blocked before the code is looked at');
    assert.equal((await bind(uniqueId('someone-else'), code)).status, 201, 'other users are not affected');
  });

  // API instances of their own: after the tests above, since the models are bound to the latest database handle.
  describe('with other settings', () => {
    it('takes the device socket URL from GATEWAY_PUBLIC_URL, not from the request', async () => {
      const other = await startTestApi({ GATEWAY_PUBLIC_URL: 'wss://devices.example.com/ws', DEVICE_ACTIVATIONS_PER_ADDRESS: '100000' });
      try {
        const response = await ota(newDevice(), { on: other });
        assert.equal(response.status, 200);
        assert.equal(response.body.websocket.url, 'wss://devices.example.com/xiaozhi/v1/');
      } finally {
        await other.close();
      }
    });
  });

  describe('wrong codes per user and day', () => {
    it('past DEVICE_BIND_FAILURES_PER_DAY a 429 until the day ends (UTC), whatever the minute limit allows', async () => {
      const daily = await startTestApi({
        DEVICE_BIND_FAILURES_PER_MINUTE: '100',
        DEVICE_BIND_FAILURES_PER_DAY: '4',
        DEVICE_BIND_FAILURES_PER_ADDRESS: '100000',
        DEVICE_ACTIVATIONS_PER_ADDRESS: '100000',
      });
      try {
        const user = uniqueId('patient');
        const { code } = (await ota(newDevice(), { on: daily })).body.activation;
        const wrong = code === '000000' ? '000001' : '000000';
        for (let i = 0; i < 4; i++) assert.equal((await bind(user, wrong, daily)).status, 400, `guess ${i + 1}`);
        const fifth = await bind(user, wrong, daily);
        assert.equal(fifth.status, 429);
        const day = 24 * 60 * 60 * 1000;
        const untilMidnight = Math.ceil((day - (Date.now() % day)) / 1000);
        assert.ok(Math.abs(Number(fifth.headers.get('retry-after')) - untilMidnight) <= 5, 'Retry-After is the rest of the day');
        assert.equal((await bind(user, code, daily)).status, 429, 'blocked before the code is looked at');
      } finally {
        await daily.close();
      }
    });
  });

  describe('per-address limits and the cap on pending activations', () => {
    let limited: TestApi;
    before(async () => {
      limited = await startTestApi({
        TRUST_PROXY_HOPS: '1',
        DEVICE_BIND_FAILURES_PER_ADDRESS: '3',
        DEVICE_ACTIVATIONS_PER_ADDRESS: '2',
        MAX_PENDING_ACTIVATIONS: '3',
      });
    });
    after(async () => {
      await limited?.close();
    });
    /** A client address of its own (behind TRUST_PROXY_HOPS=1), so counters of other tests never meet it. */
    const address = () => `127.${randomInt(1, 255)}.${randomInt(0, 255)}.${randomInt(1, 255)}`;

    it('wrong codes from one address, whoever sends them: past DEVICE_BIND_FAILURES_PER_ADDRESS a 429', async () => {
      await awayFromWindowEdge();
      const from = address();
      for (let i = 0; i < 3; i++) assert.equal((await bind(uniqueId('addr'), '999999', limited, from)).status, 400, `guess ${i + 1}`);
      assert.equal((await bind(uniqueId('addr'), '999999', limited, from)).status, 429);
      assert.equal((await bind(uniqueId('addr'), '999999', limited, address())).status, 400, 'another address still gets its answer');
    });

    it('new codes per address: past DEVICE_ACTIVATIONS_PER_ADDRESS a 429; a device already waiting keeps its code', async () => {
      await awayFromWindowEdge();
      await api.db.sequelize.query("UPDATE xiaozhi_devices SET activation_expires_at = now() - interval '1 second' WHERE user_id IS NULL");
      const from = address();
      const waiting = newDevice();
      assert.equal((await ota(waiting, { on: limited, forwardedFor: from })).status, 200);
      assert.equal((await ota(newDevice(), { on: limited, forwardedFor: from })).status, 200);
      const third = await ota(newDevice(), { on: limited, forwardedFor: from });
      assert.equal(third.status, 429);
      assert.equal((await ota(waiting, { on: limited, forwardedFor: from })).status, 200, 'no new code needed');
    });

    it('caps pending activations overall (MAX_PENDING_ACTIVATIONS): 503 activations_full, bound devices still provision', async () => {
      await api.db.sequelize.query("UPDATE xiaozhi_devices SET activation_expires_at = now() - interval '1 second' WHERE user_id IS NULL");
      const user = uniqueId('cap');
      const bound = newDevice();
      const boundCode = (await ota(bound, { on: limited, forwardedFor: address() })).body.activation.code;
      assert.equal((await bind(user, boundCode, limited)).status, 201);
      for (let i = 0; i < 3; i++)
        assert.equal((await ota(newDevice(), { on: limited, forwardedFor: address() })).status, 200, `device ${i + 1}`);
      const full = await ota(newDevice(), { on: limited, forwardedFor: address() });
      assert.equal(full.status, 503);
      assert.equal(full.body.error, 'activations_full');
      assert.ok(full.headers.get('retry-after'));
      const again = await ota(bound, { on: limited, forwardedFor: address() });
      assert.equal(again.status, 200);
      assert.equal(again.body.activation, undefined);
    });
  });

  it('documents every device route in the OpenAPI document, the OTA reply without the envelope', async () => {
    const doc = (await api.request('GET', '/openapi.json')).body;
    for (const [path, method] of [
      ['/xiaozhi/ota/', 'post'],
      ['/xiaozhi/ota', 'post'],
      ['/xiaozhi/ota/activate', 'post'],
      ['/api/v1/devices', 'get'],
      ['/api/v1/devices/bind', 'post'],
      ['/api/v1/devices/{id}', 'patch'],
      ['/api/v1/devices/{id}', 'delete'],
    ]) {
      assert.ok(doc.paths[path]?.[method], `${method} ${path}`);
    }
    const otaOp = doc.paths['/xiaozhi/ota/'].post;
    assert.deepEqual(otaOp.security, []);
    assert.deepEqual(
      otaOp.parameters
        .filter((p: { in: string }) => p.in === 'header')
        .map((p: { name: string; required: boolean }) => [p.name, p.required]),
      [
        ['Device-Id', true],
        ['Client-Id', true],
      ],
    );
    let schema = otaOp.responses['200'].content['application/json'].schema;
    if (schema.$ref) schema = doc.components.schemas[schema.$ref.split('/').pop()];
    assert.deepEqual(Object.keys(schema.properties).sort(), ['activation', 'firmware', 'server_time', 'websocket'], 'no envelope, no mqtt');
    assert.ok(doc.paths['/xiaozhi/ota/activate'].post.responses['202']);
  });
});
