// The codec endpoint (README, "Encrypted payloads and the codec endpoint"): POST /codec/decode and
// /codec/encode in the codec server protocol the Temporal UI and CLI speak, body and answer
// `{"payloads":[{"metadata":{k: base64},"data": base64}]}` (not our envelope; errors are). Served
// only with TEMPORAL_PAYLOAD_KEY. The UI calls it from the browser, so it answers CORS for the
// configured UI origins (preflight included), and it wants a bearer token with the `codec` scope:
// decoding is reading every session in plain text, which a plain user token must not allow.
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import type { PayloadCodec } from '@temporalio/common';
import { bearerToken, CODEC_SCOPE } from '../lib/auth';
import { BadRequestError, ForbiddenError } from '../lib/errors';
import { payloadFromJson, payloadToJson } from '../lib/payload-codec';
import { parseOrThrow } from '../lib/validate';
import { jsonBody } from './middleware/json-body';
import { KNOWN_METHODS, route, type RouteDocs } from './route-docs';

export const CODEC_PREFIX = '/codec';
/**
 * The codec token as an HttpOnly, SameSite=Strict cookie on /codec, set by `POST /codec/session`
 * (the web console does it for an auditor): the Temporal UI, with its "include cross-origin
 * credentials" setting on, then sends it with every codec call. The UI cannot send a bearer token
 * of ours (it forwards only its own sign-in's token), and the cookie is never readable by script
 * nor sent from another site.
 */
export const CODEC_COOKIE = 'switchboard_codec';
const CODEC_COOKIE_OPTIONS = { httpOnly: true, sameSite: 'strict', path: CODEC_PREFIX, overwrite: true } as const;
/**
 * A request may carry a whole event's payloads: a session's input holds the cached configs (up to
 * about 300 KB, ARCHITECTURE.md "Bounds"), beyond the API's own body limit; Temporal refuses
 * payloads over 2 MB and messages over 4 MB.
 */
export const CODEC_BODY_LIMIT_BYTES = 4 * 1024 * 1024;
/** The UI sends Content-Type and X-Namespace, and Authorization (plus Authorization-Extras, its ID token) when told to pass its token. */
const ALLOWED_HEADERS = 'authorization, authorization-extras, content-type, x-namespace';
const PREFLIGHT_MAX_AGE_S = 600;

const base64 = z.base64('must be base64');
const payloadsSchema = z
  .object({
    payloads: z
      .array(
        z.object({
          metadata: z.record(z.string(), base64).nullish(),
          data: base64.nullish(),
        }),
      )
      .max(10_000),
  })
  .meta({ id: 'Payloads', description: 'Temporal payloads as the codec server protocol carries them: metadata values and data in base64' });

export interface CodecRouteOptions {
  docs: RouteDocs;
  codec: PayloadCodec;
}

export function createCodecRouter({ docs, codec }: CodecRouteOptions): Router {
  const router = new Router({ prefix: CODEC_PREFIX, methods: KNOWN_METHODS });
  const tag = 'Codec';
  const doc = {
    tag,
    body: payloadsSchema,
    // The protocol's own shape, not the envelope.
    produces: 'application/json',
    errors: [403, 404],
  };
  for (const [direction, summary] of [
    ['decode', 'Decrypt Temporal payloads (the Temporal UI\'s remote codec; needs a token with scope "codec")'],
    ['encode', 'Encrypt Temporal payloads with the current payload key (needs a token with scope "codec")'],
  ] as const) {
    route(router, docs, 'post', `/${direction}`, { ...doc, summary }, async (ctx) => {
      const { payloads } = parseOrThrow(payloadsSchema, ctx.request.body);
      let converted;
      try {
        converted = await codec[direction](payloads.map(payloadFromJson));
      } catch (error) {
        // A payload under a key this process does not have, or altered: the caller's to fix, not a 500.
        throw new BadRequestError(`Cannot ${direction} the payloads: ${(error as Error).message}`, 'invalid_payload');
      }
      ctx.status = 200;
      ctx.response.set('Content-Type', 'application/json; charset=utf-8');
      ctx.body = JSON.stringify({ payloads: converted.map(payloadToJson) });
    });
  }
  route(
    router,
    docs,
    'post',
    '/session',
    {
      tag,
      summary: 'Keep this codec token as an HttpOnly cookie for the Temporal UI (its "include cross-origin credentials" setting sends it)',
      errors: [403, 404],
      successStatus: 204,
    },
    (ctx) => {
      const token = bearerToken(ctx.get('Authorization'));
      const expiresAt = ctx.state.user?.expiresAt ?? Date.now();
      ctx.cookies.set(CODEC_COOKIE, token ?? '', {
        ...CODEC_COOKIE_OPTIONS,
        secure: ctx.secure,
        maxAge: Math.max(0, expiresAt - Date.now()),
      });
      ctx.status = 204;
    },
  );
  route(router, docs, 'delete', '/session', { tag, summary: 'Forget the codec cookie', errors: [403, 404], successStatus: 204 }, (ctx) => {
    ctx.cookies.set(CODEC_COOKIE, '', { ...CODEC_COOKIE_OPTIONS, maxAge: 0 });
    ctx.status = 204;
  });
  return router;
}

