// The activities on their own: real PostgreSQL, real HTTP to the scripted fake LLM, run inside
// Temporal's activity context (MockActivityEnvironment supplies the context, nothing of ours is
// replaced). Covers what the workflow tests see only indirectly: the error classification, the
// scrubbing, the call-time egress check, the public config view.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLLMConfigRow, type LLMConfigRowFields } from './support/llm-configs';
import { loadPublicConfigs } from '../db/public-config';
import { createRelay, subscribeRelay } from '../relay';
import assert from 'node:assert/strict';
import os from 'node:os';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../activities';
import { buildBlockList } from '../config';
import { createSecretBox, maskApiKey } from '../lib/secret-box';
import { createLLMClient } from '../llm/client';
import { LLM_FAILURE, toActivityFailure } from '../llm/errors';
import { scrubSecrets } from '../llm/scrub';
import type { SessionActivities } from '../contract';
import { CACHED_DESCRIPTION_CHARS, relayAddressFor, type PublicConfig, type RelayFrame, type SessionSettings } from '../contract';
import { llmConfigToolName, runBuiltin, type RoutingDecision } from '../contract';
import { createTestContext, uniqueId, type TestContext } from './support/context';
import { startFakeLLM, type FakeLLM } from './support/fake-llm';
import { freePort } from './support/net';
import { randomKey } from './support/session-harness';

const quiet = new DefaultLogger('ERROR');
const settings: SessionSettings = { default_llm_id: null, enabled_functions: null, role: null };

/** Runs an activity in a fresh activity context with the given StartToClose timeout. */
function run<A extends unknown[], R>(fn: (...args: A) => Promise<R>, args: A, startToCloseTimeoutMs = 5000): Promise<R> {
  return new MockActivityEnvironment({ startToCloseTimeoutMs }, { logger: quiet }).run(fn, ...args);
}

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the activity to fail');
}

