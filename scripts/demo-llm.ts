// `npm run demo-llm [-- --port 8090]`: a stand-in for the providers, MCP servers and webhooks the
// README's examples name, so Switchboard can be tried without any account. One loopback server:
//
//   http://127.0.0.1:8090/v1      an OpenAI-compatible provider (chat completions, streaming, /models);
//                                 as a router LLM it picks the tool whose name or description shares
//                                 the most words with the question, else it answers itself
//   http://127.0.0.1:8090/mcp     an MCP server (Streamable HTTP) with get_weather {city} and add {a, b}
//   http://127.0.0.1:8090/hooks/orders   a webhook that reports an order's status
//
// Nothing it says is real: answers are scripted and marked "(demo)". It listens on 127.0.0.1 only;
// Switchboard reaches it with EGRESS_ALLOW=127.0.0.1/32.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import * as z from 'zod/v4';

interface ChatMessage {
  role: string;
  content: string | { type: string; text?: string }[] | null;
}
interface ChatTool {
  function: { name: string; description?: string; parameters?: { properties?: Record<string, { type?: string }>; required?: string[] } };
}
interface ChatRequest {
  model?: string;
  messages?: ChatMessage[];
  tools?: ChatTool[];
  stream?: boolean;
}

const words = (text: string): Set<string> => new Set(text.toLowerCase().match(/[a-z\u4e00-\u9fff]{3,}|[\u4e00-\u9fff]/g) ?? []);

function textOf(message: ChatMessage | undefined): string {
  if (!message?.content) return '';
  if (typeof message.content === 'string') return message.content;
  return message.content.map((part) => part.text ?? '').join('');
}

/** The router's choice: the tool sharing the most words with the question (none: answer directly). */
function pickTool(question: string, tools: ChatTool[]): { name: string; arguments: Record<string, unknown> } | undefined {
  const asked = words(question);
  let best: { tool: ChatTool; score: number } | undefined;
  for (const tool of tools) {
    const described = words(`${tool.function.name.replace(/[_-]+/g, ' ')} ${tool.function.description ?? ''}`);
    const score = [...asked].filter((word) => described.has(word)).length;
    if (score > 0 && (!best || score > best.score)) best = { tool, score };
  }
  if (!best) return undefined;
  // Each required string argument gets the question's last capitalised word (a city, say), else the question.
  const args: Record<string, unknown> = {};
  const properties = best.tool.function.parameters?.properties ?? {};
  const named = question.match(/\b[A-Z][a-z]+\b/g)?.pop();
  for (const key of best.tool.function.parameters?.required ?? []) {
    const type = properties[key]?.type;
    if (type === 'number' || type === 'integer') args[key] = Number(question.match(/-?\d+(\.\d+)?/)?.[0] ?? 0);
    else args[key] = key === 'question' ? question : (named ?? question);
  }
  return { name: best.tool.function.name, arguments: args };
}

function answerFor(model: string, question: string): string {
  if (/^\s*(hi|hello|hey|你好)\b/i.test(question)) return `Hello! I am the demo model "${model}". Ask me anything (demo).`;
  return `You asked: "${question.slice(0, 200)}". This is the demo model "${model}"; a real provider would answer here (demo).`;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function streamAnswer(res: http.ServerResponse, id: string, model: string, answer: string): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const chunk = (delta: Record<string, unknown>, finish: string | null): string =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  res.write(chunk({ role: 'assistant', content: '' }, null));
  for (const piece of answer.match(/\S+\s*/g) ?? [answer]) {
    res.write(chunk({ content: piece }, null));
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
  res.end(chunk({}, 'stop') + 'data: [DONE]\n\n');
}

async function chatCompletion(res: http.ServerResponse, request: ChatRequest): Promise<void> {
  const model = request.model ?? 'demo';
  const question = textOf([...(request.messages ?? [])].reverse().find((m) => m.role === 'user'));
  const id = `chatcmpl-demo-${Date.now().toString(36)}`;
  const created = Math.floor(Date.now() / 1000);
  const tool = request.tools?.length ? pickTool(question, request.tools) : undefined;
  if (tool) {
    const call = {
      id: `call_${Date.now().toString(36)}`,
      type: 'function',
      function: { name: tool.name, arguments: JSON.stringify(tool.arguments) },
    };
    sendJson(res, 200, {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [call] }, finish_reason: 'tool_calls' }],
    });
    return;
  }
  const answer = answerFor(model, question);
  if (request.stream) return streamAnswer(res, id, model, answer);
  const usage = {
    prompt_tokens: words(question).size,
    completion_tokens: words(answer).size,
    total_tokens: words(question).size + words(answer).size,
  };
  sendJson(res, 200, {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }],
    usage,
  });
}

function mcpServer(): McpServer {
  const server = new McpServer({ name: 'switchboard-demo', version: '1.0.0' });
  server.registerTool(
    'get_weather',
    { description: 'Current weather and forecast for a city', inputSchema: { city: z.string().describe('City name') } },
    ({ city }) => Promise.resolve({ content: [{ type: 'text', text: `Sunny in ${city}, 21 °C (demo)` }] }),
  );
  server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } }, ({ a, b }) =>
    Promise.resolve({ content: [{ type: 'text', text: String(a + b) }] }),
  );
  return server;
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, body: unknown): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://demo');
  if (req.method === 'GET' && url.pathname === '/v1/models') {
    sendJson(res, 200, { object: 'list', data: [{ id: 'demo', object: 'model', created: 0, owned_by: 'switchboard-demo' }] });
  } else if (req.method === 'POST' && url.pathname === '/v1/chat/completions') {
    await chatCompletion(res, (body ?? {}) as ChatRequest);
  } else if (url.pathname === '/mcp') {
    if (req.method !== 'POST')
      return sendJson(res, 405, { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
    // Stateless: a server and transport per request.
    const server = mcpServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => void transport.close().then(() => server.close()));
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  } else if (req.method === 'POST' && url.pathname === '/hooks/orders') {
    const args = ((body as { arguments?: { order_id?: unknown } } | undefined)?.arguments ?? {}) as { order_id?: unknown };
    sendJson(res, 200, { result: `Order ${String(args.order_id ?? '?')} left the warehouse yesterday (demo)` });
  } else {
    sendJson(res, 404, { error: { message: `no route for ${req.method} ${url.pathname}`, type: 'invalid_request_error' } });
  }
}

function startDemoProvider(port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body: unknown;
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      } catch {
        return sendJson(res, 400, { error: { message: 'the body is not JSON', type: 'invalid_request_error' } });
      }
      handle(req, res, body).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: { message: String(error), type: 'server_error' } });
      });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: process.env.DEMO_LLM_PORT ?? '8090' } } });
  const port = Number(values.port);
  const server = await startDemoProvider(port);
  const base = `http://127.0.0.1:${port}`;
  process.stdout.write(
    `Demo provider ready (scripted answers; start Switchboard with EGRESS_ALLOW=127.0.0.1/32 to reach it)\n\n` +
      `  LLM base_url     ${base}/v1      (any model name; as a router: ROUTER_LLM_BASE_URL=${base}/v1 ROUTER_LLM_MODEL=demo)\n` +
      `  MCP server       ${base}/mcp     (tools get_weather, add)\n` +
      `  Webhook          ${base}/hooks/orders\n`,
  );
  const stop = (): void => void server.close(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`demo-llm: ${(error as Error).message}\n`);
  process.exit(1);
});
