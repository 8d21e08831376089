// Everything decided before the WebSocket upgrade: is this a well-formed upgrade to /ws, who is
// the caller, which device and (optionally) which session. Failures are plain HTTP answers in the
// REST error envelope, and no socket is ever opened for them.
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { bearerToken, refuseCodecToken, type Principal, type TokenVerifier } from '../lib/auth';
import { AppError, BadRequestError, errorBody, MisdirectedRequestError, UnauthorizedError } from '../lib/errors';
import { isAllowedOrigin, parseHost, unservedHost, type OriginPolicy } from '../lib/host-policy';
import { SESSION_ID_PATTERN } from '../sessions/session-store';

export const WS_PATH = '/ws';
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export interface Handshake {
  principal: Principal;
  deviceId: string | null;
  /** Present when the client asks to resume. */
  sessionId: string | null;
  /** The client wants streamed answers (`delta` frames); a `session_config` frame can change it. */
  stream: boolean;
}

/** The same 404 for a session that does not exist and for another user's: nothing leaks. */
export class SessionNotFoundError extends AppError {
  constructor() {
    super(404, 'session_not_found', 'No such session for this user');
  }
}

/** The caller's own session has ended (closed or expired); it cannot be resumed, open a new one. */
export class SessionEndedError extends AppError {
  constructor(status: string) {
    super(410, 'session_ended', `This session is ${status}; open a new session`);
  }
}

/** A browser page on an origin that is neither the console's nor in ALLOWED_ORIGINS (cross-site WebSocket hijacking). */
export class OriginNotAllowedError extends AppError {
  constructor(origin: string) {
    super(403, 'origin_not_allowed', `Origin ${JSON.stringify(origin)} may not open a socket here; add it to ALLOWED_ORIGINS`);
  }
}

export interface HostRules {
  /** Names served besides IP literals and localhost (AppConfig.servedHosts). */
  served: readonly string[];
  trustProxy: boolean;
  origins: OriginPolicy;
}

/** The refusal of a request naming a host this deployment does not serve (DNS rebinding), as the API answers it. */
export function hostRefusal(req: IncomingMessage, rules: HostRules): AppError | undefined {
  const refused = unservedHost({ host: req.headers.host, forwardedHost: req.headers['x-forwarded-host'] }, rules.served, rules.trustProxy);
  return refused === undefined ? undefined : new MisdirectedRequestError(refused);
}

/**
 * The refusal of an upgrade from a browser page of a foreign origin. No Origin header: not a
 * browser (devices, SDKs), nothing to protect against, accepted.
 */
export function originRefusal(req: IncomingMessage, rules: HostRules): AppError | undefined {
  const origin = single(req.headers.origin);
  if (origin === undefined) return undefined;
  const requestHostname = parseHost(req.headers.host ?? '')?.hostname;
  return isAllowedOrigin(origin, requestHostname, rules.origins) ? undefined : new OriginNotAllowedError(origin);
}

/** The request target as a URL; undefined when it cannot be parsed (never a throw inside an event handler). */
export function requestUrl(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? '/', 'http://gateway.invalid');
  } catch {
    return undefined;
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Header first (non-browser clients), then the query parameter (browsers cannot set headers). */
function headerOrQuery(req: IncomingMessage, url: URL, header: string, param: string): string | undefined {
  const fromHeader = single(req.headers[header]);
  if (fromHeader !== undefined && fromHeader !== '') return fromHeader;
  return url.searchParams.get(param) ?? undefined;
}

/** ws checks these too, but only after our session work; checking first avoids starting sessions for junk. */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const key = single(req.headers['sec-websocket-key']);
  const version = single(req.headers['sec-websocket-version']);
  return (
    req.method === 'GET' &&
    single(req.headers.upgrade)?.toLowerCase() === 'websocket' &&
    typeof key === 'string' &&
    /^[+/0-9A-Za-z]{22}==$/.test(key) &&
    (version === '8' || version === '13')
  );
}

export async function readHandshake(req: IncomingMessage, url: URL, verifier: TokenVerifier): Promise<Handshake> {
  // A user JWT or a user API key (sb-…, looked up on every upgrade: lib/auth.ts, withApiKeys).
  const token = bearerToken(single(req.headers.authorization)) ?? url.searchParams.get('token') ?? undefined;
  if (!token) throw new UnauthorizedError('Missing bearer token (Authorization header or ?token=)');
  const principal = await verifier.verify(token);
  refuseCodecToken(principal);

  const deviceId = headerOrQuery(req, url, 'device-id', 'device_id') ?? null;
  if (deviceId !== null && !DEVICE_ID_PATTERN.test(deviceId)) {
    throw new BadRequestError('Device-Id must be 1-128 characters of A-Z a-z 0-9 . _ : -', 'invalid_device_id');
  }
  const sessionId = headerOrQuery(req, url, 'session-id', 'session_id') ?? null;
  if (sessionId !== null && !SESSION_ID_PATTERN.test(sessionId)) {
    throw new BadRequestError('Session-Id must be 1-128 characters of A-Z a-z 0-9 _ -', 'invalid_session_id');
  }
  const stream = headerOrQuery(req, url, 'stream', 'stream') ?? 'false';
  if (!/^(true|false|1|0)$/.test(stream)) throw new BadRequestError('Stream must be true or false', 'invalid_stream');
  return { principal, deviceId, sessionId, stream: stream === 'true' || stream === '1' };
}

/** Answer an upgrade request with a plain HTTP error in the REST envelope and close the socket. */
export function rejectUpgrade(socket: Duplex, error: AppError): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(errorBody(error));
  const headers: Record<string, string> = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    Connection: 'close',
    ...error.details.headers,
  };
  const head = [`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}`];
  for (const [name, value] of Object.entries(headers)) head.push(`${name}: ${value}`);
  socket.once('finish', () => socket.destroy());
  socket.end(head.join('\r\n') + '\r\n\r\n' + body);
}
