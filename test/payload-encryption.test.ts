// Payload encryption (TEMPORAL_PAYLOAD_KEY) on the real Temporal dev server: a session's history
// holds no plaintext (read raw, without the codec), decodes with it, survives a key rotation, and
// the codec endpoint answers the Temporal UI's calls (CORS preflight, tokens, encode and decode).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { createApiFromContext, noopNotifier } from '../api/server';
import type { AppContext } from '../app/context';
import { messageSignal, transcriptQuery, type ResultFrame } from '../contract';
import { mintToken } from '../lib/auth';
import { failureConverter } from '../lib/encrypted-failure-converter';
import { createPayloadEncryption, ENCRYPTED_ENCODING, payloadKeyId, payloadToJson, type JsonPayload } from '../lib/payload-codec';
import { keyId } from '../lib/secret-box';
import { findTemporalCli } from '../lib/temporal-cli';
import { uniqueId } from './support/context';
import { eventually } from './support/eventually';
import { startSessionHarness, type SessionHarness, type TestSession } from './support/session-harness';

const UI_ORIGIN = 'http://127.0.0.1:8233';
const execFileAsync = promisify(execFile);

/**
 * Every payload in a history (or any part of one) with where it is, except search attributes
 * (indexed, so plain by design).
 */
function payloadsOf(value: unknown, path = '', out: { path: string; payload: Payload }[] = []): { path: string; payload: Payload }[] {
  if (Array.isArray(value)) {
    value.forEach((item, i) => payloadsOf(item, `${path}[${i}]`, out));
  } else if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const record = value as Record<string, unknown>;
    if (record.data instanceof Uint8Array && record.metadata && typeof record.metadata === 'object') {
      out.push({ path, payload: record as Payload });
      return out;
    }
    for (const [key, part] of Object.entries(record)) if (key !== 'searchAttributes') payloadsOf(part, `${path}.${key}`, out);
  }
  return out;
}

/**
 * What Temporal's core SDK itself writes into markers, past the data converter: a local activity
 * marker's `data` (sequence number, attempt, activity type, times; its `result` is ours, encrypted)
 * and a patch marker's `patch-data` (the patch id). No user data.
 */
const CORE_MARKER_FIELD = /\.markerRecordedEventAttributes\.details\.(data|patch-data)\.payloads\[\d+\]$/;

function encoding(payload: Payload): string {
  return Buffer.from(payload.metadata?.encoding ?? new Uint8Array()).toString('utf8');
}

async function rawHistory(client: Client, workflowId: string): Promise<{ bytes: Buffer; payloads: Payload[]; plain: string[] }> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const found = payloadsOf(history.events).filter(({ path }) => !CORE_MARKER_FIELD.test(path));
  const plain = found.filter(({ payload }) => encoding(payload) !== ENCRYPTED_ENCODING).map(({ path }) => path);
  return {
    bytes: Buffer.from(temporal.api.history.v1.History.encode(history).finish()),
    payloads: found.map(({ payload }) => payload),
    plain,
  };
}

async function decodedText(ctx: AppContext, payloads: Payload[]): Promise<string> {
  const decoded = await ctx.payloadEncryption!.codec.decode(payloads);
  return decoded.map((p) => Buffer.from(p.data ?? new Uint8Array()).toString('utf8')).join('\n');
}

