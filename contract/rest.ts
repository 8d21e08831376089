// Shapes of the REST API that the web console (console/) reads too, declared once. Types only.
import type { SessionStatus } from './session';

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
