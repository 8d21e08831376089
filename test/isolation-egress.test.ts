// Issue 14, findings 1 and 6: bodies from a user's endpoint are bounded while they stream. Hostile
// loopback servers answer an MCP tools/call with an endless chunked JSON body or an SSE `data:` line
// that never ends, a tools/list of 50,000 tools without Content-Length, and an LLM completion that
// trickles a byte a second after its headers (plain and streamed) or falls silent; a healthy provider that takes
// longer than the gap timeout in total, but never falls silent for that long, still answers. Each
// through `/test` (or `/tools`), the LLM trickle and one MCP case through a message on the real
// session workflow too. For each: the process survives without its memory ballooning, the failure
// is the right kind, the hostile server sees its connection end, and another user's GET is answered
// meanwhile (figures printed, only a stall bound asserted).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { llmConfigToolName } from '../routing';
import { startTestApi, type TestApi } from './support/api';
import { reportBystander, STALL_BOUND_MS, watchBystander, type Watched } from './support/bystander';
import { uniqueId } from './support/context';
import { eventually } from './support/eventually';
import { createFunctionConfigRow } from './support/llm-configs';
import { ROUTER_MODEL, startSessionHarness, type SessionHarness } from './support/session-harness';

/** Short bounds so each case ends in seconds: the gap between pieces, a trial's and a message's total. */
const GAP_MS = 2_000;
const TRIAL_TIMEOUT_MS = 3_000;
const SESSION_TUNING = {
  llmTimeout: '3 seconds',
  llmMaxAttempts: 2,
  functionTimeout: '3 seconds',
  functionMaxAttempts: 2,
  retryInitialInterval: '100 milliseconds',
} as const;
/** A sanity bound on memory growth per case: the unbounded reads grew the process by gigabytes. */
const MAX_RSS_GROWTH_BYTES = 200 * 1024 * 1024;
/** The hostile server stops writing after this much, so a regression fails an assertion instead of exhausting the machine. */
const HOSTILE_WRITE_LIMIT = 256 * 1024 * 1024;

type Behaviour = 'endless-json' | 'endless-sse-line' | 'huge-tool-list' | 'trickle' | 'silent' | 'slow-healthy';

interface HostileExchange {
  behaviour: Behaviour;
  socket: Socket;
  bytesWritten: number;
  /** The connection of this exchange closed (the client cut it, or it ended). */
  closed: boolean;
}

