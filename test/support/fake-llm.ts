// A scripted OpenAI-compatible chat completions server on 127.0.0.1: the one stand-in tests may
// use for an LLM provider or the router LLM. Real HTTP (node:http), so the openai SDK, timeouts
// and error classification are exercised for real.
//
//   const llm = await startFakeLLM();
//   llm.script('router', { toolCall: 'use_ai_config_7', arguments: { question: 'hi' } }); // next call of model "router"
//   llm.script('gpt-a', { fail: 429 }, { reply: 'ok' });  // first call 429, second answers "ok"
//   llm.otherwise('gpt-b', { fail: 500 });                // every call once the script is used up
//   // base URL for configs / ROUTER_LLM_BASE_URL: llm.baseUrl (ends in /v1)
//   llm.hits('gpt-a'); llm.requests('gpt-a')[0].authorization; await llm.close();
//
// Unscripted models echo: the answer is `[<model>] <last user message>`.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FakeBehaviour =
  /** An assistant answer with this text. */
  | { reply: string }
  /** `[<model>] <last user message>`, after `delayMs` (a slow provider). */
  | { echo: true; delayMs?: number }
  /** A tool call, as a router LLM makes. */
  | { toolCall: string; arguments?: Record<string, unknown> }
  /** An HTTP error in OpenAI's error shape; `echoKey` repeats the bearer token in the message, as some providers do. */
  | { fail: number; message?: string; echoKey?: boolean; retryAfterSeconds?: number; code?: string }
  /** Never answers; the connection stays open until the client gives up or the server closes. */
  | { hang: true }
  /** A 200 whose body is not JSON (a proxy's error page, a truncated answer). */
  | { malformed: true }
  /** A valid answer whose body is this many bytes: its content is that long. */
  | { oversize: number }
  /** The connection is reset (destroyed) without an answer. */
  | { reset: true }
  /**
   * An answer in these pieces: streamed (server-sent events, `pieceDelayMs` apart) when the request
   * asks for a stream, else their concatenation. `stallAfter` pieces, the stream stops sending
   * without ending (a provider that hangs mid-answer).
   */
  | { pieces: string[]; pieceDelayMs?: number; stallAfter?: number }
  /** Decide from the request. */
  | ((request: FakeRequest) => FakeBehaviour);

export interface ChatBody {
  model: string;
  messages: { role: string; content: string | null; tool_calls?: unknown[]; tool_call_id?: string }[];
  tools?: { type: string; function: { name: string; description?: string; parameters?: unknown } }[];
  tool_choice?: unknown;
  stream?: boolean;
  temperature?: number;
  max_tokens?: number;
  stop?: string[];
  stream_options?: { include_usage?: boolean };
}

export interface FakeRequest {
  path: string;
  model: string;
  body: ChatBody;
  /** The Authorization header as received (`Bearer <key>`). */
  authorization: string | undefined;
}

export interface FakeLLM {
  /** `http://127.0.0.1:<port>/v1`, what a config's base_url or ROUTER_LLM_BASE_URL takes. */
  baseUrl: string;
  /** Queue behaviours for the next calls of `model`, one per call. */
  script(model: string, ...calls: FakeBehaviour[]): void;
  /** What `model` does once its script is used up (default: echo). */
  otherwise(model: string, behaviour: FakeBehaviour): void;
  /** Calls received for `model`, answered or not. */
  hits(model: string): number;
  /** Requests received, optionally for one model, oldest first. */
  requests(model?: string): FakeRequest[];
  /** Resolves once `model` has had at least `count` calls. */
  waitForHits(model: string, count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

function lastUserMessage(body: ChatBody): string {
  return [...body.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
}

function completion(model: string, message: Record<string, unknown>, finishReason: string) {
  return {
    id: `chatcmpl-fake-${Date.now()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: null, ...message }, finish_reason: finishReason, logprobs: null }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
}

/** A chat completion as server-sent events, one chunk per piece, as OpenAI streams it. */
async function streamPieces(
  res: http.ServerResponse,
  model: string,
  pieces: string[],
  options: { pieceDelayMs?: number; stallAfter?: number; includeUsage?: boolean },
): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const id = `chatcmpl-fake-${Date.now()}`;
  const chunk = (delta: Record<string, unknown>, finish: string | null) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  res.write(chunk({ role: 'assistant', content: '' }, null));
  for (const [index, piece] of pieces.entries()) {
    if (options.stallAfter !== undefined && index >= options.stallAfter) return;
    if (options.pieceDelayMs) await new Promise((r) => setTimeout(r, options.pieceDelayMs));
    if (res.destroyed) return;
    res.write(chunk({ content: piece }, null));
  }
  res.write(chunk({}, 'stop'));
  // As OpenAI does with `stream_options.include_usage`: a last chunk with no choices and the usage.
  if (options.includeUsage) {
    const usage = { prompt_tokens: 1, completion_tokens: pieces.length, total_tokens: 1 + pieces.length };
    res.write(
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, choices: [], usage })}\n\n`,
    );
  }
  res.end('data: [DONE]\n\n');
}

/** A tool call as OpenAI streams it: the id and name first, the arguments in two pieces. */
function streamToolCall(
  res: http.ServerResponse,
  model: string,
  call: { id: string; function: { name: string; arguments: string } },
): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const id = `chatcmpl-fake-${Date.now()}`;
  const chunk = (delta: Record<string, unknown>, finish: string | null) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const half = Math.floor(call.function.arguments.length / 2);
  res.write(
    chunk(
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }],
      },
      null,
    ),
  );
  res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: call.function.arguments.slice(0, half) } }] }, null));
  res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: call.function.arguments.slice(half) } }] }, null));
  res.write(chunk({}, 'tool_calls'));
  res.end('data: [DONE]\n\n');
}

