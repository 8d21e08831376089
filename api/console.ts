// The web console from the API role, same origin as the API: its built files (console/dist, made
// by scripts/build-console.mjs; the favicon at the root), `GET /console/config.json` (where the
// gateway's socket and the Temporal UI are: the gateway may run in another process, so both come
// from configuration), and
// `POST /console/dev-token`, the development sign-in, which exists only while the server signs
// tokens with the secret it generated itself (never in production, never with an operator's
// JWT_SECRET or JWKS). Every console response carries a strict Content-Security-Policy.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import type { AppConfig } from '../config';
import type { ConsoleSettings } from '../contract';
import type { Secrets } from '../config/secrets';
import { isLocalRequest } from '../lib/address';
import { mintToken, USER_ID_PATTERN } from '../lib/auth';
import { ForbiddenError } from '../lib/errors';
import { isServedHost } from '../lib/host-policy';
import { parseOrThrow } from '../lib/validate';

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self' ws: wss:",
  "img-src 'self' data:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONSOLE_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Root files keep their names (browsers ask for /favicon.ico by name): cached a day, not forever. */
const ROOT_FILE_CACHE = 'public, max-age=86400';
const DEV_TOKEN_LIFETIME = '8h';
const DEV_TOKEN_SECONDS = 8 * 3600;

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

export type ConsoleConfig = Pick<
  AppConfig,
  | 'NODE_ENV'
  | 'JWT_SECRET'
  | 'JWT_JWKS_URL'
  | 'JWT_ISSUER'
  | 'JWT_AUDIENCE'
  | 'PUBLIC_HOST'
  | 'GATEWAY_PORT'
  | 'GATEWAY_PUBLIC_URL'
  | 'TEMPORAL_UI_URL'
  | 'TEMPORAL_UI_PORT'
  | 'TEMPORAL_NAMESPACE'
  | 'TEMPORAL_PAYLOAD_KEY'
  | 'embeddedTemporal'
  | 'servedHosts'
  | 'MAX_SESSIONS_PER_USER'
>;

export interface ConsoleOptions {
  /** The built console (console/dist); when it has no index.html, `/` says how to build it. */
  distDir: string;
  config: ConsoleConfig;
  secrets: Pick<Secrets, 'jwtSecret'>;
}

/** The JWT secret when it is the one this server generated for local use (not production, not the operator's). */
export function devSignInSecret(config: ConsoleConfig, secrets: Pick<Secrets, 'jwtSecret'>): string | undefined {
  if (config.NODE_ENV === 'production' || config.JWT_SECRET || config.JWT_JWKS_URL) return undefined;
  return secrets.jwtSecret;
}

/**
 * The gateway's and the Temporal UI's URLs as this browser reaches them: an explicit public URL,
 * else PUBLIC_HOST, else the host name the browser used for the API (only one this deployment
 * serves: never a foreign name), with the configured ports.
 */
export function consoleSettings(config: ConsoleConfig, requestHost: string, devSignIn: boolean): ConsoleSettings {
  const served = requestHost !== '' && isServedHost(requestHost, config.servedHosts);
  const host = config.PUBLIC_HOST ?? (served ? requestHost : '127.0.0.1');
  const temporalUi = config.TEMPORAL_UI_URL ?? (config.embeddedTemporal ? `http://${host}:${config.TEMPORAL_UI_PORT}` : null);
  return {
    websocket_url: config.GATEWAY_PUBLIC_URL ?? `ws://${host}:${config.GATEWAY_PORT}/ws`,
    temporal_ui_url: temporalUi?.replace(/\/+$/, '') ?? null,
    temporal_namespace: config.TEMPORAL_NAMESPACE,
    dev_sign_in: devSignIn,
    payload_encryption: Boolean(config.TEMPORAL_PAYLOAD_KEY),
    max_sessions_per_user: config.MAX_SESSIONS_PER_USER,
  };
}

interface StaticFile {
  body: Buffer;
  type: string;
  cacheControl: string;
}