interface HostileServer {
  url: string;
  /** The exchanges that got a hostile (or slow) answer. */
  exchanges: HostileExchange[];
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One loopback server for every hostile behaviour, chosen by path:
 *   /mcp/<behaviour>              an MCP server: initialize answers; tools/call or tools/list misbehaves
 *   /llm/<behaviour>/v1/...       an OpenAI-compatible provider: headers, then the behaviour
 */
async function startHostileServer(): Promise<HostileServer> {
  const exchanges: HostileExchange[] = [];
  const sockets = new Set<Socket>();

  function begin(behaviour: Behaviour, req: http.IncomingMessage, res: http.ServerResponse): HostileExchange {
    const exchange: HostileExchange = { behaviour, socket: req.socket, bytesWritten: 0, closed: false };
    exchanges.push(exchange);
    res.on('close', () => (exchange.closed = true));
    return exchange;
  }

  /** Writes `prefix`, then `piece` as fast as the client reads, until it goes away (or the safety limit). */
  async function pump(exchange: HostileExchange, res: http.ServerResponse, prefix: string, piece: string): Promise<void> {
    res.write(prefix);
    const gone = new Promise((resolve) => res.once('close', resolve));
    const chunk = Buffer.from(piece.repeat(Math.ceil(65_536 / piece.length)));
    while (!exchange.closed && exchange.bytesWritten < HOSTILE_WRITE_LIMIT) {
      exchange.bytesWritten += chunk.byteLength;
      if (!res.write(chunk)) await Promise.race([new Promise((resolve) => res.once('drain', resolve)), gone]);
    }
  }

  /** One byte a second after the headers, forever. */
  async function trickle(exchange: HostileExchange, res: http.ServerResponse, byte: string): Promise<void> {
    while (!exchange.closed) {
      res.write(byte);
      exchange.bytesWritten += 1;
      await sleep(1000);
    }
  }

  function mcp(behaviour: Behaviour, req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    if (req.method !== 'POST') return void res.writeHead(405).end();
    const message = JSON.parse(body) as { id?: number; method: string; params?: { protocolVersion?: string } };
    if (message.id === undefined) return void res.writeHead(202).end();
    const json = (result: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }));
    };
    if (message.method === 'initialize') {
      return json({
        protocolVersion: message.params?.protocolVersion,
        capabilities: { tools: {} },
        serverInfo: { name: 'hostile', version: '1.0.0' },
      });
    }
    const prefix = `{"jsonrpc":"2.0","id":${message.id},"result":{"content":[{"type":"text","text":"`;
    if (message.method === 'tools/call' && behaviour === 'endless-json') {
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no Content-Length
      return void pump(begin(behaviour, req, res), res, prefix, 'a');
    }
    if (message.method === 'tools/call' && behaviour === 'endless-sse-line') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      return void pump(begin(behaviour, req, res), res, `event: message\ndata: ${prefix}`, 'a');
    }
    if (message.method === 'tools/list' && behaviour === 'huge-tool-list') {
      const exchange = begin(behaviour, req, res);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`{"jsonrpc":"2.0","id":${message.id},"result":{"tools":[`);
      for (let i = 0; i < 50_000 && !exchange.closed; i++) {
        const tool = `{"name":"tool_${i}","description":"Tool number ${i} of a server that offers far too many","inputSchema":{"type":"object","properties":{"x":{"type":"string"}}}}`;
        res.write((i ? ',' : '') + tool);
        exchange.bytesWritten += tool.length + 1;
      }
      return void res.end(']}}');
    }
    json({ tools: [] });
  }

  function llm(behaviour: Behaviour, req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const request = JSON.parse(body) as { model: string; stream?: boolean };
    const exchange = begin(behaviour, req, res);
    res.writeHead(200, { 'content-type': request.stream ? 'text/event-stream' : 'application/json' });
    // Leading spaces are valid JSON whitespace and an SSE line that never ends: the client can only wait.
    if (behaviour === 'trickle') return void trickle(exchange, res, ' ');
    if (behaviour === 'silent') return void res.flushHeaders();
    // slow-healthy: six pieces 400 ms apart, 2.4 s in all: longer than the gap (2 s), never silent that long.
    const pieces = ['The ', 'answer ', 'came ', 'slowly ', 'but ', 'whole.'];
    void (async () => {
      for (const [i, piece] of pieces.entries()) {
        await sleep(400);
        if (exchange.closed) return;
        if (request.stream) {
          const chunk = {
            id: 'c1',
            object: 'chat.completion.chunk',
            created: 0,
            model: request.model,
            choices: [{ index: 0, delta: { content: piece }, finish_reason: null }],
          };
          res.write(`data: ${JSON.stringify(chunk)}\n\n`);
        } else {
          res.write(i === 0 ? `{"id":"c1","object":"chat.completion","created":0,"model":"${request.model}",` : ' ');
        }
      }
      if (request.stream) res.end('data: [DONE]\n\n');
      else {
        const choices = [{ index: 0, message: { role: 'assistant', content: pieces.join('') }, finish_reason: 'stop' }];
        res.end(`"choices":${JSON.stringify(choices)}}`);
      }
    })();
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const [, kind, behaviour] = (req.url ?? '').split('/') as [string, string, Behaviour];
      const body = Buffer.concat(chunks).toString('utf8');
      if (kind === 'mcp') mcp(behaviour, req, res, body);
      else if (kind === 'llm') llm(behaviour, req, res, body);
      else res.writeHead(404).end();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exchanges,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('isolation: bodies from a user endpoint are bounded while they stream (issue 14, findings 1 and 6)', function () {
  this.timeout(120_000);
  let api: TestApi;
  let h: SessionHarness;
  let hostile: HostileServer;
  const bystander = `bystander-${uniqueId('u')}`;

  before(async () => {
    const env = { UPSTREAM_GAP_TIMEOUT: `${GAP_MS}ms`, TRIAL_TIMEOUT: `${TRIAL_TIMEOUT_MS}ms` };
    api = await startTestApi(env);
    h = await startSessionHarness({ env });
    hostile = await startHostileServer();
    const created = await api.request('POST', '/api/v1/ai-configs', {
      user: bystander,
      body: { config_name: 'Mine', config_type: 'llm', model_name: 'm', base_url: h.llm.baseUrl },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  });
  after(async () => {
    await hostile?.close();
    await h?.close();
    await api?.close();
  });

  /** Another user's GET, answered and correct. */
  async function probe(): Promise<void> {
    const response = await api.request('GET', '/api/v1/ai-configs', { user: bystander });
    assert.equal(response.status, 200);
    assert.equal(response.body.data.length, 1);
  }

  /**
   * Runs `hostile` with the bystander watching; asserts the stall bound, memory, and that every
   * connection that got a hostile answer since has closed. Returns what `hostile` returned.
   */
  async function watched<T>(finding: string, behaviour: Behaviour, run: () => Promise<T>): Promise<Watched<T> & { result: T }> {
    const before = hostile.exchanges.length;
    const rssBefore = process.memoryUsage().rss;
    const figures = await watchBystander(run, probe);
    const growth = process.memoryUsage().rss - rssBefore;
    reportBystander(finding, figures);
    process.stdout.write(`        rss growth ${Math.round(growth / 1024 / 1024)} MiB\n`);
    if (figures.error) throw figures.error;
    assert.ok(figures.max < STALL_BOUND_MS, `bystander max ${figures.max} ms`);
    assert.ok(growth < MAX_RSS_GROWTH_BYTES, `rss grew by ${growth} bytes`);
    const mine = () => hostile.exchanges.slice(before).filter((e) => e.behaviour === behaviour);
    assert.ok(mine().length > 0, 'the hostile server was reached');
    // A cut closes the upstream socket; a healthy answer ends and its connection may stay pooled.
    const cut = behaviour !== 'slow-healthy';
    await eventually(() =>
      assert.ok(
        mine().every((e) => e.closed && (!cut || e.socket.destroyed)),
        'the upstream connection was closed',
      ),
    );
    return figures as Watched<T> & { result: T };
  }

  async function createConfig(user: string, body: Record<string, unknown>): Promise<{ id: number }> {
    const response = await api.request('POST', '/api/v1/ai-configs', { user, body });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    return response.body.data;
  }

  const mcpTool = (behaviour: Behaviour) => ({
    config_name: `Hostile ${behaviour}`,
    config_type: 'function_call',
    description: 'A tool on a hostile MCP server',
    function_name: 'hostile_tool',
    parameters: { type: 'object', properties: { q: { type: 'string' } } },
    mcp_server_url: `${hostile.url}/mcp/${behaviour}`,
  });

  async function trial(user: string, id: number, body: Record<string, unknown>) {
    const response = await api.request('POST', `/api/v1/ai-configs/${id}/test`, { user, body });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.data as {
      status: string;
      error?: string;
      error_type?: string;
      retryable?: boolean;
      result: string;
      execute_time: number;
    };
  }

  describe('/test and /tools', () => {
    for (const [behaviour, shape] of [
      ['endless-json', 'an endless chunked JSON body'],
      ['endless-sse-line', 'an SSE data: line that never ends'],
    ] as const) {
      it(`an MCP tool answering with ${shape} fails as too large, non-retryably`, async () => {
        const user = uniqueId('hostile');
        const config = await createConfig(user, mcpTool(behaviour));
        const { result } = await watched(`egress mcp ${behaviour} /test`, behaviour, () =>
          trial(user, config.id, { arguments: { q: 'x' } }),
        );
        assert.equal(result.status, 'failed');
        assert.equal(result.error_type, 'FunctionResponseTooLarge', result.error);
        assert.equal(result.retryable, false);
        assert.match(result.error ?? '', /the MCP server's answer is larger than 1 MiB/);
      });
    }

    it('a tool list over 1 MiB without Content-Length (50,000 tools) is a 502 saying it is too large', async () => {
      const user = uniqueId('hostile');
      const config = await createConfig(user, mcpTool('huge-tool-list'));
      const { result: response } = await watched('egress mcp 50,000 tools /tools', 'huge-tool-list', () =>
        api.request('GET', `/api/v1/ai-configs/${config.id}/tools`, { user }),
      );
      assert.equal(response.status, 502, JSON.stringify(response.body).slice(0, 300));
      assert.equal(response.body.error, 'mcp_server_failed');
      assert.match(response.body.message, /larger than 1 MiB/);
    });

    it('the same tool list, asked for before any config is saved (POST /mcp/tools) or for a schema at create, is refused the same way', async () => {
      const user = uniqueId('hostile');
      const url = `${hostile.url}/mcp/huge-tool-list`;
      const { result: listed } = await watched('egress mcp 50,000 tools POST /mcp/tools', 'huge-tool-list', () =>
        api.request('POST', '/api/v1/mcp/tools', { user, body: { mcp_server_url: url } }),
      );
      assert.equal(listed.status, 502, JSON.stringify(listed.body).slice(0, 300));
      assert.equal(listed.body.error, 'mcp_server_failed');
      assert.match(listed.body.message, /larger than 1 MiB/);
      const { parameters: _omitted, ...body } = mcpTool('huge-tool-list');
      const { result: created } = await watched('egress mcp 50,000 tools create', 'huge-tool-list', () =>
        api.request('POST', '/api/v1/ai-configs', { user, body }),
      );
      assert.equal(created.status, 400, JSON.stringify(created.body).slice(0, 300));
      assert.equal(created.body.errors[0].field, 'parameters');
      assert.match(created.body.errors[0].message, /larger than 1 MiB/);
    });

    it(`a provider trickling a byte a second after its headers is cut at the trial's ${TRIAL_TIMEOUT_MS} ms, a retryable timeout`, async () => {
      const user = uniqueId('hostile');
      const config = await createConfig(user, {
        config_name: 'Trickle',
        config_type: 'llm',
        model_name: 'trickle',
        base_url: `${hostile.url}/llm/trickle/v1`,
        api_key: 'sk-trickle-3f9a1c0b7e2d4a6c',
      });
      const { result } = await watched('egress llm trickle /test', 'trickle', () => trial(user, config.id, { text: 'hello?' }));
      assert.equal(result.status, 'failed');
      assert.equal(result.error_type, 'LLMTimeout', result.error);
      assert.equal(result.retryable, true);
      assert.match(result.error ?? '', /not complete within 3 s/);
      assert.ok(!(result.error ?? '').includes('sk-trickle'), 'no key in the failure');
      assert.ok(result.execute_time < TRIAL_TIMEOUT_MS + STALL_BOUND_MS, `took ${result.execute_time} ms`);
    });

    it('a provider silent after its headers is cut at the gap timeout, a retryable timeout', async () => {
      const user = uniqueId('hostile');
      const config = await createConfig(user, {
        config_name: 'Silent',
        config_type: 'llm',
        model_name: 'silent',
        base_url: `${hostile.url}/llm/silent/v1`,
      });
      const { result } = await watched('egress llm silent /test', 'silent', () => trial(user, config.id, { text: 'hello?' }));
      assert.equal(result.status, 'failed');
      assert.equal(result.error_type, 'LLMTimeout', result.error);
      assert.equal(result.retryable, true);
      assert.match(result.error ?? '', /stalled: nothing for 2 s/);
    });

    it('a healthy provider slower in total than the gap timeout, never silent that long, answers', async () => {
      const user = uniqueId('healthy');
      const config = await createConfig(user, {
        config_name: 'Slow but fine',
        config_type: 'llm',
        model_name: 'slow',
        base_url: `${hostile.url}/llm/slow-healthy/v1`,
      });
      const { result } = await watched('egress llm slow-healthy /test', 'slow-healthy', () => trial(user, config.id, { text: 'hello?' }));
      assert.equal(result.status, 'success', result.error);
      assert.equal(result.result, 'The answer came slowly but whole.');
      assert.ok(result.execute_time > GAP_MS, `took ${result.execute_time} ms, longer than the gap timeout`);
    });
  });

  describe('a message on the session workflow', () => {
    /** An LLM config at `behaviour`, chosen by the router for the next message. */
    async function routedLLM(userId: string, behaviour: Behaviour) {
      const config = await h.createLLMConfig(userId, { model_name: uniqueId(behaviour), base_url: `${hostile.url}/llm/${behaviour}/v1` });
      h.llm.script(ROUTER_MODEL, { toolCall: llmConfigToolName(config.id), arguments: { question: 'hello?' } });
      return config;
    }

    for (const stream of [false, true]) {
      it(`a trickling provider (${stream ? 'streamed' : 'not streamed'}) ends each attempt at the llmTimeout: failed, both attempts cut`, async () => {
        const userId = uniqueId('hostile');
        await routedLLM(userId, 'trickle');
        const s = await h.startSession({ userId, tuning: SESSION_TUNING, label: 'egress-trickle' });
        const before = hostile.exchanges.filter((e) => e.behaviour === 'trickle').length;
        const { result } = await watched(`egress llm trickle socket${stream ? ' streamed' : ''}`, 'trickle', async () =>
          h.gateway.waitForResult(s.connectionId, await s.send('hello?', undefined, { stream })),
        );
        assert.equal(result.status, 'failed', JSON.stringify(result));
        assert.match(result.error ?? '', /not complete within/);
        assert.equal(hostile.exchanges.filter((e) => e.behaviour === 'trickle').length - before, 2, 'llmMaxAttempts attempts, each cut');
      });
    }

    it('a healthy streamed provider slower in total than the gap timeout answers, in deltas', async () => {
      const userId = uniqueId('healthy');
      await routedLLM(userId, 'slow-healthy');
      const s = await h.startSession({ userId, tuning: SESSION_TUNING, label: 'egress-slow-healthy' });
      const { result } = await watched('egress llm slow-healthy socket streamed', 'slow-healthy', async () =>
        h.gateway.waitForResult(s.connectionId, await s.send('hello?', undefined, { stream: true })),
      );
      assert.equal(result.status, 'success', result.error);
      assert.equal(result.result, 'The answer came slowly but whole.');
      assert.ok(
        h.gateway.framesFor(s.connectionId).some((f) => f.type === 'delta'),
        'the answer was streamed',
      );
    });

    it('an MCP tool answering with an endless chunked JSON body fails as too large, not retried', async () => {
      const userId = uniqueId('hostile');
      await h.createLLMConfig(userId, { model_name: uniqueId('chat') });
      await createFunctionConfigRow(h.ctx, userId, {
        config_name: 'Hostile tool',
        description: 'A tool whose server never stops answering',
        function_name: 'hostile_tool',
        parameters: { type: 'object', properties: { q: { type: 'string' } } },
        mcp_server_url: `${hostile.url}/mcp/endless-json`,
      });
      const s = await h.startSession({ userId, tuning: SESSION_TUNING, label: 'egress-mcp-endless' });
      h.llm.script(ROUTER_MODEL, { toolCall: 'hostile_tool', arguments: { q: 'x' } });
      const before = hostile.exchanges.filter((e) => e.behaviour === 'endless-json').length;
      const { result } = await watched('egress mcp endless-json socket', 'endless-json', () => s.ask('use the hostile tool'));
      assert.equal(result.status, 'failed', JSON.stringify(result));
      assert.match(result.error ?? '', /larger than 1 MiB/);
      assert.equal(hostile.exchanges.filter((e) => e.behaviour === 'endless-json').length - before, 1, 'too large is not retried');
    });
  });
});
