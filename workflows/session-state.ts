// Everything a session remembers, with the small operations signal handlers call. Plain data
// and synchronous methods: deterministic, and easy to carry over continue-as-new. Every
// collection is bounded in count and in bytes (ARCHITECTURE.md, "Bounds"), so no user input can
// push a payload toward Temporal's 2 MB limit and stall the session.
import {
  MAX_PENDING_MESSAGE_BYTES,
  toCachedConfig,
  type AckInput,
  type CachedConfig,
  type CarriedState,
  type ChatTurn,
  type IncomingMessage,
  type RelayAddress,
  type ResultFrame,
  type SessionSettingsUpdate,
  type SessionRecordUpdate,
  type SessionSettings,
  type SessionState,
  type SessionStatus,
  type SessionWorkflowInput,
  type TranscriptEntry,
} from '../contract';

/** Message ids remembered for de-duplication (carried over continue-as-new). */
export const MAX_HANDLED_IDS = 1000;
/** Transcript entries kept in memory; the query returns these. */
export const MAX_TRANSCRIPT = 100;
/** A transcript entry keeps this much of the question and of the answer (the full answer is in history). */
export const TRANSCRIPT_FIELD_CHARS = 4000;
/** Transcript carried over continue-as-new: at most this many entries and bytes. */
export const CARRIED_TRANSCRIPT = 50;
export const CARRIED_TRANSCRIPT_BYTES = 128 * 1024;
/** Unacked results kept for redelivery; the oldest go first beyond either bound. */
export const MAX_OUTBOX = 200;
export const MAX_OUTBOX_BYTES = 512 * 1024;
/** Messages waiting to be answered; beyond this a message is answered `failed` at once (resend it later). */
export const MAX_PENDING_BYTES = MAX_PENDING_MESSAGE_BYTES;
/** Acks of results not produced yet (a crash replayed the step after the client had the result). */
const MAX_EARLY_ACKS = 200;
/** The row's activity time is mirrored at most this often on the message path (it only feeds listings). */
export const RECORD_EVERY_MS = 60_000;
/** Recent exchanges given to an LLM as context. */
export const HISTORY_TURNS = 5;

export const DEFAULT_SETTINGS: SessionSettings = { default_llm_id: null, enabled_functions: null, role: null };

/** UTF-8 size of a string without TextEncoder (which the workflow sandbox need not offer). */
export function utf8Bytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4; // a surrogate pair: one 4-byte character
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** Close enough to a value's size in a JSON payload. */
export function jsonBytes(value: unknown): number {
  return utf8Bytes(JSON.stringify(value) ?? '');
}

/** What a waiting message counts against MAX_PENDING_BYTES: its text, and a chat completion request's context. */
function messageBytes(message: IncomingMessage): number {
  return utf8Bytes(message.text) + (message.chat ? jsonBytes(message.chat) : 0);
}

function cut(text: string, chars: number): string {
  return text.length > chars ? `${text.slice(0, chars)}…` : text;
}

/** Keeps the newest items whose total size stays within `budget` bytes (and `count` items). */
export function newestWithin<T>(items: readonly T[], count: number, budget: number, size: (item: T) => number): T[] {
  const kept: T[] = [];
  let used = 0;
  for (let i = items.length - 1; i >= 0 && kept.length < count; i--) {
    const bytes = size(items[i]!);
    if (used + bytes > budget) break;
    used += bytes;
    kept.push(items[i]!);
  }
  return kept.reverse();
}

export class SessionData {
  readonly userId: string;
  readonly sessionId: string;
  readonly deviceId: string | null;
  readonly workflowId: string;
  private readonly idleTtlMs: number;
  status: SessionStatus = 'active';
  settings: SessionSettings;
  configs: CachedConfig[];
  pending: IncomingMessage[];
  private pendingBytes: number;
  /** Messages refused because too many were waiting: answered `failed` by the main loop. */
  refused: IncomingMessage[] = [];
  outbox: ResultFrame[];
  /** Where frames go: the socket attached now, if any. */
  relayAddress: RelayAddress | null;
  transcript: TranscriptEntry[];
  private handledIds: string[];
  private handledSet: Set<string>;
  private readonly earlyAcks = new Set<string>();
  /** The message being worked on, so a duplicate arriving meanwhile is recognised. */
  current: IncomingMessage | null = null;
  handledThisRun = 0;
  private readonly handledBefore: number;
  lastActivityAt: number;
  /** When the row last had its activity time written. */
  private lastRecordedAt = 0;
  /** The idle TTL has passed (set by the idle watch). */
  idleExpired = false;
  closeReason: string | null = null;
  /** Work the main loop owes, set by signal handlers. */
  configsStale = false;
  recordDirty = false;
  /** The configs or the role changed: the row's session_data snapshot is rewritten. */
  snapshotDirty = false;
  redeliver = false;

