// The chat's WebSocket (DESIGN.md section 5, the browser way: token, device, session and stream in
// the query string). It acknowledges each result once the page has it, and after a drop it
// reconnects with backoff to the same session, whose unacknowledged results then arrive again;
// messages the server had not yet accepted are sent again with the same id (ids make them
// idempotent). A try the gateway refuses (no hello) is explained by the REST API: an ended session
// is replaced by a new one at once, the open-session limit stops the tries. No UI here: the chat
// page gets frames and status changes.
import type { ServerFrame } from '../../contract/session';

/** `refused`: the server will not open a new session (the user has as many open as allowed); no more tries. */
export type SocketStatus = 'connecting' | 'open' | 'reconnecting' | 'refused' | 'closed';

/**
 * What a REST look-up says about a connection the gateway refused: a browser never sees the HTTP
 * status of a refused upgrade, so after each failed try the page asks the API. For a session to
 * resume: still `active`, `gone` (ended or unknown), or the token is refused. For a new session:
 * `limit` when the user already has as many open sessions as allowed.
 */
export type SessionCheck = 'active' | 'gone' | 'unauthorized' | 'limit' | 'unknown';

export interface SessionSocketOptions {
  url: string;
  token: string;
  deviceId: string;
  sessionId?: string;
  stream: boolean;
  onFrame(frame: ServerFrame): void;
  onStatus(status: SocketStatus, attempt: number): void;
  /** Asked after a try that got no hello: a session that has ended is replaced by a new one. */
  checkSession(sessionId: string): Promise<SessionCheck>;
  /** Asked after a try for a new session that got no hello: `limit` stops the tries. */
  checkNewSession(): Promise<SessionCheck>;
  /** Told when the old session was gone and the next connection starts a new one. */
  onSessionReplaced(): void;
  onUnauthorized(): void;
}

const MAX_DELAY_MS = 8_000;

export class SessionSocket {
  private ws: WebSocket | undefined;
  private attempt = 0;
  private stopped = false;
  /** The current socket got its hello: the session answered, so a later close is a drop, not a refusal. */
  private greeted = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Sent but not yet accepted: sent again after a reconnect. */
  private readonly unaccepted = new Map<string, string>();
  sessionId: string | undefined;

  constructor(private readonly options: SessionSocketOptions) {
    this.sessionId = options.sessionId;
  }

  start(): void {
    this.open();
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  send(id: string, text: string): void {
    this.unaccepted.set(id, text);
    this.write({ type: 'message', id, text });
  }

  setStream(stream: boolean): void {
    this.options.stream = stream;
    this.write({ type: 'session_config', stream });
  }

  /** Ends the session on the server (it answers session_closed). */
  end(): void {
    this.write({ type: 'close' });
  }

  /** Stops for good without ending the session (leaving the page). */
  dispose(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = undefined;
    ws?.close(1000, 'page closed');
  }

  private write(frame: Record<string, unknown>): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private open(): void {
    const url = new URL(this.options.url);
    url.searchParams.set('token', this.options.token);
    url.searchParams.set('device_id', this.options.deviceId);
    if (this.sessionId) url.searchParams.set('session_id', this.sessionId);
    if (this.options.stream) url.searchParams.set('stream', 'true');
    this.options.onStatus(this.attempt === 0 ? 'connecting' : 'reconnecting', this.attempt);
    const ws = new WebSocket(url.toString());
    this.ws = ws;
    this.greeted = false;
    ws.onmessage = (event) => {
      if (this.ws !== ws || typeof event.data !== 'string') return;
      let frame: ServerFrame;
      try {
        frame = JSON.parse(event.data) as ServerFrame;
      } catch {
        return;
      }
      this.handle(frame);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      if (this.stopped) this.options.onStatus('closed', this.attempt);
      else if (this.greeted) this.scheduleReconnect();
      // Refused before the session answered: ask the API why before trying again.
      else void this.diagnose();
    };
  }

  private handle(frame: ServerFrame): void {
    switch (frame.type) {
      case 'hello':
        this.attempt = 0;
        this.greeted = true;
        this.sessionId = frame.session_id;
        this.options.onStatus('open', 0);
        break;
      case 'accepted':
        this.unaccepted.delete(frame.id);
        break;
      case 'session_closed':
        this.stopped = true;
        break;
      default:
        break;
    }
    this.options.onFrame(frame);
    if (frame.type === 'hello') {
      for (const [id, text] of this.unaccepted) this.write({ type: 'message', id, text });
    }
    // Acknowledged only once the page has shown it: an unacknowledged result comes back after a reconnect.
    if (frame.type === 'function_call_result') this.write({ type: 'ack', id: frame.id });
  }

  /** After a try that got no hello: a gone session is replaced at once, the session limit stops the tries, anything else waits and retries. */
  private async diagnose(): Promise<void> {
    const sessionId = this.sessionId;
    const check = sessionId ? await this.options.checkSession(sessionId) : await this.options.checkNewSession();
    if (this.stopped) return;
    if (check === 'unauthorized') {
      this.stopped = true;
      this.options.onStatus('closed', this.attempt);
      this.options.onUnauthorized();
      return;
    }
    if (check === 'limit') {
      this.stopped = true;
      this.options.onStatus('refused', this.attempt);
      return;
    }
    if (check === 'gone' && sessionId) {
      this.sessionId = undefined;
      this.options.onSessionReplaced();
      this.open();
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.attempt += 1;
    const attempt = this.attempt;
    this.options.onStatus('reconnecting', attempt);
    const delay = Math.min(MAX_DELAY_MS, 400 * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4);
    this.timer = setTimeout(() => this.reconnect(), delay);
  }

  private reconnect(): void {
    if (this.stopped) return;
    this.open();
  }
}
