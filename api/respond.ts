// The response envelope of the seed: { code, message, data }.
import type { Context } from 'koa';

export interface Envelope<T> {
  code: number;
  message: string;
  data: T;
}

export function respond<T>(ctx: Context, data: T, options: { status?: number; message?: string } = {}): void {
  const status = options.status ?? 200;
  ctx.status = status;
  ctx.body = { code: status, message: options.message ?? 'ok', data } satisfies Envelope<T>;
}

/** The authenticated caller; the authenticate middleware runs before every /api route. */
export function userOf(ctx: Context): string {
  const user = ctx.state.user;
  if (!user) throw new Error('authenticate middleware must run before this route');
  return user.userId;
}