describe('payload encryption', function () {
  this.timeout(180_000);
  const keyA = randomBytes(32);
  const keyB = randomBytes(32);
  let h: SessionHarness;
  let api: http.Server;
  let apiUrl: string;
  let session: TestSession;
  let configName: string;
  const message = `tell me about ${uniqueId('plaintext-question')}`;
  let first: ResultFrame;

  before(async () => {
    h = await startSessionHarness({ router: false, env: { TEMPORAL_PAYLOAD_KEY: keyA.toString('base64') } });
    api = http.createServer(createApiFromContext(h.ctx, noopNotifier).callback());
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;

    const userId = uniqueId('auditee');
    configName = uniqueId('confidential-config');
    await h.createLLMConfig(userId, { config_name: configName, model_name: uniqueId('model'), description: 'Answers everything' });
    session = await h.startSession({ userId, label: 'encrypted' });
    first = await session.ask(message);
    assert.equal(first.status, 'success');
    assert.equal(first.config_name, configName);
  });

  after(async () => {
    await new Promise<void>((resolve) => (api ? api.close(() => resolve()) : resolve()));
    await h?.close();
  });

  it('keeps the message, the answer and the config name out of the raw history, every payload binary/encrypted under the key id', async () => {
    const answer = first.result;
    assert.ok(answer.includes('plaintext-question'), answer);
    // The client of the server itself has no codec: it reads what Temporal stores.
    const raw = await eventually(async () => {
      const fetched = await rawHistory(h.env.client, session.handle.workflowId);
      // Wait for the task that recorded the answer (its marker), then look at everything.
      return (await decodedText(h.ctx, fetched.payloads)).includes(answer) ? fetched : false;
    });
    for (const plain of [message, answer, configName, 'plaintext-question']) {
      assert.equal(raw.bytes.indexOf(Buffer.from(plain, 'utf8')), -1, `"${plain}" is in the raw history`);
    }
    assert.ok(raw.payloads.length >= 4, `only ${raw.payloads.length} payloads`);
    assert.deepEqual(raw.plain, [], 'payloads left plain');
    for (const payload of raw.payloads) {
      assert.equal(encoding(payload), ENCRYPTED_ENCODING);
      assert.equal(payloadKeyId(payload), keyId(keyA));
    }
    // With the codec, the same history reads in plain text.
    const plain = await decodedText(h.ctx, raw.payloads);
    for (const text of [message, answer, configName]) assert.ok(plain.includes(text), `"${text}" not in the decoded history`);
    // And the service's own client (with the codec) reads queries as usual.
    const transcript = await session.handle.query(transcriptQuery);
    assert.equal(transcript[0]?.text, message);
  });

  it('moves failure messages and stacks into a payload, which the codec encrypts', async () => {
    const failure = failureConverter.errorToFailure(new Error(`failed on ${message}`), defaultPayloadConverter);
    assert.equal(failure.message, 'Encoded failure');
    assert.ok(!JSON.stringify(failure.stackTrace ?? '').includes(message));
    const [sealed] = await h.ctx.payloadEncryption!.codec.encode([failure.encodedAttributes!]);
    assert.equal(encoding(sealed!), ENCRYPTED_ENCODING);
    assert.ok(!Buffer.from(sealed!.data!).includes(message));
    const [opened] = await h.ctx.payloadEncryption!.codec.decode([sealed!]);
    assert.ok(Buffer.from(opened!.data!).toString().includes(message));
  });

  describe('codec endpoint', () => {
    const headersLikeTheUi = (token?: string): Record<string, string> => ({
      Origin: UI_ORIGIN,
      'Content-Type': 'application/json',
      'X-Namespace': 'default',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    });
    let codecToken: string;
    let userToken: string;

    before(async () => {
      const secret = h.ctx.secrets.jwtSecret!;
      codecToken = await mintToken(secret, 'auditor', { scopes: ['codec'] });
      userToken = await mintToken(secret, 'auditor');
    });

    async function post(direction: 'decode' | 'encode', payloads: JsonPayload[], token?: string) {
      const response = await fetch(`${apiUrl}/codec/${direction}`, {
        method: 'POST',
        headers: headersLikeTheUi(token),
        body: JSON.stringify({ payloads }),
      });
      return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
    }

    it('answers the browser preflight for the UI origin, and no other', async () => {
      const preflight = (origin: string) =>
        fetch(`${apiUrl}/codec/decode`, {
          method: 'OPTIONS',
          headers: {
            Origin: origin,
            'Access-Control-Request-Method': 'POST',
            'Access-Control-Request-Headers': 'authorization,content-type,x-namespace',
          },
        });
      for (const origin of [UI_ORIGIN, 'http://localhost:8233']) {
        const ok = await preflight(origin);
        assert.equal(ok.status, 204);
        assert.equal(ok.headers.get('access-control-allow-origin'), origin);
        assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
        assert.match(ok.headers.get('access-control-allow-methods') ?? '', /\bPOST\b/);
        const allowed = (ok.headers.get('access-control-allow-headers') ?? '').split(',').map((s) => s.trim());
        for (const header of ['authorization', 'content-type', 'x-namespace']) assert.ok(allowed.includes(header), header);
        assert.match(ok.headers.get('vary') ?? '', /Origin/);
      }
      const other = await preflight('https://evil.example');
      assert.equal(other.headers.get('access-control-allow-origin'), null);
      assert.equal(other.headers.get('access-control-allow-headers'), null);
    });

    it('wants a token (401) with the codec scope (403), in the usual envelope and readable by the UI', async () => {
      const payloads = [payloadToJson({ metadata: {}, data: new Uint8Array() })];
      const none = await post('decode', payloads);
      assert.equal(none.status, 401);
      assert.equal(none.body.error, 'unauthorized');
      assert.equal(none.headers.get('access-control-allow-origin'), UI_ORIGIN);
      const plain = await post('decode', payloads, userToken);
      assert.equal(plain.status, 403);
      assert.equal(plain.body.error, 'forbidden');
      assert.equal(plain.body.data, null);
      assert.equal(plain.headers.get('access-control-allow-origin'), UI_ORIGIN);
      const bad = await post('decode', payloads, codecToken.slice(0, -2) + 'xx');
      assert.equal(bad.status, 401);
    });

    it('keeps a codec token as an HttpOnly SameSite=Strict cookie that the UI sends with credentials; a plain token gets none', async () => {
      const set = await fetch(`${apiUrl}/codec/session`, { method: 'POST', headers: headersLikeTheUi(codecToken) });
      assert.equal(set.status, 204);
      const cookie = set.headers.get('set-cookie') ?? '';
      assert.match(cookie, /^switchboard_codec=[^;]+; path=\/codec; expires=[^;]+; samesite=strict; httponly$/i);
      const pair = cookie.split(';')[0]!;
      assert.equal(pair.slice('switchboard_codec='.length), codecToken);

      // What the UI sends with "include cross-origin credentials": the cookie, no Authorization.
      const { payloads } = await rawHistory(h.env.client, session.handle.workflowId);
      const sealed = payloads.filter((p) => encoding(p) === ENCRYPTED_ENCODING).map(payloadToJson);
      const withCookie = await fetch(`${apiUrl}/codec/decode`, {
        method: 'POST',
        headers: { ...headersLikeTheUi(), Cookie: pair },
        body: JSON.stringify({ payloads: sealed }),
      });
      assert.equal(withCookie.status, 200);
      assert.equal(withCookie.headers.get('access-control-allow-credentials'), 'true');
      const texts = ((await withCookie.json()) as { payloads: JsonPayload[] }).payloads.map((p) =>
        Buffer.from(p.data ?? '', 'base64').toString('utf8'),
      );
      assert.ok(texts.some((t) => t.includes(message)));

      const plain = await fetch(`${apiUrl}/codec/session`, { method: 'POST', headers: headersLikeTheUi(userToken) });
      assert.equal(plain.status, 403);
      assert.equal(plain.headers.get('set-cookie'), null);
      const cleared = await fetch(`${apiUrl}/codec/session`, { method: 'DELETE', headers: { ...headersLikeTheUi(), Cookie: pair } });
      assert.equal(cleared.status, 204);
      assert.match(cleared.headers.get('set-cookie') ?? '', /^switchboard_codec=; path=\/codec; expires=Thu, 01 Jan 1970/i);
    });

    it('decodes a payload of the real encrypted history to its plaintext', async () => {
      const { payloads } = await rawHistory(h.env.client, session.handle.workflowId);
      const signal = payloads.filter((p) => encoding(p) === ENCRYPTED_ENCODING);
      const { status, headers, body } = await post('decode', signal.map(payloadToJson), codecToken);
      assert.equal(status, 200);
      assert.equal(headers.get('access-control-allow-origin'), UI_ORIGIN);
      const decoded = body.payloads as JsonPayload[];
      assert.equal(decoded.length, signal.length);
      const texts = decoded.map((p) => Buffer.from(p.data ?? '', 'base64').toString('utf8'));
      assert.ok(
        texts.some((t) => t.includes(message)),
        'the message is among the decoded payloads',
      );
      for (const p of decoded) assert.notEqual(Buffer.from(p.metadata?.encoding ?? '', 'base64').toString(), ENCRYPTED_ENCODING);
    });

    it('round-trips: encode then decode gives the original payloads', async () => {
      const original: JsonPayload[] = [
        { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('{"q":"hello"}').toString('base64') },
        { metadata: { encoding: Buffer.from('binary/null').toString('base64') }, data: '' },
      ];
      const encoded = await post('encode', original, codecToken);
      assert.equal(encoded.status, 200);
      const sealed = encoded.body.payloads as JsonPayload[];
      for (const p of sealed) {
        assert.equal(Buffer.from(p.metadata?.encoding ?? '', 'base64').toString(), ENCRYPTED_ENCODING);
        assert.ok(!Buffer.from(p.data ?? '', 'base64').includes('hello'));
      }
      const decoded = await post('decode', sealed, codecToken);
      assert.equal(decoded.status, 200);
      assert.deepEqual(decoded.body.payloads, original);
    });

    it('refuses a tampered payload with 400 and malformed bodies with the field named', async () => {
      const [sealed] = (await post('encode', [{ metadata: {}, data: Buffer.from('x').toString('base64') }], codecToken)).body
        .payloads as JsonPayload[];
      const bytes = Buffer.from(sealed!.data!, 'base64');
      bytes[bytes.length - 1]! ^= 1;
      const tampered = await post('decode', [{ ...sealed, data: bytes.toString('base64') }], codecToken);
      assert.equal(tampered.status, 400);
      assert.equal(tampered.body.error, 'invalid_payload');
      const malformed = await post('decode', [{ metadata: { encoding: '%%%' } }], codecToken);
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error, 'validation_failed');
    });

    it('serves the Temporal CLI (temporal workflow show --codec-endpoint … --codec-auth …)', async () => {
      const cli = findTemporalCli(process.env.TEMPORAL_CLI_PATH)!;
      const show = (auth: string) =>
        execFileAsync(cli, [
          'workflow',
          'show',
          '--address',
          h.env.address,
          '--namespace',
          h.ctx.config.TEMPORAL_NAMESPACE,
          '--workflow-id',
          session.handle.workflowId,
          '--output',
          'json',
          '--codec-endpoint',
          `${apiUrl}/codec`,
          '--codec-auth',
          auth,
        ]);
      const { stdout } = await show(`Bearer ${codecToken}`);
      // Its JSON output shows each decoded payload's data in base64.
      const data = [...stdout.matchAll(/"data": "([A-Za-z0-9+/=]*)"/g)]
        .map((m) => Buffer.from(m[1]!, 'base64').toString('utf8'))
        .join('\n');
      assert.ok(!stdout.includes(Buffer.from(ENCRYPTED_ENCODING).toString('base64')), 'a payload was left encrypted');
      assert.ok(data.includes(message), 'the CLI shows the message in plain text');
      assert.ok(data.includes(configName));
    });

    it('is in the OpenAPI document', async () => {
      const doc = (await (await fetch(`${apiUrl}/openapi.json`)).json()) as { paths: Record<string, unknown> };
      assert.ok(doc.paths['/codec/decode'] && doc.paths['/codec/encode']);
    });

    it('does not exist without a payload key (404)', async () => {
      // The same context without payload encryption (a second test context would rebind the shared models to its own pool).
      const plain = http.createServer(createApiFromContext({ ...h.ctx, payloadEncryption: undefined }, noopNotifier).callback());
      await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
      try {
        const response = await fetch(`http://127.0.0.1:${(plain.address() as AddressInfo).port}/codec/decode`, {
          method: 'POST',
          headers: headersLikeTheUi(codecToken),
          body: JSON.stringify({ payloads: [] }),
        });
        assert.equal(response.status, 404);
        assert.equal(((await response.json()) as { error: string }).error, 'not_found');
      } finally {
        await new Promise<void>((resolve) => plain.close(() => resolve()));
      }
    });
  });

  describe('key rotation', () => {
    it('decodes the old history with the old key in TEMPORAL_PAYLOAD_OLD_KEYS, and the session keeps working under the new key', async () => {
      const rotated = createPayloadEncryption([keyB, keyA])!;
      const connection = h.ctx.temporal!.connection;
      const client = new Client({ connection, namespace: h.ctx.config.TEMPORAL_NAMESPACE, dataConverter: rotated.dataConverter });
      const next: AppContext = {
        ...h.ctx,
        secrets: { ...h.ctx.secrets, payloadKeys: [keyB, keyA] },
        payloadEncryption: rotated,
        temporal: { connection, client },
      };
      // A new worker with an empty cache: it replays the history written under key A.
      await h.replaceWorker(next);
      const id = uniqueId('m');
      const second = `and now ${uniqueId('after-rotation')}`;
      await client.workflow.getHandle(session.handle.workflowId).signal(messageSignal, { id, text: second, receivedAt: Date.now() });
      const result = await h.gateway.waitForResult(session.connectionId, id);
      assert.equal(result.status, 'success', JSON.stringify(result));
      const transcript = await client.workflow.getHandle(session.handle.workflowId).query(transcriptQuery);
      assert.deepEqual(
        transcript.map((t) => t.text),
        [message, second],
      );

      const raw = await eventually(async () => {
        const fetched = await rawHistory(h.env.client, session.handle.workflowId);
        return fetched.payloads.some((p) => payloadKeyId(p) === keyId(keyB)) ? fetched : false;
      });
      assert.equal(raw.bytes.indexOf(Buffer.from(second)), -1);
      const ids = new Set(raw.payloads.map(payloadKeyId));
      assert.deepEqual([...ids].sort(), [keyId(keyA), keyId(keyB)].sort());
      const plain = (await rotated.codec.decode(raw.payloads)).map((p) => Buffer.from(p.data ?? new Uint8Array()).toString()).join('\n');
      for (const text of [message, second]) assert.ok(plain.includes(text), text);
      // The old key alone cannot read what the new one wrote.
      await assert.rejects(h.ctx.payloadEncryption!.codec.decode(raw.payloads), /no payload key with id/);
    });
  });
});
