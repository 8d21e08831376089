// One client socket bound to one session workflow: its lifetime (the token's expiry, the
// heartbeat, closing), and what it reads. Each frame is parsed by the socket's protocol, held to
// the socket's limits (size, rate, bad frames) and handed to the signal pump; every frame it gets
// goes through the socket writer (ARCHITECTURE.md, "The message path").
import { randomBytes } from 'node:crypto';
import WebSocket, { type RawData } from 'ws';
import type { Logger } from '../lib/logger';
import type { TemporalHandles } from '../app/context';
import type { PublicConfig, ServerFrame } from '../contract';
import type { RelayDelivery } from '../relay';
import { hasSetting, type SessionSettingsUpdate } from '../sessions/session.schemas';
import { errorFrame, FrameErrorCode, type ClientFrame, type ErrorFrame } from './protocol';
import { createRateWindow, type RateWindow } from './rate-window';
import { SignalPump } from './signal-pump';
import type { SocketProtocol } from './socket-protocol';
import { SocketWriter } from './socket-writer';

/** The longest a Node timer waits (about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

export const CloseCode = {
  normal: 1000,
  /** The gateway is stopping (a deploy, a scale-down): reconnect, to another gateway, and resume the session. */
  serviceRestart: 1012,
  policyViolation: 1008,
  tryAgainLater: 1013,
  /** Private-use code: the token the socket was opened with has expired; reconnect with a fresh one. */
  tokenExpired: 4001,
  /** Private-use code: the API key the socket was opened with was revoked; reconnecting with it is refused (401). */
  keyRevoked: 4003,
} as const;

export interface ConnectionLimits {
  maxFrameBytes: number;
  messagesPerMinute: number;
  /** Bad frames (invalid, unknown, oversized) tolerated per minute before closing with 1008. */
  badFramesPerMinute: number;
}

export interface ConnectionOptions {
  userId: string;
  sessionId: string;
  workflowId: string;
  temporal: TemporalHandles;
  protocol: SocketProtocol;
  limits: ConnectionLimits;
  logger: Logger;
  /** Checks a `session_config` against the database; a message names the problem. */
  checkSettings(update: SessionSettingsUpdate): Promise<string | null>;
  /** The user's configs as clients see them, for `configs_updated`. */
  loadConfigs(): Promise<PublicConfig[]>;
  /** When the token the socket was opened with expires (epoch ms): the socket is closed then. */
  tokenExpiresAt: number;
  /** The API key the socket was opened with (lib/auth Principal.apiKeyId): its revocation closes the socket. */
  apiKeyId?: number;
  /** Streamed answers asked for at connect time (`Stream` header or `?stream=`). */
  stream: boolean;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

export class ClientConnection {
  readonly id = randomBytes(12).toString('base64url');
  readonly userId: string;
  readonly sessionId: string;
  readonly workflowId: string;
  readonly apiKeyId: number | undefined;
  private readonly options: ConnectionOptions;
  private childLog: Logger | undefined;
  private ws: WebSocket | undefined;
  private closed = false;
  /** Set by a pong; cleared by each heartbeat ping. */
  private alive = true;
  private readonly rate: RateWindow;
  private readonly badFrames: RateWindow;
  private readonly writer: SocketWriter;
  private readonly pump: SignalPump;
  private expiry: NodeJS.Timeout | undefined;
  /** Its API key was revoked: closed now, or as soon as the socket is bound. */
  private revoked = false;

  constructor(options: ConnectionOptions) {
    this.options = options;
    this.userId = options.userId;
    this.sessionId = options.sessionId;
    this.workflowId = options.workflowId;
    this.apiKeyId = options.apiKeyId;
    this.rate = createRateWindow(options.limits.messagesPerMinute, 60_000);
    this.badFrames = createRateWindow(options.limits.badFramesPerMinute - 1, 60_000);
    const log = () => this.log;
    this.writer = new SocketWriter({
      write: (frame) => this.write(frame),
      readOutbox: () => this.pump.readOutbox(),
      loadConfigs: options.loadConfigs,
      onSessionClosed: () => {
        this.pump.ended = true;
        setImmediate(() => this.close(CloseCode.normal, 'session closed'));
      },
      log,
    });
    this.pump = new SignalPump({
      temporal: options.temporal,
      workflowId: options.workflowId,
      connectionId: this.id,
      writer: this.writer,
      stream: options.stream,
      checkSettings: options.checkSettings,
      rejectFrame: (error) => this.rejectFrame(error),
      closeSocket: () => this.close(CloseCode.normal, 'session closed'),
      log,
    });
  }

  /** Built on first use: most sockets never log, and an idle socket should cost little memory. */
  private get log(): Logger {
    this.childLog ??= this.options.logger.child({ connectionId: this.id, sessionId: this.sessionId });
    return this.childLog;
  }

