// JWT verification for REST and WebSocket alike: HS256 with JWT_SECRET, or RS256/ES256 keys from
// JWT_JWKS_URL. The algorithm list is fixed per mode, so `alg: none` and algorithm-confusion
// tokens are refused by jose before any claim is read.
import { createRemoteJWKSet, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
import { isApiKey } from './api-keys';
import { ForbiddenError, UnauthorizedError } from './errors';

export interface Principal {
  userId: string;
  /** When the token expires (epoch ms): a socket opened with it is closed then. */
  expiresAt: number;
  /** The token's `scope` claim (space-separated, or a list), e.g. `codec` for the codec endpoint. */
  scopes: readonly string[];
  /** Set when a user API key (`sb-…`) authenticated the request: the key's id. */
  apiKeyId?: number;
}

/** The scope a token needs for the codec endpoint (`npm run token -- --codec`). */
export const CODEC_SCOPE = 'codec';

/**
 * A codec token only decodes and encodes payloads (it sits in the Temporal UI's cookie, and an
 * operator hands it out for that): the API and the gateway refuse it, with a 403.
 */
export function refuseCodecToken(principal: Principal): void {
  if (principal.scopes.includes(CODEC_SCOPE)) {
    throw new ForbiddenError(`A token with scope "${CODEC_SCOPE}" may only use the codec endpoint; use a user token here`);
  }
}

/**
 * An API key authenticates the OpenAI-compatible surface (/v1) and the WebSocket; managing keys
 * and configs under /api/v1 takes a user token (a stolen key cannot make itself more keys): 403.
 */
export function refuseApiKey(principal: Principal): void {
  if (principal.apiKeyId !== undefined) {
    throw new ForbiddenError('An API key may only use /v1 and the WebSocket; use a user token (JWT) here');
  }
}

function scopesOf(claim: unknown): string[] {
  if (typeof claim === 'string') return claim.split(' ').filter(Boolean);
  if (Array.isArray(claim)) return claim.filter((s): s is string => typeof s === 'string');
  return [];
}

export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
  /**
   * The principal of a token verified before and still remembered (see `verify`), without a
   * promise: the REST API's hot path answers most requests from it. Undefined: call `verify`.
   */
  known?(token: string): Principal | undefined;
}

/** User ids appear in workflow ids and URLs; keep them to a safe, bounded alphabet. */
export const USER_ID_PATTERN = /^[A-Za-z0-9._@:-]{1,128}$/;

const CLOCK_TOLERANCE_S = 5;
/** The longest a token may be valid for unless JWT_MAX_LIFETIME says otherwise. */
const DEFAULT_MAX_LIFETIME_MS = 24 * 60 * 60_000;

/** How many verified tokens a verifier remembers, and for how long at most (JWKS key rotation). */
const VERIFIED_CACHE_SIZE = 10_000;
const VERIFIED_CACHE_MAX_MS = 60_000;

export function createTokenVerifier(
  // The config module's AppConfig and Secrets fit these (lib/ sits below config/).
  config: { JWT_JWKS_URL?: string; JWT_ISSUER?: string; JWT_AUDIENCE?: string; JWT_MAX_LIFETIME?: number },
  secrets: { jwtSecret?: string },
  /** The clock for expiry (tests move it). */
  now: () => number = Date.now,
): TokenVerifier {
  const options = {
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    clockTolerance: CLOCK_TOLERANCE_S,
    // A token without an expiry would be good forever.
    requiredClaims: ['exp'],
  };
  const maxLifetimeMs = config.JWT_MAX_LIFETIME ?? DEFAULT_MAX_LIFETIME_MS;
  let check: (token: string) => ReturnType<typeof jwtVerify>;
  if (config.JWT_JWKS_URL) {
    const jwks: JWTVerifyGetKey = createRemoteJWKSet(new URL(config.JWT_JWKS_URL));
    check = (token) => jwtVerify(token, jwks, { ...options, currentDate: new Date(now()), algorithms: ['RS256', 'ES256'] });
  } else if (secrets.jwtSecret) {
    // Imported once: given raw bytes, jose imports the key again for every token.
    const key = crypto.subtle.importKey('raw', new TextEncoder().encode(secrets.jwtSecret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'verify',
    ]);
    key.catch(() => undefined); // reported by the first verify
    check = async (token) => jwtVerify(token, await key, { ...options, currentDate: new Date(now()), algorithms: ['HS256'] });
  } else {
    throw new Error('JWT verification needs JWT_SECRET or JWT_JWKS_URL');
  }
  // A client sends the same token with every request: remember verified ones (never failures)
  // until they expire, at most a minute, so a key removed from the JWKS stops working soon.
  const verified = new Map<string, { principal: Principal; until: number }>();
  const known = (token: string): Principal | undefined => {
    const cached = verified.get(token);
    if (!cached) return undefined;
    if (cached.until > now()) return cached.principal;
    verified.delete(token);
    return undefined;
  };
  return {
    known,
    async verify(token) {
      const cached = known(token);
      if (cached) return cached;
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
      const expiresAt = (payload.exp ?? 0) * 1000;
      if (expiresAt - now() > maxLifetimeMs + CLOCK_TOLERANCE_S * 1000) {
        throw new UnauthorizedError(`Token expires too far ahead (at most ${Math.round(maxLifetimeMs / 60_000)} minutes)`);
      }
      const principal: Principal = { userId: payload.sub, expiresAt, scopes: scopesOf(payload.scope) };
      const until = Math.min(now() + VERIFIED_CACHE_MAX_MS, expiresAt);
      if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value!);
      verified.set(token, { principal, until });
      return principal;
    },
  };
}

/**
 * A verifier that takes user API keys (`sb-…`, checked by `keys`: a database lookup) besides what
 * `tokens` takes (JWTs). Keys are never remembered (`known` is for JWTs only): a revoked key fails
 * with its next request, on every replica.
 */
export function withApiKeys(tokens: TokenVerifier, keys: (key: string) => Promise<Principal>): TokenVerifier {
  return {
    known: (token) => (isApiKey(token) ? undefined : tokens.known?.(token)),
    verify: (token) => (isApiKey(token) ? keys(token) : tokens.verify(token)),
  };
}

/** Mint an HS256 token for local use (npm run token) and tests. */
export async function mintToken(
  secret: string,
  userId: string,
  options: { expiresIn?: string; issuer?: string; audience?: string; scopes?: readonly string[] } = {},
): Promise<string> {
  let jwt = new SignJWT(options.scopes?.length ? { scope: options.scopes.join(' ') } : {})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt();
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
