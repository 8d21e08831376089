// The documented REST API (/api/v1, envelope { code, message, data }, 400s with errors[]) and the
// console's own two endpoints, as typed calls. Nothing else talks to the server over HTTP.
import type { PublicConfig, ResultFrame, SessionSettings, TranscriptEntry } from '../../contract/session';
import type { ApiKeySummary, ConsoleSettings, CreatedApiKey, SessionSummary } from '../../contract/rest';
import type { PublicDevice } from '../../contract/devices';

export type { ConsoleSettings, CreatedApiKey, SessionSummary } from '../../contract/rest';
/** A user API key as lists show it (never the key). */
export type ApiKey = ApiKeySummary;
export type { PublicDevice } from '../../contract/devices';

export type { PublicConfig };

export interface FieldError {
  field: string;
  message: string;
}

/** A refused request: HTTP status, the API's machine-readable code and, for 400s, the field errors. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fieldErrors: FieldError[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface SavedConfig extends PublicConfig {
  /** A webhook's signing secret, in the response that made it only. */
  webhook_secret?: string;
}

export interface LlmType {
  type: string;
  label: string;
  default_base_url: string | null;
}

export interface McpTool {
  /** The real name: a config's function_name. */
  name: string;
  /** The name LLMs are offered for it (the same when providers take the real one). */
  tool_name: string;
  description: string | null;
  input_schema: Record<string, unknown>;
}

export interface TrialResult {
  config_id: number;
  config_name: string;
  config_type: 'llm' | 'function_call';
  status: 'success' | 'failed';
  result: string;
  execute_time: number;
  model?: string;
  error?: string;
  error_type?: string;
  retryable?: boolean;
}

export type SessionStatus = 'active' | 'closed' | 'expired';

export interface SessionDetail extends SessionSummary {
  settings: SessionSettings;
  transcript: (TranscriptEntry & { result: ResultFrame | null })[];
  pending_ids: string[];
  unacked_results: number;
  source: 'workflow' | 'database';
}

/** The body of a create or replace: the API's canonical spelling. */
export type ConfigBody = Record<string, unknown>;

async function request<T>(method: string, path: string, options: { token?: string; body?: unknown; envelope?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  } catch (error) {
    throw new ApiError(0, 'network', (error as Error).message);
  }
  const text = await response.text();
  let json: { code?: number; message?: string; data?: unknown; error?: string; errors?: FieldError[] } | undefined;
  try {
    json = text ? (JSON.parse(text) as typeof json) : undefined;
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    throw new ApiError(response.status, json?.error ?? `http_${response.status}`, json?.message ?? response.statusText, json?.errors ?? []);
  }
  return (options.envelope === false ? json : json?.data) as T;
}

export function loadSettings(): Promise<ConsoleSettings> {
  return request<ConsoleSettings>('GET', '/console/config.json', { envelope: false });
}

/** Keeps a token with the `codec` scope as the codec endpoint's HttpOnly cookie, for the Temporal UI to send. */
export async function unlockCodec(codecToken: string): Promise<void> {
  await request('POST', '/codec/session', { token: codecToken, envelope: false });
}

export function devSignIn(user: string): Promise<{ token: string; user: string; expires_in: number }> {
  return request('POST', '/console/dev-token', { body: { user } });
}

const V1 = '/api/v1';
const configPath = (id: number) => `${V1}/ai-configs/${id}`;

/** Calls as the signed-in user; a 401 anywhere means the token is no longer good. */
export function createApi(token: string, onUnauthorized: () => void) {
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    try {
      return await request<T>(method, path, { token, body });
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) onUnauthorized();
      throw error;
    }
  }
  return {
    listConfigs: () => call<PublicConfig[]>('GET', `${V1}/ai-configs`),
    getConfig: (id: number) => call<PublicConfig>('GET', configPath(id)),
    createConfig: (body: ConfigBody) => call<SavedConfig>('POST', `${V1}/ai-configs`, body),
    replaceConfig: (id: number, body: ConfigBody) => call<SavedConfig>('PUT', configPath(id), body),
    deleteConfig: (id: number) => call<null>('DELETE', configPath(id)),
    toggleConfig: (id: number, isActive: boolean) => call<PublicConfig>('PATCH', `${configPath(id)}/toggle`, { is_active: isActive }),
    setPriority: (id: number, priority: number) => call<PublicConfig>('PATCH', `${configPath(id)}/priority`, { priority }),
    testConfig: (id: number, body: { text?: string; arguments?: Record<string, unknown> }) =>
      call<TrialResult>('POST', `${configPath(id)}/test`, body),
    listTools: (id: number) => call<McpTool[]>('GET', `${configPath(id)}/tools`),
    /** The tools of a server no config holds yet (POST /mcp/tools); the headers are used for this request only. */
    listServerTools: (mcpServerUrl: string, mcpHeaders?: Record<string, string>) =>
      call<McpTool[]>('POST', `${V1}/mcp/tools`, { mcp_server_url: mcpServerUrl, ...(mcpHeaders ? { mcp_headers: mcpHeaders } : {}) }),
    llmTypes: () => call<LlmType[]>('GET', `${V1}/llm-types`),
    listSessions: (query: { status?: SessionStatus; limit?: number } = {}) => {
      const params = new URLSearchParams();
      if (query.status) params.set('status', query.status);
      if (query.limit) params.set('limit', String(query.limit));
      const search = params.toString();
      return call<SessionSummary[]>('GET', `${V1}/sessions${search ? `?${search}` : ''}`);
    },
    closeSession: (id: string) => call<SessionSummary>('DELETE', `${V1}/sessions/${encodeURIComponent(id)}`),
    getSession: (id: string) => call<SessionDetail>('GET', `${V1}/sessions/${encodeURIComponent(id)}`),
    listDevices: () => call<PublicDevice[]>('GET', `${V1}/devices`),
    bindDevice: (code: string) => call<PublicDevice>('POST', `${V1}/devices/bind`, { code }),
    updateDevice: (id: number, body: { name?: string }) => call<PublicDevice>('PATCH', `${V1}/devices/${id}`, body),
    unbindDevice: (id: number) => call<PublicDevice>('DELETE', `${V1}/devices/${id}`),
    listApiKeys: () => call<ApiKey[]>('GET', `${V1}/api-keys`),
    createApiKey: (body: { name: string; expires_at?: string }) => call<CreatedApiKey>('POST', `${V1}/api-keys`, body),
    revokeApiKey: (id: number) => call<null>('DELETE', `${V1}/api-keys/${id}`),
  };
}

export type Api = ReturnType<typeof createApi>;

/** The API's largest page of sessions (GET /sessions?limit=). */
const SESSION_PAGE_MAX = 100;

/** The user's open sessions (those that count toward MAX_SESSIONS_PER_USER), counted up to the limit or one page. */
export async function countOpenSessions(api: Api, limit: number): Promise<number> {
  return (await api.listSessions({ status: 'active', limit: Math.min(Math.max(limit, 1), SESSION_PAGE_MAX) })).length;
}

/** The user a token is for (its `sub`), for display only: the server verifies the token. */
export function tokenSubject(token: string): string | undefined {
  try {
    const payload = token.split('.')[1] ?? '';
    const json = atob(
      payload
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(payload.length / 4) * 4, '='),
    );
    const sub = (JSON.parse(json) as { sub?: unknown }).sub;
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}
