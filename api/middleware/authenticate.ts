// Bearer JWT on every route it is mounted before; sets ctx.state.user.
import type { Context, Next } from 'koa';
import { bearerToken, type TokenVerifier } from '../../lib/auth';
import { UnauthorizedError } from '../../lib/errors';

export function authenticate(verifier: TokenVerifier) {
  return async function authenticateMiddleware(ctx: Context, next: Next): Promise<void> {
    const token = bearerToken(ctx.get('Authorization'));
    if (!token) throw new UnauthorizedError('Missing bearer token');
    ctx.state.user = await verifier.verify(token);
    await next();
  };
}