/** A codec call without an Authorization header presents the cookie's token instead (the Temporal UI's case). */
function tokenFromCookie(ctx: Context, next: Next): Promise<void> {
  const cookie = ctx.cookies.get(CODEC_COOKIE);
  if (!ctx.get('Authorization') && cookie) ctx.request.headers.authorization = `Bearer ${cookie}`;
  return next();
}

/** CORS for the UI's origins: every answer (errors too, so the UI can read them) and the preflight. */
function codecCors(origins: readonly string[]) {
  const allowed = new Set(origins);
  return async function codecCorsMiddleware(ctx: Context, next: Next): Promise<void> {
    ctx.vary('Origin');
    const origin = ctx.get('Origin');
    const known = origin !== '' && allowed.has(origin);
    if (known) {
      ctx.set('Access-Control-Allow-Origin', origin);
      // The UI's "include cross-origin credentials" setting sends credentials: 'include'.
      ctx.set('Access-Control-Allow-Credentials', 'true');
    }
    if (ctx.method === 'OPTIONS' && ctx.get('Access-Control-Request-Method') !== '') {
      // A preflight carries no credentials: it is answered before authentication.
      if (known) {
        ctx.set('Access-Control-Allow-Methods', 'POST, OPTIONS');
        ctx.set('Access-Control-Allow-Headers', ALLOWED_HEADERS);
        ctx.set('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE_S));
      }
      ctx.status = 204;
      return;
    }
    await next();
  };
}

function requireCodecScope(ctx: Context, next: Next): Promise<void> {
  if (!ctx.state.user?.scopes.includes(CODEC_SCOPE)) {
    throw new ForbiddenError(`This token may not use the codec endpoint (it needs scope "${CODEC_SCOPE}": npm run token -- --codec)`);
  }
  return next();
}

/**
 * Everything under /codec: CORS, then the bearer token (`authenticate`, which counts failures per
 * address as the API does) with the codec scope, then the body (with the codec's own limit), then
 * the routes. Other paths go on to `next`.
 */
export function codecEndpoint(options: {
  router: Router;
  origins: readonly string[];
  authenticate: (ctx: Context, next: Next) => Promise<void>;
}) {
  const cors = codecCors(options.origins);
  const body = jsonBody(CODEC_BODY_LIMIT_BYTES);
  const routes = options.router.routes();
  const methods = options.router.allowedMethods();
  return async function codecMiddleware(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== CODEC_PREFIX && !ctx.path.startsWith(`${CODEC_PREFIX}/`)) return next();
    await cors(ctx, () =>
      tokenFromCookie(ctx, () =>
        options.authenticate(ctx, () =>
          requireCodecScope(ctx, () =>
            body(ctx, () =>
              routes(ctx as Parameters<typeof routes>[0], () => methods(ctx as Parameters<typeof methods>[0], () => Promise.resolve())),
            ),
          ),
        ),
      ),
    );
  };
}
