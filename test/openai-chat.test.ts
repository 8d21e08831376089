// POST /v1/chat/completions (issue 17) with the real openai npm SDK against the real API (its app on
// an ephemeral port), the real session worker on the shared Temporal dev server, the run's
// PostgreSQL, and the scripted provider (support/fake-llm.ts) as the only stand-in. Every request
// is a message of a session workflow; its histories are replayed (and recorded as fixtures with
// RECORD_HISTORIES=1).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { createApiFromContext, noopNotifier } from '../api/server';
import type { RunningRole } from '../app/context';
import { relayAddressFor, sessionWorkflowId, transcriptQuery } from '../contract';
import { chatIdempotency, createApiKey } from '../db';
import { runDatabaseUrlOnce } from './support/database';
import { eventually } from './support/eventually';
import { registerApiKey } from './support/secret-scan';
import { newSessionId, startSession } from '../sessions/session-store';
import { idempotencyHash } from '../sessions/chat-completions';
import { startWorker } from '../worker';
import { createTestContext, uniqueId, type TestContext } from './support/context';
import { startFakeLLM, type FakeLLM } from './support/fake-llm';
import { fetchAllRuns, HISTORY_FIXTURES_DIR, replayFailures, writeHistoryFixtures, type RecordedRun } from './support/histories';
import { createLLMConfigRow } from './support/llm-configs';
import { recordResponse } from './support/secret-scan';
import { testTemporal } from './support/temporal';
import { killHard, spawnWorkerProcess } from './support/spawn-ready';

interface Switchboard {
  session_id: string;
  message_id: string;
  config_id: number;
  config_name: string;
  routed_by: string | null;
}

type WithSwitchboard<T> = T & { switchboard: Switchboard };

