// The official openai Python SDK against the running service (issue 17: "a test with the openai
// Python SDK from the project's venv, installed by setup"). `node scripts/setup.mjs --tool openai`
// installs the pinned SDK into .tools/venv (a no-op once done); test/support/openai_client.py runs
// one case per call and prints what the SDK returned or raised: models, each error class, and
// chat completions (plain and streamed, `auto` and a named config). A real API server on a real
// socket, the run's PostgreSQL; for completions also a worker on the run's Temporal dev server,
// with the scripted fake LLM as the provider.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { RunningRole } from '../app/context';
import { startApi } from '../api/server';
import { createApiKey } from '../db';
import { projectRoot } from '../lib/temporal-cli';
import { startWorker } from '../worker';
import { startTestApi, type TestApi } from './support/api';
import { createTestContext, insertLLMConfig, uniqueId, type TestContext } from './support/context';
import { startFakeLLM, type FakeLLM } from './support/fake-llm';
import { recordLogLine, registerApiKey } from './support/secret-scan';
import { testTemporal } from './support/temporal';

const PYTHON = path.join(projectRoot, '.tools', 'venv', 'bin', 'python');
const CLIENT = path.join(projectRoot, 'test', 'support', 'openai_client.py');

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: projectRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out }));
  });
}

// What the script prints: a result, or the SDK exception it caught.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- asserted field by field
type Printed = Record<string, any>;

/** One case of the Python client against the API at `api` (its base URL), as `key`. */
async function python(api: TestApi | string, key: string, ...args: string[]): Promise<Printed> {
  const { code, out } = await run(PYTHON, [CLIENT, ...args], {
    ...process.env,
    OPENAI_BASE_URL: `${typeof api === 'string' ? api : api.url}/v1`,
    OPENAI_API_KEY: key,
    PYTHONDONTWRITEBYTECODE: '1',
  });
  // What the SDK printed joins the run's secret scan (it must not echo a key from any answer).
  recordLogLine(out);
  assert.equal(code, 0, out);
  const last = out.trim().split('\n').at(-1)!;
  return JSON.parse(last) as Printed;
}

