// The OpenAI-compatible surface's edges (issue 17): every /v1 answer in OpenAI's error shape (the
// Host check's 421, the per-user 429 with Retry-After, the 1 MiB body's 413, 401, unknown routes,
// methods), and `auto` reserved as a config name. A real API server on a real socket, the run's
// PostgreSQL; the openai npm SDK raises its own error classes from these answers.
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';
import type { RunningRole } from '../app/context';
import { startApi } from '../api/server';
import { createApiKey } from '../db';
import { startTestApi, type TestApi } from './support/api';
import { createTestContext, uniqueId, type TestContext } from './support/context';
import { recordResponse, registerApiKey } from './support/secret-scan';

interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** The exact shape: four fields, each of its type. */
function assertOpenAiError(body: unknown, status: number, type: string, code?: string): OpenAiErrorBody {
  const error = (body as OpenAiErrorBody).error;
  assert.ok(error, `an OpenAI error body for ${status}: ${JSON.stringify(body)}`);
  assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof error.message, 'string');
  assert.equal(error.type, type);
  if (code !== undefined) assert.equal(error.code, code);
  return body as OpenAiErrorBody;
}

/** A request with a Host header of our choosing (fetch cannot set Host). */
function withHost(base: string, path: string, host: string, token: string): Promise<{ status: number; body: unknown }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path, headers: { Host: host, Authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        recordResponse(text);
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the OpenAI-compatible surface (/v1): errors and limits', function () {
  this.timeout(120_000);
  let api: TestApi;

  before(async () => {
    api = await startTestApi();
  });
  after(async () => {
    await api?.close();
  });

  async function keyFor(user: string): Promise<string> {
    const created = await api.request('POST', '/api/v1/api-keys', { user, body: { name: 'surface' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return (created.body as { data: { key: string } }).data.key;
  }

  describe('every /v1 answer in OpenAI’s error shape', () => {
    it('401 invalid_api_key: no key, a malformed header, an unknown key', async () => {
      const cases: Record<string, string>[] = [{}, { authorization: 'Basic abc' }, { authorization: `Bearer sb-${'Q'.repeat(43)}` }];
      for (const headers of cases) {
        const answer = await api.request('GET', '/v1/models', { headers });
        assert.equal(answer.status, 401);
        assertOpenAiError(answer.body, 401, 'authentication_error', 'invalid_api_key');
      }
    });

    it('404 for unknown /v1 routes (embeddings, the bare prefix), 405 for a method the route does not take', async () => {
      const key = await keyFor(uniqueId('surface'));
      for (const [method, path] of [
        ['POST', '/v1/embeddings'],
        ['GET', '/v1'],
        ['GET', '/v1/models/auto/nothing'],
        ['POST', '/v1/images/generations'],
      ] as const) {
        const answer = await api.request(method, path, { token: key, ...(method === 'POST' ? { body: { model: 'auto' } } : {}) });
        assert.equal(answer.status, 404, `${method} ${path}`);
        assertOpenAiError(answer.body, 404, 'not_found_error', 'not_found');
      }
      const method = await api.request('PUT', '/v1/models', { token: key, body: {} });
      assert.equal(method.status, 405);
      assertOpenAiError(method.body, 405, 'invalid_request_error', 'method_not_allowed');
      assert.match(method.headers.get('allow') ?? '', /GET/);
    });

    it('421 from the Host check, before authentication', async () => {
      const refused = await withHost(api.url, '/v1/models', 'rebound.example', 'not-even-a-token');
      assert.equal(refused.status, 421);
      assertOpenAiError(refused.body, 421, 'invalid_request_error', 'misdirected_request');
    });

    it('413 beyond 1 MiB of body (a REST body is capped lower), 400 naming nothing for malformed JSON, 415 for another type', async () => {
      const key = await keyFor(uniqueId('surface'));
      const padding = (bytes: number) => JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'x'.repeat(bytes) }] });
      const big = await api.request('POST', '/v1/chat/completions', { token: key, raw: padding(1024 * 1024 + 10) });
      assert.equal(big.status, 413);
      assertOpenAiError(big.body, 413, 'invalid_request_error', 'payload_too_large');
      assert.match((big.body as OpenAiErrorBody).error.message, /1048576 bytes/);
      // Under 1 MiB the body is read (and reaches the router: the route answers, whatever it is).
      const fits = await api.request('POST', '/v1/embeddings', { token: key, raw: padding(900 * 1024) });
      assert.equal(fits.status, 404);
      // The REST API keeps its own cap (BODY_LIMIT_BYTES, 256 KiB by default) and its envelope.
      const rest = await api.request('POST', '/api/v1/ai-configs', { user: uniqueId('surface'), raw: padding(300 * 1024) });
      assert.equal(rest.status, 413);
      assert.equal((rest.body as { error: string }).error, 'payload_too_large');

      const malformed = await api.request('POST', '/v1/embeddings', { token: key, raw: '{"model": ' });
      assert.equal(malformed.status, 400);
      assertOpenAiError(malformed.body, 400, 'invalid_request_error', 'invalid_json');
      const text = await api.request('POST', '/v1/embeddings', { token: key, raw: 'hello', headers: { 'content-type': 'text/plain' } });
      assert.equal(text.status, 415);
      assertOpenAiError(text.body, 415, 'invalid_request_error');
    });

    it('the openai SDK raises its own classes from these answers (NotFoundError, AuthenticationError)', async () => {
      const key = await keyFor(uniqueId('surface'));
      const client = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: key, maxRetries: 0 });
      await assert.rejects(client.embeddings.create({ model: 'auto', input: 'hi' }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.NotFoundError, String(error));
        assert.equal(error.type, 'not_found_error');
        return true;
      });
      const anonymous = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: 'sb-nothing-of-the-sort-at-all-0000000000000000', maxRetries: 0 });
      await assert.rejects(anonymous.models.retrieve('auto'), OpenAI.AuthenticationError);
    });
  });

  describe('the per-user rate limit on /v1', () => {
    let limited: TestApi;
    before(async () => {
      limited = await startTestApi({ RATE_LIMIT_PER_MINUTE: '3' });
    });
    after(async () => {
      await limited?.close();
    });

    it('429 rate_limit_error with Retry-After, which the openai SDK reads as its RateLimitError', async () => {
      // Fixed one-minute windows: start well inside one.
      const into = Date.now() % 60_000;
      if (into > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - into + 100));
      const user = uniqueId('limited');
      const created = await limited.request('POST', '/api/v1/api-keys', { user, body: { name: 'limited' } });
      assert.equal(created.status, 201);
      const key = (created.body as { data: { key: string } }).data.key;
      // The create counted against the user's budget of 3; two more pass.
      for (let i = 0; i < 2; i++) assert.equal((await limited.request('GET', '/v1/models', { token: key })).status, 200);
      const refused = await limited.request('GET', '/v1/models', { token: key });
      assert.equal(refused.status, 429);
      assertOpenAiError(refused.body, 429, 'rate_limit_error', 'rate_limited');
      const retryAfter = Number(refused.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);

      const client = new OpenAI({ baseURL: `${limited.url}/v1`, apiKey: key, maxRetries: 0 });
      await assert.rejects(client.models.list(), (error: unknown) => {
        assert.ok(error instanceof OpenAI.RateLimitError, String(error));
        assert.equal(error.status, 429);
        return true;
      });
    });
  });

  describe('`auto` is reserved', () => {
    const llm = (name: string) => ({
      config_name: name,
      config_type: 'llm',
      model_name: 'gpt-test',
      base_url: 'http://127.0.0.1:9/v1',
    });

    it('a create naming a config auto (any case, any spaces around it) is a 400 naming config_name', async () => {
      const user = uniqueId('auto');
      for (const name of ['auto', 'AUTO', ' Auto ']) {
        const refused = await api.request('POST', '/api/v1/ai-configs', { user, body: llm(name) });
        assert.equal(refused.status, 400, name);
        assert.equal((refused.body as { errors: { field: string }[] }).errors[0]!.field, 'config_name');
        assert.match((refused.body as { errors: { message: string }[] }).errors[0]!.message, /reserved/);
      }
      // The seed's spelling `name`, and a function config, alike.
      const seed = await api.request('POST', '/api/v1/ai-configs', {
        user,
        body: { name: 'auto', ai_type: 'llm', model_name: 'gpt-test', base_url: 'http://127.0.0.1:9/v1' },
      });
      assert.equal(seed.status, 400);
      // Names that merely contain it are fine.
      assert.equal((await api.request('POST', '/api/v1/ai-configs', { user, body: llm('auto-writer') })).status, 201);
    });

    it('a PUT or PATCH renaming a config to auto is a 400 naming config_name', async () => {
      const user = uniqueId('auto');
      const created = await api.request('POST', '/api/v1/ai-configs', { user, body: llm('writer') });
      assert.equal(created.status, 201);
      const id = (created.body as { data: { id: number } }).data.id;
      const patched = await api.request('PATCH', `/api/v1/ai-configs/${id}`, { user, body: { config_name: 'Auto' } });
      assert.equal(patched.status, 400);
      assert.equal((patched.body as { errors: { field: string }[] }).errors[0]!.field, 'config_name');
      const put = await api.request('PUT', `/api/v1/ai-configs/${id}`, { user, body: llm('auto') });
      assert.equal(put.status, 400);
      assert.equal((put.body as { errors: { field: string }[] }).errors[0]!.field, 'config_name');
      const renamed = await api.request('GET', `/api/v1/ai-configs/${id}`, { user });
      assert.equal((renamed.body as { data: { config_name: string } }).data.config_name, 'writer', 'nothing written');
    });

    it('a config named auto from before keeps working and can be edited or renamed; /v1/models lists auto once, the router’s', async () => {
      const user = uniqueId('auto');
      const created = await api.request('POST', '/api/v1/ai-configs', { user, body: llm('legacy') });
      const id = (created.body as { data: { id: number } }).data.id;
      // As a row written before the name was reserved.
      await api.db.sequelize.query("UPDATE user_ai_configs SET config_name = 'auto' WHERE id = :id", { replacements: { id } });
      const key = await keyFor(user);
      const models = await api.request('GET', '/v1/models', { token: key });
      assert.equal(models.status, 200);
      assert.deepEqual(
        (models.body as { data: { id: string; owned_by: string }[] }).data.map((m) => [m.id, m.owned_by]),
        [['auto', 'switchboard']],
      );
      // Its other fields still change while its name stays; a rename takes it off the reserved name.
      const patched = await api.request('PATCH', `/api/v1/ai-configs/${id}`, { user, body: { temperature: 0.5 } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      const renamed = await api.request('PATCH', `/api/v1/ai-configs/${id}`, { user, body: { config_name: 'formerly-auto' } });
      assert.equal(renamed.status, 200);
      const after = await api.request('GET', '/v1/models', { token: key });
      assert.deepEqual((after.body as { data: { id: string }[] }).data.map((m) => m.id).sort(), ['auto', 'formerly-auto']);
    });
  });

  describe('POST /v1/chat/completions at the edges (an API role with Temporal)', () => {
    let tc: TestContext;
    let chatApi: RunningRole;
    let key: string;

    before(async () => {
      tc = await createTestContext();
      chatApi = await startApi(tc.ctx, { host: '127.0.0.1', port: 0 });
      ({ key } = await createApiKey(tc.ctx.db, uniqueId('edges'), { name: 'edges', expiresAt: null }));
      registerApiKey(key);
    });
    after(async () => {
      await chatApi?.close();
      await tc?.close();
    });

    async function post(method: string, body?: string) {
      const response = await fetch(`${chatApi.urls.base}/v1/chat/completions`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body,
      });
      const text = await response.text();
      recordResponse(text);
      return { status: response.status, headers: response.headers, body: JSON.parse(text) as unknown };
    }

    it('405 for another method, 413 beyond 1 MiB, and a body just under 1 MiB read and answered by the route', async () => {
      const get = await post('GET');
      assert.equal(get.status, 405);
      assertOpenAiError(get.body, 405, 'invalid_request_error', 'method_not_allowed');
      assert.match(get.headers.get('allow') ?? '', /POST/);
      const padded = (bytes: number) =>
        JSON.stringify({ model: 'no-such-config', messages: [{ role: 'user', content: 'x'.repeat(bytes) }] });
      const big = await post('POST', padded(1024 * 1024));
      assert.equal(big.status, 413);
      assertOpenAiError(big.body, 413, 'invalid_request_error', 'payload_too_large');
      const fits = await post('POST', padded(1000 * 1024));
      assert.equal(fits.status, 404, 'read, then refused by the route for its model');
      assertOpenAiError(fits.body, 404, 'not_found_error', 'model_not_found');
    });
  });
});
