// Bearer JWT (or user API key, lib/auth.ts) on every route it is mounted before; sets ctx.state.user. A token verified before
// (lib/auth remembers them) is accepted without a promise; others wait for the verification.
import type { Context, Next } from 'koa';
import { bearerToken, refuseApiKey, refuseCodecToken, type TokenVerifier } from '../../lib/auth';
import { UnauthorizedError } from '../../lib/errors';

export function authenticate(verifier: TokenVerifier) {
  return function authenticateMiddleware(ctx: Context, next: Next): Promise<void> {
    const token = bearerToken(ctx.get('Authorization'));
    if (!token) throw new UnauthorizedError('Missing bearer token');
    const known = verifier.known?.(token);
    if (known) {
      ctx.state.user = known;
      return next();
    }
    return verifier.verify(token).then((user) => {
      ctx.state.user = user;
      return next();
    });
  };
}

/** /v1 takes user tokens and API keys: a codec token (lib/auth.ts) gets a 403. After `authenticate`. */
export function refuseCodecTokens(ctx: Context, next: Next): Promise<void> {
  if (ctx.state.user) refuseCodecToken(ctx.state.user);
  return next();
}

/** /api/v1 is for user tokens: a codec token or an API key gets a 403. After `authenticate`. */
export function userTokensOnly(ctx: Context, next: Next): Promise<void> {
  if (ctx.state.user) refuseApiKey(ctx.state.user);
  return refuseCodecTokens(ctx, next);
}