describe('the openai Python SDK against /v1', function () {
  this.timeout(300_000);
  let api: TestApi;

  before(async function () {
    const setup = await run(process.execPath, ['scripts/setup.mjs', '--tool', 'openai']);
    assert.equal(setup.code, 0, `setup --tool openai failed:\n${setup.out}`);
    api = await startTestApi();
  });
  after(async () => {
    await api?.close();
  });

  async function userWithKey(prefix: string): Promise<{ user: string; key: string; id: number }> {
    const user = uniqueId(prefix);
    const created = await api.request('POST', '/api/v1/api-keys', { user, body: { name: 'python' } });
    assert.equal(created.status, 201);
    return { user, key: created.body.data.key, id: created.body.data.id };
  }

  it('client.models.list() sees auto and the caller’s active LLM configs, by config_name', async () => {
    const { user, key } = await userWithKey('py');
    for (const [name, active] of [
      ['writer', true],
      ['coder', true],
      ['resting', false],
    ] as const) {
      const created = await api.request('POST', '/api/v1/ai-configs', {
        user,
        body: { config_name: name, config_type: 'llm', model_name: 'gpt-test', base_url: 'http://127.0.0.1:9/v1', is_active: active },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
    const printed = await python(api, key, 'models');
    assert.deepEqual([...(printed.ids as string[])].sort(), ['auto', 'coder', 'writer']);
    assert.match(printed.version as string, /^\d+\./);
    // Another user's key sees only auto.
    assert.deepEqual((await python(api, (await userWithKey('py')).key, 'models')).ids, ['auto']);
  });

  it('raises the SDK’s own classes: AuthenticationError for a bad or revoked key, NotFoundError for an unknown route', async () => {
    const bad = await python(api, `sb-${'P'.repeat(43)}`, 'models');
    assert.equal(bad.error_class, 'AuthenticationError');
    assert.equal(bad.status, 401);
    assert.equal(bad.code, 'invalid_api_key');
    assert.equal(bad.type, 'authentication_error');

    const { user, key, id } = await userWithKey('py');
    const missing = await python(api, key, 'embeddings');
    assert.equal(missing.error_class, 'NotFoundError');
    assert.equal(missing.status, 404);
    assert.equal(missing.type, 'not_found_error');

    assert.equal((await api.request('DELETE', `/api/v1/api-keys/${id}`, { user })).status, 200);
    const revoked = await python(api, key, 'models');
    assert.equal(revoked.error_class, 'AuthenticationError');
    assert.equal(revoked.code, 'invalid_api_key');
  });

  it('raises RateLimitError, with Retry-After, past the per-user rate limit', async () => {
    const limited = await startTestApi({ RATE_LIMIT_PER_MINUTE: '2' });
    try {
      const into = Date.now() % 60_000;
      if (into > 45_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - into + 100));
      const user = uniqueId('py');
      const created = await limited.request('POST', '/api/v1/api-keys', { user, body: { name: 'python' } });
      const key = created.body.data.key as string;
      assert.equal((await python(limited, key, 'models')).ids[0], 'auto', 'the second request of the minute passes');
      const refused = await python(limited, key, 'models');
      assert.equal(refused.error_class, 'RateLimitError');
      assert.equal(refused.status, 429);
      assert.equal(refused.type, 'rate_limit_error');
      assert.ok(Number(refused.retry_after) >= 1, `Retry-After ${refused.retry_after}`);
    } finally {
      await limited.close();
    }
  });

  describe('chat completions', () => {
    let tc: TestContext;
    let llm: FakeLLM;
    const roles: RunningRole[] = [];
    let base: string;

    before(async () => {
      tc = await createTestContext({ env: { EGRESS_ALLOW: '127.0.0.0/8' } });
      llm = await startFakeLLM();
      roles.push(await startWorker(tc.ctx, { connection: (await testTemporal()).nativeConnection }));
      const chatApi = await startApi(tc.ctx, { host: '127.0.0.1', port: 0 });
      roles.push(chatApi);
      base = chatApi.urls.base!;
    });
    after(async () => {
      for (const role of roles.reverse()) await role.close();
      await llm?.close();
      await tc?.close();
    });

    /** A user with one LLM config `writer` answered by the fake provider, and an API key. */
    async function writer(): Promise<{ key: string; model: string }> {
      const userId = uniqueId('pychat');
      const model = uniqueId('py-writer');
      await insertLLMConfig(tc.ctx, userId, { name: 'writer', model, baseUrl: llm.baseUrl });
      const { key } = await createApiKey(tc.ctx.db, userId, { name: 'python', expiresAt: null });
      registerApiKey(key);
      return { key, model };
    }

    it('chat.completions.create answers with model auto (routed) and with a config name, in OpenAI shape with the switchboard object', async () => {
      const { key, model } = await writer();
      for (const asked of ['auto', 'writer']) {
        const printed = await python(base, key, 'chat', asked, `hello from python via ${asked}`);
        assert.equal(printed.object, 'chat.completion', JSON.stringify(printed));
        assert.equal(printed.content, `[${model}] hello from python via ${asked}`);
        assert.equal(printed.model, 'writer', 'model names the config that answered');
        assert.equal(printed.finish_reason, 'stop');
        assert.equal(printed.switchboard.config_name, 'writer');
        assert.match(printed.switchboard.session_id as string, /\S/);
        assert.match(printed.switchboard.message_id as string, /\S/);
      }
      const unknown = await python(base, key, 'chat', 'no-such-config', 'hi');
      assert.equal(unknown.error_class, 'NotFoundError');
      assert.equal(unknown.code, 'model_not_found');
      assert.equal(unknown.param, 'model');
    });

    it('chat.completions.create(stream=True) yields the answer in chunks, the switchboard object on the last', async () => {
      const { key, model } = await writer();
      llm.otherwise(model, { pieces: ['Streamed ', 'through ', 'Switchboard ', 'to Python.'], pieceDelayMs: 60 });
      const printed = await python(base, key, 'chat_stream', 'writer', 'stream please');
      assert.equal(printed.content, 'Streamed through Switchboard to Python.', JSON.stringify(printed));
      assert.ok((printed.chunks as number) >= 3, `${printed.chunks} chunks`);
      assert.equal(printed.finish_reason, 'stop');
      assert.equal(printed.switchboard.config_name, 'writer');
    });
  });
});
