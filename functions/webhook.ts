// A function config that runs as an HTTPS webhook: one signed JSON POST per call.
//
// Signature scheme (documented for receivers in README.md, "Webhook signatures"):
//   X-Switchboard-Timestamp: <unix seconds when the request was signed>
//   X-Switchboard-Signature: v1=<lowercase hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
// The secret is the config's webhook secret (`whsec_...`), used as the HMAC key as is (its UTF-8
// bytes). Receivers recompute the HMAC over the exact bytes received, compare in constant time and
// refuse timestamps too far from their clock (replay). `Idempotency-Key` carries the message id,
// identical on every retry of the same message, so a receiver can answer a retry without acting twice.
//
// Egress: the URL is checked statically (scheme, literal addresses) and every socket resolves
// through the egress policy (lib/egress-fetch.ts); redirects are never followed.
import { createHmac, randomBytes } from 'node:crypto';
import type { BlockList } from 'node:net';
import { checkUrlStatic } from '../lib/egress';
import { DEFAULT_GAP_MS, policedFetch } from '../lib/egress-fetch';
import { FUNCTION_FAILURE, FunctionCallError, httpStatusError } from './errors';
import type { FunctionCallContext, FunctionCallResult } from './types';

/** Largest response body read; a larger one fails the call (ResponseTooLargeError, classified in errors.ts). */
export const MAX_RESPONSE_BYTES = 256 * 1024;
/** How much of an error body is read, and how much of it goes into the message. */
const ERROR_BODY_BYTES = 4096;
const ERROR_DETAIL_CHARS = 200;

export const SIGNATURE_HEADER = 'X-Switchboard-Signature';
export const TIMESTAMP_HEADER = 'X-Switchboard-Timestamp';

/** A new webhook secret: `whsec_` and 32 random bytes, base64url. */
export function generateWebhookSecret(): string {
  return 'whsec_' + randomBytes(32).toString('base64url');
}

/** The X-Switchboard-Signature header value for `body` sent at `timestamp` (unix seconds). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return 'v1=' + createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

/** The JSON body a webhook receives. */
export interface WebhookBody {
  function: string;
  arguments: Record<string, unknown>;
  user_id: string;
  session_id: string | null;
  message_id: string;
}

/**
 * The first `cap` bytes of an error body (only quoted in a message); the rest is never read and
 * the body is cancelled. A result body is read whole with `text()`: the bounded fetch caps it.
 */
async function readPrefix(response: Response, cap: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < cap) {
      const { done, value } = await reader.read();
      if (done) break;
      const piece = value.subarray(0, cap - size);
      chunks.push(piece);
      size += piece.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

function isJson(contentType: string | null): boolean {
  const essence = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return essence === 'application/json' || essence.endsWith('+json');
}

/** The result the session gets from a 2xx body. */
function resultOf(contentType: string | null, text: string): FunctionCallResult {
  if (!isJson(contentType)) return { result: text, contentType: 'text' };
  if (!text.trim()) return { result: '', contentType: 'text' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new FunctionCallError(FUNCTION_FAILURE.badResponse, 'the webhook answered with Content-Type JSON but a body that is not JSON', {
      retryable: true,
    });
  }
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) && typeof (parsed as { result?: unknown }).result === 'string') {
    return { result: (parsed as { result: string }).result, contentType: 'text' };
  }
  return { result: JSON.stringify(parsed), contentType: 'json' };
}

export async function callWebhook(options: {
  url: string;
  secret: string;
  arguments: Record<string, unknown>;
  context: FunctionCallContext;
  egressAllow: BlockList;
  signal: AbortSignal;
  gapMs?: number;
  /** Seconds since the epoch to sign with; tests only. */
  now?: () => number;
}): Promise<FunctionCallResult> {
  checkUrlStatic('webhook_url', options.url, options.egressAllow);
  const { context } = options;
  const payload: WebhookBody = {
    function: context.functionName,
    arguments: options.arguments,
    user_id: context.userId,
    session_id: context.sessionId,
    message_id: context.messageId,
  };
  const body = JSON.stringify(payload);
  const timestamp = Math.floor(options.now ? options.now() : Date.now() / 1000);
  // The call's deadline is the signal's (callFunction); the body is capped and gap-timed here.
  const bounds = { what: "the webhook's response", maxBytes: MAX_RESPONSE_BYTES, gapMs: options.gapMs ?? DEFAULT_GAP_MS };
  const response = await policedFetch(
    'webhook_url',
    options.egressAllow,
    bounds,
  )(options.url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/plain;q=0.9, */*;q=0.1',
      'User-Agent': 'Switchboard-Webhook/1',
      'Idempotency-Key': context.messageId,
      [TIMESTAMP_HEADER]: String(timestamp),
      [SIGNATURE_HEADER]: signWebhook(options.secret, timestamp, body),
    },
    body,
    signal: options.signal,
  });

  if (response.status < 200 || response.status >= 300) {
    const text = (await readPrefix(response, ERROR_BODY_BYTES).catch(() => '')).replace(/\s+/g, ' ').trim();
    const detail = text.length > ERROR_DETAIL_CHARS ? text.slice(0, ERROR_DETAIL_CHARS) + '…' : text;
    throw httpStatusError(response.status, detail, response.headers.get('retry-after'));
  }
  const text = await response.text();
  return resultOf(response.headers.get('content-type'), text);
}
