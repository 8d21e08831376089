// The signal pump: what one socket asks of its session, as signals to the session workflow. Signals
// go out one at a time, so the workflow sees messages in the order the client sent them; acks ride
// along with the next message (or a short timer, or `detach`), so an ack costs no workflow task of
// its own. A signal that fails is never silent: the client gets `unavailable` for that id and
// resends it (ids make that idempotent); a session that has ended answers `session_closed`.
import type { WorkflowHandle } from '@temporalio/client';
import type { TemporalHandles } from '../app/context';
import {
  ackSignal,
  closeSignal,
  detachSignal,
  MAX_PENDING_MESSAGE_BYTES,
  messageSignal,
  stateQuery,
  updateSessionConfigSignal,
  type ResultFrame,
} from '../contract';
import type { Logger } from '../lib/logger';
import { isWorkflowGone, withTemporalDeadline } from '../sessions/session-store';
import type { SessionSettingsUpdate } from '../sessions/session.schemas';
import { errorFrame, FrameErrorCode, type ErrorFrame } from './protocol';
import type { SocketWriter } from './socket-writer';

export interface SignalPumpOptions {
  temporal: TemporalHandles;
  workflowId: string;
  connectionId: string;
  writer: SocketWriter;
  /** Streamed answers asked for at connect time (`Stream` header or `?stream=`). */
  stream: boolean;
  /** Checks a `session_config` against the database; a message names the problem. */
  checkSettings(update: SessionSettingsUpdate): Promise<string | null>;
  /** Answers a frame the session must not get (counted like a malformed frame). */
  rejectFrame(error: ErrorFrame): void;
  /** Ends the socket once the session has ended. */
  closeSocket(): void;
  log(): Logger;
}

/** After a `close` frame the workflow answers `session_closed`; if that never comes, close anyway. */
const CLOSE_GRACE_MS = 5_000;
/** Acks wait this long for a message to ride along with before they are signalled on their own. */
const ACK_FLUSH_MS = 1_000;

export class SignalPump {
  /** The workflow is over; no detach is needed and no further signal can succeed. */
  ended = false;
  /** This socket's messages are answered with `delta` frames while the provider streams. */
  stream: boolean;
  private closed = false;
  private signals: Promise<void> = Promise.resolve();
  private acks: string[] = [];
  private ackTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SignalPumpOptions) {
    this.stream = options.stream;
  }

  /** The socket is gone: acks still held go with `detach`, not on a timer. */
  markClosed(): void {
    this.closed = true;
  }

  message(id: string, text: string): void {
    const { writer } = this.options;
    if (!writer.admit(id, text)) {
      const message = `More than ${MAX_PENDING_MESSAGE_BYTES} bytes of messages are waiting for answers; resend this one once earlier answers arrive`;
      return writer.send(errorFrame(FrameErrorCode.sessionBusy, message, id));
    }
    this.enqueue(id, async (handle) => {
      const acks = this.takeAcks();
      writer.signalling(id);
      try {
        await handle.signal(messageSignal, {
          id,
          text,
          receivedAt: Date.now(),
          ...(this.stream ? { stream: true } : {}),
          ...(acks.length ? { acks } : {}),
        });
        writer.accepted(id);
      } catch (error) {
        // Not recorded, so not acknowledged either: they go with the next signal.
        this.acks.unshift(...acks);
        writer.forget(id);
        throw error;
      } finally {
        writer.signalled(id);
      }
    });
  }

  ack(id: string): void {
    this.acks.push(id);
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = undefined;
      if (this.acks.length === 0 || this.closed) return;
      const ids = this.takeAcks();
      this.enqueue(undefined, (handle) => handle.signal(ackSignal, { ids }));
    }, ACK_FLUSH_MS).unref();
  }

  updateSettings(update: SessionSettingsUpdate): void {
    this.enqueue(undefined, async (handle) => {
      const problem = await this.options.checkSettings(update);
      if (problem) return this.options.rejectFrame(errorFrame(FrameErrorCode.invalidFrame, problem));
      await handle.signal(updateSessionConfigSignal, update);
    });
  }

  close(): void {
    this.enqueue(undefined, async (handle) => {
      await handle.signal(closeSignal, { reason: 'closed by the client' });
      setTimeout(() => this.options.closeSocket(), CLOSE_GRACE_MS).unref();
    });
  }

  /**
   * The socket closed: the workflow forgets its address, and takes the acks still held. Best
   * effort: a later attach replaces the address anyway, and the relay drops frames for a gone
   * socket, so a lost detach costs nothing but wasted notifications.
   */
  detach(): Promise<void> | undefined {
    if (this.ended) return undefined;
    const { temporal, workflowId, connectionId } = this.options;
    const acks = this.takeAcks();
    return withTemporalDeadline(temporal, () =>
      temporal.client.workflow.getHandle(workflowId).signal(detachSignal, { connectionId, ...(acks.length ? { acks } : {}) }),
    ).catch((error: unknown) => {
      this.options.log().debug({ err: error }, 'detach signal failed');
    });
  }

  /** The session's unacked results (the `state` query); none once the session is gone. */
  async readOutbox(): Promise<ResultFrame[]> {
    const { temporal, workflowId } = this.options;
    try {
      const state = await withTemporalDeadline(temporal, () => temporal.client.workflow.getHandle(workflowId).query(stateQuery));
      return state.outbox;
    } catch (error) {
      if (!isWorkflowGone(error)) throw error;
      this.ended = true;
      return [];
    }
  }

  private takeAcks(): string[] {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    return this.acks.splice(0);
  }

  /** Signals go out one after another (order matters for messages). */
  private enqueue(id: string | undefined, call: (handle: WorkflowHandle) => Promise<void>): void {
    const { temporal, workflowId, writer } = this.options;
    this.signals = this.signals.then(async () => {
      if (this.ended) return this.sessionEnded(id);
      try {
        await withTemporalDeadline(temporal, () => call(temporal.client.workflow.getHandle(workflowId)));
      } catch (error) {
        if (isWorkflowGone(error)) {
          this.ended = true;
          return this.sessionEnded(id);
        }
        this.options.log().warn({ err: error }, 'signal to the session workflow failed');
        writer.send(errorFrame(FrameErrorCode.unavailable, 'The session could not record this frame; resend it', id));
      }
    });
  }

  private sessionEnded(id: string | undefined): void {
    const { writer } = this.options;
    writer.send(errorFrame(FrameErrorCode.sessionClosed, 'This session has ended; open a new one', id));
    writer.send({ type: 'session_closed', reason: 'session ended' });
    this.options.closeSocket();
  }
}
