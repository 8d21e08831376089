// A real webhook receiver on 127.0.0.1 for tests: verifies X-Switchboard-Signature with the secret
// the way a user's receiver would (README.md, "Webhook signatures"; 401 when it does not match),
// records what it got, and answers as scripted, one behaviour per call:
//
//   const hook = await startWebhookReceiver(secret);
//   hook.script({ status: 500 }, { status: 200, json: { result: 'done' } });
//   hook.script({ status: 429, retryAfter: 7 }, { status: 302, location: 'http://169.254.169.254/' });
//   hook.script({ delayMs: 2000, status: 200, text: 'late' }, { status: 200, bytes: 300 * 1024 });
//   hook.url; hook.received[0].body / .headers['idempotency-key'] / .signatureValid; await hook.close();
//
// Unscripted calls answer 200 `{"ok":true}`.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface WebhookBehaviour {
  status?: number;
  json?: unknown;
  text?: string;
  /** A body of this many bytes ('x' repeated), sent as text/plain in 16 KiB chunks without a Content-Length. */
  bytes?: number;
  /** Wait this long before answering. */
  delayMs?: number;
  /** A Location header (for 3xx). */
  location?: string;
  /** A Retry-After header, in seconds. */
  retryAfter?: number;
}

export interface ReceivedWebhook {
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  body: unknown;
  signatureValid: boolean;
}

export interface WebhookReceiver {
  url: string;
  /** The secret signatures are checked with; set it once the API has made one (a config's `webhook_secret`). */
  secret: string;
  received: ReceivedWebhook[];
  script(...behaviours: WebhookBehaviour[]): void;
  close(): Promise<void>;
}

/** Verification as documented for users: HMAC-SHA256 over "<timestamp>.<raw body>", constant-time compare, 5-minute window. */
export function verifySignature(secret: string, headers: http.IncomingHttpHeaders, rawBody: string): boolean {
  const timestamp = String(headers['x-switchboard-timestamp'] ?? '');
  const signature = String(headers['x-switchboard-signature'] ?? '');
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = 'v1=' + createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex');
  return signature.length === expected.length && timingSafeEqual(Buffer.from(signature), Buffer.from(expected));
}

export async function startWebhookReceiver(secret: string): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const queue: WebhookBehaviour[] = [];
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = undefined;
      }
      const signatureValid = verifySignature(receiver.secret, req.headers, rawBody);
      received.push({ headers: req.headers, rawBody, body, signatureValid });
      if (!signatureValid) {
        res.writeHead(401, { 'content-type': 'text/plain' }).end('bad signature');
        return;
      }
      const b = queue.shift() ?? { status: 200, json: { ok: true } };
      const answer = () => {
        const headers: Record<string, string> = {};
        if (b.location) headers.location = b.location;
        if (b.retryAfter !== undefined) headers['retry-after'] = String(b.retryAfter);
        const status = b.status ?? 200;
        if (b.bytes !== undefined) {
          res.writeHead(status, { ...headers, 'content-type': 'text/plain' });
          const chunk = Buffer.alloc(16 * 1024, 'x');
          let left = b.bytes;
          const pump = () => {
            while (left > 0) {
              const piece = chunk.subarray(0, Math.min(left, chunk.length));
              left -= piece.length;
              if (!res.write(piece)) return void res.once('drain', pump);
            }
            res.end();
          };
          res.on('error', () => undefined);
          pump();
          return;
        }
        if (b.json !== undefined) {
          res.writeHead(status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(b.json));
          return;
        }
        res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end(b.text ?? '');
      };
      if (b.delayMs) setTimeout(answer, b.delayMs);
      else answer();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const receiver: WebhookReceiver = {
    url: `http://127.0.0.1:${port}/hook`,
    secret,
    received,
    script(...behaviours) {
      queue.push(...behaviours);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return receiver;
}