  constructor(input: SessionWorkflowInput, workflowId: string, now: number) {
    const carried = input.carried;
    this.userId = input.userId;
    this.sessionId = input.sessionId;
    this.deviceId = input.deviceId;
    this.workflowId = workflowId;
    this.idleTtlMs = input.idleTtlMs;
    this.settings = carried?.settings ?? { ...DEFAULT_SETTINGS };
    this.configs = (carried?.configs ?? []).map(toCachedConfig);
    this.pending = carried?.pending ?? [];
    this.pendingBytes = this.pending.reduce((sum, m) => sum + messageBytes(m), 0);
    this.outbox = carried?.outbox ?? [];
    this.relayAddress = carried?.attached ?? null;
    this.transcript = carried?.transcript ?? [];
    this.handledIds = carried?.handledIds ?? [];
    this.handledSet = new Set(this.handledIds);
    this.handledBefore = carried?.handledCount ?? 0;
    this.lastActivityAt = now;
  }

  isKnown(id: string): boolean {
    return (
      this.handledSet.has(id) || this.current?.id === id || this.pending.some((m) => m.id === id) || this.refused.some((m) => m.id === id)
    );
  }

  enqueue(message: IncomingMessage, now: number): void {
    if (message.acks?.length) this.ack({ ids: message.acks });
    if (this.isKnown(message.id)) return;
    this.lastActivityAt = now;
    const bytes = messageBytes(message);
    if (this.pendingBytes + bytes > MAX_PENDING_BYTES && this.pending.length > 0) {
      this.refused.push({ id: message.id, text: '', receivedAt: message.receivedAt });
      return;
    }
    this.pending.push({
      id: message.id,
      text: message.text,
      receivedAt: message.receivedAt,
      ...(message.stream ? { stream: true } : {}),
      ...(message.chat ? { chat: message.chat } : {}),
    });
    this.pendingBytes += bytes;
  }

  /** Drops acked results; an ack for a message still being answered keeps its result out of the outbox. */
  ack(input: AckInput): void {
    const ids = [...(input.id !== undefined ? [input.id] : []), ...(input.ids ?? [])];
    if (ids.length === 0) return;
    const acked = new Set(ids);
    this.outbox = this.outbox.filter((frame) => !acked.has(frame.id));
    for (const id of ids) {
      if (this.handledSet.has(id) || !this.isKnown(id)) continue;
      this.earlyAcks.add(id);
      if (this.earlyAcks.size > MAX_EARLY_ACKS) this.earlyAcks.delete(this.earlyAcks.values().next().value!);
    }
  }

  attach(relayAddress: RelayAddress, now: number): void {
    this.relayAddress = relayAddress;
    this.redeliver = true;
    this.lastActivityAt = now;
  }

  /** Only the socket that is attached may detach; a late detach of an old socket is ignored. */
  detach(connectionId: string): void {
    if (this.relayAddress?.connectionId === connectionId) this.relayAddress = null;
  }

  updateSettings(update: SessionSettingsUpdate): void {
    if (update.default_llm_id !== undefined) this.settings = { ...this.settings, default_llm_id: update.default_llm_id };
    if (update.enabled_functions !== undefined) this.settings = { ...this.settings, enabled_functions: update.enabled_functions };
    this.recordDirty = true;
  }

  setRole(role: string | null): void {
    this.settings = { ...this.settings, role };
    this.recordDirty = true;
    this.snapshotDirty = true;
  }

  setConfigs(configs: readonly CachedConfig[]): void {
    this.configs = configs.map(toCachedConfig);
    this.recordDirty = true;
    this.snapshotDirty = true;
  }

