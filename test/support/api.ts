// A real API server on an ephemeral port, built on the shared test context (the run's database,
// its own JWT secret and encryption key), without Temporal. `logs` collects every log line the API wrote, for secret-leak checks.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AppConfig } from '../../config';
import type { Database } from '../../db';
import type { SecretBox } from '../../lib/secret-box';
import { createApiFromContext, noopNotifier } from '../../api/server';
import type { ConfigChangeNotifier } from '../../app/context';
import { createTestContext } from './context';
import { capturingLogger } from './logger';
import { API_KEY_PREFIX } from '../../lib/api-keys';
import { recordResponse, registerApiKey, registerSecret } from './secret-scan';

export interface TestApi {
  url: string;
  db: Database;
  secretBox: SecretBox;
  config: AppConfig;
  jwtSecret: string;
  logs: string[];
  token(userId: string): Promise<string>;
  /** fetch against the API with a JSON body and a bearer token for `user`. */
  request(
    method: string,
    path: string,
    options?: { user?: string; token?: string; body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; headers: Headers; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test responses are asserted field by field
  close(): Promise<void>;
}

/** The secrets a request hands to the service (any spelling the API accepts), for the run's secret scan. */
function registerRequestSecrets(body: unknown): void {
  if (typeof body !== 'object' || body === null) return;
  const fields = body as Record<string, unknown>;
  const nested = typeof fields.parameters === 'object' && fields.parameters !== null ? (fields.parameters as Record<string, unknown>) : {};
  for (const value of [fields.api_key, nested.api_key, fields.webhook_secret]) if (typeof value === 'string') registerSecret(value);
  if (typeof fields.mcp_headers === 'object' && fields.mcp_headers !== null) {
    for (const value of Object.values(fields.mcp_headers)) if (typeof value === 'string') registerSecret(value.replace(/^Bearer\s+/i, ''));
  }
}

/**
 * A webhook secret or an API key is in the one response that made it, by design: registered (a
 * key with its stored hash), and left out of what the scan reads.
 */
function withoutShownSecret(text: string, parsed: unknown): string {
  const data = (parsed as { data?: { webhook_secret?: unknown; key?: unknown } } | null)?.data;
  let shown: string | undefined;
  if (typeof data?.webhook_secret === 'string') registerSecret((shown = data.webhook_secret));
  else if (typeof data?.key === 'string' && data.key.startsWith(API_KEY_PREFIX)) registerApiKey((shown = data.key));
  return shown === undefined ? text : text.split(shown).join('[shown once]');
}

export async function startTestApi(env: Record<string, string> = {}, notifier: ConfigChangeNotifier = noopNotifier): Promise<TestApi> {
  const { logger, lines: logs } = capturingLogger();
  const tc = await createTestContext({ temporal: false, logger, env: { EGRESS_ALLOW: '127.0.0.0/8', ...env } });
  const { config, db, secretBox } = tc.ctx;
  const jwtSecret = tc.ctx.secrets.jwtSecret!;
  const app = createApiFromContext(tc.ctx, notifier);
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const token = (userId: string) => tc.token(userId);
  return {
    url,
    db,
    secretBox,
    config,
    jwtSecret,
    logs,
    token,
    async request(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      const bearer = options.token ?? (options.user ? await token(options.user) : undefined);
      if (bearer) headers.authorization = `Bearer ${bearer}`;
      let body: string | undefined = options.raw;
      if (options.body !== undefined) body = JSON.stringify(options.body);
      registerRequestSecrets(options.body);
      if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
      const response = await fetch(url + path, { method, headers, body });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // non-JSON (metrics) stays text
      }
      recordResponse(withoutShownSecret(text, parsed));
      return { status: response.status, headers: response.headers, body: parsed as never };
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await tc.close();
    },
  };
}
