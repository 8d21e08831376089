// A scripted xiaozhi device's MCP side over a raw `ws` socket: the stand-in tests may use for a
// device (as fake-llm.ts is for providers). It answers `initialize` (recording its params, as
// xiaozhi-sdk reads `capabilities.vision`), `tools/list` page by page with `nextCursor`, and
// `tools/call` as scripted: with a text result, an `isError` result, never, or by closing.
//
//   const device = await connectMcpDevice(url, { tools, pageSize: 2 });
//   device.behave({ kind: 'answer', text: '{"success":true}' });
//   device.calls  // every tools/call received: { name, arguments }
import WebSocket from 'ws';

export interface DeviceToolSpec {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

export type CallBehaviour =
  | { kind: 'answer'; text: string; isError?: boolean; delayMs?: number }
  /** Never answers (the request stays unanswered while the socket is open). */
  | { kind: 'silent' }
  /** Closes the socket on receiving the call. */
  | { kind: 'close' };

type Json = Record<string, unknown>;

export interface McpDevice {
  ws: WebSocket;
  /** `initialize` params the server sent. */
  initialize: Json | undefined;
  /** Whether `notifications/initialized` arrived. */
  initialized: boolean;
  /** Cursors of the `tools/list` requests, in order (undefined: the first page). */
  listCursors: (string | undefined)[];
  calls: { name: string; arguments: unknown }[];
  behave(behaviour: CallBehaviour): void;
  /** Resolves once `count` tools/call requests arrived. */
  waitForCalls(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function connectMcpDevice(url: string, options: { tools: DeviceToolSpec[]; pageSize?: number }): Promise<McpDevice> {
  const ws = new WebSocket(url);
  // Listening before the socket opens: the server's `initialize` may come in the same tick.
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const pageSize = options.pageSize ?? options.tools.length;
  let behaviour: CallBehaviour = { kind: 'answer', text: 'ok' };
  const send = (payload: Json): void => ws.send(JSON.stringify({ type: 'mcp', payload }));
  const device: McpDevice = {
    ws,
    initialize: undefined,
    initialized: false,
    listCursors: [],
    calls: [],
    behave: (next) => void (behaviour = next),
    async waitForCalls(count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (device.calls.length < count) {
        if (Date.now() > deadline) throw new Error(`the device got ${device.calls.length} tools/call, not ${count}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      const closed = new Promise((r) => ws.once('close', r));
      ws.close();
      await closed;
    },
  };
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data)) as { type?: string; payload?: Json };
    if (frame.type !== 'mcp' || !frame.payload) return;
    const { id, method, params } = frame.payload as { id?: number; method?: string; params?: Json };
    if (method === 'initialize') {
      device.initialize = params;
      send({
        jsonrpc: '2.0',
        id,
        result: { protocolVersion: '2024-11-05', capabilities: { tools: {} }, serverInfo: { name: 'test-device', version: '1' } },
      });
    } else if (method === 'notifications/initialized') {
      device.initialized = true;
    } else if (method === 'tools/list') {
      const cursor = typeof params?.cursor === 'string' ? params.cursor : undefined;
      device.listCursors.push(cursor);
      const start = cursor ? Number(cursor.replace('page-', '')) : 0;
      const end = start + pageSize;
      send({
        jsonrpc: '2.0',
        id,
        result: { tools: options.tools.slice(start, end), ...(end < options.tools.length ? { nextCursor: `page-${end}` } : {}) },
      });
    } else if (method === 'tools/call') {
      device.calls.push({ name: String(params?.name), arguments: params?.arguments });
      const now = behaviour;
      if (now.kind === 'close') return ws.close();
      if (now.kind === 'silent') return;
      setTimeout(
        () => send({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: now.text }], isError: now.isError ?? false } }),
        now.delayMs ?? 0,
      );
    }
  });
  await opened;
  return device;
}