  /** Takes the socket over; `onClose` runs once it has closed. */
  bind(ws: WebSocket, onClose: () => void): void {
    this.ws = ws;
    ws.on('message', (data, isBinary) => this.receive(data, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', (error) => this.log.debug({ err: error }, 'socket error'));
    ws.on('close', onClose);
    this.armExpiry();
    if (this.revoked) this.closeRevoked();
  }

  /** The API key this socket was opened with was revoked (on any replica): an `error` frame, then 4003. */
  revoke(): void {
    this.revoked = true;
    if (this.ws) this.closeRevoked();
  }

  private closeRevoked(): void {
    this.writer.send(errorFrame(FrameErrorCode.keyRevoked, 'The API key this socket was opened with has been revoked'));
    this.close(CloseCode.keyRevoked, 'API key revoked');
  }

  /** Closes the socket when its credential expires; an API key may never expire, or beyond a timer's range (re-armed). */
  private armExpiry(): void {
    const left = this.options.tokenExpiresAt - Date.now();
    if (left === Number.POSITIVE_INFINITY) return;
    this.expiry = setTimeout(
      () => {
        if (left > MAX_TIMER_MS) return this.armExpiry();
        this.writer.send(
          errorFrame(FrameErrorCode.tokenExpired, 'The token this socket was opened with has expired; reconnect with a fresh one'),
        );
        this.close(CloseCode.tokenExpired, 'token expired');
      },
      Math.min(Math.max(left, 0), MAX_TIMER_MS),
    );
    this.expiry.unref();
  }

  /** `hello` first, then whatever was queued while the handshake finished. */
  open(hello: ServerFrame): void {
    if (this.closed) return;
    this.writer.open(hello);
  }

  markClosed(): void {
    this.closed = true;
    this.writer.markClosed();
    this.pump.markClosed();
    clearTimeout(this.expiry);
  }

  /** Tells the workflow the socket is gone (unless the session is over); the promise settles when it heard. */
  detach(): Promise<void> | undefined {
    return this.pump.detach();
  }

  close(code: number, reason: string): void {
    if (this.ws && this.ws.readyState !== WebSocket.CLOSED && this.ws.readyState !== WebSocket.CLOSING) {
      this.ws.close(code, reason);
    }
  }

  /** Called on every heartbeat tick: a peer that did not answer the last ping is cut off. */
  heartbeat(): void {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    if (!this.alive) return this.terminate();
    this.alive = false;
    this.ws.ping();
  }

  terminate(): void {
    this.ws?.terminate();
  }

  private write(frame: ServerFrame): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(this.options.protocol.render(frame));
  }

  /** Frames the relay brought, or word that the outbox must be read. */
  relayed(delivery: RelayDelivery): void {
    this.writer.relayed(delivery);
  }

  /** After the relay was away: every result still awaited is looked up. */
  resync(): void {
    this.writer.resync();
  }

  /** Called periodically: a result that has not come through the relay in time is read from the outbox. */
  sweep(now = Date.now()): void {
    this.writer.sweep(now);
  }

  // -------------------------------------------------------------------------------------------
  // Client frames

  receive(data: RawData, isBinary: boolean): void {
    const bytes = toBuffer(data);
    const size = bytes.byteLength;
    if (size > this.options.limits.maxFrameBytes) {
      return this.rejectFrame(
        errorFrame(FrameErrorCode.frameTooLarge, `Frame is ${size} bytes; the limit is ${this.options.limits.maxFrameBytes}`),
      );
    }
    const parsed = this.options.protocol.parse(bytes, isBinary);
    if (!parsed.ok) return this.rejectFrame(parsed.error);
    this.handle(parsed.frame);
  }

  private rejectFrame(error: ErrorFrame): void {
    this.writer.send(error);
    if (!this.badFrames.hit()) {
      this.log.info({ code: error.code }, 'closing a socket that keeps sending bad frames');
      this.close(CloseCode.policyViolation, 'too many invalid frames');
    }
  }

  /**
   * Frames that only lower the load are never refused by the rate limit: `ping`, `close`, and the
   * ack of a result this socket received (a client acking everything it gets would otherwise halve
   * its message rate, and a limited `close` could not end its own session).
   */
  private isFree(frame: ClientFrame): boolean {
    return frame.type === 'ping' || frame.type === 'close' || (frame.type === 'ack' && this.writer.hasWritten(frame.id));
  }

  private handle(frame: ClientFrame): void {
    if (frame.type === 'ping') return this.writer.send({ type: 'pong' });
    if (!this.isFree(frame) && !this.rate.hit()) {
      const id = 'id' in frame ? frame.id : undefined;
      const message = `More than ${this.options.limits.messagesPerMinute} frames a minute; slow down and resend`;
      return this.writer.send(errorFrame(FrameErrorCode.rateLimited, message, id));
    }
    switch (frame.type) {
      case 'message':
        return this.pump.message(frame.id, frame.text);
      case 'ack':
        return this.pump.ack(frame.id);
      case 'session_config': {
        const { type: _type, stream, ...update } = frame;
        if (stream !== undefined) this.pump.stream = stream;
        if (hasSetting(update)) this.pump.updateSettings(update);
        return;
      }
      case 'close':
        return this.pump.close();
    }
  }
}
