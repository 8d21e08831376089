// Bearer JWT on every route it is mounted before; sets ctx.state.user.
import type { Context, Next } from 'koa';
import { bearerToken, refuseCodecToken, type TokenVerifier } from '../../lib/auth';
import { UnauthorizedError } from '../../lib/errors';

export function authenticate(verifier: TokenVerifier) {
  return async function authenticateMiddleware(ctx: Context, next: Next): Promise<void> {
    const token = bearerToken(ctx.get('Authorization'));
    if (!token) throw new UnauthorizedError('Missing bearer token');
    ctx.state.user = await verifier.verify(token);
    await next();
  };
}

/** The API is for user tokens: a codec token (lib/auth.ts) gets a 403. After `authenticate`. */
export async function refuseCodecTokens(ctx: Context, next: Next): Promise<void> {
  if (ctx.state.user) refuseCodecToken(ctx.state.user);
  await next();
}
