// A real WebSocket client for gateway tests: connects (or reports the HTTP refusal), records
// every frame, and waits for the next frame matching a predicate.
import WebSocket from 'ws';
import type { ServerFrame } from '../../contract';
import { recordResponse } from './secret-scan';

export interface ConnectOptions {
  token?: string;
  deviceId?: string;
  sessionId?: string;
  /** Extra query string parameters (`token`, `device_id`, `session_id` the browser way). */
  query?: Record<string, string>;
  headers?: Record<string, string>;
}

export interface Refusal {
  status: number;
  body: unknown;
}

export class RefusedError extends Error {
  constructor(readonly refusal: Refusal) {
    super(`gateway refused the upgrade: ${refusal.status} ${JSON.stringify(refusal.body)}`);
  }
}

type Frame<T extends ServerFrame['type']> = Extract<ServerFrame, { type: T }>;

const WAIT_MS = 30_000;

export class TestSocket {
  /** Every frame received, in order. */
  readonly received: ServerFrame[] = [];
  private readonly unread: ServerFrame[] = [];
  private readonly listeners = new Set<() => void>();
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const text = data.toString();
      recordResponse(text);
      const frame = JSON.parse(text) as ServerFrame;
      this.received.push(frame);
      this.unread.push(frame);
      for (const listener of this.listeners) listener();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static open(url: string, options: ConnectOptions = {}): Promise<TestSocket> {
    const target = new URL(url);
    for (const [k, v] of Object.entries(options.query ?? {})) target.searchParams.set(k, v);
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.Authorization = `Bearer ${options.token}`;
    if (options.deviceId) headers['Device-Id'] = options.deviceId;
    if (options.sessionId) headers['Session-Id'] = options.sessionId;
    const ws = new WebSocket(target, { headers });
    const socket = new TestSocket(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(socket));
      ws.once('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // keep the text
          }
          reject(new RefusedError({ status: res.statusCode ?? 0, body }));
        });
      });
      ws.once('error', reject);
    });
  }

  /** Connect expecting a refusal; fails the test if the upgrade succeeds. */
  static async refusal(url: string, options: ConnectOptions = {}): Promise<Refusal> {
    try {
      const socket = await TestSocket.open(url, options);
      socket.ws.terminate();
    } catch (error) {
      if (error instanceof RefusedError) return error.refusal;
      throw error;
    }
    throw new Error('the gateway accepted a connection it should have refused');
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** The next unread frame of `type` (matching `where`), waiting for it if need be. */
  next<T extends ServerFrame['type']>(type: T, where: (frame: Frame<T>) => boolean = () => true, ms = WAIT_MS): Promise<Frame<T>> {
    const take = (): Frame<T> | undefined => {
      const index = this.unread.findIndex((f) => f.type === type && where(f as Frame<T>));
      return index < 0 ? undefined : (this.unread.splice(index, 1)[0] as Frame<T>);
    };
    const found = take();
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`no ${type} frame within ${ms} ms; received ${JSON.stringify(this.received)}`));
      }, ms);
      const check = (): void => {
        const frame = take();
        if (!frame) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(frame);
      };
      this.listeners.add(check);
    });
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
    await this.closed;
  }
}
