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
import { errorFrame, FrameErrorCode, type ErrorFrame } from './protocol';
import { createRateWindow, type RateWindow } from './rate-window';
import { SignalPump } from './signal-pump';
import type { DeviceFeatures, ProtocolOp, SocketProtocol } from './socket-protocol';
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
  /**
   * Binary (audio) frames a minute, a budget apart from `messagesPerMinute`: a xiaozhi device
   * streams about 1,000 Opus frames a minute. Beyond it each is answered `rate_limited` and counted
   * as a bad frame, like the text frames beyond theirs.
   */
  audioFramesPerMinute: number;
}

/** A device that has not said hello this long after the upgrade is closed (1008). */
export const DEVICE_HELLO_TIMEOUT_MS = 10_000;

/**
 * Device-side MCP over a xiaozhi socket: the one place another module plugs in (branch xztools).
 * The connection sends nothing MCP by itself; it hands every `{"type":"mcp","payload"}` frame the
 * device sends (after its hello) to `onMcpPayload`, and `connection.sendMcp(payload)` writes one
 * (`{"type":"mcp","payload",session_id}`). Hooks run on the socket's event loop turn: keep them
 * quick, and never throw (a throw is logged and dropped).
 */
export interface DeviceMcpHook {
  /** The device said hello: `features.mcp` says it offers tools. `sendMcp` works from now on. */
  onHello?(features: DeviceFeatures, connection: ClientConnection): void;
  /** One `mcp` frame's payload, parsed JSON as the device sent it (not validated: JSON-RPC is the hook's to check). */
  onMcpPayload(payload: unknown, connection: ClientConnection): void;
  /** The socket closed: calls waiting on it will get no answer. */
  onClose?(connection: ClientConnection): void;
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
  /**
   * No session behind this socket: each question is answered here with this text (an unbound
   * device hears its activation code). Nothing is signalled, acked or detached.
   */
  localAnswer?(text: string): string;
  /** Device-side MCP (xiaozhi sockets only). */
  mcp?: DeviceMcpHook;
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
  private readonly audioFrames: RateWindow;
  private expiry: NodeJS.Timeout | undefined;
  /** Its API key was revoked: closed now, or as soon as the socket is bound. */
  private revoked = false;
  private helloTimer: NodeJS.Timeout | undefined;
  /** Our hello is out: the socket writer writes, and `sendMcp` may. */
  private opened = false;
  /** What the device said it can do in its hello (device protocols). */
  deviceFeatures: DeviceFeatures | undefined;