describe('POST /v1/chat/completions', function () {
  this.timeout(180_000);
  let tc: TestContext;
  let llm: FakeLLM;
  let worker: RunningRole;
  let server: http.Server;
  let closeApp: () => Promise<void>;
  let base: string;
  /** Sessions to replay at the end, by fixture label. */
  const recorded: { label: string; userId: string; sessionId: string }[] = [];

  before(async () => {
    tc = await createTestContext({ env: { EGRESS_ALLOW: '127.0.0.0/8' } });
    llm = await startFakeLLM();
    worker = await startWorker(tc.ctx, { connection: (await testTemporal()).nativeConnection });
    const app = createApiFromContext(tc.ctx, noopNotifier);
    closeApp = app.closeServices;
    server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => {
      server?.close(() => resolve());
      server?.closeAllConnections();
    });
    await closeApp?.();
    await worker?.close();
    await llm?.close();
    await tc?.close();
  });

  /** The API app on an ephemeral port (a second one acts as another replica). */
  async function serve(context: TestContext): Promise<{ url: string; close(): Promise<void> }> {
    const app = createApiFromContext(context.ctx, noopNotifier);
    const s = http.createServer(app.callback());
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
      async close() {
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        });
        await app.closeServices();
      },
    };
  }

  async function client(userId: string): Promise<OpenAI> {
    return new OpenAI({ baseURL: `${base}/v1`, apiKey: await tc.token(userId), maxRetries: 0 });
  }

  /** A user with LLM configs answered by the fake provider, each named after its (unique) model. */
  async function newUser(configs: { name: string; system_prompt?: string; priority?: number; is_active?: boolean }[]) {
    const userId = uniqueId('oai');
    const names: Record<string, { id: number; model: string }> = {};
    for (const c of configs) {
      const model = uniqueId(c.name);
      const { config } = await createLLMConfigRow(tc.ctx, userId, {
        config_name: c.name,
        model_name: model,
        base_url: llm.baseUrl,
        description: `Answers questions with ${c.name}`,
        priority: c.priority ?? 0,
        is_active: c.is_active ?? true,
        ...(c.system_prompt ? { system_prompt: c.system_prompt } : {}),
      });
      names[c.name] = { id: config.id, model };
    }
    return { userId, configs: names, openai: await client(userId) };
  }

  /** A raw request (headers and body as they come). */
  async function raw(userId: string, body: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tc.token(userId)}`, ...headers },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    recordResponse(text);
    return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any -- asserted field by field
  }

  it('model "auto" routes like a socket message and answers in OpenAI shape with the switchboard object and headers', async () => {
    const u = await newUser([{ name: 'helper' }]);
    const { data, response } = await u.openai.chat.completions
      .create({ model: 'auto', messages: [{ role: 'user', content: 'hello there' }] })
      .withResponse();
    const completion = data as WithSwitchboard<typeof data>;
    assert.equal(completion.object, 'chat.completion');
    assert.match(completion.id, /^chatcmpl-/);
    assert.equal(completion.model, 'helper');
    assert.equal(completion.choices[0]!.message.content, `[${u.configs.helper!.model}] hello there`);
    assert.equal(completion.choices[0]!.finish_reason, 'stop');
    assert.deepEqual(completion.usage, { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 });
    assert.equal(completion.switchboard.config_id, u.configs.helper!.id);
    assert.equal(completion.switchboard.config_name, 'helper');
    assert.equal(completion.switchboard.message_id, completion.id);
    assert.ok(['similarity', 'fallback'].includes(completion.switchboard.routed_by ?? ''));
    assert.equal(response.headers.get('x-switchboard-session-id'), completion.switchboard.session_id);
    assert.equal(response.headers.get('x-switchboard-message-id'), completion.id);
    recorded.push({ label: 'openai-chat-auto', userId: u.userId, sessionId: completion.switchboard.session_id });
    // A one-message session: closed by the request once answered, its transcript holds the question.
    const row = await tc.ctx.db.models.UserSessionConfig.findOne({
      where: { user_id: u.userId, session_id: completion.switchboard.session_id },
    });
    assert.ok(row);
    const handle = tc.ctx.temporal!.client.workflow.getHandle(sessionWorkflowId(u.userId, completion.switchboard.session_id));
    assert.equal(((await handle.result()) as { status: string }).status, 'closed');
  });

  it('a named config answers with the request as its whole context: system message added, overrides applied', async () => {
    const u = await newUser([
      { name: 'first', priority: 10 },
      { name: 'writer', system_prompt: 'You write tersely.' },
    ]);
    const completion = (await u.openai.chat.completions.create({
      model: 'writer',
      messages: [
        { role: 'system', content: 'Answer in French.' },
        { role: 'user', content: 'earlier question' },
        { role: 'assistant', content: 'earlier answer' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'now ' },
            { type: 'text', text: 'this' },
          ],
        },
      ],
      temperature: 0.25,
      max_completion_tokens: 77,
      stop: ['END'],
      user: 'someone',
      presence_penalty: 0.5,
      n: 1,
    })) as WithSwitchboard<OpenAI.Chat.Completions.ChatCompletion>;
    assert.equal(completion.model, 'writer');
    assert.equal(completion.switchboard.routed_by, 'named');
    assert.equal(completion.choices[0]!.message.content, `[${u.configs.writer!.model}] now this`);
    assert.equal(llm.hits(u.configs.first!.model), 0);
    const sent = llm.requests(u.configs.writer!.model)[0]!.body;
    assert.deepEqual(
      sent.messages.map((m) => [m.role, m.content]),
      [
        ['system', 'You write tersely.'],
        ['system', 'Answer in French.'],
        ['user', 'earlier question'],
        ['assistant', 'earlier answer'],
        ['user', 'now this'],
      ],
    );
    assert.equal(sent.temperature, 0.25);
    assert.equal(sent.max_tokens, 77);
    assert.deepEqual(sent.stop, ['END']);
    recorded.push({ label: 'openai-chat-named', userId: u.userId, sessionId: completion.switchboard.session_id });
  });

  it('a named config that fails is retried, never replaced by another config: a 502 in OpenAI shape', async () => {
    const u = await newUser([{ name: 'flaky' }, { name: 'other', priority: 10 }]);
    llm.otherwise(u.configs.flaky!.model, { fail: 500 });
    await assert.rejects(
      u.openai.chat.completions.create({ model: 'flaky', messages: [{ role: 'user', content: 'hi' }] }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.APIError);
        assert.equal(error.status, 502);
        assert.equal(error.type, 'api_error');
        assert.equal(error.code, 'provider_failed');
        return true;
      },
    );
    assert.equal(llm.hits(u.configs.flaky!.model), 3, 'the config with its retries');
    assert.equal(llm.hits(u.configs.other!.model), 0, 'no fallback to another config');
  });

  it('streams chunks from the deltas: the first before the provider finishes, usage and switchboard on the last, then [DONE]', async () => {
    const u = await newUser([{ name: 'streamer' }]);
    const pieces = ['The answer ', 'comes in ', 'several pieces, ', 'slowly enough ', 'to be seen streaming.'];
    llm.script(u.configs.streamer!.model, { pieces, pieceDelayMs: 250 });
    const started = Date.now();
    const stream = await u.openai.chat.completions.create({
      model: 'streamer',
      messages: [{ role: 'user', content: 'stream it' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    let firstTextAt = 0;
    for await (const chunk of stream) {
      if (!firstTextAt && chunk.choices[0]?.delta?.content) firstTextAt = Date.now();
      chunks.push(chunk);
    }
    const total = Date.now() - started;
    assert.ok(firstTextAt - started < 250 * pieces.length - 200, `first text after ${firstTextAt - started} ms of ${total}`);
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), pieces.join(''));
    assert.ok(chunks.filter((c) => c.choices[0]?.delta?.content).length >= 2, 'several text chunks');
    const last = chunks.at(-1) as WithSwitchboard<OpenAI.Chat.Completions.ChatCompletionChunk>;
    assert.deepEqual(last.choices, []);
    assert.deepEqual(
      last.usage,
      { prompt_tokens: 1, completion_tokens: pieces.length, total_tokens: 1 + pieces.length },
      'usage on the last chunk',
    );
    assert.equal(last.switchboard.config_name, 'streamer');
    assert.equal(last.model, 'streamer');
    assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'stop');
    for (const chunk of chunks) assert.equal(chunk.object, 'chat.completion.chunk');
    recorded.push({ label: 'openai-chat-stream', userId: u.userId, sessionId: last.switchboard.session_id });

    // On the wire: event-stream, the ids in the headers, and data: [DONE] at the end.
    // model "auto": the routing step's own first attempt streams the same way.
    llm.script(u.configs.streamer!.model, { pieces, pieceDelayMs: 100 });
    const wire = await raw(u.userId, { model: 'auto', messages: [{ role: 'user', content: 'again' }], stream: true });
    assert.equal(wire.status, 200);
    assert.match(wire.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.match(wire.headers.get('x-switchboard-message-id') ?? '', /^chatcmpl-/);
    assert.ok(wire.text.trimEnd().endsWith('data: [DONE]'));
    const events = wire.text.split('\n\n').filter((e) => e.startsWith('data: {'));
    const final = JSON.parse(events.at(-1)!.slice(6)) as WithSwitchboard<OpenAI.Chat.Completions.ChatCompletionChunk>;
    assert.equal(final.choices[0]!.finish_reason, 'stop');
    assert.equal(final.switchboard.message_id, wire.headers.get('x-switchboard-message-id'));
    const contents = events.map(
      (e) => (JSON.parse(e.slice(6)) as OpenAI.Chat.Completions.ChatCompletionChunk).choices[0]?.delta?.content ?? '',
    );
    assert.equal(contents.join(''), pieces.join(''));
    assert.ok(contents.filter(Boolean).length >= 2, 'streamed in several chunks');
    assert.equal(final.model, 'streamer');
  });

  it('client tools go to a named config and its tool_calls come back in OpenAI shape; tool messages pass back', async () => {
    const u = await newUser([{ name: 'agent' }]);
    const model = u.configs.agent!.model;
    llm.script(model, { toolCall: 'get_weather', arguments: { city: 'Paris' } });
    const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Weather of a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      },
    ];
    const first = await u.openai.chat.completions.create({
      model: 'agent',
      messages: [{ role: 'user', content: 'weather in Paris?' }],
      tools,
      tool_choice: 'auto',
    });
    const call = first.choices[0]!.message.tool_calls?.[0];
    assert.equal(first.choices[0]!.finish_reason, 'tool_calls');
    assert.equal(first.choices[0]!.message.content, null);
    assert.ok(call && call.type === 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    const sentTools = llm.requests(model)[0]!.body;
    assert.deepEqual(
      sentTools.tools?.map((t) => t.function.name),
      ['get_weather'],
    );
    assert.equal(sentTools.tool_choice, 'auto');

    llm.script(model, { reply: 'It is sunny in Paris.' });
    const second = (await u.openai.chat.completions.create({
      model: 'agent',
      tools,
      messages: [
        { role: 'user', content: 'weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: '{"sky": "sunny"}' },
      ],
    })) as WithSwitchboard<OpenAI.Chat.Completions.ChatCompletion>;
    assert.equal(second.choices[0]!.message.content, 'It is sunny in Paris.');
    const passed = llm.requests(model)[1]!.body.messages;
    assert.equal(passed[1]!.role, 'assistant');
    assert.equal((passed[1]!.tool_calls as { id: string }[])[0]!.id, call.id);
    assert.deepEqual([passed[2]!.role, passed[2]!.tool_call_id, passed[2]!.content], ['tool', call.id, '{"sky": "sunny"}']);
    recorded.push({ label: 'openai-chat-tools', userId: u.userId, sessionId: second.switchboard.session_id });
    // Streamed: the provider's tool call, streamed in pieces, comes back as a tool_calls chunk.
    llm.script(model, { toolCall: 'get_weather', arguments: { city: 'Lyon' } });
    const stream = await u.openai.chat.completions.create({
      model: 'agent',
      messages: [{ role: 'user', content: 'weather in Lyon?' }],
      tools,
      stream: true,
    });
    const streamedCalls: OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      streamedCalls.push(...(chunk.choices[0]?.delta?.tool_calls ?? []));
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(finish, 'tool_calls');
    assert.equal(streamedCalls.length, 1);
    assert.equal(streamedCalls[0]!.function?.name, 'get_weather');
    assert.deepEqual(JSON.parse(streamedCalls[0]!.function?.arguments ?? ''), { city: 'Lyon' });
    assert.equal(llm.requests(model).at(-1)!.body.stream, true);
  });

  describe('errors in OpenAI shape', () => {
    it('401, 404 model_not_found, 400 naming the parameter; unknown parameters are accepted', async () => {
      const u = await newUser([{ name: 'plain' }, { name: 'sleeping', is_active: false }]);
      const bad = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sb-not-a-real-key', maxRetries: 0 });
      await assert.rejects(
        bad.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'x' }] }),
        OpenAI.AuthenticationError,
      );
      for (const model of ['nope', 'sleeping']) {
        await assert.rejects(u.openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }), (error: unknown) => {
          assert.ok(error instanceof OpenAI.NotFoundError);
          assert.equal(error.code, 'model_not_found');
          assert.equal(error.type, 'not_found_error');
          return true;
        });
      }
      const cases: [Record<string, unknown>, string][] = [
        [{ model: 'auto', messages: [{ role: 'user', content: 'x' }], n: 2 }, 'n'],
        [
          {
            model: 'auto',
            messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }],
          },
          'messages',
        ],
        [
          { model: 'auto', messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }] },
          'messages',
        ],
        [{ model: 'auto', messages: [] }, 'messages'],
        [{ model: 'auto', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools'],
        [{ model: 'auto', messages: [{ role: 'user', content: 'x' }], temperature: 9 }, 'temperature'],
        [{ messages: [{ role: 'user', content: 'x' }] }, 'model'],
      ];
      for (const [body, param] of cases) {
        const refused = await raw(u.userId, body);
        assert.equal(refused.status, 400, refused.text);
        const error = refused.json().error;
        assert.equal(error.type, 'invalid_request_error');
        assert.equal(error.param, param, refused.text);
      }
      const ignored = await raw(u.userId, {
        model: 'plain',
        messages: [{ role: 'user', content: 'ok' }],
        n: 1,
        user: 'u-1',
        presence_penalty: 1,
        logit_bias: {},
        seed: 3,
      });
      assert.equal(ignored.status, 200, ignored.text);
    });

    it('takes bodies up to 1 MiB (a long context reaches the provider), refuses larger ones with 413; the route is in the OpenAPI document', async () => {
      const u = await newUser([{ name: 'roomy' }]);
      const turn = 'x'.repeat(100 * 1024);
      const history = Array.from({ length: 8 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: turn }));
      const long = await raw(u.userId, { model: 'roomy', messages: [...history, { role: 'user', content: 'and now?' }] });
      assert.equal(long.status, 200, long.text.slice(0, 300));
      assert.equal(llm.requests(u.configs.roomy!.model)[0]!.body.messages.length, 9);
      // One long question: the signal holds it once (the message's text is its head), within the payload bounds.
      const question = 'q'.repeat(1000 * 1000);
      const single = await raw(u.userId, { model: 'roomy', messages: [{ role: 'user', content: question }] });
      assert.equal(single.status, 200, single.text.slice(0, 300));
      assert.equal(llm.requests(u.configs.roomy!.model).at(-1)!.body.messages[0]!.content, question, 'the provider gets it whole');
      // The answer is bounded like every answer (ARCHITECTURE.md §5: 64 KiB, cut with a note).
      assert.match(single.json().choices[0].message.content, /\n\[answer cut at 65536 characters\]$/);
      const tooLong = await raw(u.userId, { model: 'roomy', messages: [{ role: 'user', content: 'y'.repeat(1024 * 1024) }] });
      assert.equal(tooLong.status, 413);
      const document = (await (await fetch(`${base}/openapi.json`)).json()) as {
        paths: Record<string, Record<string, { operationId?: string }>>;
      };
      assert.equal(document.paths['/v1/chat/completions']?.post?.operationId, 'createChatCompletion');
    });

    it("a provider's 429 is a 429 with Retry-After; its 400 passes through with its code", async () => {
      const u = await newUser([{ name: 'limited' }, { name: 'small' }]);
      llm.otherwise(u.configs.limited!.model, { fail: 429, retryAfterSeconds: 2 });
      const limited = await raw(u.userId, { model: 'limited', messages: [{ role: 'user', content: 'x' }] });
      assert.equal(limited.status, 429, limited.text);
      assert.equal(limited.headers.get('retry-after'), '2', "the provider's Retry-After");
      assert.equal(limited.json().error.type, 'rate_limit_error');
      llm.script(u.configs.small!.model, { fail: 400, code: 'context_length_exceeded', message: 'too long' });
      await assert.rejects(
        u.openai.chat.completions.create({ model: 'small', messages: [{ role: 'user', content: 'x' }] }),
        (error: unknown) => {
          assert.ok(error instanceof OpenAI.BadRequestError);
          assert.equal(error.code, 'context_length_exceeded');
          return true;
        },
      );
      assert.equal(llm.hits(u.configs.small!.model), 1, 'a refused request is not tried again');
    });
  });

  describe('sessions', () => {
    async function openSession(userId: string): Promise<string> {
      const sessionId = newSessionId();
      await startSession(tc.ctx, { userId, sessionId, deviceId: null, first: { relayAddress: relayAddressFor('nowhere', uniqueId('c')) } });
      return sessionId;
    }

    it('X-Session-Id: answered in that session, in order with its other requests; an unknown one is a 404', async () => {
      const u = await newUser([{ name: 'ordered' }]);
      const model = u.configs.ordered!.model;
      llm.script(model, { echo: true, delayMs: 1500 });
      const sessionId = await openSession(u.userId);
      const finished: string[] = [];
      const ask = (text: string) =>
        u.openai.chat.completions
          .create({ model: 'ordered', messages: [{ role: 'user', content: text }] }, { headers: { 'X-Session-Id': sessionId } })
          .then((c) => {
            finished.push(text);
            return c as WithSwitchboard<typeof c>;
          });
      const slow = ask('first');
      await llm.waitForHits(model, 1);
      const fast = await ask('second');
      const first = await slow;
      assert.deepEqual(finished, ['first', 'second']);
      assert.equal(first.switchboard.session_id, sessionId);
      assert.equal(fast.switchboard.session_id, sessionId);
      // The request's messages are the whole context: the session's transcript is not added.
      assert.deepEqual(
        llm.requests(model)[1]!.body.messages.map((m) => m.content),
        ['second'],
      );
      const handle = tc.ctx.temporal!.client.workflow.getHandle(sessionWorkflowId(u.userId, sessionId));
      assert.deepEqual(
        (await handle.query(transcriptQuery)).map((e) => e.text),
        ['first', 'second'],
      );
      recorded.push({ label: 'openai-chat-session', userId: u.userId, sessionId });

      await assert.rejects(
        u.openai.chat.completions.create(
          { model: 'ordered', messages: [{ role: 'user', content: 'x' }] },
          { headers: { 'X-Session-Id': 'no-such-session' } },
        ),
        OpenAI.NotFoundError,
      );
    });

    it('without X-Session-Id, parallel requests are sessions of their own and never queue behind each other', async () => {
      const u = await newUser([{ name: 'parallel' }]);
      llm.otherwise(u.configs.parallel!.model, { echo: true, delayMs: 1500 });
      const started = Date.now();
      const answers = (await Promise.all(
        ['one', 'two', 'three'].map((text) =>
          u.openai.chat.completions.create({ model: 'parallel', messages: [{ role: 'user', content: text }] }),
        ),
      )) as WithSwitchboard<OpenAI.Chat.Completions.ChatCompletion>[];
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 2 * 1500, `three 1.5 s answers took ${elapsed} ms together`);
      assert.equal(new Set(answers.map((a) => a.switchboard.session_id)).size, 3);
      assert.deepEqual(
        answers.map((a) => a.choices[0]!.message.content),
        ['one', 'two', 'three'].map((t) => `[${u.configs.parallel!.model}] ${t}`),
      );
    });

    it("isolates users: another user's session and config names are 404s", async () => {
      const a = await newUser([{ name: 'mine' }]);
      const b = await newUser([{ name: 'theirs' }]);
      const sessionId = await openSession(a.userId);
      await assert.rejects(
        b.openai.chat.completions.create(
          { model: 'theirs', messages: [{ role: 'user', content: 'x' }] },
          { headers: { 'X-Session-Id': sessionId } },
        ),
        OpenAI.NotFoundError,
      );
      await assert.rejects(
        b.openai.chat.completions.create({ model: 'mine', messages: [{ role: 'user', content: 'x' }] }),
        OpenAI.NotFoundError,
      );
      assert.equal(llm.hits(a.configs.mine!.model), 0);
    });
  });

  describe('Idempotency-Key', () => {
    it('a retry gets the recorded answer with one provider call; a concurrent retry waits for it; another body is a 422', async () => {
      const u = await newUser([{ name: 'once' }]);
      const model = u.configs.once!.model;
      const body = { model: 'once', messages: [{ role: 'user', content: 'exactly once' }] };
      const key = uniqueId('key');
      const first = await raw(u.userId, body, { 'Idempotency-Key': key });
      assert.equal(first.status, 200, first.text);
      const again = await raw(u.userId, body, { 'Idempotency-Key': key });
      assert.equal(again.status, 200);
      assert.deepEqual(again.json(), first.json());
      assert.equal(again.headers.get('x-switchboard-message-id'), first.json().id);
      assert.equal(llm.hits(model), 1);

      const conflict = await raw(
        u.userId,
        { ...body, messages: [{ role: 'user', content: 'something else' }] },
        { 'Idempotency-Key': key },
      );
      assert.equal(conflict.status, 422, conflict.text);
      assert.equal(conflict.json().error.param, 'Idempotency-Key');

      llm.script(model, { echo: true, delayMs: 1500 });
      const slowKey = uniqueId('key');
      const slowBody = { model: 'once', messages: [{ role: 'user', content: 'slow and once' }] };
      const [a, b] = await Promise.all([
        raw(u.userId, slowBody, { 'Idempotency-Key': slowKey }),
        new Promise((r) => setTimeout(r, 300)).then(() => raw(u.userId, slowBody, { 'Idempotency-Key': slowKey })),
      ]);
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.deepEqual(b.json(), a.json());
      assert.equal(llm.hits(model), 2, 'one more provider call for the second key, none for its retry');

      // A streamed retry of a recorded answer streams it whole.
      const streamKey = uniqueId('key');
      const streamBody = { ...body, stream: true };
      const streamed = await raw(u.userId, streamBody, { 'Idempotency-Key': streamKey });
      const replayed = await raw(u.userId, streamBody, { 'Idempotency-Key': streamKey });
      const text = (wire: string) =>
        wire
          .split('\n\n')
          .filter((e) => e.startsWith('data: {'))
          .map((e) => (JSON.parse(e.slice(6)) as OpenAI.Chat.Completions.ChatCompletionChunk).choices[0]?.delta?.content ?? '')
          .join('');
      assert.equal(text(replayed.text), text(streamed.text));
      assert.ok(replayed.text.trimEnd().endsWith('data: [DONE]'));
      assert.equal(llm.hits(model), 3);
    });
  });

  describe('Idempotency-Key across two API replicas', () => {
    let other: TestContext;
    let replica: { url: string; close(): Promise<void> };
    before(async () => {
      // Another API replica: its own context (JWT secret, pools, relay endpoint), the same database and task queue.
      other = await createTestContext({ env: { EGRESS_ALLOW: '127.0.0.0/8', TEMPORAL_TASK_QUEUE: tc.ctx.config.TEMPORAL_TASK_QUEUE } });
      replica = await serve(other);
    });
    after(async () => {
      await replica?.close();
      await other?.close();
    });

    it('a retry on the other replica waits for the answer in flight, then gets the recorded one: one provider call', async () => {
      const u = await newUser([{ name: 'shared' }]);
      const model = u.configs.shared!.model;
      const { key } = await createApiKey(tc.ctx.db, u.userId, { name: 'replicas', expiresAt: null });
      registerApiKey(key);
      const on = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });
      llm.script(model, { echo: true, delayMs: 1500 });
      const idempotencyKey = uniqueId('key');
      const ask = (url: string) =>
        on(url).chat.completions.create(
          { model: 'shared', messages: [{ role: 'user', content: 'one answer for both' }] },
          { headers: { 'Idempotency-Key': idempotencyKey } },
        );
      const first = ask(base);
      await llm.waitForHits(model, 1);
      const retried = await ask(replica.url);
      assert.deepEqual(retried, await first);
      assert.deepEqual(await ask(replica.url), retried);
      assert.equal(llm.hits(model), 1);
    });
  });

  it('a retry after the first API process died mid-request gets the answer from the outbox: one provider call', async () => {
    const u = await newUser([{ name: 'orphan' }]);
    const body = { model: 'orphan', messages: [{ role: 'user', content: 'who answers me?' }] };
    const key = uniqueId('key');
    // What the first process did before it died: the claim, and the message signalled with its relay address.
    const sessionId = newSessionId();
    const messageId = `chatcmpl-${uniqueId('orphan')}`;
    await chatIdempotency(tc.ctx.db).claim(u.userId, key, {
      bodyHash: idempotencyHash({ body, sessionId: null }),
      sessionId,
      messageId,
      oneMessage: true,
    });
    await startSession(tc.ctx, {
      userId: u.userId,
      sessionId,
      deviceId: null,
      first: {
        message: {
          id: messageId,
          text: 'who answers me?',
          receivedAt: Date.now(),
          chat: {
            messages: [{ role: 'user', content: 'who answers me?' }],
            config: { id: u.configs.orphan!.id, name: 'orphan' },
            replyTo: relayAddressFor('api-gone', messageId),
          },
        },
      },
    });
    const retried = await raw(u.userId, body, { 'Idempotency-Key': key });
    assert.equal(retried.status, 200, retried.text);
    assert.equal(retried.json().id, messageId);
    assert.equal(retried.json().choices[0].message.content, `[${u.configs.orphan!.model}] who answers me?`);
    assert.equal(llm.hits(u.configs.orphan!.model), 1);
    const handle = tc.ctx.temporal!.client.workflow.getHandle(sessionWorkflowId(u.userId, sessionId));
    assert.equal(((await handle.result()) as { status: string }).status, 'closed', 'the retry closed the one-message session');
  });

  it('a retry after the first API process died before its signal sends the request itself', async () => {
    const u = await newUser([{ name: 'late' }]);
    const body = { model: 'late', messages: [{ role: 'user', content: 'did anyone send me?' }] };
    const key = uniqueId('key');
    const sessionId = newSessionId();
    const messageId = `chatcmpl-${uniqueId('unsent')}`;
    // The first process claimed the key 20 s ago and died before signalling.
    await chatIdempotency(tc.ctx.db).claim(u.userId, key, {
      bodyHash: idempotencyHash({ body, sessionId: null }),
      sessionId,
      messageId,
      oneMessage: true,
    });
    await tc.ctx.db.sequelize.query(
      "UPDATE chat_idempotency SET created_at = now() - interval '20 seconds' WHERE user_id = :userId AND idempotency_key = :key",
      { replacements: { userId: u.userId, key } },
    );
    const retried = await raw(u.userId, body, { 'Idempotency-Key': key });
    assert.equal(retried.status, 200, retried.text);
    assert.equal(retried.json().id, messageId);
    assert.equal(retried.json().switchboard.session_id, sessionId);
    assert.equal(llm.hits(u.configs.late!.model), 1);
  });

  it('a client that disconnects mid-stream does not cancel the step: the answer is recorded for its Idempotency-Key', async () => {
    const u = await newUser([{ name: 'patient' }]);
    const pieces = ['A long ', 'answer ', 'nobody ', 'waits ', 'for.'];
    llm.script(u.configs.patient!.model, { pieces, pieceDelayMs: 200 });
    const key = uniqueId('key');
    const body = { model: 'patient', messages: [{ role: 'user', content: 'then leave' }], stream: true };
    const abort = new AbortController();
    const response = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tc.token(u.userId)}`, 'Idempotency-Key': key },
      body: JSON.stringify(body),
      signal: abort.signal,
    });
    const sessionId = response.headers.get('x-switchboard-session-id')!;
    const reader = response.body!.getReader();
    await reader.read();
    abort.abort();
    const handle = tc.ctx.temporal!.client.workflow.getHandle(sessionWorkflowId(u.userId, sessionId));
    assert.equal(((await handle.result()) as { status: string }).status, 'closed');
    const [entry] = await handle.query(transcriptQuery);
    assert.equal(entry!.result?.result, pieces.join(''));
    const again = await raw(u.userId, { ...body, stream: false }, { 'Idempotency-Key': key });
    assert.equal(again.status, 422, 'another body (stream: false) is another request');
    const replayed = await raw(u.userId, body, { 'Idempotency-Key': key });
    assert.match(replayed.text, /A long /);
    assert.equal(llm.hits(u.configs.patient!.model), 1);
  });

  describe('a worker killed with SIGKILL mid-request', () => {
    const children: ChildProcess[] = [];
    let crashy: TestContext;
    let api: { url: string; close(): Promise<void> };
    let workerEnv: Record<string, string>;

    async function spawnWorker(extraEnv: Record<string, string> = {}): Promise<ChildProcess> {
      const child = await spawnWorkerProcess({ ...workerEnv, ...extraEnv });
      children.push(child);
      return child;
    }

    before(async () => {
      // Its own task queue, served only by worker processes (the API here runs none).
      crashy = await createTestContext({ env: { EGRESS_ALLOW: '127.0.0.0/8' } });
      api = await serve(crashy);
      workerEnv = {
        DATABASE_URL: await runDatabaseUrlOnce(),
        TEMPORAL_ADDRESS: (await testTemporal()).address,
        TEMPORAL_TASK_QUEUE: crashy.ctx.config.TEMPORAL_TASK_QUEUE,
        CONFIG_ENCRYPTION_KEY: crashy.ctx.secrets.encryptionKeys[0]!.toString('base64'),
        EGRESS_ALLOW: '127.0.0.0/8',
        LOG_LEVEL: 'silent',
        ROUTER_LLM_BASE_URL: '',
        ROUTER_LLM_MODEL: '',
      };
    });
    after(async () => {
      for (const child of children) await killHard(child);
      await api?.close();
      await crashy?.close();
    });

    it('still answers, from the next worker; a stream that restarted with the same text goes on', async () => {
      const u = await newUser([{ name: 'survivor' }]);
      const model = u.configs.survivor!.model;
      const openai = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: await crashy.token(u.userId), maxRetries: 0, timeout: 120_000 });
      llm.script(model, { hang: true });
      const first = await spawnWorker();
      const answer = openai.chat.completions.create({ model: 'survivor', messages: [{ role: 'user', content: 'survive this' }] });
      await llm.waitForHits(model, 1, 60_000);
      await killHard(first);
      await spawnWorker();
      const completion = (await answer) as WithSwitchboard<OpenAI.Chat.Completions.ChatCompletion>;
      assert.equal(completion.choices[0]!.message.content, `[${model}] survive this`);

      const pieces = ['The first ', 'half arrives, ', 'then the worker dies; ', 'the rest comes later.'];
      llm.script(model, { pieces, pieceDelayMs: 100, stallAfter: 2 }, { pieces, pieceDelayMs: 50 });
      const stream = await openai.chat.completions.create({
        model: 'survivor',
        messages: [{ role: 'user', content: 'stream, then crash' }],
        stream: true,
      });
      let text = '';
      let killed = false;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta?.content ?? '';
        if (!killed && text.length > 0) {
          killed = true;
          await eventually(() => llm.hits(model) >= 3);
          await killHard(children.at(-1)!);
          await spawnWorker();
        }
      }
      assert.equal(text, pieces.join(''), "the new worker's text extends what was sent: the stream goes on");
    });

    it('a stream whose answer restarts with other text ends with an error chunk; the Idempotency-Key gets the recorded answer', async () => {
      const u = await newUser([{ name: 'changeling' }]);
      const model = u.configs.changeling!.model;
      const openai = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: await crashy.token(u.userId), maxRetries: 0, timeout: 120_000 });
      if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) await spawnWorker();
      llm.script(
        model,
        { pieces: ['Draft one ', 'goes like this ', 'and never ends'], pieceDelayMs: 100, stallAfter: 2 },
        { pieces: ['Another ', 'answer entirely.'] },
      );
      const key = uniqueId('key');
      const request = { model: 'changeling', messages: [{ role: 'user' as const, content: 'two drafts' }], stream: true as const };
      const stream = await openai.chat.completions.create(request, { headers: { 'Idempotency-Key': key } });
      let text = '';
      await assert.rejects(
        (async () => {
          for await (const chunk of stream) {
            text += chunk.choices[0]?.delta?.content ?? '';
            if (text === 'Draft one goes like this ') {
              await killHard(children.at(-1)!);
              await spawnWorker();
            }
          }
        })(),
        (error: unknown) => {
          assert.ok(error instanceof OpenAI.APIError);
          assert.equal(error.code, 'stream_restarted');
          return true;
        },
      );
      assert.equal(text, 'Draft one goes like this ');
      const recorded = await openai.chat.completions.create(request, { headers: { 'Idempotency-Key': key } });
      let again = '';
      for await (const chunk of recorded) again += chunk.choices[0]?.delta?.content ?? '';
      assert.equal(again, 'Another answer entirely.');
      assert.equal(llm.hits(model), 2);
    });

    it('a provider that stops answering is a 504 once every attempt of the config timed out', async () => {
      for (const child of children) await killHard(child);
      // A worker that gives up on a silent provider after a second (UPSTREAM_GAP_TIMEOUT).
      await spawnWorker({ UPSTREAM_GAP_TIMEOUT: '1s' });
      const u = await newUser([{ name: 'silent' }]);
      const model = u.configs.silent!.model;
      llm.otherwise(model, { pieces: ['never sent'], stallAfter: 0 });
      const openai = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: await crashy.token(u.userId), maxRetries: 0, timeout: 120_000 });
      const stream = openai.chat.completions.create({ model: 'silent', messages: [{ role: 'user', content: 'anyone?' }], stream: true });
      await assert.rejects(stream, (error: unknown) => {
        assert.ok(error instanceof OpenAI.APIError);
        assert.equal(error.status, 504);
        assert.equal(error.code, 'timeout');
        return true;
      });
      assert.equal(llm.hits(model), 3);
    });
  });

  describe('fixtures', () => {
    it('replays every history recorded here (and records them as fixtures with RECORD_HISTORIES=1)', async () => {
      const client = (await testTemporal()).client;
      const runs: { name: string; run: RecordedRun }[] = [];
      for (const { label, userId, sessionId } of recorded) {
        const all = await fetchAllRuns(client, sessionWorkflowId(userId, sessionId));
        all.forEach((run, i) => runs.push({ name: all.length > 1 ? `${label}-run${i + 1}` : label, run }));
      }
      assert.ok(runs.length >= 5);
      assert.deepEqual(await replayFailures(runs.map(({ run }) => run)), []);
      if (process.env.RECORD_HISTORIES === '1') writeHistoryFixtures(HISTORY_FIXTURES_DIR, runs);
    });
  });
});
