// Everything a session remembers, with the small operations signal handlers call. Plain data
// and synchronous methods: deterministic, and easy to carry over continue-as-new.
import type {
  AttachInfo,
  CarriedState,
  IncomingMessage,
  PublicConfig,
  ResultFrame,
  SessionConfigUpdate,
  SessionSettings,
  SessionState,
  SessionStatus,
  SessionWorkflowInput,
  TranscriptEntry,
} from '../contract';
import type { ChatTurn } from '../contract';

/** Message ids remembered for de-duplication (carried over continue-as-new). */
export const MAX_HANDLED_IDS = 1000;
/** Transcript entries kept in memory; the query returns these. */
export const MAX_TRANSCRIPT = 100;
/** Transcript entries carried over continue-as-new. */
export const CARRIED_TRANSCRIPT = 50;
/** Unacked results kept for redelivery; the oldest go first beyond this. */
export const MAX_OUTBOX = 200;
/** Recent exchanges given to an LLM as context. */
export const HISTORY_TURNS = 5;

export const DEFAULT_SETTINGS: SessionSettings = { default_llm_id: null, enabled_functions: null, role: null };

export class SessionData {
  readonly userId: string;
  readonly sessionId: string;
  readonly deviceId: string | null;
  status: SessionStatus = 'active';
  settings: SessionSettings;
  configs: PublicConfig[];
  pending: IncomingMessage[];
  outbox: ResultFrame[];
  attached: AttachInfo | null;
  transcript: TranscriptEntry[];
  private handledIds: string[];
  private handledSet: Set<string>;
  /** The message being worked on, so a duplicate arriving meanwhile is recognised. */
  current: IncomingMessage | null = null;
  handledThisRun = 0;
  private readonly handledBefore: number;
  lastActivityAt: number;
  closeReason: string | null = null;
  /** Work the main loop owes, set by signal handlers. */
  configsStale = false;
  recordDirty = false;
  /** The configs or the role changed: the row's session_data snapshot is rewritten. */
  snapshotDirty = false;
  redeliver = false;

  constructor(input: SessionWorkflowInput, now: number) {
    const carried = input.carried;
    this.userId = input.userId;
    this.sessionId = input.sessionId;
    this.deviceId = input.deviceId;
    this.settings = carried?.settings ?? { ...DEFAULT_SETTINGS };
    this.configs = carried?.configs ?? [];
    this.pending = carried?.pending ?? [];
    this.outbox = carried?.outbox ?? [];
    this.attached = carried?.attached ?? null;
    this.transcript = carried?.transcript ?? [];
    this.handledIds = carried?.handledIds ?? [];
    this.handledSet = new Set(this.handledIds);
    this.handledBefore = carried?.handledCount ?? 0;
    this.lastActivityAt = now;
  }

  isKnown(id: string): boolean {
    return this.handledSet.has(id) || this.current?.id === id || this.pending.some((m) => m.id === id);
  }

  enqueue(message: IncomingMessage, now: number): void {
    if (this.isKnown(message.id)) return;
    this.pending.push(message);
    this.lastActivityAt = now;
  }

  ack(id: string): void {
    this.outbox = this.outbox.filter((frame) => frame.id !== id);
  }

  attach(info: AttachInfo, now: number): void {
    this.attached = info;
    this.redeliver = true;
    this.lastActivityAt = now;
  }

  /** Only the socket that is attached may detach; a late detach of an old socket is ignored. */
  detach(connectionId: string): void {
    if (this.attached?.connectionId === connectionId) this.attached = null;
  }

  updateSettings(update: SessionConfigUpdate): void {
    if (update.default_llm_id !== undefined) this.settings = { ...this.settings, default_llm_id: update.default_llm_id };
    if (update.enabled_functions !== undefined) this.settings = { ...this.settings, enabled_functions: update.enabled_functions };
    this.recordDirty = true;
  }

  setRole(role: string | null): void {
    this.settings = { ...this.settings, role };
    this.recordDirty = true;
    this.snapshotDirty = true;
  }

  setConfigs(configs: PublicConfig[]): void {
    this.configs = configs;
    this.recordDirty = true;
    this.snapshotDirty = true;
  }

  requestClose(reason: string): void {
    this.closeReason ??= reason;
  }

  hasWork(): boolean {
    return this.pending.length > 0 || this.closeReason !== null || this.configsStale || this.recordDirty || this.redeliver;
  }

  /** Housekeeping flags the loop must clear before continuing as new, so none is lost. */
  hasHousekeeping(): boolean {
    return this.configsStale || this.recordDirty || this.redeliver;
  }

  takeNext(): IncomingMessage | undefined {
    const next = this.pending.shift();
    this.current = next ?? null;
    return next;
  }

  /** A message is done: remember its id, keep its result until acked, log it. */
  complete(entry: TranscriptEntry, now: number): void {
    this.current = null;
    this.handledIds.push(entry.id);
    this.handledSet.add(entry.id);
    while (this.handledIds.length > MAX_HANDLED_IDS) this.handledSet.delete(this.handledIds.shift()!);
    if (entry.result) this.outbox = [...this.outbox, entry.result].slice(-MAX_OUTBOX);
    this.transcript = [...this.transcript, entry].slice(-MAX_TRANSCRIPT);
    this.handledThisRun += 1;
    this.lastActivityAt = now;
    this.recordDirty = true;
  }

  recentTurns(): ChatTurn[] {
    return this.transcript
      .filter((e) => e.result?.status === 'success')
      .slice(-HISTORY_TURNS)
      .map((e) => ({ question: e.text, answer: e.result!.result }));
  }

  carry(): CarriedState {
    return {
      settings: this.settings,
      configs: this.configs,
      pending: this.pending,
      outbox: this.outbox,
      handledIds: this.handledIds,
      attached: this.attached,
      transcript: this.transcript.slice(-CARRIED_TRANSCRIPT),
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
      attached: this.attached,
      handledCount: this.handledBefore + this.handledThisRun,
      lastActivityAt: this.lastActivityAt,
    };
  }
}
