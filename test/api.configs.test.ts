// The config REST API over real HTTP and the real test database.
import http from 'node:http';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { buildOpenApi } from '../api/openapi';
import { RouteDocs } from '../api/route-docs';
import { createSessionsRouter } from '../api/sessions.routes';
import type { SessionService } from '../sessions/sessions.service';
import { startTestApi, type TestApi } from './support/api';

const llmCanonical = (overrides: Record<string, unknown> = {}) => ({
  config_name: 'Coder',
  config_type: 'llm',
  description: 'Writes and reviews code',
  llm_type: 'deepseek',
  model_name: 'deepseek-chat',
  api_key: 'sk-canonical-secret-0123456789',
  temperature: 0.2,
  max_tokens: 2048,
  system_prompt: 'You are a careful programmer.',
  priority: 5,
  ...overrides,
});

/** The seed document's own example, spelled as the seed spells it. */
const llmSeed = (overrides: Record<string, unknown> = {}) => ({
  name: '天气查询助手',
  description: '帮助用户查询天气信息，包括当前天气、未来几天预报等',
  ai_type: 'llm',
  model_name: 'qwen-plus',
  parameters: { temperature: 0.7, max_tokens: 1000, api_key: 'sk-seed-secret-abcdefghijkl', base_url: 'https://api.example.com' },
  ...overrides,
});

const functionConfig = (overrides: Record<string, unknown> = {}) => ({
  config_name: 'Weather lookup',
  config_type: 'function_call',
  description: 'Current weather for a city',
  function_name: 'get_weather',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  webhook_url: 'https://hooks.example.com/weather',
  ...overrides,
});