  requestClose(reason: string): void {
    this.closeReason ??= reason;
  }

  hasWork(): boolean {
    return this.pending.length > 0 || this.refused.length > 0 || this.closeReason !== null || this.hasHousekeeping();
  }

  /** Housekeeping flags the loop must clear before continuing as new, so none is lost. */
  hasHousekeeping(): boolean {
    return this.configsStale || this.recordDirty || this.redeliver;
  }

  takeNext(): IncomingMessage | undefined {
    const next = this.pending.shift();
    if (next) this.pendingBytes -= messageBytes(next);
    this.current = next ?? null;
    return next;
  }

  takeRefused(): IncomingMessage[] {
    return this.refused.splice(0);
  }

  /**
   * A message is done: remember its id, keep its result until acked, log it (the row's activity
   * times are written while answering, `recordIfDue`). Returns whether the client still needs
   * the result (not acked while it was being answered).
   */
  complete(entry: TranscriptEntry, now: number): boolean {
    this.current = null;
    this.handledIds.push(entry.id);
    this.handledSet.add(entry.id);
    while (this.handledIds.length > MAX_HANDLED_IDS) this.handledSet.delete(this.handledIds.shift()!);
    const wanted = !this.earlyAcks.delete(entry.id);
    if (entry.result && wanted) this.keep(entry.result);
    this.transcript = [...this.transcript, this.shorten(entry)].slice(-MAX_TRANSCRIPT);
    this.handledThisRun += 1;
    this.lastActivityAt = now;
    return wanted;
  }

  /** A result for the outbox; an older result for the same id (a refusal, say) is replaced. */
  keep(result: ResultFrame): void {
    const others = this.outbox.filter((frame) => frame.id !== result.id);
    this.outbox = newestWithin([...others, result], MAX_OUTBOX, MAX_OUTBOX_BYTES, jsonBytes);
  }

  private shorten(entry: TranscriptEntry): TranscriptEntry {
    const result = entry.result ? { ...entry.result, result: cut(entry.result.result, TRANSCRIPT_FIELD_CHARS) } : null;
    return { ...entry, text: cut(entry.text, TRANSCRIPT_FIELD_CHARS), result };
  }

  recentTurns(): ChatTurn[] {
    return this.transcript
      .filter((e) => e.result?.status === 'success')
      .slice(-HISTORY_TURNS)
      .map((e) => ({ question: e.text, answer: e.result!.result }));
  }

  /** The row update for the message path, when the last one is older than RECORD_EVERY_MS. */
  recordIfDue(now: number): { record?: SessionRecordUpdate } {
    if (now - this.lastRecordedAt < RECORD_EVERY_MS) return {};
    this.lastRecordedAt = now;
    return { record: this.recordUpdate(now) };
  }

  /** The row's activity times as of `now`. */
  recordUpdate(now: number): SessionRecordUpdate {
    this.lastRecordedAt = Math.max(this.lastRecordedAt, now);
    return {
      userId: this.userId,
      sessionId: this.sessionId,
      workflowId: this.workflowId,
      deviceId: this.deviceId,
      lastActivityAt: now,
      expiresAt: now + this.idleTtlMs,
    };
  }

  carry(): CarriedState {
    return {
      settings: this.settings,
      configs: this.configs,
      pending: this.pending,
      outbox: this.outbox,
      handledIds: this.handledIds,
      attached: this.relayAddress,
      transcript: newestWithin(this.transcript, CARRIED_TRANSCRIPT, CARRIED_TRANSCRIPT_BYTES, jsonBytes),
      handledCount: this.handledBefore + this.handledThisRun,
    };
  }

  view(): SessionState {
    return {
      userId: this.userId,
      sessionId: this.sessionId,
      deviceId: this.deviceId,
      status: this.status,
      settings: this.settings,
      configs: this.configs,
      pendingIds: [...(this.current ? [this.current.id] : []), ...this.pending.map((m) => m.id)],
      outbox: this.outbox,
      attached: this.relayAddress,
      handledCount: this.handledBefore + this.handledThisRun,
      lastActivityAt: this.lastActivityAt,
    };
  }
}
