// The audit trail (GET /api/v1/sessions/:id/audit) read from the real session workflow's history on
// the Temporal dev server: a routed answer, a retry and a fallback, a function call, a session that
// continued as new, paging, another user's session, secrets; and the SessionStatus search attribute
// an auditor filters by.
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { ActivityFailure, ApplicationFailure, defaultDataConverter } from '@temporalio/common';
import { startApi } from '../api/server';
import type { RunningRole } from '../app/context';
import {
  closeSignal,
  noLLMConfigAnsweredText,
  sessionStatusSearchAttribute,
  userIdSearchAttribute,
  type AuditEntry,
  type StepRecord,
} from '../contract';
import { localActivityMarker } from '../lib/temporal-history';
import { llmConfigToolName } from '../routing';
import { auditRunEvents } from '../sessions/session-audit';
import { uniqueId } from './support/context';
import { eventually } from './support/eventually';
import { HISTORY_FIXTURES_DIR, readHistoryFixture, replayFailures, writeHistoryFixtures, type RecordedRun } from './support/histories';
import { createFunctionConfigRow } from './support/llm-configs';
import { labelledRuns, randomKey, ROUTER_MODEL, startSessionHarness, type SessionHarness } from './support/session-harness';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver';
import { mintToken } from '../lib/auth';

const WEBHOOK_SECRET = 'whsec_audit-test-secret-7f3a91c2e4';
const UI_URL = 'https://temporal-ui.example.test';
/** The audit of every history recorded before the step records, as it read before them (and must read on). */
const AUDIT_OF_RECORDED = path.join(HISTORY_FIXTURES_DIR, '..', 'audit-of-recorded-histories.json');

/** A run's audit as the endpoint reads it, from its events alone. */
function auditOf(run: RecordedRun): Promise<AuditEntry[]> {
  const events = run.history.events ?? [];
  const runId = events[0]?.workflowExecutionStartedEventAttributes?.originalExecutionRunId ?? 'run';
  return auditRunEvents(defaultDataConverter, { namespace: 'default', uiBaseUrl: null }, run.workflowId, runId, events);
}

/** The step records a session's history holds, per local activity (results, or the details of failures). */
async function stepRecords(h: SessionHarness, workflowId: string): Promise<{ type: string; record: StepRecord | undefined }[]> {
  const history = await h.env.client.workflow.getHandle(workflowId).fetchHistory();
  const out: { type: string; record: StepRecord | undefined }[] = [];
  for (const event of history.events ?? []) {
    const marker = await localActivityMarker(defaultDataConverter, event);
    if (!marker || marker.type === 'loadConfigs' || marker.type === 'updateSessionRecord') continue;
    const result = marker.result as { step?: StepRecord; firstAttempt?: { step?: StepRecord } } | undefined;
    const failure = marker.failure instanceof ActivityFailure ? marker.failure.cause : marker.failure;
    const details = failure instanceof ApplicationFailure ? failure.details : undefined;
    const record = result?.step ?? result?.firstAttempt?.step ?? (details?.at(-1) as StepRecord | undefined);
    out.push({ type: marker.type, record });
  }
  return out;
}

interface Page {
  status: number;
  entries: AuditEntry[];
  next_cursor: string | null;
  text: string;
}