export async function startFakeLLM(): Promise<FakeLLM> {
  const scripts = new Map<string, FakeBehaviour[]>();
  const fallbacks = new Map<string, FakeBehaviour>();
  const received: FakeRequest[] = [];
  const sockets = new Set<Socket>();

  function behaviourFor(request: FakeRequest): Exclude<FakeBehaviour, (r: FakeRequest) => FakeBehaviour> {
    let behaviour: FakeBehaviour = scripts.get(request.model)?.shift() ?? fallbacks.get(request.model) ?? { echo: true };
    while (typeof behaviour === 'function') behaviour = behaviour(request);
    return behaviour;
  }

  function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      if (req.method !== 'POST' || (path !== '/v1/chat/completions' && path !== '/chat/completions')) {
        send(res, 404, { error: { message: `no route ${req.method} ${path}`, type: 'invalid_request_error' } });
        return;
      }
      let body: ChatBody;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatBody;
      } catch {
        send(res, 400, { error: { message: 'invalid JSON', type: 'invalid_request_error' } });
        return;
      }
      const request: FakeRequest = { path, model: body.model, body, authorization: req.headers.authorization };
      received.push(request);
      const b = behaviourFor(request);
      if ('hang' in b) return;
      if ('reset' in b) return void req.socket.destroy();
      if ('malformed' in b) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end('{"id": "chatcmpl-broken", "choices": [ <html>502 Bad Gateway</html>');
      }
      if ('oversize' in b) return send(res, 200, completion(body.model, { content: 'x'.repeat(b.oversize) }, 'stop'));
      if ('fail' in b) {
        const key = request.authorization?.replace(/^Bearer\s+/i, '') ?? '';
        const message = b.echoKey ? `Incorrect API key provided: ${key}` : (b.message ?? `fake failure ${b.fail}`);
        const headers: Record<string, string> = b.retryAfterSeconds !== undefined ? { 'retry-after': String(b.retryAfterSeconds) } : {};
        send(res, b.fail, { error: { message, type: 'fake_error', code: b.code ?? String(b.fail) } }, headers);
        return;
      }
      if ('toolCall' in b) {
        const call = {
          id: `call_${received.length}`,
          type: 'function',
          function: { name: b.toolCall, arguments: JSON.stringify(b.arguments ?? {}) },
        };
        if (body.stream) return void streamToolCall(res, body.model, call);
        send(res, 200, completion(body.model, { tool_calls: [call] }, 'tool_calls'));
        return;
      }
      const pieces = 'pieces' in b ? b.pieces : ['reply' in b ? b.reply : `[${body.model}] ${lastUserMessage(body)}`];
      if ('echo' in b && b.delayMs) {
        const timer = setTimeout(() => send(res, 200, completion(body.model, { content: pieces.join('') }, 'stop')), b.delayMs);
        res.once('close', () => clearTimeout(timer));
        return;
      }
      if (!body.stream) return send(res, 200, completion(body.model, { content: pieces.join('') }, 'stop'));
      const includeUsage = body.stream_options?.include_usage === true;
      void streamPieces(res, body.model, pieces, { ...('pieces' in b ? b : {}), includeUsage });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const hits = (model: string) => received.filter((r) => r.model === model).length;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    script(model, ...calls) {
      scripts.set(model, [...(scripts.get(model) ?? []), ...calls]);
    },
    otherwise(model, behaviour) {
      fallbacks.set(model, behaviour);
    },
    hits,
    requests: (model) => received.filter((r) => model === undefined || r.model === model),
    async waitForHits(model, count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (hits(model) < count) {
        if (Date.now() > deadline) throw new Error(`fake LLM: model ${model} had ${hits(model)} calls, expected ${count}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
