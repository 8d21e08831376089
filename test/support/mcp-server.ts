// A real MCP server on 127.0.0.1 for tests: the SDK's McpServer over StreamableHTTPServerTransport
// on node:http, stateless (a new server and transport per request), with two tools:
//
//   get_weather {city: string} → "Sunny in <city>"; city "Nowhere" → a tool error (isError);
//                                city "Slowtown" → answers after 3 s
//   add {a: number, b: number}  → "<a + b>"
//   get-sum {a: number, b: number} → "sum: <a + b>"  (a real MCP name providers would refuse as is)
//   self.light.set_brightness {level: integer} → "brightness <level>"  (a xiaozhi device tool's spelling)
//
//   const mcp = await startMcpServer({ token: 'secret-token' }); // Authorization: Bearer secret-token required (401 otherwise)
//   mcp.url; mcp.requests (method, JSON-RPC methods, Authorization); mcp.failNext(503); await mcp.close();
//
// A refused request's 401 body repeats the Authorization and X-* header values it got, as careless servers do,
// so tests can check that the client never lets a header value into an error message.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import * as z from 'zod/v4';

export interface McpRequestRecord {
  httpMethod: string;
  /** JSON-RPC methods in the body (`initialize`, `tools/call`, ...). */
  rpcMethods: string[];
  /** The tools/call params, when the body is one. */
  toolCall?: { name: string; arguments: unknown };
  authorization: string | undefined;
}

export interface TestMcpServer {
  url: string;
  requests: McpRequestRecord[];
  /** Answer the next `count` POSTs with this HTTP status and headers (no MCP involved). */
  failNext(status: number, count?: number, headers?: Record<string, string>): void;
  close(): Promise<void>;
}

function buildServer(): McpServer {
  const server = new McpServer({ name: 'test-mcp', version: '1.0.0' });
  server.registerTool(
    'get_weather',
    { description: 'The weather in a city', inputSchema: { city: z.string().describe('City name') } },
    async ({ city }) => {
      if (city === 'Nowhere') return { content: [{ type: 'text', text: `no weather station in ${city}` }], isError: true };
      if (city === 'Slowtown') await new Promise((resolve) => setTimeout(resolve, 3000));
      return { content: [{ type: 'text', text: `Sunny in ${city}` }] };
    },
  );
  server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  server.registerTool(
    'get-sum',
    { description: 'The sum of two numbers', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({
      content: [{ type: 'text', text: `sum: ${a + b}` }],
    }),
  );
  server.registerTool(
    'self.light.set_brightness',
    { description: 'Set the brightness of the light', inputSchema: { level: z.number().int().min(0).max(100) } },
    async ({ level }) => ({ content: [{ type: 'text', text: `brightness ${level}` }] }),
  );
  return server;
}

export async function startMcpServer(options: { token?: string } = {}): Promise<TestMcpServer> {
  const requests: McpRequestRecord[] = [];
  const failures: { status: number; headers: Record<string, string> }[] = [];
  const sockets = new Set<Socket>();

  const httpServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        let body: unknown;
        try {
          body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
        } catch {
          res.writeHead(400).end('bad json');
          return;
        }
        const messages = (Array.isArray(body) ? body : body ? [body] : []) as { method?: string; params?: Record<string, unknown> }[];
        const call = messages.find((m) => m.method === 'tools/call');
        requests.push({
          httpMethod: req.method ?? '',
          rpcMethods: messages.map((m) => m.method ?? '(response)'),
          ...(call ? { toolCall: { name: String(call.params?.name), arguments: call.params?.arguments } } : {}),
          authorization: req.headers.authorization,
        });
        if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) {
          res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' });
          const echoed = Object.entries(req.headers)
            .filter(([name]) => name === 'authorization' || name.startsWith('x-'))
            .map(([, value]) => String(value));
          res.end(`invalid credentials: ${echoed.join(' | ') || '(none)'}`);
          return;
        }
        if (req.method !== 'POST') {
          res.writeHead(405, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null }));
          return;
        }
        const failure = failures.shift();
        if (failure !== undefined) {
          res.writeHead(failure.status, { 'content-type': 'text/plain', ...failure.headers }).end(`scripted failure ${failure.status}`);
          return;
        }
        const server = buildServer();
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
        res.on('close', () => {
          void transport.close();
          void server.close();
        });
        await server.connect(transport);
        await transport.handleRequest(req, res, body);
      })().catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(err));
      });
    });
  });
  httpServer.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    failNext(status, count = 1, headers = {}) {
      for (let i = 0; i < count; i++) failures.push({ status, headers });
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}
