// One client socket bound to one session workflow. Frames from the client become signals, sent
// one at a time so the workflow sees messages in the order the client sent them; frames to the
// client (our answers and the `deliver` activity's) wait until `hello` has gone out.
import { randomBytes } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import WebSocket, { type RawData } from 'ws';
import type { Logger } from '../lib/logger';
import type { TemporalHandles } from '../app/context';
import { isWorkflowGone, withTemporalDeadline } from '../sessions/session-store';
import {
  ackSignal,
  closeSignal,
  messageSignal,
  updateSessionConfigSignal,
  type ServerFrame,
} from '../contract';
import type { SessionSettingsUpdate } from '../sessions/session.schemas';
import { errorFrame, FrameErrorCode, parseClientFrame, type ClientFrame, type ErrorFrame } from './protocol';
import { createRateWindow, type RateWindow } from './rate-window';

export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  tryAgainLater: 1013,
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
}

/** How long `deliver` waits for a socket that is still handshaking before reporting it gone (its start-to-close is 5 s). */
const READY_WAIT_MS = 4_000;
/** After a `close` frame the workflow answers `session_closed`; if that never comes, close anyway. */
const CLOSE_GRACE_MS = 5_000;

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
  private readonly log: Logger;
  private ws: WebSocket | undefined;
  private ready = false;
  private closed = false;
  /** The workflow is over; no detach is needed and no further signal can succeed. */
  sessionEnded = false;
  /** Set by a pong; cleared by each heartbeat ping. */
  alive = true;
  private readonly outgoing: ServerFrame[] = [];
  private readonly readyWaiters = new Set<(ready: boolean) => void>();
  private signals: Promise<void> = Promise.resolve();
  private readonly rate: RateWindow;
  private readonly badFrames: RateWindow;

  constructor(options: ConnectionOptions) {
    this.options = options;
    this.userId = options.userId;
    this.sessionId = options.sessionId;
    this.workflowId = options.workflowId;
    this.log = options.logger.child({ connectionId: this.id, sessionId: options.sessionId });
    this.rate = createRateWindow(options.limits.messagesPerMinute, 60_000);
    this.badFrames = createRateWindow(options.limits.badFramesPerMinute - 1, 60_000);
  }

  get isOpen(): boolean {
    return !this.closed && this.ws?.readyState === WebSocket.OPEN;
  }

  bind(ws: WebSocket): void {
    this.ws = ws;
  }

  /** `hello` first, then whatever was queued while the handshake finished. */
  open(hello: ServerFrame): void {
    if (this.closed) return;
    this.write(hello);
    this.ready = true;
    for (const frame of this.outgoing.splice(0)) this.write(frame);
    for (const wake of this.readyWaiters) wake(true);
    this.readyWaiters.clear();
  }

  markClosed(): void {
    this.closed = true;
    for (const wake of this.readyWaiters) wake(false);
    this.readyWaiters.clear();
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

  /** The `deliver` activity's frames. True only when every frame reached the socket's send buffer. */
  async deliver(frames: readonly ServerFrame[]): Promise<boolean> {
    if (!(await this.waitReady())) return false;
    for (const frame of frames) {
      if (!(await this.writeConfirmed(frame))) return false;
    }
    if (frames.some((f) => f.type === 'session_closed')) {
      this.sessionEnded = true;
      this.close(CloseCode.normal, 'session closed');
    }
    return true;
  }

  private waitReady(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.ready) return Promise.resolve(this.isOpen);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), READY_WAIT_MS);
      const finish = (ready: boolean): void => {
        clearTimeout(timer);
        this.readyWaiters.delete(finish);
        resolve(ready && this.isOpen);
      };
      this.readyWaiters.add(finish);
    });
  }

  private writeConfirmed(frame: ServerFrame): Promise<boolean> {
    const ws = this.ws;
    if (!ws || !this.isOpen) return Promise.resolve(false);
    return new Promise((resolve) => ws.send(JSON.stringify(frame), (error) => resolve(!error)));
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

  private handle(frame: ClientFrame): void {
    if (frame.type === 'ping') return this.send({ type: 'pong' });
    if (!this.rate.hit()) {
      const id = 'id' in frame ? frame.id : undefined;
      const message = `More than ${this.options.limits.messagesPerMinute} frames a minute; slow down and resend`;
      return this.send(errorFrame(FrameErrorCode.rateLimited, message, id));
    }
    switch (frame.type) {
      case 'message':
        return this.enqueueSignal(frame.id, async (handle) => {
          await handle.signal(messageSignal, { id: frame.id, text: frame.text, receivedAt: Date.now() });
          this.send({ type: 'accepted', id: frame.id });
        });
      case 'ack':
        return this.enqueueSignal(frame.id, (handle) => handle.signal(ackSignal, { id: frame.id }));
      case 'session_config': {
        const { type: _type, ...update } = frame;
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
  private enqueueSignal(
    id: string | undefined,
    call: (handle: WorkflowHandle) => Promise<void>,
  ): void {
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
