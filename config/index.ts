// The one place the environment is read. Everything else receives a frozen `AppConfig`.
import { accessSync, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { DEFAULT_GAP_MS } from '../lib/egress-fetch';
import { fieldErrors } from '../lib/validate';
import { isAlwaysServed, normalizeHostPattern, normalizeOrigin, parseHost } from '../lib/host-policy';

const port = z.coerce.number().int().min(0).max(65535);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const optionalUrl = optionalString.pipe(z.url().optional());

/** '30m', '90s', '1h', '250ms' or a bare number of milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 'ms'] ?? 1;
  return Math.round(Number(match[1]) * unit);
}

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like 30m, 90s or 1h, got "${text}"` });
    return z.NEVER;
  }
  return ms;
});

/** A comma-separated list of CIDRs (or single addresses); validated here so a typo stops start-up. */
const cidrList = z
  .string()
  .default('')
  .transform((text, ctx) => {
    const entries = text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const entry of entries) {
      const [address, prefix] = entry.split('/');
      const family = isIP(address ?? '');
      const max = family === 6 ? 128 : 32;
      const prefixOk = prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= max);
      if (family === 0 || !prefixOk) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" is not an IP address or CIDR` });
        return z.NEVER;
      }
    }
    return entries;
  });

/** A comma-separated list, each entry normalised by `normalize` (undefined: refused, naming the entry and `expected`). */
function commaList(normalize: (entry: string) => string | undefined, expected: string) {
  return z
    .string()
    .default('')
    .transform((text, ctx) => {
      const entries: string[] = [];
      for (const entry of text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const normalized = normalize(entry);
        if (normalized === undefined) {
          ctx.addIssue({ code: 'custom', message: `"${entry}" is not ${expected}` });
          return z.NEVER;
        }
        entries.push(normalized);
      }
      return [...new Set(entries)];
    });
}

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .default('')
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().default('127.0.0.1'),
  API_PORT: port.default(8080),
  GATEWAY_PORT: port.default(8081),
  PUBLIC_HOST: optionalString,
  /** Further DNS names the API and gateway answer (Host); IP literals and localhost names always pass. */
  ALLOWED_HOSTS: commaList(normalizeHostPattern, 'a host name like api.example.com or *.example.com (no port, no scheme)'),
  /** Browser origins, besides the console's, allowed to open a WebSocket. */
  ALLOWED_ORIGINS: commaList(normalizeOrigin, 'an origin like https://app.example.com (scheme, host and optional port, no path)'),
  /** The gateway's WebSocket URL as browsers reach it (wss://… behind a proxy); the web console uses it. */
  GATEWAY_PUBLIC_URL: optionalString.pipe(z.url({ protocol: /^wss?$/ }).optional()),
  DATABASE_URL: optionalString.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional(),
  ),
  EMBEDDED_PG_PORT: port.default(5433),
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('ai-sessions'),
  TEMPORAL_TLS: bool,
  TEMPORAL_TLS_CERT_PATH: optionalString,
  TEMPORAL_TLS_KEY_PATH: optionalString,
  TEMPORAL_TLS_CA_PATH: optionalString,
  TEMPORAL_API_KEY: optionalString,
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_DEV_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  /** The Temporal UI the web console links sessions to (default: the embedded dev server's UI). */
  TEMPORAL_UI_URL: optionalUrl,
  DATA_DIR: z.string().min(1).default('./data'),
  JWT_SECRET: optionalString.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  JWT_JWKS_URL: optionalUrl,
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  JWT_MAX_LIFETIME: duration.default(24 * 60 * 60_000),
  CONFIG_ENCRYPTION_KEY: optionalString,
  CONFIG_ENCRYPTION_OLD_KEYS: optionalString,
  /** Encrypts every payload sent to Temporal (32 bytes, base64 or hex); unset: payloads are plain JSON. */
  TEMPORAL_PAYLOAD_KEY: optionalString,
  /** Comma-separated older payload keys still accepted for decoding (rotation). */
  TEMPORAL_PAYLOAD_OLD_KEYS: optionalString,
  /** Comma-separated origins of the Temporal UI allowed to call the codec endpoint (CORS). */
  TEMPORAL_UI_ORIGIN: optionalString,
  ROUTER_LLM_BASE_URL: optionalUrl,
  ROUTER_LLM_API_KEY: optionalString,
  ROUTER_LLM_MODEL: optionalString,
  SESSION_IDLE_TTL: duration.default(30 * 60_000),
  /** A bound xiaozhi device's session lives this long without a message (reconnects and quiet hours do not end it). */
  DEVICE_SESSION_IDLE_TTL: duration.default(7 * 24 * 60 * 60_000),
  EGRESS_ALLOW: cidrList,
  /**
   * Longest silence between two pieces of a response body from a user's endpoint (LLM, webhook).
   * Well inside a call's total (llmTimeout, 60 s), yet longer than a reasoning model's silent start.
   */
  UPSTREAM_GAP_TIMEOUT: duration.default(DEFAULT_GAP_MS),
  /** What `POST /ai-configs/:id/test` and `GET /ai-configs/:id/tools` may take, the upstream's body included. */
  TRIAL_TIMEOUT: duration.default(30_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Unset: readable lines on a terminal, JSON otherwise (lib/log-pretty.ts). */
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  MAX_CONFIGS_PER_USER: z.coerce.number().int().min(1).default(200),
  MAX_SESSIONS_PER_USER: z.coerce.number().int().min(1).default(20),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(600),
  /** xiaozhi devices (api/devices.service.ts): bound devices per user, pending activation codes overall, wrong codes a minute and a day per user and a minute per address, new codes a minute per address. */
  MAX_DEVICES_PER_USER: z.coerce.number().int().min(1).default(20),
  MAX_PENDING_ACTIVATIONS: z.coerce.number().int().min(1).default(1000),
  DEVICE_BIND_FAILURES_PER_MINUTE: z.coerce.number().int().min(1).default(5),
  DEVICE_BIND_FAILURES_PER_DAY: z.coerce.number().int().min(1).default(20),
  DEVICE_BIND_FAILURES_PER_ADDRESS: z.coerce.number().int().min(1).default(20),
  DEVICE_ACTIVATIONS_PER_ADDRESS: z.coerce.number().int().min(1).default(10),
  /** Sockets of devices not bound yet (they only hear their activation code), over every gateway. */
  MAX_UNBOUND_DEVICE_SOCKETS: z.coerce.number().int().min(1).default(200),
  AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().min(1).default(30),
  TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(256 * 1024),
  WS_MAX_FRAME_BYTES: z.coerce
    .number()
    .int()
    .min(256)
    .default(64 * 1024),
  WS_MESSAGES_PER_MINUTE: z.coerce.number().int().min(1).default(120),
});