describe('config REST API', function () {
  let api: TestApi;
  let user: string;
  const other = () => `other-${randomUUID()}`;

  before(async () => {
    api = await startTestApi();
  });
  after(async () => {
    await api.close();
  });
  beforeEach(() => {
    user = `user-${randomUUID()}`;
  });

  async function create(body: unknown, as = user) {
    const response = await api.request('POST', '/api/v1/ai-configs', { user: as, body });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    return response.body.data;
  }

  function fieldsOf(body: { errors?: { field: string }[] }): string[] {
    return (body.errors ?? []).map((e) => e.field).sort();
  }

  describe('create and read', () => {
    it('creates an LLM config in the canonical spelling and returns it in the envelope without the key', async () => {
      const response = await api.request('POST', '/api/v1/ai-configs', { user, body: llmCanonical() });
      assert.equal(response.status, 201);
      assert.equal(response.body.code, 201);
      assert.equal(typeof response.body.message, 'string');
      const data = response.body.data;
      assert.equal(data.config_name, 'Coder');
      assert.equal(data.llm_type, 'deepseek');
      assert.equal(data.has_api_key, true);
      assert.equal(data.api_key_hint, 'sk-…6789');
      assert.equal(data.is_active, true);
      assert.equal(data.priority, 5);
      assert.equal('api_key' in data, false);
      assert.ok(!JSON.stringify(response.body).includes('sk-canonical-secret'));
    });

    it("accepts the seed's spelling: name, ai_type and LLM settings nested in parameters", async () => {
      const data = await create(llmSeed());
      assert.equal(data.config_name, '天气查询助手');
      assert.equal(data.config_type, 'llm');
      assert.equal(data.llm_type, 'openai', 'llm_type defaults to openai (any OpenAI-compatible endpoint)');
      assert.equal(data.temperature, 0.7);
      assert.equal(data.max_tokens, 1000);
      assert.equal(data.base_url, 'https://api.example.com');
      assert.equal(data.has_api_key, true);
      assert.equal(data.parameters, null, 'lifted settings do not stay in parameters');
    });

    it('keeps extra sampling options of an LLM in parameters', async () => {
      const data = await create(llmSeed({ parameters: { temperature: 0.5, top_p: 0.9, stop: ['END'] } }));
      assert.equal(data.temperature, 0.5);
      assert.deepEqual(data.parameters, { top_p: 0.9, stop: ['END'] });
    });

    it('creates a function config, with ai_type "function" meaning function_call', async () => {
      const data = await create({ ...functionConfig(), config_type: undefined, ai_type: 'function' });
      assert.equal(data.config_type, 'function_call');
      assert.equal(data.function_name, 'get_weather');
      assert.deepEqual(data.parameters.required, ['city']);
      assert.equal(data.has_api_key, false);
    });

    it('stores and returns any user text verbatim', async () => {
      const texts = [
        "Robert'); DROP TABLE user_ai_configs;--",
        '"quoted" \\ back\\slash',
        'مرحبا بالعالم — Привет — こんにちは 🤖🎉',
        '<script>alert(1)</script>',
        '  spaced\ttext\nnew line  ',
      ];
      for (const [i, text] of texts.entries()) {
        const data = await create(llmCanonical({ config_name: `name ${i} ${text}`, description: text, system_prompt: text }));
        const fetched = await api.request('GET', `/api/v1/ai-configs/${data.id}`, { user });
        assert.equal(fetched.body.data.description, text);
        assert.equal(fetched.body.data.system_prompt, text);
        assert.equal(fetched.body.data.config_name, `name ${i} ${text}`.trim());
      }
      const list = await api.request('GET', '/api/v1/ai-configs', { user });
      assert.equal(list.body.data.length, texts.length, 'the SQL-looking text dropped nothing');
    });

    it('gets one config by id', async () => {
      const created = await create(llmCanonical());
      const response = await api.request('GET', `/api/v1/ai-configs/${created.id}`, { user });
      assert.equal(response.status, 200);
      assert.deepEqual(response.body.data, created);
    });

    it('answers 404 in the envelope for a missing or malformed id', async () => {
      for (const id of ['999999999', 'abc', '1.5', '-1', '99999999999999']) {
        const response = await api.request('GET', `/api/v1/ai-configs/${id}`, { user });
        assert.equal(response.status, 404, id);
        assert.equal(response.body.code, 404);
        assert.equal(response.body.error, 'not_found');
      }
    });
  });

  describe('list', () => {
    it('orders by priority, then newest first, and filters by type and active', async () => {
      const low = await create(llmCanonical({ config_name: 'low', priority: 1 }));
      const highOld = await create(llmCanonical({ config_name: 'high-old', priority: 10 }));
      const highNew = await create(llmCanonical({ config_name: 'high-new', priority: 10 }));
      const fn = await create(functionConfig({ priority: 3 }));
      await api.request('PATCH', `/api/v1/ai-configs/${low.id}/toggle`, { user, body: { is_active: false } });

      const all = await api.request('GET', '/api/v1/ai-configs', { user });
      assert.deepEqual(
        all.body.data.map((c: { id: number }) => c.id),
        [highNew.id, highOld.id, fn.id, low.id],
      );

      const llms = await api.request('GET', '/api/v1/ai-configs?type=llm', { user });
      assert.deepEqual(
        llms.body.data.map((c: { id: number }) => c.id),
        [highNew.id, highOld.id, low.id],
      );

      const fns = await api.request('GET', '/api/v1/ai-configs?type=function', { user });
      assert.deepEqual(
        fns.body.data.map((c: { id: number }) => c.id),
        [fn.id],
      );

      const active = await api.request('GET', '/api/v1/ai-configs?type=llm&active=true', { user });
      assert.deepEqual(
        active.body.data.map((c: { id: number }) => c.id),
        [highNew.id, highOld.id],
      );

      const inactive = await api.request('GET', '/api/v1/ai-configs?active=false', { user });
      assert.deepEqual(
        inactive.body.data.map((c: { id: number }) => c.id),
        [low.id],
      );
    });

    it('rejects unknown filter values and parameters with the field named', async () => {
      const bad = await api.request('GET', '/api/v1/ai-configs?type=banana&active=maybe&sort=x', { user });
      assert.equal(bad.status, 400);
      assert.deepEqual(fieldsOf(bad.body), ['active', 'sort', 'type']);
    });
  });

  describe('update', () => {
    it('PATCH changes only the given fields, in either spelling, and keeps the key', async () => {
      const created = await create(llmSeed());
      const response = await api.request('PATCH', `/api/v1/ai-configs/${created.id}`, {
        user,
        body: { name: '增强天气查询助手', parameters: { temperature: 0.8, max_tokens: 1500 } },
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      const data = response.body.data;
      assert.equal(data.config_name, '增强天气查询助手');
      assert.equal(data.temperature, 0.8);
      assert.equal(data.max_tokens, 1500);
      assert.equal(data.model_name, 'qwen-plus');
      assert.equal(data.base_url, 'https://api.example.com');
      assert.equal(data.has_api_key, true);
      assert.ok(Date.parse(data.updated_at) >= Date.parse(created.updated_at));
    });

    it('PUT replaces the config; read-only fields sent back are ignored; the key is kept unless given', async () => {
      const created = await create(llmCanonical());
      const replacement = { ...created, config_name: 'Coder v2', model_name: 'deepseek-coder', description: null, temperature: null };
      const response = await api.request('PUT', `/api/v1/ai-configs/${created.id}`, { user, body: replacement });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      const data = response.body.data;
      assert.equal(data.id, created.id);
      assert.equal(data.config_name, 'Coder v2');
      assert.equal(data.model_name, 'deepseek-coder');
      assert.equal(data.description, null);
      assert.equal(data.temperature, null);
      assert.equal(data.has_api_key, true, 'omitted api_key is kept');
      assert.equal(data.created_at, created.created_at);

      const cleared = await api.request('PUT', `/api/v1/ai-configs/${created.id}`, { user, body: { ...replacement, api_key: null } });
      assert.equal(cleared.body.data.has_api_key, false, 'api_key: null clears it');
    });

    it('a stored key never follows a changed base_url or llm_type: the change must carry the key (or null)', async () => {
      const created = await create(llmSeed());
      const path = `/api/v1/ai-configs/${created.id}`;
      for (const [method, body] of [
        ['PATCH', { base_url: 'https://elsewhere.example.com/v1' }],
        ['PATCH', { llm_type: 'deepseek' }],
        ['PUT', { ...created, base_url: 'https://elsewhere.example.com/v1' }],
      ] as const) {
        const refused = await api.request(method, path, { user, body });
        assert.equal(refused.status, 400, `${method} ${JSON.stringify(body)}: ${JSON.stringify(refused.body)}`);
        assert.deepEqual(fieldsOf(refused.body), ['api_key']);
        assert.match(refused.body.errors[0].message, /never sent to another endpoint/);
      }
      const unchanged = await api.request('GET', path, { user });
      assert.equal(unchanged.body.data.base_url, 'https://api.example.com');
      assert.equal(unchanged.body.data.has_api_key, true);

      const moved = await api.request('PATCH', path, {
        user,
        body: { base_url: 'https://elsewhere.example.com/v1', api_key: 'sk-new-key-0123456789abcd' },
      });
      assert.equal(moved.status, 200, JSON.stringify(moved.body));
      assert.equal(moved.body.data.api_key_hint, 'sk-…abcd');
      const keyless = await api.request('PATCH', path, { user, body: { base_url: 'https://third.example.com/v1', api_key: null } });
      assert.equal(keyless.status, 200, JSON.stringify(keyless.body));
      assert.equal(keyless.body.data.has_api_key, false);
      // Without a stored key there is nothing to protect.
      assert.equal((await api.request('PATCH', path, { user, body: { base_url: 'https://fourth.example.com/v1' } })).status, 200);
    });

    it('PUT without a required field names it', async () => {
      const created = await create(llmCanonical());
      const response = await api.request('PUT', `/api/v1/ai-configs/${created.id}`, { user, body: { config_name: 'x' } });
      assert.equal(response.status, 400);
      assert.deepEqual(fieldsOf(response.body), ['model_name']);
    });

    it('refuses to change the type of a config', async () => {
      const created = await create(llmCanonical());
      const response = await api.request('PATCH', `/api/v1/ai-configs/${created.id}`, { user, body: { config_type: 'function_call' } });
      assert.equal(response.status, 400);
      assert.deepEqual(fieldsOf(response.body), ['config_type']);
    });

    it('toggles and reprioritises', async () => {
      const created = await create(llmCanonical());
      const off = await api.request('PATCH', `/api/v1/ai-configs/${created.id}/toggle`, { user, body: { is_active: false } });
      assert.equal(off.status, 200);
      assert.equal(off.body.data.is_active, false);
      const prio = await api.request('PATCH', `/api/v1/ai-configs/${created.id}/priority`, { user, body: { priority: -3 } });
      assert.equal(prio.body.data.priority, -3);
      assert.equal(prio.body.data.is_active, false);
      const badToggle = await api.request('PATCH', `/api/v1/ai-configs/${created.id}/toggle`, { user, body: { is_active: 'yes' } });
      assert.equal(badToggle.status, 400);
      assert.deepEqual(fieldsOf(badToggle.body), ['is_active']);
      const badPrio = await api.request('PATCH', `/api/v1/ai-configs/${created.id}/priority`, { user, body: { priority: 1.5 } });
      assert.equal(badPrio.status, 400);
      assert.deepEqual(fieldsOf(badPrio.body), ['priority']);
      const missing = await api.request('PATCH', `/api/v1/ai-configs/${created.id}/priority`, { user });
      assert.equal(missing.status, 400);
      assert.deepEqual(fieldsOf(missing.body), ['priority']);
    });

    it('deletes', async () => {
      const created = await create(llmCanonical());
      const response = await api.request('DELETE', `/api/v1/ai-configs/${created.id}`, { user });
      assert.equal(response.status, 200);
      assert.equal(response.body.data, null);
      assert.equal((await api.request('GET', `/api/v1/ai-configs/${created.id}`, { user })).status, 404);
      assert.equal((await api.request('DELETE', `/api/v1/ai-configs/${created.id}`, { user })).status, 404);
    });
  });

  describe('validation', () => {
    const cases: [string, Record<string, unknown>, string[]][] = [
      ['no type', { config_name: 'x', model_name: 'm' }, ['config_type']],
      ['unknown type', { config_name: 'x', config_type: 'robot' }, ['config_type']],
      ['LLM without model_name', llmCanonical({ model_name: undefined }), ['model_name']],
      ['LLM without a name', llmCanonical({ config_name: '   ' }), ['config_name']],
      ['temperature above 2', llmCanonical({ temperature: 2.5 }), ['temperature']],
      ['temperature below 0', llmCanonical({ temperature: -0.1 }), ['temperature']],
      ['temperature as text', llmCanonical({ temperature: 'hot' }), ['temperature']],
      ['max_tokens 0', llmCanonical({ max_tokens: 0 }), ['max_tokens']],
      ['max_tokens above a million', llmCanonical({ max_tokens: 1_000_001 }), ['max_tokens']],
      ['fractional priority', llmCanonical({ priority: 1.5 }), ['priority']],
      ['unknown llm_type', llmCanonical({ llm_type: 'skynet' }), ['llm_type']],
      ['custom without base_url', llmCanonical({ llm_type: 'custom' }), ['base_url']],
      ['name too long', llmCanonical({ config_name: 'x'.repeat(256) }), ['config_name']],
      ['system prompt too long', llmCanonical({ system_prompt: 'x'.repeat(32_001) }), ['system_prompt']],
      ['unknown fields', llmCanonical({ colour: 'red', shape: 1 }), ['colour', 'shape']],
      ['function field on an LLM', llmCanonical({ function_name: 'f' }), ['function_name']],
      ['unknown LLM option', llmCanonical({ parameters: { top_k: 3 } }), ['parameters.top_k']],
      ['seed nested temperature out of range', llmSeed({ parameters: { temperature: 9 } }), ['temperature']],
      ['both spellings disagree', llmCanonical({ name: 'other' }), ['name']],
      ['function without function_name', functionConfig({ function_name: undefined }), ['function_name']],
      // Real MCP tool names may hold "-" and "." and run to 128 characters (contract/tool-names.ts).
      ['function name with a space', functionConfig({ function_name: 'get weather' }), ['function_name']],
      ['function name with a slash', functionConfig({ function_name: 'weather/get' }), ['function_name']],
      ['function name too long', functionConfig({ function_name: 'f'.repeat(129) }), ['function_name']],
      ['function without description', functionConfig({ description: undefined }), ['description']],
      ['webhook function without parameters', functionConfig({ parameters: undefined }), ['parameters']],
      ['parameters not an object schema', functionConfig({ parameters: { type: 'string' } }), ['parameters']],
      [
        'parameters not valid JSON Schema',
        functionConfig({ parameters: { type: 'object', properties: { city: { type: 'town' } } } }),
        ['parameters'],
      ],
      ['parameters as an array', functionConfig({ parameters: [1, 2] }), ['parameters']],
      ['LLM field on a function', functionConfig({ model_name: 'gpt' }), ['model_name']],
      ['both mcp and webhook', functionConfig({ mcp_server_url: 'https://mcp.example.com/mcp' }), ['webhook_url']],
      ['ftp base_url', llmCanonical({ base_url: 'ftp://example.com' }), ['base_url']],
      ['relative base_url', llmCanonical({ base_url: '/v1' }), ['base_url']],
      ['cloud metadata base_url', llmCanonical({ base_url: 'http://169.254.169.254/latest' }), ['base_url']],
      ['metadata hostname', functionConfig({ webhook_url: 'http://metadata.google.internal/' }), ['webhook_url']],
      ['link-local IPv6', functionConfig({ webhook_url: 'http://[fe80::1]/hook' }), ['webhook_url']],
      ['private address not allow-listed', llmCanonical({ base_url: 'http://10.1.2.3:11434/v1' }), ['base_url']],
      ['credentials in the URL', llmCanonical({ base_url: 'https://user:pw@example.com/v1' }), ['base_url']],
    ];
    for (const [title, body, fields] of cases) {
      it(`400 for ${title}, naming ${fields.join(', ')}`, async () => {
        const response = await api.request('POST', '/api/v1/ai-configs', { user, body });
        assert.equal(response.status, 400, JSON.stringify(response.body));
        assert.equal(response.body.code, 400);
        assert.deepEqual(fieldsOf(response.body), fields, JSON.stringify(response.body.errors));
        for (const error of response.body.errors) assert.ok(error.message.length > 0);
        const list = await api.request('GET', '/api/v1/ai-configs', { user });
        assert.equal(list.body.data.length, 0, 'nothing was stored');
      });
    }

    it('allows loopback when EGRESS_ALLOW lists it (the test API allows 127.0.0.0/8)', async () => {
      const data = await create(llmCanonical({ llm_type: 'ollama', base_url: 'http://127.0.0.1:11434/v1' }));
      assert.equal(data.base_url, 'http://127.0.0.1:11434/v1');
    });

    it('400 naming the field for what PostgreSQL cannot store: deep nesting and the NUL character', async () => {
      // Written out by hand: JSON.stringify itself gives up long before 5,000 levels.
      const deep = '{"type":"object","properties":{"x":'.repeat(5000) + '{"type":"string"}' + '}}'.repeat(5000);
      const raw = `{"config_name":"Deep","config_type":"function_call","description":"d","function_name":"deep_fn","parameters":${deep}}`;
      const nested = await api.request('POST', '/api/v1/ai-configs', { user, raw });
      assert.equal(nested.status, 400, JSON.stringify(nested.body).slice(0, 300));
      assert.match(fieldsOf(nested.body)[0] ?? '', /^parameters\./);
      assert.match(nested.body.errors[0].message, /nested more than 32 levels/);

      const inText = await api.request('POST', '/api/v1/ai-configs', { user, body: llmCanonical({ description: 'bad\u0000byte' }) });
      assert.equal(inText.status, 400);
      assert.deepEqual(fieldsOf(inText.body), ['description']);
      const inJson = await api.request('POST', '/api/v1/ai-configs', {
        user,
        body: functionConfig({ parameters: { type: 'object', properties: { city: { type: 'string', description: 'a\u0000b' } } } }),
      });
      assert.equal(inJson.status, 400);
      assert.deepEqual(fieldsOf(inJson.body), ['parameters.properties.city.description']);
      assert.equal((await api.request('GET', '/api/v1/ai-configs', { user })).body.data.length, 0, 'nothing was stored');
    });

    it('400 for a body that is not an object', async () => {
      for (const raw of ['[]', '"text"', '42', 'null']) {
        const response = await api.request('POST', '/api/v1/ai-configs', { user, raw });
        assert.equal(response.status, 400, raw);
        assert.equal(response.body.error, 'validation_failed');
      }
    });

    it('400 for malformed JSON, 415 for a non-JSON body, 413 for an oversized body', async () => {
      const malformed = await api.request('POST', '/api/v1/ai-configs', { user, raw: '{"config_name": "x",' });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error, 'invalid_json');
      const form = await api.request('POST', '/api/v1/ai-configs', {
        user,
        raw: 'a=b',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      assert.equal(form.status, 415);
      const huge = await api.request('POST', '/api/v1/ai-configs', {
        user,
        body: llmCanonical({ description: 'x'.repeat(api.config.BODY_LIMIT_BYTES) }),
      });
      assert.equal(huge.status, 413);
      assert.equal(huge.body.error, 'payload_too_large');
    });

    it('409 for a duplicate config_name or function_name of the same user, not across users', async () => {
      await create(llmCanonical());
      const duplicate = await api.request('POST', '/api/v1/ai-configs', { user, body: llmCanonical() });
      assert.equal(duplicate.status, 409);
      assert.deepEqual(fieldsOf(duplicate.body), ['config_name']);
      await create(functionConfig());
      const sameFunction = await api.request('POST', '/api/v1/ai-configs', { user, body: functionConfig({ config_name: 'Weather 2' }) });
      assert.equal(sameFunction.status, 409);
      assert.deepEqual(fieldsOf(sameFunction.body), ['function_name']);
      await create(llmCanonical(), other());
    });

    it('409 when a rename collides', async () => {
      await create(llmCanonical({ config_name: 'a' }));
      const b = await create(llmCanonical({ config_name: 'b' }));
      const response = await api.request('PATCH', `/api/v1/ai-configs/${b.id}`, { user, body: { config_name: 'a' } });
      assert.equal(response.status, 409);
    });
  });

  describe('isolation between users', () => {
    it("another user's config answers 404 on every route, exactly like a missing one", async () => {
      const mine = await create(llmCanonical());
      const intruder = other();
      const attempts: [string, string, unknown][] = [
        ['GET', `/api/v1/ai-configs/${mine.id}`, undefined],
        ['PUT', `/api/v1/ai-configs/${mine.id}`, llmCanonical({ config_name: 'stolen' })],
        ['PATCH', `/api/v1/ai-configs/${mine.id}`, { config_name: 'stolen' }],
        ['PATCH', `/api/v1/ai-configs/${mine.id}/toggle`, { is_active: false }],
        ['PATCH', `/api/v1/ai-configs/${mine.id}/priority`, { priority: 99 }],
        ['DELETE', `/api/v1/ai-configs/${mine.id}`, undefined],
      ];
      for (const [method, path, body] of attempts) {
        const theirs = await api.request(method, path, { user: intruder, body });
        const missing = await api.request(method, path.replace(String(mine.id), '2147483000'), { user: intruder, body });
        assert.equal(theirs.status, 404, `${method} ${path}`);
        assert.deepEqual({ ...theirs.body, request_id: undefined }, { ...missing.body, request_id: undefined });
      }
      const list = await api.request('GET', '/api/v1/ai-configs', { user: intruder });
      assert.deepEqual(list.body.data, []);
      const still = await api.request('GET', `/api/v1/ai-configs/${mine.id}`, { user });
      assert.deepEqual(still.body.data, mine, 'untouched');
    });

    it('serves /users/:userId/ai-configs for the caller and 403 for anyone else', async () => {
      const created = await api.request('POST', `/api/v1/users/${user}/ai-configs`, { user, body: llmSeed() });
      assert.equal(created.status, 201);
      const list = await api.request('GET', `/api/v1/users/${user}/ai-configs`, { user });
      assert.equal(list.body.data.length, 1);
      const one = await api.request('PATCH', `/api/v1/users/${user}/ai-configs/${created.body.data.id}/toggle`, {
        user,
        body: { is_active: false },
      });
      assert.equal(one.body.data.is_active, false);
      const forbidden = await api.request('GET', `/api/v1/users/${user}/ai-configs`, { user: other() });
      assert.equal(forbidden.status, 403);
      assert.equal(forbidden.body.code, 403);
      const forbiddenWrite = await api.request('POST', `/api/v1/users/${user}/ai-configs`, { user: other(), body: llmSeed() });
      assert.equal(forbiddenWrite.status, 403);
    });
  });

  describe('operations', () => {
    it('lists the provider types', async () => {
      const response = await api.request('GET', '/api/v1/llm-types', { user });
      const types = response.body.data.map((t: { type: string }) => t.type);
      for (const type of ['openai', 'qwen', 'chatglm', 'ollama', 'deepseek', 'moonshot', 'custom']) assert.ok(types.includes(type), type);
    });

    it('healthz and readyz need no token; readyz checks the database', async () => {
      const health = await api.request('GET', '/healthz');
      assert.equal(health.status, 200);
      const ready = await api.request('GET', '/readyz');
      assert.equal(ready.status, 200);
      assert.equal(ready.body.data.checks.database, 'ok');
    });

    it('counts requests per route pattern in /metrics', async () => {
      const created = await create(llmCanonical());
      await api.request('GET', `/api/v1/ai-configs/${created.id}`, { user });
      const metrics = await api.request('GET', '/metrics');
      assert.equal(metrics.status, 200);
      assert.match(metrics.body, /http_requests_total\{method="GET",route="\/api\/v1\/ai-configs\/:id",status="200"\} \d+/);
      assert.match(
        metrics.body,
        /http_request_duration_seconds_bucket\{le="0.1",method="POST",route="\/api\/v1\/ai-configs",status="201"\}/,
      );
      assert.ok(!metrics.body.includes(`/api/v1/ai-configs/${created.id}"`), 'no raw ids as labels');
    });

    it('answers unknown routes and methods in the envelope', async () => {
      const unknown = await api.request('GET', '/api/v1/nothing-here', { user });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error, 'not_found');
      const method = await api.request('DELETE', '/api/v1/ai-configs', { user });
      assert.equal(method.status, 405);
      assert.equal(method.body.code, 405);

      // TRACE is a known method no resource serves: 405 with Allow, not 501 (fetch refuses to send it).
      const token = await api.token(user);
      for (const path of ['/api/v1/ai-configs', '/healthz']) {
        const traced = await new Promise<{ status: number; allow: string | undefined; body: string }>((resolve, reject) => {
          const req = http.request(api.url + path, { method: 'TRACE', headers: { authorization: `Bearer ${token}` } }, (res) => {
            let body = '';
            res.on('data', (chunk: Buffer) => (body += chunk.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, allow: res.headers.allow, body }));
          });
          req.on('error', reject);
          req.end();
        });
        assert.equal(traced.status, 405, `${path}: ${traced.body}`);
        assert.match(traced.allow ?? '', /GET/);
        assert.equal(JSON.parse(traced.body).error, 'method_not_allowed');
      }
    });

    it('links each create to its read, update, toggle, delete, /test and /tools in the OpenAPI document, and the sessions list to a session and its audit', async () => {
      type Operation = {
        operationId?: string;
        parameters?: { name: string }[];
        responses: Record<string, { links?: Record<string, Link> }>;
      };
      type Link = { operationId: string; parameters: Record<string, string> };
      const configsDoc = (await api.request('GET', '/openapi.json')).body as { paths: Record<string, Record<string, Operation>> };
      // Sessions are served only with Temporal; their routes are documented from the same declarations.
      const docs = new RouteDocs();
      const sessionsRouter = createSessionsRouter({} as SessionService, docs);
      const sessionsDoc = buildOpenApi([sessionsRouter], docs, { version: 'test' }) as typeof configsDoc;
      for (const doc of [configsDoc, sessionsDoc]) {
        const operations = new Map<string, Operation>();
        for (const methods of Object.values(doc.paths)) {
          for (const operation of Object.values(methods)) {
            if (!operation.operationId) continue;
            assert.ok(!operations.has(operation.operationId), `operationId ${operation.operationId} is unique`);
            operations.set(operation.operationId, operation);
          }
        }
        // Every link names an operation of the document, and only parameters that operation has.
        for (const operation of operations.values()) {
          for (const response of Object.values(operation.responses)) {
            for (const [name, link] of Object.entries(response.links ?? {})) {
              const target = operations.get(link.operationId);
              assert.ok(target, `${operation.operationId} → ${name}: ${link.operationId} exists`);
              const known = new Set((target.parameters ?? []).map((p) => p.name));
              for (const parameter of Object.keys(link.parameters)) assert.ok(known.has(parameter), `${link.operationId} has ${parameter}`);
            }
          }
        }
      }
      const linked = (doc: typeof configsDoc, path: string, method: string, status: string) =>
        Object.values(doc.paths[path]![method]!.responses[status]!.links ?? {}).map((l) => l.operationId);
      const fromCreate = linked(configsDoc, '/api/v1/ai-configs', 'post', '201');
      for (const target of [
        'getConfig',
        'replaceConfig',
        'updateConfig',
        'toggleConfig',
        'deleteConfig',
        'testConfig',
        'listConfigTools',
      ]) {
        assert.ok(fromCreate.includes(target), `create links to ${target}`);
      }
      assert.deepEqual(configsDoc.paths['/api/v1/ai-configs']!.post!.responses['201']!.links!.getConfig!.parameters, {
        id: '$response.body#/data/id',
      });
      const fromUserCreate = configsDoc.paths['/api/v1/users/{userId}/ai-configs']!.post!.responses['201']!.links!;
      assert.deepEqual(fromUserCreate.getConfig, {
        operationId: 'getConfigForUser',
        parameters: { userId: '$request.path.userId', id: '$response.body#/data/id' },
      });
      const fromList = linked(sessionsDoc, '/api/v1/sessions', 'get', '200');
      for (const target of ['getSession', 'getSessionAudit', 'updateSession', 'closeSession']) assert.ok(fromList.includes(target), target);
      assert.ok(linked(sessionsDoc, '/api/v1/sessions/{id}', 'get', '200').includes('getSessionAudit'));
    });

    it('gives every request an id, echoed in the header and in errors', async () => {
      const response = await api.request('GET', '/api/v1/ai-configs/0', { user, headers: { 'x-request-id': 'trace-123' } });
      assert.equal(response.headers.get('x-request-id'), 'trace-123');
      assert.equal(response.body.request_id, 'trace-123');
    });
  });
});
