// The socket writer: every frame one socket gets, in the order the protocol promises
// (ARCHITECTURE.md, "Delivery guarantees"). Nothing goes out before `hello`; a message's deltas
// and its result never before its `accepted`, no delta after its result, and each result once
// per socket, whether it came through the relay or from the session's outbox. It also keeps the
// messages still waiting for an answer, which bounds what a socket may have in flight
// (`session_busy`) and tells when a result is overdue and must be read from the outbox.
import { MAX_PENDING_MESSAGE_BYTES, type PublicConfig, type ResultFrame, type ServerFrame } from '../contract';
import type { Logger } from '../lib/logger';
import type { RelayDelivery } from '../relay';

type DeltaFrame = Extract<ServerFrame, { type: 'delta' }>;

export interface SocketWriterOptions {
  /** Puts one frame on the socket (when it is open). */
  write(frame: ServerFrame): void;
  /** The session's unacked results; rejects when they cannot be read now. */
  readOutbox(): Promise<ResultFrame[]>;
  /** The user's configs as clients see them, for `configs_updated`. */
  loadConfigs(): Promise<PublicConfig[]>;
  /** A `session_closed` frame went out: the session is over. */
  onSessionClosed(): void;
  log(): Logger;
}

/** A message accepted this long ago without a result has its result looked up in the outbox. */
const OUTBOX_CHECK_AFTER_MS = 10_000;
/** Result ids remembered per socket, so a result is written once even if it comes twice. */
const WRITTEN_IDS = 500;

export class SocketWriter {
  private ready = false;
  private closed = false;
  private readonly outgoing: ServerFrame[] = [];
  /** Results written to this socket (ids, oldest first). */
  private readonly written = new Set<string>();
  /** Message ids whose signal is on its way: their result waits for `accepted`. */
  private readonly settling = new Set<string>();
  private readonly held: (ResultFrame | DeltaFrame)[] = [];
  /**
   * Messages on their way or awaiting a result, by id: their text's size (bounded in sum by
   * MAX_PENDING_MESSAGE_BYTES) and, once `accepted`, when (the outbox lookup watches those).
   */
  private readonly unanswered = new Map<string, { bytes: number; acceptedAt?: number }>();
  private unansweredBytes = 0;
  private lastOutboxCheck = 0;
  private outboxCheck: Promise<void> | undefined;

  constructor(private readonly options: SocketWriterOptions) {}

  /** `hello` first, then whatever was queued while the handshake finished. */
  open(hello: ServerFrame): void {
    if (this.closed) return;
    this.options.write(hello);
    this.ready = true;
    for (const frame of this.outgoing.splice(0)) this.options.write(frame);
  }

  markClosed(): void {
    this.closed = true;
  }

  /** Our own answers (accepted, pong, error): queued until hello, dropped once the socket is gone. */
  send(frame: ServerFrame): void {
    if (this.closed) return;
    if (!this.ready) this.outgoing.push(frame);
    else this.options.write(frame);
  }

  /** This socket got the result of this message id. */
  hasWritten(id: string): boolean {
    return this.written.has(id);
  }

  // -------------------------------------------------------------------------------------------
  // Messages on their way

  /**
   * Counts a message the client sent as waiting for its answer; false when the text already
   * waiting leaves no room for it (the client resends it once earlier answers arrive).
   */
  admit(id: string, text: string): boolean {
    const bytes = Buffer.byteLength(text);
    if (!this.unanswered.has(id) && this.unanswered.size > 0 && this.unansweredBytes + bytes > MAX_PENDING_MESSAGE_BYTES) return false;
    if (!this.unanswered.has(id) && !this.written.has(id)) {
      this.unanswered.set(id, { bytes });
      this.unansweredBytes += bytes;
    }
    return true;
  }

  /** The message's signal is going out: frames of its answer wait until it is settled. */
  signalling(id: string): void {
    this.settling.add(id);
  }

  /** The workflow recorded the message: `accepted`, and from now on its result is watched for. */
  accepted(id: string): void {
    this.send({ type: 'accepted', id });
    if (!this.written.has(id)) this.unanswered.set(id, { bytes: 0, ...this.unanswered.get(id), acceptedAt: Date.now() });
  }

  /** The message's signal is settled (accepted or not): what of its answer came early goes out now. */
  signalled(id: string): void {
    this.settling.delete(id);
    const held = this.held.filter((f) => f.id === id);
    this.held.splice(0, this.held.length, ...this.held.filter((f) => f.id !== id));
    for (const early of held) {
      if (early.type === 'delta') this.delta(early);
      else this.result(early);
    }
  }

  /** No longer waiting for this message (it was not recorded, or its result was written). */
  forget(id: string): void {
    this.unansweredBytes -= this.unanswered.get(id)?.bytes ?? 0;
    this.unanswered.delete(id);
  }

  // -------------------------------------------------------------------------------------------
  // Frames from the session

  /** Frames the relay brought, or word that the outbox must be read. */
  relayed(delivery: RelayDelivery): void {
    if (this.closed) return;
    if ('fetchOutbox' in delivery) return void this.checkOutbox(true);
    for (const frame of delivery.frames) {
      if (frame.type === 'reload_configs') void this.sendConfigs();
      else if (frame.type === 'function_call_result') this.result(frame);
      else if (frame.type === 'delta') this.delta(frame);
      // Taken out by the gateway's relay handler before a socket sees them (gateway/device-tools.ts).
      else if (frame.type === 'device_tool_call') continue;
      else this.send(frame);
    }
    // After what is queued: the session_closed frame itself is on its way.
    if (delivery.frames.some((f) => f.type === 'session_closed')) this.options.onSessionClosed();
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

  private result(frame: ResultFrame): void {
    if (this.written.has(frame.id)) return;
    if (this.settling.has(frame.id)) return void this.held.push(frame);
    this.markWritten(frame.id);
    this.send(frame);
  }

  /** A piece of a streamed answer: never after its result, never before its `accepted`. */
  private delta(frame: DeltaFrame): void {
    if (this.written.has(frame.id)) return;
    if (this.settling.has(frame.id)) return void this.held.push(frame);
    this.send(frame);
  }

  private markWritten(id: string): void {
    this.forget(id);
    this.written.add(id);
    if (this.written.size > WRITTEN_IDS) this.written.delete(this.written.values().next().value!);
  }

  private async sendConfigs(): Promise<void> {
    try {
      this.send({ type: 'configs_updated', configs: await this.options.loadConfigs() });
    } catch (error) {
      this.options.log().warn({ err: error }, 'could not read configs for configs_updated');
    }
  }

  /** Unacked results from the session's outbox that this socket has not had (one lookup at a time). */
  private checkOutbox(force: boolean): Promise<void> {
    if (this.outboxCheck) return this.outboxCheck;
    if (!force && Date.now() - this.lastOutboxCheck < OUTBOX_CHECK_AFTER_MS) return Promise.resolve();
    this.lastOutboxCheck = Date.now();
    this.outboxCheck = this.options
      .readOutbox()
      .then((outbox) => {
        for (const frame of outbox) this.result(frame);
      })
      .catch((error: unknown) => this.options.log().debug({ err: error }, 'outbox lookup failed; trying again later'))
      .finally(() => (this.outboxCheck = undefined));
    return this.outboxCheck;
  }
}
