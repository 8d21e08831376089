// Shapes of the REST API that the web console (console/) reads too, declared once. Types only.
import type { StepKind } from './activities';
import type { RoutedBy, RoutingDecision, SessionStatus } from './session';

export interface SessionSummary {
  id: string;
  /** The session's Temporal workflow (`session-<userId>-<sessionId>`), to find it in the Temporal UI. */
  workflow_id: string;
  status: SessionStatus;
  device_id: string | null;
  created_at: string;
  last_activity_at: string | null;
  expires_at: string | null;
}

/** `GET /console/config.json`: what the browser reads before it signs in: where the socket and the Temporal UI are. */
export interface ConsoleSettings {
  websocket_url: string;
  temporal_ui_url: string | null;
  temporal_namespace: string;
  dev_sign_in: boolean;
  /** Payloads are encrypted: the Temporal UI shows them only through the codec endpoint (an auditor unlocks it in the console). */
  payload_encryption: boolean;
  /** MAX_SESSIONS_PER_USER: past it the gateway refuses a new session (a 409 a browser's WebSocket cannot read). */
  max_sessions_per_user: number;
}

// GET /api/v1/sessions/:id/audit: a session's audit trail, read from history (sessions/session-audit.ts).

export interface AuditAttempt {
  /** `first_attempt`: in the routing step; `retry`: the chosen config again; `fallback`: another LLM config. */
  step: StepKind;
  config_id: number;
  config_name: string | null;
  /** Tries this step made (Temporal's retries of one local activity count here). */
  tries: number;
  status: 'success' | 'failed';
  error: string | null;
  /** The model that answered, as the provider reported it. */
  model: string | null;
  duration_ms: number | null;
  finished_at: string | null;
}

export interface AuditOffered {
  tool: string;
  kind: 'llm_config' | 'function' | 'builtin';
  config_id: number | null;
  config_name: string | null;
}

export interface AuditEntry {
  message_id: string | null;
  text: string | null;
  received_at: string | null;
  /** What routing was given, and whether history records it (`recorded`) or it was worked out from the cached configs (`derived`). */
  offered: AuditOffered[];
  offered_source: 'recorded' | 'derived';
  /** What routing chose, as recorded (null: the message never reached routing). */
  routing: RoutingDecision | null;
  /** The tool or built-in chosen, or `direct_answer` / `none`. */
  chosen: string | null;
  routed_by: RoutedBy | null;
  /** The config that produced the result (null for built-ins, direct answers and failures before a call). */
  executed_by: { config_id: number; config_name: string | null } | null;
  fallback_from: { config_id: number; config_name: string | null; error: string } | null;
  status: 'success' | 'failed' | 'in_progress' | 'unanswered';
  error: string | null;
  /** The answer as history holds it (a built-in's answer is computed in the workflow and not recorded). */
  answer: string | null;
  attempts: AuditAttempt[];
  timings: {
    /** The routing decision (router LLM or rules). */
    routing_ms: number | null;
    /** The whole routing step (routing plus the first attempt), scheduled to completed. */
    step_ms: number | null;
    /** Time spent in the configs that tried to answer (first attempt, retries, fallbacks). */
    execute_ms: number | null;
    /** Received by the gateway to the last recorded step. */
    total_ms: number | null;
    answered_at: string | null;
  };
  workflow_id: string;
  run_id: string;
  /** The run in the Temporal UI (null when no UI address is configured: TEMPORAL_UI_URL). */
  temporal_ui_url: string | null;
}

export interface AuditPage {
  entries: AuditEntry[];
  next_cursor: string | null;
}

/** A key as lists show it: never the key or its hash. */
export interface ApiKeySummary {
  id: number;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
}

/** A key as its create answers: with the key itself, this once. */
export interface CreatedApiKey extends Omit<ApiKeySummary, 'last_used_at'> {
  key: string;
}

/**
 * The model of the OpenAI-compatible surface (/v1) that routes a request like a socket message.
 * No config may take the name, in any case (`Auto` would read as the same thing in a model
 * picker): a create, or a PUT or PATCH that renames, naming it is a 400 naming `config_name`.
 */
export const AUTO_MODEL = 'auto';

export function isReservedConfigName(name: string): boolean {
  return name.trim().toLowerCase() === AUTO_MODEL;
}
