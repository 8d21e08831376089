// The response envelope of the seed: { code, message, data }, serialised here with a fixed
// content type (Koa would look the type up and serialise an object body itself).
import type { Context } from 'koa';

interface Envelope<T> {
  code: number;
  message: string;
  data: T;
}

const JSON_TYPE = 'application/json; charset=utf-8';
/**
 * Envelopes of shared results, by result: serialised and encoded once however many responses carry
 * them (a string body would be measured and encoded again for each response).
 */
const sharedJson = new WeakMap<object, Buffer>();

export interface RespondOptions {
  status?: number;
  message?: string;
  /**
   * `data` is a result shared by concurrent requests (see lib/coalesce) and never changes: its
   * envelope is serialised once for all of them.
   */
  shared?: boolean;
  /** Envelope fields after `data` (a page's `next_cursor`). */
  extra?: Record<string, unknown>;
}

export function respond<T>(ctx: Context, data: T, options: RespondOptions = {}): void {
  const status = options.status ?? 200;
  const shared = options.shared && !options.extra && typeof data === 'object' && data !== null && !options.message && status === 200;
  let json: string | Buffer | undefined = shared ? sharedJson.get(data) : undefined;
  if (json === undefined) {
    const envelope = { code: status, message: options.message ?? 'ok', data, ...options.extra } satisfies Envelope<T>;
    json = JSON.stringify(envelope);
    if (shared) sharedJson.set(data, (json = Buffer.from(json)));
  }
  ctx.status = status;
  ctx.response.set('Content-Type', JSON_TYPE);
  ctx.body = json;
}

/** The authenticated caller; the authenticate middleware runs before every /api route. */
export function userOf(ctx: Context): string {
  const user = ctx.state.user;
  if (!user) throw new Error('authenticate middleware must run before this route');
  return user.userId;
}