export type Env = z.infer<typeof envSchema>;

export interface AppConfig extends Env {
  /** Absolute data directory. */
  dataDir: string;
  /** True when no DATABASE_URL is given: the app starts its own PostgreSQL and keeps generated secrets under DATA_DIR. */
  embeddedDatabase: boolean;
  /** True when no TEMPORAL_ADDRESS is given: the app starts a Temporal dev server. */
  embeddedTemporal: boolean;
  egressAllow: BlockList;
  /** Origins allowed to call the codec endpoint: TEMPORAL_UI_ORIGIN, else the embedded UI's (and TEMPORAL_UI_URL's). */
  temporalUiOrigins: string[];
  /** PUBLIC_HOST's name (lowercase, no port, an IPv6 literal unbracketed). */
  publicHostname: string | undefined;
  /** The DNS names served besides IP literals and localhost: ALLOWED_HOSTS, PUBLIC_HOST, GATEWAY_PUBLIC_URL's host and HOST. */
  servedHosts: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super('Invalid environment:\n' + problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}

export function buildBlockList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of cidrs) {
    const [address = '', prefix] = entry.split('/');
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

/** TLS files for Temporal must exist and be readable at start-up, and a client certificate comes with its key. */
function temporalTlsProblems(values: Env): { variable: string; message: string }[] {
  const problems: { variable: string; message: string }[] = [];
  const { TEMPORAL_TLS_CERT_PATH: cert, TEMPORAL_TLS_KEY_PATH: key } = values;
  if (cert && !key) problems.push({ variable: 'TEMPORAL_TLS_KEY_PATH', message: 'required when TEMPORAL_TLS_CERT_PATH is set (mTLS)' });
  if (key && !cert) problems.push({ variable: 'TEMPORAL_TLS_CERT_PATH', message: 'required when TEMPORAL_TLS_KEY_PATH is set (mTLS)' });
  for (const variable of ['TEMPORAL_TLS_CERT_PATH', 'TEMPORAL_TLS_KEY_PATH', 'TEMPORAL_TLS_CA_PATH'] as const) {
    const file = values[variable];
    if (!file) continue;
    try {
      accessSync(file, fsConstants.R_OK);
    } catch (error) {
      problems.push({ variable, message: `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})` });
    }
  }
  return problems;
}

/** The Temporal UI origins the codec endpoint answers (CORS): as given, or the embedded UI's on 127.0.0.1 and localhost. */
function uiOrigins(values: Env, problems: { variable: string; message: string }[]): string[] {
  if (values.TEMPORAL_UI_ORIGIN) {
    const origins: string[] = [];
    for (const entry of values.TEMPORAL_UI_ORIGIN.split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      let origin: string | undefined;
      try {
        const url = new URL(entry);
        if ((url.protocol === 'http:' || url.protocol === 'https:') && (url.pathname === '/' || url.pathname === '')) origin = url.origin;
      } catch {
        origin = undefined;
      }
      if (!origin) {
        problems.push({ variable: 'TEMPORAL_UI_ORIGIN', message: `"${entry}" is not an origin like https://temporal.example.com` });
        return [];
      }
      origins.push(origin);
    }
    return origins;
  }
  const port = values.TEMPORAL_UI_PORT;
  const origins = [`http://127.0.0.1:${port}`, `http://localhost:${port}`];
  if (values.TEMPORAL_UI_URL) origins.push(new URL(values.TEMPORAL_UI_URL).origin);
  return [...new Set(origins)];
}

/** Parse and validate the environment once; a bad value throws a ConfigError naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<AppConfig> {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(fieldErrors(parsed.error, { root: '?' }).map(({ field, message }) => ({ variable: field, message })));
  }
  const values = parsed.data;
  const problems: { variable: string; message: string }[] = [];
  if (values.ROUTER_LLM_BASE_URL && !values.ROUTER_LLM_MODEL) {
    problems.push({ variable: 'ROUTER_LLM_MODEL', message: 'required when ROUTER_LLM_BASE_URL is set' });
  }
  problems.push(...temporalTlsProblems(values));
  if (values.TEMPORAL_PAYLOAD_OLD_KEYS && !values.TEMPORAL_PAYLOAD_KEY) {
    problems.push({ variable: 'TEMPORAL_PAYLOAD_KEY', message: 'required when TEMPORAL_PAYLOAD_OLD_KEYS is set (the current key)' });
  }
  const origins = uiOrigins(values, problems);
  const publicHostname = values.PUBLIC_HOST === undefined ? undefined : parseHost(values.PUBLIC_HOST)?.hostname;
  if (values.PUBLIC_HOST !== undefined && publicHostname === undefined) {
    problems.push({ variable: 'PUBLIC_HOST', message: `"${values.PUBLIC_HOST}" is not a host name or IP address` });
  }
  if (problems.length) throw new ConfigError(problems);
  // The deployment serves its own names (public ones, and the one it binds to), so they need no ALLOWED_HOSTS entry.
  const gatewayHost = values.GATEWAY_PUBLIC_URL === undefined ? undefined : parseHost(new URL(values.GATEWAY_PUBLIC_URL).host)?.hostname;
  const ownNames = [publicHostname, gatewayHost, parseHost(values.HOST)?.hostname].filter(
    (h): h is string => h !== undefined && !isAlwaysServed(h),
  );
  const servedHosts = [...new Set([...values.ALLOWED_HOSTS, ...ownNames])];
  return Object.freeze({
    ...values,
    dataDir: path.resolve(values.DATA_DIR),
    embeddedDatabase: values.DATABASE_URL === undefined,
    embeddedTemporal: values.TEMPORAL_ADDRESS === undefined,
    egressAllow: buildBlockList(values.EGRESS_ALLOW),
    temporalUiOrigins: origins,
    publicHostname,
    servedHosts,
  });
}