/** The built files, read once: a handful of small files, served from memory. */
function loadDist(distDir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const index = path.join(distDir, 'index.html');
  if (!existsSync(index)) return files;
  files.set('/', { body: readFileSync(index), type: CONTENT_TYPES['.html']!, cacheControl: 'no-cache' });
  // The files the build copies from console/public, such as /favicon.ico and /favicon.svg.
  for (const entry of readdirSync(distDir, { withFileTypes: true })) {
    const type = CONTENT_TYPES[path.extname(entry.name)];
    if (entry.isFile() && type && entry.name !== 'index.html') {
      files.set(`/${entry.name}`, { body: readFileSync(path.join(distDir, entry.name)), type, cacheControl: ROOT_FILE_CACHE });
    }
  }
  const assets = path.join(distDir, 'assets');
  if (existsSync(assets)) {
    for (const name of readdirSync(assets)) {
      const type = CONTENT_TYPES[path.extname(name)];
      if (type) files.set(`/assets/${name}`, { body: readFileSync(path.join(assets, name)), type, cacheControl: IMMUTABLE });
    }
  }
  return files;
}

const NOT_BUILT =
  '<!doctype html><meta charset="utf-8"><title>Switchboard</title>' +
  '<p>The web console is not built yet: run <code>npm run setup</code> (or <code>npm start</code>), then reload.</p>';

const devTokenBodySchema = z.strictObject({
  user: z.string().trim().regex(USER_ID_PATTERN, `must match ${USER_ID_PATTERN.source}`),
});

/** One middleware for the console's few paths; every other request passes through untouched. */
export function serveConsole(options: ConsoleOptions) {
  const files = loadDist(options.distDir);
  const secret = devSignInSecret(options.config, options.secrets);
  const { config } = options;

  // The console's pages, assets and settings, and the files at its root (/favicon.ico).
  const consolePath = (urlPath: string): boolean =>
    urlPath === '/' || urlPath === '/index.html' || urlPath.startsWith('/assets/') || urlPath.startsWith('/console/') || files.has(urlPath);
  // Every other path (the API's) goes straight on, without a promise of this middleware's own.
  return function webConsole(ctx: Context, next: Next): Promise<void> {
    return consolePath(ctx.path) ? serve(ctx, next) : next();
  };

  async function serve(ctx: Context, next: Next): Promise<void> {
    const { path: urlPath, method } = ctx;
    const read = method === 'GET' || method === 'HEAD';
    if (read && (urlPath === '/' || urlPath === '/index.html' || urlPath.startsWith('/assets/') || files.has(urlPath))) {
      const file = files.get(urlPath === '/index.html' ? '/' : urlPath);
      if (!file && urlPath.startsWith('/assets/')) return next();
      ctx.set(SECURITY_HEADERS);
      if (!file) {
        ctx.status = 503;
        ctx.set('Cache-Control', 'no-store');
        ctx.type = CONTENT_TYPES['.html']!;
        ctx.body = NOT_BUILT;
        return;
      }
      ctx.set('Cache-Control', file.cacheControl);
      ctx.type = file.type;
      ctx.body = file.body;
      return;
    }
    if (read && urlPath === '/console/config.json') {
      ctx.set(SECURITY_HEADERS);
      ctx.set('Cache-Control', 'no-store');
      ctx.type = 'application/json; charset=utf-8';
      ctx.body = JSON.stringify(consoleSettings(config, ctx.hostname, secret !== undefined));
      return;
    }
    if (method === 'POST' && urlPath === '/console/dev-token' && secret !== undefined) {
      // It signs in as anyone: only for someone at this machine (the socket's peer, not a header's word).
      if (!isLocalRequest(ctx.req.socket.remoteAddress, ctx.req.headers['x-forwarded-for'])) {
        throw new ForbiddenError('The development sign-in answers only requests from this machine (loopback)');
      }
      const { user } = parseOrThrow(devTokenBodySchema, ctx.request.body ?? {});
      const token = await mintToken(secret, user, {
        expiresIn: DEV_TOKEN_LIFETIME,
        issuer: config.JWT_ISSUER,
        audience: config.JWT_AUDIENCE,
      });
      ctx.set(SECURITY_HEADERS);
      ctx.set('Cache-Control', 'no-store');
      ctx.type = 'application/json; charset=utf-8';
      ctx.body = JSON.stringify({ code: 200, message: 'ok', data: { token, user, expires_in: DEV_TOKEN_SECONDS } });
      return;
    }
    return next();
  }
}
