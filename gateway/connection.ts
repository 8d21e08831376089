// One client socket bound to one session workflow. Frames from the client become signals, sent
// one at a time so the workflow sees messages in the order the client sent them; acks ride along
// with the next message (or a short timer), so an ack costs no workflow task of its own. Frames to
// the client (ours and the relay's) wait until `hello` has gone out;
// each result is written once per socket, never before its `accepted`, and a result that does
// not come through the relay is read from the session's outbox (ARCHITECTURE.md).
import { randomBytes } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import WebSocket, { type RawData } from 'ws';
import type { Logger } from '../lib/logger';
import type { TemporalHandles } from '../app/context';
import { isWorkflowGone, withTemporalDeadline } from '../sessions/session-store';
import {
  ackSignal,
  closeSignal,
  MAX_PENDING_MESSAGE_BYTES,
  messageSignal,
  stateQuery,
  updateSessionConfigSignal,
  type PublicConfig,
  type ResultFrame,
  type ServerFrame,
} from '../contract';
import type { RelayDelivery } from '../relay';
import { hasSetting, type SessionSettingsUpdate } from '../sessions/session.schemas';
import { errorFrame, FrameErrorCode, parseClientFrame, type ClientFrame, type ErrorFrame } from './protocol';
import { createRateWindow, type RateWindow } from './rate-window';

export const CloseCode = {
  normal: 1000,
  /** The gateway is stopping (a deploy, a scale-down): reconnect, to another gateway, and resume the session. */
  serviceRestart: 1012,
  policyViolation: 1008,
  tryAgainLater: 1013,
  /** Private-use code: the token the socket was opened with has expired; reconnect with a fresh one. */
  tokenExpired: 4001,
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
  limits: ConnectionLimits;
  logger: Logger;
  /** Checks a `session_config` against the database; a message names the problem. */
  checkSettings(update: SessionSettingsUpdate): Promise<string | null>;
  /** The user's configs as clients see them, for `configs_updated`. */
  loadConfigs(): Promise<PublicConfig[]>;
  /** When the token the socket was opened with expires (epoch ms): the socket is closed then. */
  tokenExpiresAt: number;
  /** Streamed answers asked for at connect time (`Stream` header or `?stream=`). */
  stream: boolean;
}

/** After a `close` frame the workflow answers `session_closed`; if that never comes, close anyway. */
const CLOSE_GRACE_MS = 5_000;
/** Acks wait this long for a message to ride along with before they are signalled on their own. */
const ACK_FLUSH_MS = 1_000;
/** A message accepted this long ago without a result has its result looked up in the outbox. */
const OUTBOX_CHECK_AFTER_MS = 10_000;
/** Result ids remembered per socket, so a result is written once even if it comes twice. */
const WRITTEN_IDS = 500;

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

export class ClientConnection {
  readonly id = randomBytes(12).toString('base64url');
  readonly userId: string;
  readonly sessionId: string;
  readonly workflowId: string;
  private readonly options: ConnectionOptions;
  private childLog: Logger | undefined;
  private ws: WebSocket | undefined;
  private ready = false;
  private closed = false;
  /** The workflow is over; no detach is needed and no further signal can succeed. */
  sessionEnded = false;
  /** Set by a pong; cleared by each heartbeat ping. */
  alive = true;
  private readonly outgoing: ServerFrame[] = [];
  private signals: Promise<void> = Promise.resolve();
  private readonly rate: RateWindow;
  private readonly badFrames: RateWindow;
  /** Results written to this socket (ids, oldest first). */
  private readonly written = new Set<string>();
  /** Message ids whose signal is on its way: their result waits for `accepted`. */
  private readonly signalling = new Set<string>();
  private readonly held: (ResultFrame | Extract<ServerFrame, { type: 'delta' }>)[] = [];
  /**
   * Messages on their way or awaiting a result, by id: their text's size (bounded in sum by
   * MAX_PENDING_MESSAGE_BYTES) and, once `accepted`, when (the outbox lookup watches those).
   */
  private readonly unanswered = new Map<string, { bytes: number; acceptedAt?: number }>();
  private unansweredBytes = 0;
  private lastOutboxCheck = 0;
  private outboxCheck: Promise<void> | undefined;
  private acks: string[] = [];
  /** This socket's messages are answered with `delta` frames while the provider streams. */
  private stream: boolean;
  private expiry: NodeJS.Timeout | undefined;
  private ackTimer: NodeJS.Timeout | undefined;

  constructor(options: ConnectionOptions) {
    this.options = options;
    this.stream = options.stream;
    this.userId = options.userId;
    this.sessionId = options.sessionId;
    this.workflowId = options.workflowId;
    this.rate = createRateWindow(options.limits.messagesPerMinute, 60_000);
    this.badFrames = createRateWindow(options.limits.badFramesPerMinute - 1, 60_000);
  }

  /** Built on first use: most sockets never log, and an idle socket should cost little memory. */
  private get log(): Logger {
    this.childLog ??= this.options.logger.child({ connectionId: this.id, sessionId: this.sessionId });
    return this.childLog;
  }