describe('activities', function () {
  this.timeout(30_000);
  let t: TestContext;
  let llm: FakeLLM;
  let acts: SessionActivities;
  let routed: SessionActivities;
  const routerKey = randomKey();
  const routerModel = uniqueId('router');

  before(async () => {
    llm = await startFakeLLM();
    t = await createTestContext({ temporal: false, env: { EGRESS_ALLOW: '127.0.0.0/8' } });
    const deps = { db: t.ctx.db, secretBox: t.ctx.secretBox, logger: t.ctx.logger, relay: createRelay(t.ctx.db, t.ctx.logger) };
    acts = createActivities({ ...deps, config: t.ctx.config });
    routed = createActivities({
      ...deps,
      config: { ...t.ctx.config, ROUTER_LLM_BASE_URL: llm.baseUrl, ROUTER_LLM_MODEL: routerModel, ROUTER_LLM_API_KEY: routerKey },
    });
  });
  after(async () => {
    await t?.close();
    await llm?.close();
  });

  async function llmConfig(
    userId: string,
    fields: {
      model: string;
      key?: string | null;
      baseUrl?: string;
      active?: boolean;
      priority?: number;
      extra?: Partial<LLMConfigRowFields>;
    },
  ) {
    const key = fields.key === undefined ? randomKey() : fields.key;
    const { row, config } = await createLLMConfigRow(t.ctx, userId, {
      config_name: uniqueId('cfg'),
      model_name: fields.model,
      api_key: key,
      base_url: fields.baseUrl ?? llm.baseUrl,
      is_active: fields.active ?? true,
      priority: fields.priority ?? 0,
      ...fields.extra,
    });
    return { row, key, config };
  }

  describe('loadConfigs and toPublicConfig', () => {
    it('loadConfigs returns the summary a session caches, priority first, without secrets or long text', async () => {
      const userId = uniqueId('user');
      const low = await llmConfig(userId, {
        model: 'm-low',
        priority: 1,
        extra: { system_prompt: 'p'.repeat(32_000), description: 'd'.repeat(4000) },
      });
      await llmConfig(userId, { model: 'm-high', priority: 9, key: null });
      const configs = await run(acts.loadConfigs, [{ userId }]);
      assert.deepEqual(
        configs.map((c) => c.model_name),
        ['m-high', 'm-low'],
      );
      assert.ok(configs.every((c) => !('system_prompt' in c) && !('api_key' in c) && !('api_key_hint' in c)));
      assert.equal(configs[1]!.description!.length, CACHED_DESCRIPTION_CHARS);
      assert.ok(!JSON.stringify(configs).includes(low.row.api_key!));
      assert.ok(JSON.stringify(configs).length < 2_000, 'a config of 36,000 characters caches in under 1 KB');
    });

    it('toPublicConfig returns the public view only, priority first', async () => {
      const userId = uniqueId('user');
      const low = await llmConfig(userId, { model: 'm-low', priority: 1 });
      const high = await llmConfig(userId, { model: 'm-high', priority: 9, key: null });
      await llmConfig(uniqueId('other-user'), { model: 'm-other' });

      const configs = await loadPublicConfigs(t.ctx.db, { userId });

      assert.deepEqual(
        configs.map((c) => c.id),
        [high.row.id, low.row.id],
      );
      const [h, l] = configs as [PublicConfig, PublicConfig];
      assert.equal(l.has_api_key, true);
      assert.equal(l.api_key_hint, maskApiKey(low.key!));
      assert.equal(h.has_api_key, false);
      assert.equal(h.api_key_hint, null);
      assert.ok(configs.every((c) => !('api_key' in c)));
      assert.ok(!JSON.stringify(configs).includes(low.row.api_key!), 'no ciphertext either');
      assert.equal(l.created_at, new Date(low.row.created_at).toISOString());
    });
  });

  describe('executeLLMConfig', () => {
    it('sends the decrypted key, model, sampling settings, prompts and history', async () => {
      const userId = uniqueId('user');
      const model = uniqueId('exec');
      const { row, key } = await llmConfig(userId, { model, extra: { temperature: 0.3, max_tokens: 77, system_prompt: 'Be brief.' } });

      const out = await run(acts.executeLLMConfig, [
        { userId, configId: row.id, question: 'And now?', role: 'a chef', history: [{ question: 'Before?', answer: 'Yes.' }] },
      ]);

      assert.deepEqual(out, { answer: `[${model}] And now?`, model });
      const [req] = llm.requests(model);
      assert.equal(req?.authorization, `Bearer ${key}`);
      assert.equal(req?.body.temperature, 0.3);
      assert.equal(req?.body.max_tokens, 77);
      assert.deepEqual(req?.body.messages, [
        { role: 'system', content: 'Be brief.' },
        { role: 'system', content: 'From now on you act as: a chef' },
        { role: 'user', content: 'Before?' },
        { role: 'assistant', content: 'Yes.' },
        { role: 'user', content: 'And now?' },
      ]);
    });

    it("refuses another user's config and a disabled config without retrying or calling out", async () => {
      const owner = uniqueId('owner');
      const model = uniqueId('private');
      const { row } = await llmConfig(owner, { model });
      const foreign = await failureOf(
        run(acts.executeLLMConfig, [{ userId: uniqueId('thief'), configId: row.id, question: 'x', role: null, history: [] }]),
      );
      assert.equal(foreign.type, LLM_FAILURE.configUnavailable);
      assert.equal(foreign.nonRetryable, true);

      const disabled = await llmConfig(owner, { model, active: false });
      const off = await failureOf(
        run(acts.executeLLMConfig, [{ userId: owner, configId: disabled.row.id, question: 'x', role: null, history: [] }]),
      );
      assert.equal(off.nonRetryable, true);
      assert.match(off.message, /disabled/);
      assert.equal(llm.hits(model), 0);
    });

    it('never follows a redirect, not even to an address the policy would refuse by name', async () => {
      const userId = uniqueId('user');
      const seen: string[] = [];
      const redirector = http.createServer((req, res) => {
        seen.push(req.url ?? '');
        res.writeHead(307, { location: 'http://169.254.169.254/v1/chat/completions' }).end();
      });
      await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = redirector.address() as AddressInfo;
        const { row } = await llmConfig(userId, { model: uniqueId('redirected'), baseUrl: `http://127.0.0.1:${port}/v1` });
        const failure = await failureOf(run(acts.executeLLMConfig, [{ userId, configId: row.id, question: 'x', role: null, history: [] }]));
        assert.equal(failure.type, LLM_FAILURE.egressDenied);
        assert.equal(failure.nonRetryable, true);
        assert.match(failure.message, /redirect \(HTTP 307\), which is never followed/);
        assert.deepEqual(seen, ['/v1/chat/completions'], 'one request, to the configured endpoint only');
      } finally {
        redirector.close();
      }
    });

    it('checks the base URL against the egress policy at call time, after DNS', async () => {
      const userId = uniqueId('user');
      const model = uniqueId('egress');
      const strict = createActivities({
        db: t.ctx.db,
        secretBox: t.ctx.secretBox,
        logger: t.ctx.logger,
        relay: createRelay(t.ctx.db, t.ctx.logger),
        config: { ...t.ctx.config, egressAllow: buildBlockList([]) },
      });
      const viaName = await llmConfig(userId, { model, baseUrl: llm.baseUrl.replace('127.0.0.1', 'localhost') });
      const metadata = await llmConfig(userId, { model, baseUrl: 'http://169.254.169.254/v1' });
      const privateNet = await llmConfig(userId, { model, baseUrl: 'http://10.20.30.40:8000/v1' });

      for (const { row } of [viaName, metadata, privateNet]) {
        const failure = await failureOf(
          run(strict.executeLLMConfig, [{ userId, configId: row.id, question: 'x', role: null, history: [] }]),
        );
        assert.equal(failure.type, LLM_FAILURE.egressDenied);
        assert.equal(failure.nonRetryable, true);
      }
      const metadataAllowed = await failureOf(
        run(acts.executeLLMConfig, [{ userId, configId: metadata.row.id, question: 'x', role: null, history: [] }]),
      );
      assert.equal(metadataAllowed.type, LLM_FAILURE.egressDenied, 'metadata addresses are refused even with EGRESS_ALLOW');
      assert.equal(llm.hits(model), 0);
    });

    it('applies the egress policy to the address the connection uses, not only to a check before it', async () => {
      // A name that resolves to loopback, asked for directly through the client: no pre-check runs,
      // so only the connect-time lookup can refuse it (what a DNS rebinding would meet).
      const model = uniqueId('pinned');
      const baseURL = llm.baseUrl.replace('127.0.0.1', os.hostname());
      const request = (allow: string[]) =>
        createLLMClient({
          baseURL,
          apiKey: 'sk-pinned-0123456789abcdef',
          timeoutMs: 5000,
          egressAllow: buildBlockList(allow),
        }).chat.completions.create({
          model,
          messages: [{ role: 'user', content: 'hi' }],
        });
      const refused = await request([]).then(
        () => assert.fail('the request went out'),
        (err: unknown) => toActivityFailure(err, 'test', []),
      );
      assert.equal(refused.type, LLM_FAILURE.egressDenied);
      assert.equal(refused.nonRetryable, true);
      assert.equal(llm.hits(model), 0);
      const allowed = await request(['127.0.0.0/8']);
      assert.equal(allowed.choices[0]?.message.content, `[${model}] hi`);
      assert.equal(llm.hits(model), 1);
    });

    it('classifies provider errors: 429/5xx/timeouts/connection errors retry, 4xx do not', async () => {
      const userId = uniqueId('user');
      const cases: { behaviour: Parameters<FakeLLM['script']>[1]; type: string; retryable: boolean }[] = [
        { behaviour: { fail: 429 }, type: LLM_FAILURE.rateLimited, retryable: true },
        { behaviour: { fail: 500 }, type: LLM_FAILURE.serverError, retryable: true },
        { behaviour: { fail: 503 }, type: LLM_FAILURE.serverError, retryable: true },
        { behaviour: { fail: 400 }, type: LLM_FAILURE.rejected, retryable: false },
        { behaviour: { fail: 401 }, type: LLM_FAILURE.rejected, retryable: false },
        { behaviour: { fail: 403 }, type: LLM_FAILURE.rejected, retryable: false },
        { behaviour: { fail: 404 }, type: LLM_FAILURE.rejected, retryable: false },
        { behaviour: { hang: true }, type: LLM_FAILURE.timeout, retryable: true },
      ];
      for (const c of cases) {
        const model = uniqueId('classify');
        const { row } = await llmConfig(userId, { model });
        llm.script(model, c.behaviour);
        const failure = await failureOf(
          run(acts.executeLLMConfig, [{ userId, configId: row.id, question: 'q', role: null, history: [] }], 800),
        );
        assert.equal(failure.type, c.type, JSON.stringify(c.behaviour));
        assert.equal(failure.nonRetryable, !c.retryable, JSON.stringify(c.behaviour));
        assert.equal(llm.hits(model), 1, 'the SDK itself never retries');
      }

      const closedPort = await freePort();
      const { row } = await llmConfig(userId, { model: 'nobody-home', baseUrl: `http://127.0.0.1:${closedPort}/v1` });
      const refused = await failureOf(run(acts.executeLLMConfig, [{ userId, configId: row.id, question: 'q', role: null, history: [] }]));
      assert.equal(refused.type, LLM_FAILURE.connection);
      assert.equal(refused.nonRetryable, false);
    });

    it("honours a provider's Retry-After for the next attempt", async () => {
      const userId = uniqueId('user');
      const model = uniqueId('slowdown');
      const { row } = await llmConfig(userId, { model });
      llm.script(model, { fail: 429, retryAfterSeconds: 2 });
      const failure = await failureOf(run(acts.executeLLMConfig, [{ userId, configId: row.id, question: 'q', role: null, history: [] }]));
      assert.equal(failure.nextRetryDelay, 2000);
    });

    it('scrubs the key out of a provider error that echoes it', async () => {
      const userId = uniqueId('user');
      const model = uniqueId('echoes');
      const { row, key } = await llmConfig(userId, { model });
      llm.script(model, { fail: 401, echoKey: true });
      const failure = await failureOf(run(acts.executeLLMConfig, [{ userId, configId: row.id, question: 'q', role: null, history: [] }]));
      assert.equal(llm.requests(model)[0]?.authorization, `Bearer ${key}`);
      assert.ok(!failure.message.includes(key!), failure.message);
      assert.ok(!(failure.stack ?? '').includes(key!));
      assert.match(failure.message, /Incorrect API key provided: \[redacted\]/);
    });

    it('fails without retry and without detail when the stored key cannot be decrypted', async () => {
      const userId = uniqueId('user');
      const model = uniqueId('rotated');
      const other = createSecretBox([Buffer.alloc(32, 7)]);
      const { row } = await llmConfig(userId, { model, key: null });
      // A key encrypted under a key this service does not hold.
      await row.update({ api_key: other.encrypt(randomKey()) });
      const failure = await failureOf(run(acts.executeLLMConfig, [{ userId, configId: row.id, question: 'q', role: null, history: [] }]));
      assert.equal(failure.nonRetryable, true);
      assert.match(failure.message, /cannot be decrypted/);
      assert.equal(llm.hits(model), 0);
    });
  });

  describe('answerMessage routing', () => {
    async function configsFor(userId: string) {
      const a = await llmConfig(userId, { model: uniqueId('a'), priority: 2 });
      const b = await llmConfig(userId, { model: uniqueId('b'), priority: 5 });
      const off = await llmConfig(userId, { model: uniqueId('off'), priority: 9, active: false });
      return { a: a.config, b: b.config, off: off.config, all: [a.config, b.config, off.config] };
    }

    /** The step's routing decision for one message (its first attempt is another test's subject). */
    async function route(
      activities: SessionActivities,
      input: { userId: string; text: string; configs: PublicConfig[]; settings: SessionSettings },
    ): Promise<RoutingDecision> {
      const answered = await run(activities.answerMessage, [
        {
          userId: input.userId,
          message: { id: uniqueId('m'), text: input.text },
          configs: input.configs,
          settings: input.settings,
          history: [],
          relayAddress: null,
          routerAttempts: 2,
          retryInitialMs: 10,
          callTimeoutMs: 5000,
        },
      ]);
      return answered.routing;
    }

    it('without a router LLM and no description matching, picks the highest-priority active config, or the session default', async () => {
      const userId = uniqueId('user');
      const { a, b, all } = await configsFor(userId);
      const decision = await route(acts, { userId, text: 'hi', configs: all, settings });
      assert.deepEqual(decision, {
        kind: 'llm_config',
        configId: b.id,
        tool: llmConfigToolName(b.id),
        question: 'hi',
        routedBy: 'fallback',
        reason: "no router LLM is configured; no config's description matched the message",
      });
      const withDefault = await route(acts, { userId, text: 'hi', configs: all, settings: { ...settings, default_llm_id: a.id } });
      assert.equal(withDefault.kind === 'llm_config' && withDefault.configId, a.id);
    });

    it('asks the router LLM with its own key and turns its tool call into a decision', async () => {
      const userId = uniqueId('user');
      const { a, all } = await configsFor(userId);
      llm.script(routerModel, { toolCall: llmConfigToolName(a.id), arguments: { question: 'rephrased' } });
      const decision = await route(routed, { userId, text: 'original', configs: all, settings });
      assert.deepEqual(decision, {
        kind: 'llm_config',
        configId: a.id,
        tool: llmConfigToolName(a.id),
        question: 'rephrased',
        routedBy: 'router_llm',
      });
      assert.equal(llm.requests(routerModel).at(-1)?.authorization, `Bearer ${routerKey}`);

      llm.script(routerModel, { toolCall: 'get_time', arguments: { timezone: 'UTC' } });
      assert.deepEqual(await route(routed, { userId, text: 'time?', configs: all, settings }), {
        kind: 'builtin',
        name: 'get_time',
        arguments: { timezone: 'UTC' },
        routedBy: 'router_llm',
      });
    });

    it('never runs what was not offered: a disabled config or a disabled built-in falls back', async () => {
      const userId = uniqueId('user');
      const { b, off, all } = await configsFor(userId);
      llm.script(routerModel, { toolCall: llmConfigToolName(off.id) });
      const chosenOff = await route(routed, { userId, text: 'x', configs: all, settings });
      assert.equal(chosenOff.routedBy, 'fallback');
      assert.equal(chosenOff.kind === 'llm_config' && chosenOff.configId, b.id);

      llm.script(routerModel, { toolCall: 'play_music' });
      const disabledBuiltin = await route(routed, {
        userId,
        text: 'x',
        configs: all,
        settings: { ...settings, enabled_functions: ['get_time'] },
      });
      assert.equal(disabledBuiltin.routedBy, 'fallback');
      const tools = llm
        .requests(routerModel)
        .at(-1)
        ?.body.tools?.map((t) => t.function.name);
      assert.ok(tools && !tools.includes('play_music') && tools.includes('get_time'));
    });

    it('a failing router is classified and scrubbed: a 401 falls back at once, a 502 after the last attempt', async () => {
      const userId = uniqueId('user');
      const { b, all } = await configsFor(userId);
      const before = llm.hits(routerModel);
      llm.script(routerModel, { fail: 401, echoKey: true });
      const refused = await route(routed, { userId, text: 'x', configs: all, settings });
      assert.equal(refused.routedBy, 'fallback');
      assert.equal(refused.kind === 'llm_config' && refused.configId, b.id);
      const reason = refused.kind === 'llm_config' ? (refused.reason ?? '') : '';
      assert.match(reason, /the router LLM failed/);
      assert.ok(!reason.includes(routerKey));
      assert.equal(llm.hits(routerModel) - before, 1, 'a 401 is not tried again');

      llm.script(routerModel, { fail: 502 }, { fail: 502 });
      const unavailable = await route(routed, { userId, text: 'x', configs: all, settings });
      assert.equal(unavailable.routedBy, 'fallback');
      assert.equal(llm.hits(routerModel) - before, 3, 'a 502 is tried again, up to routerAttempts');
    });
  });

  describe('answerMessage', () => {
    it('routes, makes one attempt at the chosen config and reports progress on the relay; a provider failure comes back as data', async () => {
      const userId = uniqueId('user');
      const good = await llmConfig(userId, { model: uniqueId('good'), priority: 5 });
      const frames: RelayFrame[] = [];
      const instance = uniqueId('activity-gw');
      const subscription = await subscribeRelay(
        t.ctx.db,
        instance,
        (_connection, delivery) => {
          if ('frames' in delivery) frames.push(...delivery.frames);
        },
        { logger: t.ctx.logger },
      );
      try {
        const input = {
          userId,
          message: { id: 'm-1', text: 'hello there' },
          configs: [good.config],
          settings,
          history: [],
          relayAddress: relayAddressFor(instance, 'c-1'),
          routerAttempts: 2,
          retryInitialMs: 10,
          callTimeoutMs: 5000,
        };
        const answered = await run(acts.answerMessage, [input]);
        assert.equal(answered.routing.kind, 'llm_config');
        assert.deepEqual(
          answered.firstAttempt && { ok: answered.firstAttempt.ok, answer: answered.firstAttempt.ok && answered.firstAttempt.answer },
          { ok: true, answer: `[${good.row.model_name}] hello there` },
        );
        assert.deepEqual(
          frames.map((f) => (f.type === 'progress' ? `${f.stage}:${f.config_id ?? ''}` : f.type)),
          ['routing:', `executing:${good.row.id}`],
        );

        llm.script(good.row.model_name!, { fail: 503 });
        const failed = await run(acts.answerMessage, [{ ...input, message: { id: 'm-2', text: 'again' } }]);
        assert.equal(failed.firstAttempt?.ok, false);
        assert.equal(failed.firstAttempt?.ok === false && failed.firstAttempt.retryable, true);
        assert.equal(llm.hits(good.row.model_name!), 2, "one attempt each: retries are the workflow's");

        llm.script(routerModel, { fail: 500 }, { fail: 500 });
        const viaRouter = await run(routed.answerMessage, [{ ...input, message: { id: 'm-3', text: 'routed?' } }]);
        assert.equal(viaRouter.routing.routedBy, 'fallback');
        assert.match(viaRouter.routing.kind === 'llm_config' ? (viaRouter.routing.reason ?? '') : '', /router LLM failed/);
      } finally {
        await subscription.close();
      }
    });
  });

  describe('runBuiltin', () => {
    it('answers get_time in the asked time zone, falling back to UTC', () => {
      const tokyo = runBuiltin({ name: 'get_time', arguments: { timezone: 'Asia/Tokyo' } });
      assert.match(tokyo.result, /^It is \d{4}-\d\d-\d\d \d\d:\d\d:\d\d in Asia\/Tokyo\./);
      const bogus = runBuiltin({ name: 'get_time', arguments: { timezone: 'Mars/Olympus' } });
      assert.match(bogus.result, /in UTC \(unknown time zone "Mars\/Olympus", showing UTC\)/);
    });

    it('returns the effects the workflow applies', () => {
      assert.deepEqual(runBuiltin({ name: 'end_session', arguments: {} }).effect, { kind: 'end_session' });
      assert.deepEqual(runBuiltin({ name: 'change_role', arguments: { role: ' a poet ' } }).effect, {
        kind: 'change_role',
        role: 'a poet',
      });
      assert.deepEqual(runBuiltin({ name: 'play_music', arguments: { song: 'Clair de lune' } }).effect, {
        kind: 'play_music',
        song: 'Clair de lune',
      });
      assert.deepEqual(runBuiltin({ name: 'play_music', arguments: { song: 42 } }).effect, {
        kind: 'play_music',
        song: 'something relaxing',
      });
    });
  });

  describe('updateSessionRecord', () => {
    it('creates the row on first write and updates it afterwards', async () => {
      const userId = uniqueId('user');
      const sessionId = uniqueId('s');
      const base = { userId, sessionId, workflowId: `session-${userId}-${sessionId}`, deviceId: 'dev-1' };
      await run(acts.updateSessionRecord, [
        { ...base, status: 'active', lastActivityAt: 1_000, expiresAt: 61_000, settings: { ...settings, enabled_functions: ['get_time'] } },
      ]);
      await run(acts.updateSessionRecord, [{ ...base, status: 'expired', expiresAt: null, sessionData: { configs: [], role: 'x' } }]);

      const rows = await t.ctx.db.models.UserSessionConfig.findAll({ where: { session_id: sessionId } });
      assert.equal(rows.length, 1);
      const [row] = rows;
      assert.equal(row?.status, 'expired');
      assert.equal(row?.user_id, userId);
      assert.equal(row?.device_id, 'dev-1');
      assert.deepEqual(row?.enabled_functions, ['get_time']);
      assert.equal(row?.last_activity_at?.getTime(), 1_000);
      assert.equal(row?.expires_at, null);
      assert.deepEqual(row?.session_data, { configs: [], role: 'x' });
    });
  });
});

describe('scrubSecrets', () => {
  it('removes the given secrets and anything key-like, leaving ordinary text', () => {
    const key = 'my-very-own-secret-value';
    const text = [
      `bad key ${key}`,
      'sk-abcdefghijklmnop1234',
      'Authorization: Bearer abc.def.ghi',
      'token=abc123',
      'hex 0123456789abcdef0123456789abcdef',
      'b64 QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk=',
      'HTTP 401: Incorrect API key provided',
    ].join('\n');
    const out = scrubSecrets(text, [key]);
    for (const secret of [
      key,
      'sk-abcdefghijklmnop1234',
      'abc.def.ghi',
      'abc123',
      '0123456789abcdef0123456789abcdef',
      'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk',
    ]) {
      assert.ok(!out.includes(secret), `${secret} survived: ${out}`);
    }
    assert.match(out, /HTTP 401: Incorrect API key provided/);
  });
});
