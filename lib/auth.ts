// JWT verification for REST and WebSocket alike: HS256 with JWT_SECRET, or RS256/ES256 keys from
// JWT_JWKS_URL. The algorithm list is fixed per mode, so `alg: none` and algorithm-confusion
// tokens are refused by jose before any claim is read.
import { createRemoteJWKSet, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
import type { AppConfig } from '../config';
import type { Secrets } from '../config/secrets';
import { UnauthorizedError } from './errors';

export interface Principal {
  userId: string;
}

export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

/** User ids appear in workflow ids and URLs; keep them to a safe, bounded alphabet. */
export const USER_ID_PATTERN = /^[A-Za-z0-9._@:-]{1,128}$/;

export function createTokenVerifier(
  config: Pick<AppConfig, 'JWT_JWKS_URL' | 'JWT_ISSUER' | 'JWT_AUDIENCE'>,
  secrets: Pick<Secrets, 'jwtSecret'>,
): TokenVerifier {
  const options = {
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    clockTolerance: 5,
  };
  let check: (token: string) => ReturnType<typeof jwtVerify>;
  if (config.JWT_JWKS_URL) {
    const jwks: JWTVerifyGetKey = createRemoteJWKSet(new URL(config.JWT_JWKS_URL));
    check = (token) => jwtVerify(token, jwks, { ...options, algorithms: ['RS256', 'ES256'] });
  } else if (secrets.jwtSecret) {
    const key = new TextEncoder().encode(secrets.jwtSecret);
    check = (token) => jwtVerify(token, key, { ...options, algorithms: ['HS256'] });
  } else {
    throw new Error('JWT verification needs JWT_SECRET or JWT_JWKS_URL');
  }
  return {
    async verify(token) {
      let payload;
      try {
        ({ payload } = await check(token));
      } catch (error) {
        const code = (error as { code?: string }).code;
        throw new UnauthorizedError(code === 'ERR_JWT_EXPIRED' ? 'Token expired' : 'Invalid token');
      }
      if (typeof payload.sub !== 'string' || !USER_ID_PATTERN.test(payload.sub)) {
        throw new UnauthorizedError('Token has no valid subject (sub)');
      }
      return { userId: payload.sub };
    },
  };
}

/** Mint an HS256 token for local use (npm run token) and tests. */
export async function mintToken(
  secret: string,
  userId: string,
  options: { expiresIn?: string; issuer?: string; audience?: string } = {},
): Promise<string> {
  let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(userId).setIssuedAt();
  jwt = jwt.setExpirationTime(options.expiresIn ?? '12h');
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** The bearer token from an Authorization header value, if it is one. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}