  bind(ws: WebSocket): void {
    this.ws = ws;
    const left = this.options.tokenExpiresAt - Date.now();
    this.expiry = setTimeout(
      () => {
        this.send(errorFrame(FrameErrorCode.tokenExpired, 'The token this socket was opened with has expired; reconnect with a fresh one'));
        this.close(CloseCode.tokenExpired, 'token expired');
      },
      Math.max(left, 0),
    );
    this.expiry.unref();
  }

  /** `hello` first, then whatever was queued while the handshake finished. */
  open(hello: ServerFrame): void {
    if (this.closed) return;
    this.write(hello);
    this.ready = true;
    for (const frame of this.outgoing.splice(0)) this.write(frame);
  }

  markClosed(): void {
    this.closed = true;
    clearTimeout(this.expiry);
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

  /** Our own answers (accepted, pong, error): queued until hello, dropped once the socket is gone. */
  send(frame: ServerFrame): void {
    if (this.closed) return;
    if (!this.ready) this.outgoing.push(frame);
    else this.write(frame);
  }

  private write(frame: ServerFrame): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  /** Frames the relay brought, or word that the outbox must be read. */
  relayed(delivery: RelayDelivery): void {
    if (this.closed) return;
    if ('fetchOutbox' in delivery) return void this.checkOutbox(true);
    for (const frame of delivery.frames) {
      if (frame.type === 'reload_configs') void this.sendConfigs();
      else if (frame.type === 'function_call_result') this.result(frame);
      else if (frame.type === 'delta') this.delta(frame);
      else this.send(frame);
    }
    this.endIfClosed(delivery.frames);
  }

  /** After the relay was away: every result still awaited is looked up. */
  resync(): void {
    if (this.acceptedTimes().length > 0) void this.checkOutbox(true);
  }

  /** Called periodically: a result that has not come through the relay in time is read from the outbox. */
  sweep(now = Date.now()): void {
    if (now - this.lastOutboxCheck < OUTBOX_CHECK_AFTER_MS) return;
    const accepted = this.acceptedTimes();
    if (accepted.length > 0 && now - Math.min(...accepted) >= OUTBOX_CHECK_AFTER_MS) void this.checkOutbox(false);
  }

  private acceptedTimes(): number[] {
    return [...this.unanswered.values()].flatMap((m) => (m.acceptedAt === undefined ? [] : [m.acceptedAt]));
  }

  private endIfClosed(frames: readonly { type: string }[]): void {
    if (!frames.some((f) => f.type === 'session_closed')) return;
    this.sessionEnded = true;
    // After what is queued: the session_closed frame itself is on its way.
    setImmediate(() => this.close(CloseCode.normal, 'session closed'));
  }

  private result(frame: ResultFrame): void {
    if (this.written.has(frame.id)) return;
    if (this.signalling.has(frame.id)) return void this.held.push(frame);
    this.markWritten(frame.id);
    this.send(frame);
  }

  /** A piece of a streamed answer: never after its result, never before its `accepted`. */
  private delta(frame: Extract<ServerFrame, { type: 'delta' }>): void {
    if (this.written.has(frame.id)) return;
    if (this.signalling.has(frame.id)) return void this.held.push(frame);
    this.send(frame);
  }

  private markWritten(id: string): void {
    this.forget(id);
    this.written.add(id);
    if (this.written.size > WRITTEN_IDS) this.written.delete(this.written.values().next().value!);
  }

  private forget(id: string): void {
    this.unansweredBytes -= this.unanswered.get(id)?.bytes ?? 0;
    this.unanswered.delete(id);
  }

  private async sendConfigs(): Promise<void> {
    try {
      this.send({ type: 'configs_updated', configs: await this.options.loadConfigs() });
    } catch (error) {
      this.log.warn({ err: error }, 'could not read configs for configs_updated');
    }
  }

  /** Unacked results from the session's outbox that this socket has not had (one lookup at a time). */
  private checkOutbox(force: boolean): Promise<void> {
    if (this.outboxCheck) return this.outboxCheck;
    if (!force && Date.now() - this.lastOutboxCheck < OUTBOX_CHECK_AFTER_MS) return Promise.resolve();
    this.lastOutboxCheck = Date.now();
    const { temporal, workflowId } = this.options;
    this.outboxCheck = withTemporalDeadline(temporal, () => temporal.client.workflow.getHandle(workflowId).query(stateQuery))
      .then((state) => {
        for (const frame of state.outbox) this.result(frame);
      })
      .catch((error: unknown) => {
        if (isWorkflowGone(error)) this.sessionEnded = true;
        else this.log.debug({ err: error }, 'outbox lookup failed; trying again later');
      })
      .finally(() => (this.outboxCheck = undefined));
    return this.outboxCheck;
  }

  /** Acks not signalled yet; the gateway hands them to `detach` when the socket closes. */
  takeAcks(): string[] {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    return this.acks.splice(0);
  }

  private queueAck(id: string): void {
    this.acks.push(id);
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = undefined;
      if (this.acks.length === 0 || this.closed) return;
      const ids = this.takeAcks();
      this.enqueueSignal(undefined, (handle) => handle.signal(ackSignal, { ids }));
    }, ACK_FLUSH_MS).unref();
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
    if (isBinary) {
      return this.rejectFrame(errorFrame(FrameErrorCode.binaryNotSupported, 'Frames are JSON text, not binary'));
    }
    const parsed = parseClientFrame(bytes.toString('utf8'));
    if (!parsed.ok) return this.rejectFrame(parsed.error);
    this.handle(parsed.frame);
  }

  private rejectFrame(error: ErrorFrame): void {
    this.send(error);
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
    return frame.type === 'ping' || frame.type === 'close' || (frame.type === 'ack' && this.written.has(frame.id));
  }

  private handle(frame: ClientFrame): void {
    if (frame.type === 'ping') return this.send({ type: 'pong' });
    if (!this.isFree(frame) && !this.rate.hit()) {
      const id = 'id' in frame ? frame.id : undefined;
      const message = `More than ${this.options.limits.messagesPerMinute} frames a minute; slow down and resend`;
      return this.send(errorFrame(FrameErrorCode.rateLimited, message, id));
    }
    switch (frame.type) {
      case 'message': {
        const bytes = Buffer.byteLength(frame.text);
        if (!this.unanswered.has(frame.id) && this.unanswered.size > 0 && this.unansweredBytes + bytes > MAX_PENDING_MESSAGE_BYTES) {
          const message = `More than ${MAX_PENDING_MESSAGE_BYTES} bytes of messages are waiting for answers; resend this one once earlier answers arrive`;
          return this.send(errorFrame(FrameErrorCode.sessionBusy, message, frame.id));
        }
        if (!this.unanswered.has(frame.id) && !this.written.has(frame.id)) {
          this.unanswered.set(frame.id, { bytes });
          this.unansweredBytes += bytes;
        }
        return this.enqueueSignal(frame.id, async (handle) => {
          const acks = this.takeAcks();
          this.signalling.add(frame.id);
          try {
            await handle.signal(messageSignal, {
              id: frame.id,
              text: frame.text,
              receivedAt: Date.now(),
              ...(this.stream ? { stream: true } : {}),
              ...(acks.length ? { acks } : {}),
            });
            this.send({ type: 'accepted', id: frame.id });
            if (!this.written.has(frame.id))
              this.unanswered.set(frame.id, { bytes: 0, ...this.unanswered.get(frame.id), acceptedAt: Date.now() });
          } catch (error) {
            // Not recorded, so not acknowledged either: they go with the next signal.
            this.acks.unshift(...acks);
            this.forget(frame.id);
            throw error;
          } finally {
            this.signalling.delete(frame.id);
            const held = this.held.filter((f) => f.id === frame.id);
            this.held.splice(0, this.held.length, ...this.held.filter((f) => f.id !== frame.id));
            for (const early of held) {
              if (early.type === 'delta') this.delta(early);
              else this.result(early);
            }
          }
        });
      }
      case 'ack':
        return this.queueAck(frame.id);
      case 'session_config': {
        const { type: _type, stream, ...update } = frame;
        if (stream !== undefined) this.stream = stream;
        if (!hasSetting(update)) return;
        return this.enqueueSignal(undefined, async (handle) => {
          const problem = await this.options.checkSettings(update);
          if (problem) return this.rejectFrame(errorFrame(FrameErrorCode.invalidFrame, problem));
          await handle.signal(updateSessionConfigSignal, update);
        });
      }
      case 'close':
        return this.enqueueSignal(undefined, async (handle) => {
          await handle.signal(closeSignal, { reason: 'closed by the client' });
          setTimeout(() => this.close(CloseCode.normal, 'session closed'), CLOSE_GRACE_MS).unref();
        });
    }
  }

  /**
   * Signals go out one after another (order matters for messages). A failed call is never
   * silent: the client gets `unavailable` for that id and resends it later (ids make it idempotent).
   */
  private enqueueSignal(id: string | undefined, call: (handle: WorkflowHandle) => Promise<void>): void {
    const { temporal, workflowId } = this.options;
    this.signals = this.signals.then(async () => {
      if (this.sessionEnded) return this.sendSessionEnded(id);
      try {
        await withTemporalDeadline(temporal, () => call(temporal.client.workflow.getHandle(workflowId)));
      } catch (error) {
        if (isWorkflowGone(error)) {
          this.sessionEnded = true;
          return this.sendSessionEnded(id);
        }
        this.log.warn({ err: error }, 'signal to the session workflow failed');
        this.send(errorFrame(FrameErrorCode.unavailable, 'The session could not record this frame; resend it', id));
      }
    });
  }

  private sendSessionEnded(id: string | undefined): void {
    this.send(errorFrame(FrameErrorCode.sessionClosed, 'This session has ended; open a new one', id));
    this.send({ type: 'session_closed', reason: 'session ended' });
    this.close(CloseCode.normal, 'session closed');
  }
}