describe('session audit trail', function () {
  this.timeout(120_000);
  let h: SessionHarness;
  let api: RunningRole;
  let hook: WebhookReceiver;

  before(async () => {
    h = await startSessionHarness({ env: { TEMPORAL_UI_URL: UI_URL } });
    api = await startApi(h.ctx, { host: '127.0.0.1', port: 0 });
    hook = await startWebhookReceiver(WEBHOOK_SECRET);
  });

  after(async () => {
    await api?.close();
    await h?.close();
    await hook?.close();
  });

  async function audit(userId: string, sessionId: string, query = ''): Promise<Page> {
    const token = await mintToken(h.ctx.secrets.jwtSecret!, userId);
    const response = await fetch(`${api.urls.base}/api/v1/sessions/${sessionId}/audit${query}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const text = await response.text();
    const body = JSON.parse(text) as { data: AuditEntry[]; next_cursor: string | null };
    return { status: response.status, entries: body.data, next_cursor: body.next_cursor, text };
  }

  /** The audit of a session once `count` messages are in it with a final status (the session row is written by the workflow). */
  function auditOnce(userId: string, sessionId: string, count: number): Promise<Page> {
    return eventually(async () => {
      const page = await audit(userId, sessionId, '?limit=100');
      return page.status === 200 && page.entries.length === count && page.entries.every((e) => e.status !== 'in_progress') ? page : false;
    });
  }

  it('records a routed answer: offered tools, the choice, the config that answered, timings, the run and its UI link', async () => {
    const userId = uniqueId('user');
    const key = randomKey();
    const main = await h.createLLMConfig(userId, { model_name: uniqueId('main'), priority: 2, api_key: key });
    const other = await h.createLLMConfig(userId, { model_name: uniqueId('other'), priority: 1 });
    const s = await h.startSession({ userId, label: 'audit-steps-routed' });
    h.llm.script(ROUTER_MODEL, { toolCall: llmConfigToolName(main.id), arguments: { question: 'what is 2+2?' } });
    const id = await s.send('what is 2+2?');
    const result = await h.gateway.waitForResult(s.connectionId, id);
    assert.equal(result.status, 'success', result.error);

    const page = await auditOnce(userId, s.sessionId, 1);
    const [entry] = page.entries;
    assert.equal(entry!.message_id, id);
    assert.equal(entry!.text, 'what is 2+2?');
    assert.equal(entry!.offered_source, 'recorded');
    const tools = entry!.offered.map((o) => o.tool);
    assert.ok(tools.includes(llmConfigToolName(main.id)) && tools.includes(llmConfigToolName(other.id)), tools.join());
    assert.ok(tools.includes('get_time'), 'enabled built-ins are offered to the router LLM');
    assert.equal(entry!.offered.find((o) => o.config_id === main.id)?.config_name, main.config_name);
    assert.equal(entry!.chosen, llmConfigToolName(main.id));
    assert.equal(entry!.routed_by, 'router_llm');
    assert.deepEqual(entry!.executed_by, { config_id: main.id, config_name: main.config_name });
    assert.equal(entry!.status, 'success');
    assert.equal(entry!.answer, result.result);
    assert.equal(entry!.attempts.length, 1);
    assert.equal(entry!.attempts[0]!.step, 'first_attempt');
    assert.equal(typeof entry!.timings.routing_ms, 'number');
    assert.equal(typeof entry!.timings.step_ms, 'number');
    assert.equal(entry!.workflow_id, s.handle.workflowId);
    assert.equal(entry!.run_id, s.handle.firstExecutionRunId);
    assert.equal(
      entry!.temporal_ui_url,
      `${UI_URL}/namespaces/default/workflows/${encodeURIComponent(s.handle.workflowId)}/${s.handle.firstExecutionRunId}/history`,
    );
    assert.ok(!page.text.includes(key), 'no API key in the audit trail');
    assert.ok(!page.text.includes(h.ctx.config.ROUTER_LLM_API_KEY!), 'no router key in the audit trail');

    // Another user's session is a 404, exactly like a missing one.
    const stranger = await audit(uniqueId('mallory'), s.sessionId);
    const missing = await audit(userId, 'no-such-session');
    assert.equal(stranger.status, 404);
    assert.equal(missing.status, 404);
    assert.equal(stranger.text.replace(/"request_id":"[^"]*"/, ''), missing.text.replace(/"request_id":"[^"]*"/, ''));
  });

  it('records a retry and a fallback with their errors and attempts', async () => {
    const userId = uniqueId('user');
    const [broken, second] = [uniqueId('broken'), uniqueId('second')];
    const brokenCfg = await h.createLLMConfig(userId, { model_name: broken, priority: 3 });
    const secondCfg = await h.createLLMConfig(userId, { model_name: second, priority: 2 });
    h.llm.otherwise(broken, { fail: 500 });
    h.llm.script(ROUTER_MODEL, { toolCall: llmConfigToolName(brokenCfg.id) });
    const s = await h.startSession({ userId, tuning: { llmMaxAttempts: 3 }, label: 'audit-steps-fallback' });
    const result = await s.ask('anything');
    assert.equal(result.config_id, secondCfg.id);

    const [entry] = (await auditOnce(userId, s.sessionId, 1)).entries;
    assert.deepEqual(
      entry!.attempts.map((a) => [a.step, a.config_id, a.status, a.tries]),
      [
        ['first_attempt', brokenCfg.id, 'failed', 1],
        ['retry', brokenCfg.id, 'failed', 2],
        ['fallback', secondCfg.id, 'success', 1],
      ],
    );
    assert.match(entry!.attempts[1]!.error ?? '', /HTTP 500/);
    // History records each step (a failed one in its failure's details): the audit reads them, it works nothing out.
    assert.deepEqual(
      (await stepRecords(h, s.handle.workflowId)).map(({ type, record }) => [
        type,
        record?.configId,
        record?.kind,
        record?.attempt,
        record?.outcome,
        record?.last,
      ]),
      [
        ['answerMessage', brokenCfg.id, 'first_attempt', 1, 'failed', false],
        ['executeLLMConfig', brokenCfg.id, 'retry', 2, 'failed', false],
        ['executeLLMConfig', secondCfg.id, 'fallback', 1, 'success', true],
      ],
    );
    assert.equal(entry!.status, 'success');
    assert.deepEqual(entry!.executed_by, { config_id: secondCfg.id, config_name: secondCfg.config_name });
    assert.equal(entry!.fallback_from?.config_id, brokenCfg.id);
    assert.equal(entry!.fallback_from?.error, result.fallback_from?.error);
    assert.equal(entry!.answer, result.result);
    assert.ok(entry!.attempts.every((a) => typeof a.duration_ms === 'number'));
  });

  it('records a message that failed for good as failed, with the text the client got, while the session stays open', async () => {
    const userId = uniqueId('user');
    const only = await h.createLLMConfig(userId, { model_name: uniqueId('refused') });
    h.llm.otherwise(only.model_name!, { fail: 401 });
    h.llm.script(ROUTER_MODEL, { toolCall: llmConfigToolName(only.id) });
    const s = await h.startSession({ userId, label: 'audit-steps-failed' });
    const result = await s.ask('anything');
    assert.equal(result.status, 'failed');

    const [entry] = (await auditOnce(userId, s.sessionId, 1)).entries;
    assert.equal(entry!.status, 'failed');
    assert.equal(entry!.error, result.error);
    assert.equal(entry!.error, noLLMConfigAnsweredText([{ configName: only.config_name, error: entry!.attempts[0]!.error }]));
    assert.deepEqual(
      entry!.attempts.map((a) => [a.step, a.config_id, a.config_name, a.status, a.tries]),
      [['first_attempt', only.id, only.config_name, 'failed', 1]],
    );
  });

  it('records a function call: the function offered and chosen, its arguments, a retried 500', async () => {
    const userId = uniqueId('user');
    await h.createLLMConfig(userId, { model_name: uniqueId('chat') });
    const fn = await createFunctionConfigRow(h.ctx, userId, {
      config_name: 'Orders',
      description: 'Delivery status of a shop order by its order number',
      function_name: 'order_status',
      parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
      webhook_url: hook.url,
      webhook_secret: WEBHOOK_SECRET,
    });
    const s = await h.startSession({
      userId,
      tuning: { functionMaxAttempts: 2, functionTimeout: '5 seconds', retryInitialInterval: '100 milliseconds' },
      label: 'audit-steps-function',
    });
    hook.script({ status: 500, text: 'database down' }, { status: 200, json: { result: 'Order A-17 ships tomorrow' } });
    h.llm.script(ROUTER_MODEL, { toolCall: 'order_status', arguments: { order_id: 'A-17' } });
    const result = await s.ask('where is my order A-17?');
    assert.equal(result.status, 'success', result.error);

    const page = await auditOnce(userId, s.sessionId, 1);
    const [entry] = page.entries;
    assert.ok(entry!.offered.some((o) => o.tool === 'order_status' && o.kind === 'function' && o.config_id === fn.id));
    assert.equal(entry!.chosen, 'order_status');
    assert.deepEqual((entry!.routing as { arguments?: unknown }).arguments, { order_id: 'A-17' });
    assert.deepEqual(
      entry!.attempts.map((a) => [a.step, a.config_id, a.status]),
      [
        ['first_attempt', fn.id, 'failed'],
        ['retry', fn.id, 'success'],
      ],
    );
    assert.equal(entry!.answer, 'Order A-17 ships tomorrow');
    assert.deepEqual(entry!.executed_by, { config_id: fn.id, config_name: 'Orders' });
    assert.ok(!page.text.includes(WEBHOOK_SECRET), 'no webhook secret in the audit trail');
  });

  it('reads every run across continue-as-new, a page at a time', async () => {
    const userId = uniqueId('user');
    await h.createLLMConfig(userId, { model_name: uniqueId('chat') });
    const s = await h.startSession({ userId, tuning: { continueAsNewAfter: 2 }, label: 'audit-steps-continue-as-new' });
    h.llm.otherwise(ROUTER_MODEL, { reply: 'Hello!' });
    const ids: string[] = [];
    for (const text of ['one', 'two', 'three']) {
      const id = await s.send(text);
      ids.push(id);
      await h.gateway.waitForResult(s.connectionId, id);
    }
    const all = await auditOnce(userId, s.sessionId, 3);
    assert.deepEqual(
      all.entries.map((e) => e.message_id),
      ids,
    );
    assert.equal(all.entries[0]!.run_id, s.handle.firstExecutionRunId);
    assert.notEqual(all.entries[2]!.run_id, s.handle.firstExecutionRunId, 'the third message is in the second run');
    assert.ok(all.entries.every((e) => e.chosen === 'direct_answer' && e.answer === 'Hello!'));

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await audit(userId, s.sessionId, `?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.status, 200);
      seen.push(...page.entries.map((e) => e.message_id!));
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor && pages < 10);
    assert.deepEqual(seen, ids, 'pages neither skip nor repeat');
    assert.equal((await audit(userId, s.sessionId, '?cursor=bm90LWEtY3Vyc29y')).status, 400);
  });

  it('sets SessionStatus: active while open, closed after; found with the query an auditor types', async () => {
    const userId = uniqueId('user');
    await h.createLLMConfig(userId, { model_name: uniqueId('chat') });
    const s = await h.startSession({ userId, label: 'session-status' });
    const query = `UserId = "${userId}" AND SessionStatus = "active"`;
    await eventually(async () => {
      const found = [];
      for await (const w of h.env.client.workflow.list({ query })) found.push(w.workflowId);
      return found.length === 1 && found[0] === s.handle.workflowId;
    });
    await s.handle.signal(closeSignal, { reason: 'test' });
    await s.handle.result();
    const { typedSearchAttributes } = await s.handle.describe();
    assert.equal(typedSearchAttributes.get(sessionStatusSearchAttribute), 'closed');
    assert.equal(typedSearchAttributes.get(userIdSearchAttribute), userId);
    await eventually(async () => {
      for await (const w of h.env.client.workflow.list({ query: `UserId = "${userId}" AND SessionStatus = "closed"` })) {
        return w.workflowId === s.handle.workflowId;
      }
      return false;
    });
  });

  it('reads histories recorded before the audit trail (offered derived from the cached configs)', async () => {
    const [entry] = await auditOf(readHistoryFixture(HISTORY_FIXTURES_DIR, 'v2-fallback-500.json'));
    assert.equal(entry!.offered_source, 'derived');
    assert.equal(entry!.offered.filter((o) => o.kind === 'llm_config').length, 3);
    assert.deepEqual(
      entry!.attempts.map((a) => [a.step, a.status]),
      [
        ['first_attempt', 'failed'],
        ['retry', 'failed'],
        ['fallback', 'success'],
      ],
    );
    assert.equal(entry!.status, 'success');
    assert.ok(entry!.fallback_from);
    assert.equal(entry!.temporal_ui_url, null);
  });

  it('reads every history recorded before the step records as it did then (LEGACY path)', async () => {
    const expected = JSON.parse(readFileSync(AUDIT_OF_RECORDED, 'utf8')) as Record<string, AuditEntry[]>;
    assert.ok(Object.keys(expected).length >= 30);
    for (const [file, entries] of Object.entries(expected)) {
      assert.deepEqual(await auditOf(readHistoryFixture(HISTORY_FIXTURES_DIR, file)), entries, file);
    }
  });

  it('replays every history recorded here (and records them as fixtures with RECORD_HISTORIES=1)', async () => {
    const runs = await labelledRuns([h]);
    assert.deepEqual(await replayFailures(runs.map(({ run }) => run)), []);
    if (process.env.RECORD_HISTORIES === '1') writeHistoryFixtures(HISTORY_FIXTURES_DIR, runs);
  });
});
