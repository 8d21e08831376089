// The session workflow end to end on the real Temporal dev server and PostgreSQL: the real worker
// and activities, the scripted fake LLM as router and providers, and a recording stand-in for the
// gateway on the relay. Histories of every session started here are replayed at the end
// (and written to test/fixtures/histories when RECORD_HISTORIES=1).
import assert from 'node:assert/strict';
import { Worker } from '@temporalio/worker';
import { startWorker } from '../worker';
import {
  ackSignal,
  attachSignal,
  closeSignal,
  detachSignal,
  messageSignal,
  refreshConfigsSignal,
  stateQuery,
  transcriptQuery,
  updateSessionConfigSignal,
  userIdSearchAttribute,
  deviceIdSearchAttribute,
  type ResultFrame,
  type ServerFrame,
  type SessionWorkflowInput,
} from '../contract';
import { llmConfigToolName } from '../routing';
import { uniqueId } from './support/context';
import { fetchAllRuns, HISTORY_FIXTURES_DIR, historyText, replayFailures, writeHistoryFixtures } from './support/histories';
import { labelledRuns, randomKey, ROUTER_MODEL, startSessionHarness, type SessionHarness } from './support/session-harness';
import { eventually } from './support/eventually';

const isResult =
  (id: string) =>
  (f: ServerFrame): f is ResultFrame =>
    f.type === 'function_call_result' && f.id === id;