  constructor(options: ConnectionOptions) {
    this.options = options;
    this.userId = options.userId;
    this.sessionId = options.sessionId;
    this.workflowId = options.workflowId;
    this.apiKeyId = options.apiKeyId;
    this.rate = createRateWindow(options.limits.messagesPerMinute, 60_000);
    this.badFrames = createRateWindow(options.limits.badFramesPerMinute - 1, 60_000);
    this.audioFrames = createRateWindow(options.limits.audioFramesPerMinute, 60_000);
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
    // Nothing to signal: the session layer never hears of this socket.
    if (options.localAnswer) this.pump.ended = true;
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
    ws.on('close', () => {
      clearTimeout(this.helloTimer);
      this.callHook((mcp) => mcp.onClose?.(this));
      onClose();
    });
    this.armExpiry();
    if (!this.options.protocol.greetsFirst) {
      this.helloTimer = setTimeout(() => {
        if (this.opened) return;
        this.write(errorFrame(FrameErrorCode.invalidFrame, `No hello within ${DEVICE_HELLO_TIMEOUT_MS / 1000} s`));
        this.close(CloseCode.policyViolation, 'no hello');
      }, DEVICE_HELLO_TIMEOUT_MS);
      this.helloTimer.unref();
    }
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

  /** Runs the MCP hook, which must never break the socket. */
  private callHook(call: (mcp: DeviceMcpHook) => void): void {
    if (!this.options.mcp) return;
    try {
      call(this.options.mcp);
    } catch (error) {
      this.log.warn({ err: error }, 'the device MCP hook threw');
    }
  }

  /**
   * Writes one device-side MCP frame, `{"type":"mcp","payload"}` (xiaozhi sockets, after the
   * device's hello). False when it cannot go out: no hello yet, or the socket is closed.
   */
  sendMcp(payload: unknown): boolean {
    if (!this.opened || this.closed || this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ type: 'mcp', payload, session_id: this.sessionId }));
    return true;
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
    this.opened = true;
    this.writer.open(hello);
  }

  /** The hello this socket's session answers with (device protocols, when the device says hello). */
  private helloFrame(): ServerFrame {
    return { type: 'hello', session_id: this.sessionId, resumed: false, configs: [] };
  }

  markClosed(): void {
    this.closed = true;
    this.writer.markClosed();
    this.pump.markClosed();
    clearTimeout(this.expiry);
    clearTimeout(this.helloTimer);
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
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    for (const text of this.options.protocol.render(frame)) this.ws.send(text);
    // A device never acks: written is acked (the outbox keeps what never reached an open socket).
    if (frame.type === 'function_call_result' && this.options.protocol.acksOnWrite && !this.options.localAnswer) this.pump.ack(frame.id);
  }

  private writeRaw(texts: string[]): void {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    for (const text of texts) this.ws.send(text);
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
    // Before a device's hello the writer holds frames back; its mistakes are answered at once.
    if (!this.opened && !this.options.protocol.greetsFirst) this.write(error);
    else this.writer.send(error);
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
  private isFree(frame: ProtocolOp): boolean {
    return frame.type === 'ping' || frame.type === 'close' || (frame.type === 'ack' && this.writer.hasWritten(frame.id));
  }

  private handle(frame: ProtocolOp): void {
    if (frame.type === 'ping') return this.writer.send({ type: 'pong' });
    if (frame.type === 'audio') {
      // Not understood (no speech recognition): dropped unread, within a budget of its own.
      if (this.audioFrames.hit()) return;
      const message = `More than ${this.options.limits.audioFramesPerMinute} audio frames a minute; audio is not understood here, send text`;
      return this.rejectFrame(errorFrame(FrameErrorCode.rateLimited, message));
    }
    if (!this.isFree(frame) && !this.rate.hit()) {
      const id = 'id' in frame ? frame.id : undefined;
      const message = `More than ${this.options.limits.messagesPerMinute} frames a minute; slow down and resend`;
      return this.writer.send(errorFrame(FrameErrorCode.rateLimited, message, id));
    }
    switch (frame.type) {
      case 'message':
        if (this.options.localAnswer) return this.answerLocally(frame.id, frame.text, this.options.localAnswer);
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
      case 'device_hello':
        return this.deviceHello(frame.features);
      case 'abort':
        return this.writeRaw(this.options.protocol.abort?.() ?? []);
      case 'mcp':
        return this.callHook((mcp) => mcp.onMcpPayload(frame.payload, this));
      case 'ignore':
        return;
    }
  }

  private deviceHello(features: DeviceFeatures): void {
    this.deviceFeatures = features;
    // A second hello (a device that starts over on the same socket) is answered again.
    if (this.opened) this.write(this.helloFrame());
    else this.open(this.helloFrame());
    this.callHook((mcp) => mcp.onHello?.(features, this));
  }

  /** An unbound device's question: answered here, as if the session had answered it. */
  private answerLocally(id: string, text: string, answer: (text: string) => string): void {
    this.writer.send({ type: 'accepted', id });
    this.writer.relayed({
      frames: [
        {
          type: 'function_call_result',
          id,
          config_id: 0,
          config_name: 'activation',
          result: answer(text),
          execute_time: 0,
          status: 'success',
        },
      ],
    });
  }
}