describe('session workflow', function () {
  this.timeout(120_000);
  let h: SessionHarness;
  /** A second worker whose config has no ROUTER_LLM_*: routing falls back. */
  let noRouter: SessionHarness;

  before(async () => {
    h = await startSessionHarness();
    noRouter = await startSessionHarness({ router: false });
  });

  after(async () => {
    for (const harness of [h, noRouter]) await harness?.close();
  });

  function uniqueModel(name: string): string {
    return uniqueId(name);
  }

  describe('routing', () => {
    it('routes to the config the router chose, with progress frames, and sends its key to the provider', async () => {
      const userId = uniqueId('user');
      const [mA, mB, mOff] = [uniqueModel('math'), uniqueModel('poet'), uniqueModel('off')];
      const keyA = randomKey();
      const a = await h.createLLMConfig(userId, { model_name: mA, description: 'Solves math', api_key: keyA, priority: 1 });
      const b = await h.createLLMConfig(userId, { model_name: mB, description: 'Writes poems', priority: 9 });
      const off = await h.createLLMConfig(userId, { model_name: mOff, description: 'Disabled', is_active: false, priority: 50 });
      const s = await h.startSession({ userId, label: 'routed-answer' });
      h.llm.script(ROUTER_MODEL, (req) =>
        req.body.messages.some((m) => m.content === 'what is 6*7? ' + s.sessionId)
          ? { toolCall: llmConfigToolName(a.id), arguments: { question: 'what is 6*7?' } }
          : { reply: 'unexpected' },
      );

      const result = await s.ask('what is 6*7? ' + s.sessionId);

      assert.equal(result.status, 'success');
      assert.equal(result.config_id, a.id);
      assert.equal(result.config_name, a.config_name);
      assert.equal(result.result, `[${mA}] what is 6*7?`);
      assert.equal(result.routed_by, 'router_llm');
      assert.equal(result.fallback_from, undefined);
      assert.ok(result.execute_time >= 0);
      assert.equal(h.llm.hits(mB), 0);

      const routerRequest = h.llm.requests(ROUTER_MODEL).find((r) => r.body.messages.some((m) => m.content?.includes(s.sessionId)));
      const tools = routerRequest?.body.tools?.map((t) => t.function.name) ?? [];
      assert.ok(tools.includes(llmConfigToolName(a.id)) && tools.includes(llmConfigToolName(b.id)));
      assert.ok(!tools.includes(llmConfigToolName(off.id)), 'an inactive config is never offered');
      assert.deepEqual(tools.filter((t) => !t.startsWith('use_ai_config_')).sort(), [
        'change_role',
        'end_session',
        'get_time',
        'play_music',
      ]);
      assert.equal(routerRequest?.body.tool_choice, 'auto');
      assert.equal(h.llm.requests(mA)[0]?.authorization, `Bearer ${keyA}`);

      const frames = h.gateway.framesFor(s.connectionId);
      const stages = frames
        .filter((f) => f.type === 'progress')
        .map((f) => (f.type === 'progress' ? `${f.stage}:${f.config_id ?? ''}` : ''));
      assert.deepEqual(stages, ['routing:', `executing:${a.id}`]);
      assert.equal(frames.at(-1)?.type, 'function_call_result', 'progress frames come before the result');
    });

    it('answers directly when the router answers in text', async () => {
      const userId = uniqueId('user');
      const m = uniqueModel('any');
      await h.createLLMConfig(userId, { model_name: m });
      const s = await h.startSession({ userId, label: 'direct-answer' });
      h.llm.script(ROUTER_MODEL, { reply: 'Hello there!' });

      const result = await s.ask('hi');

      assert.equal(result.status, 'success');
      assert.equal(result.config_id, 0);
      assert.equal(result.config_name, 'direct_answer');
      assert.equal(result.result, 'Hello there!');
      assert.equal(h.llm.hits(m), 0);
    });

    it('falls back to the highest-priority active config when the router fails for good', async () => {
      const userId = uniqueId('user');
      const [low, high] = [uniqueModel('low'), uniqueModel('high')];
      await h.createLLMConfig(userId, { model_name: low, priority: 1 });
      const hi = await h.createLLMConfig(userId, { model_name: high, priority: 7 });
      await h.createLLMConfig(userId, { model_name: uniqueModel('off'), priority: 99, is_active: false });
      const s = await h.startSession({ userId, tuning: { routeMaxAttempts: 2 } });
      h.llm.script(ROUTER_MODEL, { fail: 503 }, { fail: 503 });

      const result = await s.ask('tell me something');

      assert.equal(result.status, 'success');
      assert.equal(result.config_id, hi.id);
      assert.equal(result.routed_by, 'fallback');
      const [entry] = await s.handle.query(transcriptQuery);
      assert.equal(entry?.routing?.kind, 'llm_config');
      assert.match(entry?.routing?.kind === 'llm_config' ? (entry.routing.reason ?? '') : '', /router LLM failed/);
    });

    it('without a router LLM, the session default or else the highest-priority config answers', async () => {
      const userId = uniqueId('user');
      const [m1, m2] = [uniqueModel('first'), uniqueModel('second')];
      const first = await noRouter.createLLMConfig(userId, { model_name: m1, priority: 10 });
      const second = await noRouter.createLLMConfig(userId, { model_name: m2, priority: 1 });
      const s = await noRouter.startSession({ userId, label: 'no-router' });

      const r1 = await s.ask('one');
      assert.equal(r1.config_id, first.id);
      assert.equal(r1.routed_by, 'fallback');

      await s.handle.signal(updateSessionConfigSignal, { default_llm_id: second.id });
      const r2 = await s.ask('two');
      assert.equal(r2.config_id, second.id);
      assert.equal(r2.result, `[${m2}] two`);
      assert.equal(noRouter.llm.hits(ROUTER_MODEL), 0);

      const row = await eventually(async () => {
        const found = await noRouter.ctx.db.models.UserSessionConfig.findOne({ where: { session_id: s.sessionId } });
        return found?.default_llm_id === second.id ? found : false;
      });
      assert.equal(row.status, 'active');
      assert.equal(row.device_id, 'test-device');
    });

    it('tells the user when there is no active LLM config at all', async () => {
      const s = await noRouter.startSession({});
      const result = await s.ask('anyone?');
      assert.equal(result.status, 'failed');
      assert.match(result.error ?? '', /no active LLM config/);
    });
  });

  describe('built-in functions', () => {
    it('get_time, play_music and change_role run as built-ins; enabled_functions limits what is offered', async () => {
      const userId = uniqueId('user');
      const m = uniqueModel('chat');
      const cfg = await h.createLLMConfig(userId, { model_name: m });
      const s = await h.startSession({ userId, label: 'builtins' });

      h.llm.script(ROUTER_MODEL, { toolCall: 'get_time', arguments: { timezone: 'Asia/Shanghai' } });
      const time = await s.ask('what time is it?');
      assert.equal(time.status, 'success');
      assert.equal(time.config_id, 0);
      assert.equal(time.config_name, 'get_time');
      assert.match(time.result, /Asia\/Shanghai/);

      h.llm.script(ROUTER_MODEL, { toolCall: 'play_music', arguments: { song: 'Blue Danube' } });
      const musicId = await s.send('play me a waltz');
      await h.gateway.waitForResult(s.connectionId, musicId);
      const frames = h.gateway.framesFor(s.connectionId);
      const musicIndex = frames.findIndex((f) => f.type === 'play_music' && f.id === musicId && f.song === 'Blue Danube');
      assert.ok(musicIndex >= 0, 'a play_music frame is sent');
      assert.ok(musicIndex < frames.findIndex(isResult(musicId)), 'before the result');

      h.llm.script(ROUTER_MODEL, { toolCall: 'change_role', arguments: { role: 'a pirate' } });
      assert.equal((await s.ask('be a pirate')).config_name, 'change_role');
      h.llm.script(ROUTER_MODEL, { toolCall: llmConfigToolName(cfg.id) });
      await s.ask('ahoy?');
      const providerMessages = h.llm.requests(m).at(-1)?.body.messages ?? [];
      assert.ok(
        providerMessages.some((msg) => msg.role === 'system' && msg.content?.includes('a pirate')),
        'the role reaches the LLM',
      );
      assert.equal((await s.handle.query(stateQuery)).settings.role, 'a pirate');

      await s.handle.signal(updateSessionConfigSignal, { enabled_functions: ['get_time'] });
      h.llm.script(ROUTER_MODEL, { reply: 'ok' });
      await s.ask('which tools now? ' + s.sessionId);
      const tools = h.llm
        .requests(ROUTER_MODEL)
        .find((r) => r.body.messages.some((msg) => msg.content === 'which tools now? ' + s.sessionId))?.body.tools;
      assert.deepEqual(tools?.map((t) => t.function.name).sort(), ['get_time', llmConfigToolName(cfg.id)].sort());
    });

    it('end_session answers, then closes the session and its row', async () => {
      const userId = uniqueId('user');
      await h.createLLMConfig(userId, { model_name: uniqueModel('chat') });
      const s = await h.startSession({ userId, label: 'end-session' });
      h.llm.script(ROUTER_MODEL, { toolCall: 'end_session' });

      const result = await s.ask('bye');
      assert.equal(result.config_name, 'end_session');
      const closed = await h.gateway.waitFor(s.connectionId, (f) => f.type === 'session_closed');
      assert.deepEqual(closed, { type: 'session_closed', reason: 'end_session' });
      assert.deepEqual(await s.handle.result(), { status: 'closed', reason: 'end_session', handledCount: 1 });
      const row = await h.ctx.db.models.UserSessionConfig.findOne({ where: { session_id: s.sessionId } });
      assert.equal(row?.status, 'closed');
    });
  });

  describe('retries, fallbacks and timeouts', () => {
    it('retries a 429 and then answers from the same config', async () => {
      const userId = uniqueId('user');
      const m = uniqueModel('busy');
      const cfg = await h.createLLMConfig(userId, { model_name: m });
      const other = uniqueModel('other');
      await h.createLLMConfig(userId, { model_name: other, priority: -1 });
      h.llm.script(m, { fail: 429 }, { reply: 'finally' });
      h.llm.script(ROUTER_MODEL, { toolCall: llmConfigToolName(cfg.id) });
      const s = await h.startSession({ userId, label: 'retry-429' });

      const result = await s.ask('please');

      assert.equal(result.status, 'success');
      assert.equal(result.config_id, cfg.id);
      assert.equal(result.result, 'finally');
      assert.equal(result.fallback_from, undefined);
      assert.equal(h.llm.hits(m), 2);
      assert.equal(h.llm.hits(other), 0);
    });

    it('does not retry a 401; the next config answers and the result names both', async () => {
      const userId = uniqueId('user');
      const [bad, good] = [uniqueModel('unauth'), uniqueModel('good')];
      const badCfg = await h.createLLMConfig(userId, { model_name: bad, priority: 5 });
      const goodCfg = await h.createLLMConfig(userId, { model_name: good, priority: 1 });
      h.llm.otherwise(bad, { fail: 401, message: 'invalid api key' });
      h.llm.script(ROUTER_MODEL, { toolCall: llmConfigToolName(badCfg.id) });
      const s = await h.startSession({ userId, label: 'no-retry-401' });

      const result = await s.ask('hello');

      assert.equal(h.llm.hits(bad), 1);
      assert.equal(result.status, 'success');
      assert.equal(result.config_id, goodCfg.id);
      assert.equal(result.fallback_from?.config_id, badCfg.id);
      assert.equal(result.fallback_from?.config_name, badCfg.config_name);
      assert.match(result.fallback_from?.error ?? '', /HTTP 401/);
    });

    it('falls back to the next config by priority after persistent 500s', async () => {
      const userId = uniqueId('user');
      const [broken, second, third] = [uniqueModel('broken'), uniqueModel('second'), uniqueModel('third')];
      const brokenCfg = await h.createLLMConfig(userId, { model_name: broken, priority: 3 });
      await h.createLLMConfig(userId, { model_name: third, priority: 1 });
      const secondCfg = await h.createLLMConfig(userId, { model_name: second, priority: 2 });
      h.llm.otherwise(broken, { fail: 500 });
      h.llm.script(ROUTER_MODEL, { toolCall: llmConfigToolName(brokenCfg.id) });
      const s = await h.startSession({ userId, tuning: { llmMaxAttempts: 3 }, label: 'fallback-500' });

      const result = await s.ask('anything');

      assert.equal(h.llm.hits(broken), 3, 'retried up to the attempt limit');
      assert.equal(result.config_id, secondCfg.id);
      assert.equal(result.status, 'success');
      assert.equal(result.fallback_from?.config_id, brokenCfg.id);
      assert.match(result.fallback_from?.error ?? '', /HTTP 500/);
      assert.equal(h.llm.hits(third), 0);
    });

    it('times out a provider that hangs, retries it, then falls back', async () => {
      const userId = uniqueId('user');
      const [slow, quick] = [uniqueModel('hangs'), uniqueModel('quick')];
      const slowCfg = await h.createLLMConfig(userId, { model_name: slow, priority: 2 });
      const quickCfg = await h.createLLMConfig(userId, { model_name: quick, priority: 1 });
      h.llm.otherwise(slow, { hang: true });
      h.llm.script(ROUTER_MODEL, { toolCall: llmConfigToolName(slowCfg.id) });
      const s = await h.startSession({ userId, tuning: { llmTimeout: '1500 milliseconds', llmMaxAttempts: 2 }, label: 'timeout' });

      const result = await s.ask('are you there?');

      assert.equal(h.llm.hits(slow), 2);
      assert.equal(result.config_id, quickCfg.id);
      assert.equal(result.fallback_from?.config_id, slowCfg.id);
      assert.match(result.fallback_from?.error ?? '', /timed out|time limit/);
    });

    it('reports a readable failure without any secret when every config fails', async () => {
      const userId = uniqueId('user');
      const m = uniqueModel('denied');
      const key = randomKey();
      const cfg = await h.createLLMConfig(userId, { model_name: m, api_key: key });
      h.llm.otherwise(m, { fail: 401, echoKey: true });
      h.llm.script(ROUTER_MODEL, { toolCall: llmConfigToolName(cfg.id) });
      const s = await h.startSession({ userId, label: 'all-fail' });

      const result = await s.ask('hello?');

      assert.equal(result.status, 'failed');
      assert.equal(result.config_id, cfg.id);
      assert.match(result.error ?? '', new RegExp(`${cfg.config_name}: .*HTTP 401`));
      assert.ok(!(result.error ?? '').includes(key));
      assert.equal(h.llm.requests(m)[0]?.authorization, `Bearer ${key}`);
    });
  });

  describe('messages, outbox and delivery', () => {
    it('answers a repeated message id once', async () => {
      const userId = uniqueId('user');
      await noRouter.createLLMConfig(userId, { model_name: uniqueModel('echo') });
      const s = await noRouter.startSession({ userId, label: 'duplicate-id' });

      const id = uniqueId('dup');
      await s.send('first copy', id);
      await s.send('second copy', id);
      await noRouter.gateway.waitForResult(s.connectionId, id);
      await s.send('third copy, after the answer', id);
      await s.ask('a later message acts as a barrier');

      assert.equal(noRouter.gateway.resultsFor(s.connectionId, id).length, 1);
      const transcript = await s.handle.query(transcriptQuery);
      assert.deepEqual(
        transcript.map((e) => e.text),
        ['first copy', 'a later message acts as a barrier'],
      );
    });

    it('keeps results in the outbox until acked and redelivers them to a new socket', async () => {
      const userId = uniqueId('user');
      await noRouter.createLLMConfig(userId, { model_name: uniqueModel('chat') });
      const s = await noRouter.startSession({ userId, label: 'outbox' });
      const first = await s.ask('one');
      await s.handle.signal(ackSignal, { id: first.id });

      // The socket goes away: its frames are dropped and its gateway detaches it; the result waits in the outbox.
      noRouter.gateway.gone.add(s.connectionId);
      await s.handle.signal(detachSignal, { connectionId: s.connectionId });
      const lostId = await s.send('two');
      const state = await eventually(async () => {
        const st = await s.handle.query(stateQuery);
        return st.outbox.some((f) => f.id === lostId) && st.attached === null ? st : false;
      });
      assert.deepEqual(
        state.outbox.map((f) => f.id),
        [lostId],
      );
      assert.equal(noRouter.gateway.resultsFor(s.connectionId, lostId).length, 0);

      const second = uniqueId('conn');
      await s.handle.signal(attachSignal, noRouter.gateway.relayAddress(second));
      const redelivered = await noRouter.gateway.waitForResult(second, lostId);
      assert.equal(redelivered.status, 'success');
      assert.equal(noRouter.gateway.resultsFor(second, first.id).length, 0, 'acked results are not redelivered');

      await s.handle.signal(ackSignal, { id: lostId });
      await eventually(async () => (await s.handle.query(stateQuery)).outbox.length === 0);

      // A detach from a socket that is no longer the attached one changes nothing.
      await s.handle.signal(detachSignal, { connectionId: s.connectionId });
      assert.equal((await s.handle.query(stateQuery)).attached?.connectionId, second);
    });

    it('refreshConfigs reloads the cache and tells the gateway to send configs_updated', async () => {
      const userId = uniqueId('user');
      await noRouter.createLLMConfig(userId, { model_name: uniqueModel('a') });
      const s = await noRouter.startSession({ userId, label: 'refresh-configs' });
      await eventually(async () => (await s.handle.query(stateQuery)).configs.length === 1);

      const added = await noRouter.createLLMConfig(userId, { model_name: uniqueModel('b'), priority: 100 });
      await s.handle.signal(refreshConfigsSignal);
      // The gateway turns this into configs_updated with the configs it reads (test/sessions.test.ts).
      await noRouter.gateway.waitFor(s.connectionId, (f) => (f as { type: string }).type === 'reload_configs');
      const cached = (await s.handle.query(stateQuery)).configs;
      assert.ok(cached.some((c) => c.id === added.id));
      assert.deepEqual(Object.keys(cached[0]!).sort(), [
        'config_name',
        'config_type',
        'description',
        'function_name',
        'id',
        'is_active',
        'llm_type',
        'model_name',
        'priority',
      ]);
      assert.equal((await s.ask('who answers?')).config_id, added.id);
    });

    it('close answers nothing more, sends session_closed and marks the row closed', async () => {
      const userId = uniqueId('user');
      await noRouter.createLLMConfig(userId, { model_name: uniqueModel('a') });
      const s = await noRouter.startSession({ userId, label: 'close' });
      await s.ask('before closing');
      await s.handle.signal(closeSignal, { reason: 'client_closed' });

      assert.deepEqual(await s.handle.result(), { status: 'closed', reason: 'client_closed', handledCount: 1 });
      assert.deepEqual(noRouter.gateway.framesFor(s.connectionId).at(-1), { type: 'session_closed', reason: 'client_closed' });
      const row = await noRouter.ctx.db.models.UserSessionConfig.findOne({ where: { session_id: s.sessionId } });
      assert.equal(row?.status, 'closed');
      assert.equal(row?.expires_at, null);
    });

    it('messages still pending at close get a failed result instead of silence', async () => {
      const userId = uniqueId('user');
      await noRouter.createLLMConfig(userId, { model_name: uniqueModel('a') });
      // No worker polls this queue yet: the messages and the close arrive in the same first task.
      const laterQueue = uniqueId('test-later');
      const s = await noRouter.startSession({ userId, taskQueue: laterQueue, label: 'close-pending' });
      const ids = [await s.send('one'), await s.send('two')];
      await s.handle.signal(closeSignal, { reason: 'client_closed' });
      const worker = await startWorker(noRouter.ctx, { taskQueue: laterQueue, connection: noRouter.env.nativeConnection });
      try {
        assert.equal((await s.handle.result()).status, 'closed');
      } finally {
        await worker.close();
      }
      for (const id of ids) {
        const [result] = noRouter.gateway.resultsFor(s.connectionId, id);
        assert.equal(result?.status, 'failed');
        assert.match(result?.error ?? '', /closed \(client_closed\) before this message was answered/);
      }
      assert.deepEqual(noRouter.gateway.framesFor(s.connectionId).at(-1), { type: 'session_closed', reason: 'client_closed' });
    });

    it('a cancelled session marks its row closed', async () => {
      const s = await noRouter.startSession({});
      await eventually(() =>
        noRouter.ctx.db.models.UserSessionConfig.findOne({ where: { session_id: s.sessionId } }).then((r) => r ?? false),
      );
      await s.handle.cancel();
      await assert.rejects(s.handle.result());
      const row = await eventually(async () => {
        const found = await noRouter.ctx.db.models.UserSessionConfig.findOne({ where: { session_id: s.sessionId } });
        return found?.status === 'closed' ? found : false;
      });
      assert.equal(row.expires_at, null);
    });

    it('expires after the idle TTL', async () => {
      const userId = uniqueId('user');
      await noRouter.createLLMConfig(userId, { model_name: uniqueModel('a') });
      const s = await noRouter.startSession({ userId, idleTtlMs: 1500, label: 'idle-expiry' });
      await s.ask('just one');

      const closed = await noRouter.gateway.waitFor(s.connectionId, (f) => f.type === 'session_closed');
      assert.deepEqual(closed, { type: 'session_closed', reason: 'idle_timeout' });
      assert.deepEqual(await s.handle.result(), { status: 'expired', reason: 'idle_timeout', handledCount: 1 });
      const row = await noRouter.ctx.db.models.UserSessionConfig.findOne({ where: { session_id: s.sessionId } });
      assert.equal(row?.status, 'expired');
    });

    it('continues as new, carrying pending messages, the outbox and handled ids', async () => {
      const userId = uniqueId('user');
      await noRouter.createLLMConfig(userId, { model_name: uniqueModel('a') });
      // No worker polls this queue yet, so all three messages are pending when the first task runs.
      const laterQueue = uniqueId('test-later');
      const s = await noRouter.startSession({
        userId,
        attach: false,
        taskQueue: laterQueue,
        tuning: { continueAsNewAfter: 2 },
        label: 'continue-as-new',
      });
      const ids = [await s.send('m1'), await s.send('m2'), await s.send('m3')];
      const worker = await startWorker(noRouter.ctx, { taskQueue: laterQueue, connection: noRouter.env.nativeConnection });
      try {
        const state = await eventually(async () => {
          const st = await s.handle.query(stateQuery);
          return st.handledCount === 3 ? st : false;
        });
        const description = await s.handle.describe();
        assert.notEqual(description.runId, s.handle.firstExecutionRunId, 'a new run took over');
        assert.deepEqual(
          state.outbox.map((f) => f.id),
          ids,
          'unacked results survived continue-as-new',
        );
        assert.deepEqual(state.pendingIds, []);

        // A repeat of a message answered by the first run is still recognised.
        await s.send('m1 again', ids[0]);
        const connectionId = uniqueId('conn');
        await s.handle.signal(attachSignal, noRouter.gateway.relayAddress(connectionId));
        for (const id of ids) await noRouter.gateway.waitForResult(connectionId, id);
        await s.handle.signal(messageSignal, { id: uniqueId('m'), text: 'barrier', receivedAt: Date.now() });
        await eventually(async () => (await s.handle.query(stateQuery)).handledCount === 4);
        assert.equal((await s.handle.query(transcriptQuery)).filter((e) => e.id === ids[0]).length, 1);
      } finally {
        await s.handle.signal(closeSignal, { reason: 'test_done' });
        await s.handle.result();
        await worker.close();
      }
    });
  });

  describe('continue-as-new under a client sending back to back', () => {
    it('hands the last answer of a run to the next run, so the next message never races the switch', async () => {
      const userId = uniqueId('user');
      await noRouter.createLLMConfig(userId, { model_name: uniqueModel('a') });
      const s = await noRouter.startSession({ userId, tuning: { continueAsNewAfter: 2 }, label: 'continue-as-new-held-frames' });
      // As a client does: each message sent the moment the previous answer arrives.
      const results = [];
      for (const text of ['m1', 'm2', 'm3', 'm4', 'm5']) results.push(await s.ask(text));
      assert.deepEqual(
        results.map((r) => r.status),
        ['success', 'success', 'success', 'success', 'success'],
      );
      await eventually(async () => (await s.handle.query(stateQuery)).handledCount === 5);

      const runs = await fetchAllRuns(noRouter.env.client, s.handle.workflowId);
      assert.equal(runs.length, 3, 'continued as new after m2 and after m4');
      for (const [i, { history }] of runs.entries()) {
        const failed = (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes);
        assert.deepEqual(failed, [], `run ${i + 1}: no workflow task was refused or failed`);
      }
      // The answers to m2 and m4 left with the runs that continued as new, not before.
      for (const [run, answered] of [
        [1, results[1]!],
        [2, results[3]!],
      ] as const) {
        const payload = runs[run]!.history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
        const input = JSON.parse(Buffer.from(payload ?? []).toString('utf8')) as SessionWorkflowInput;
        assert.deepEqual(
          input.carried?.unsent?.map((f) => [f.type, 'id' in f ? f.id : undefined]),
          [['function_call_result', answered.id]],
          `run ${run + 1} carries the frames of its predecessor's last answer`,
        );
      }
      assert.equal(noRouter.gateway.resultsFor(s.connectionId).length, 5, 'one result per message');
    });
  });

  describe('audit and secrets', () => {
    it('sets the UserId and DeviceId search attributes', async () => {
      const s = await noRouter.startSession({ deviceId: 'phone-1' });
      await eventually(async () => {
        const { typedSearchAttributes } = await s.handle.describe();
        return (
          typedSearchAttributes.get(userIdSearchAttribute) === s.userId && typedSearchAttributes.get(deviceIdSearchAttribute) === 'phone-1'
        );
      });
    });

    it('keeps API keys out of the whole workflow history, even when a provider echoes them', async () => {
      const userId = uniqueId('user');
      const [echoing, fine] = [uniqueModel('leaky'), uniqueModel('fine')];
      const leakyKey = randomKey();
      const fineKey = randomKey();
      const leaky = await h.createLLMConfig(userId, { model_name: echoing, api_key: leakyKey, priority: 2 });
      await h.createLLMConfig(userId, { model_name: fine, api_key: fineKey, priority: 1 });
      h.llm.otherwise(echoing, { fail: 401, echoKey: true });
      h.llm.script(ROUTER_MODEL, { toolCall: llmConfigToolName(leaky.id) });
      const s = await h.startSession({ userId, label: 'no-key-in-history' });

      const result = await s.ask('hi');
      assert.equal(result.status, 'success');
      assert.equal(h.llm.requests(echoing)[0]?.authorization, `Bearer ${leakyKey}`, 'the provider did receive the key');
      assert.match(result.fallback_from?.error ?? '', /\[redacted\]/);

      const text = historyText(await fetchAllRuns(h.env.client, s.handle.workflowId));
      assert.ok(text.includes(`[${fine}] hi`), 'payloads are searched decoded');
      for (const secret of [leakyKey, fineKey, h.ctx.config.ROUTER_LLM_API_KEY ?? 'router-key-missing']) {
        assert.ok(!text.includes(secret), 'history contains a key');
      }
    });
  });

  describe('replay', () => {
    it('replays every history recorded by this suite', async function () {
      this.timeout(300_000);
      const recorded = await labelledRuns([h, noRouter]);
      assert.ok(recorded.length >= 10);
      assert.deepEqual(await replayFailures(recorded.map((r) => r.run)), []);

      if (process.env.RECORD_HISTORIES) {
        const labelled = recorded.filter((r) => !r.name.startsWith('session'));
        writeHistoryFixtures(HISTORY_FIXTURES_DIR, labelled);
      }
    });

    it('a workflow change that breaks determinism is caught by replay', async function () {
      this.timeout(300_000);
      // Guards the replay test itself: a bundle of a different workflow must fail on our histories.
      const [first] = h.started;
      assert.ok(first);
      const runs = await fetchAllRuns(h.env.client, first.workflowId);
      const failures: string[] = [];
      const results = Worker.runReplayHistories({ workflowsPath: require.resolve('./support/nondeterministic-workflow') }, runs);
      for await (const r of results) if (r.error) failures.push(r.error.message);
      assert.equal(failures.length, runs.length);
    });
  });
});
