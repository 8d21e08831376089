// The session workflow: one per WebSocket session. Signal handlers only record what arrived;
// the main loop waits for work (or the idle TTL), does the housekeeping the handlers asked for,
// answers one message at a time in arrival order, and continues as new before history grows.
// Results reach the socket through the relay sink (outside history) and stay in the outbox
// until acked.
import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  deprecatePatch,
  isCancellation,
  log,
  patched,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  DEFAULT_SESSION_TUNING,
  ackSignal,
  attachSignal,
  closedBeforeAnswerText,
  closeSignal,
  detachSignal,
  deviceIdSearchAttribute,
  deviceToolResultSignal,
  messageSignal,
  refreshConfigsSignal,
  SESSION_BUSY_TEXT,
  sessionStatusSearchAttribute,
  stateQuery,
  transcriptQuery,
  updateSessionConfigSignal,
  userIdSearchAttribute,
  type IncomingMessage,
  type RelayFrame,
  type ResultFrame,
  type SessionRecordUpdate,
  type SessionStatus,
  type SessionTuning,
  type SessionWorkflowInput,
} from '../contract';
import { answer } from './answer';
import type { AnswerContext } from './answer-shared';
import { ReplyAddresses } from './chat-answer';
import { DeviceToolResults } from './device-tools';
import { relay, sessionActivities, type SessionProxies } from './session-activities';
import { jsonBytes, SessionData } from './session-state';

/**
 * The message path of ARCHITECTURE.md: one local activity per message, frames through the relay
 * sink. Deprecated: every run takes it, and a history without its marker (a session of the first
 * release that never reached this path) no longer replays (ARCHITECTURE.md, "Upgrades").
 */
export const MESSAGE_PATH_PATCH = 'message-path-v2';

/**
 * The `SessionStatus` search attribute, upserted when the status changes (start, close, expiry).
 * Histories without its marker upsert only UserId/DeviceId at start and nothing at the end.
 */
export const SESSION_STATUS_PATCH = 'session-status-search-attribute';

/**
 * What one workflow task may carry back in results (local activity markers) before the workflow
 * ends the task: a flood of large answers in one task would exceed what the server accepts in a
 * task completion, and it would fail the task again and again.
 */
export const TASK_RESULT_BYTES = 512 * 1024;

/** Continue as new once history passes this size, whatever the message count (large messages). */
export const CONTINUE_AS_NEW_HISTORY_BYTES = 1024 * 1024;

export interface SessionOutcome {
  status: Exclude<SessionStatus, 'active'>;
  reason: string;
  handledCount: number;
}

export async function sessionWorkflow(input: SessionWorkflowInput): Promise<SessionOutcome> {
  const session = new SessionRunner(input);
  session.listen();
  return session.run();
}

class SessionRunner {
  private readonly data: SessionData;
  private readonly tuning: SessionTuning;
  private readonly acts: SessionProxies;
  private readonly deviceResults = new DeviceToolResults();

  constructor(private readonly input: SessionWorkflowInput) {
    this.data = new SessionData(input, workflowInfo().workflowId, Date.now());
    this.tuning = { ...DEFAULT_SESSION_TUNING, ...input.tuning };
    this.acts = sessionActivities(this.tuning);
    this.replies = new ReplyAddresses(this.data.pending);
  }

  /** Chat completion requests' frames go to the API process holding the request (workflows/chat-answer.ts). */
  private readonly replies: ReplyAddresses;

  listen(): void {
    const d = this.data;
    setHandler(messageSignal, (message) => {
      this.replies.note(message);
      d.enqueue(message, Date.now());
    });
    setHandler(ackSignal, (ack) => d.ack(ack));
    setHandler(attachSignal, (relayAddress) => d.attach(relayAddress, Date.now()));
    setHandler(detachSignal, ({ connectionId, acks }) => {
      if (acks?.length) d.ack({ ids: acks });
      d.detach(connectionId);
    });
    setHandler(refreshConfigsSignal, () => void (d.configsStale = true));
    setHandler(updateSessionConfigSignal, (update) => d.updateSettings(update));
    setHandler(closeSignal, ({ reason }) => d.requestClose(reason));
    setHandler(deviceToolResultSignal, (result) => this.deviceResults.record(result));
    setHandler(stateQuery, () => d.view());
    setHandler(transcriptQuery, () => d.transcript);
  }

  private idleWatching = false;
  private idleWatchError: unknown;

  /**
   * One timer for the idle TTL, re-armed only when it fires early (activity moved the deadline),
   * rather than a timer started and cancelled around every message.
   */
  private watchIdle(): void {
    if (this.idleWatching) return;
    this.idleWatching = true;
    void (async () => {
      for (;;) {
        const left = this.data.lastActivityAt + this.input.idleTtlMs - Date.now();
        if (left <= 0) return void (this.data.idleExpired = true);
        await sleep(left);
      }
    })().catch((err: unknown) => {
      // Cancellation reaches the timer first; the main loop rethrows it.
      this.idleWatchError = err;
    });
  }

  async run(): Promise<SessionOutcome> {
    try {
      await this.begin();
      // Where its marker has always been recorded: at the first turn of the loop.
      deprecatePatch(MESSAGE_PATH_PATCH);
      for (;;) {
        // Checked first, right after an answer, whose frames are still held (see continueAsNew).
        if (this.shouldContinueAsNew()) return await this.continueAsNew();
        this.flush();
        this.watchIdle();
        await condition(() => this.data.hasWork() || this.data.idleExpired || this.idleWatchError !== undefined);
        if (this.idleWatchError !== undefined) throw this.idleWatchError;
        if (this.data.idleExpired) {
          if (!this.data.hasWork()) return await this.finish('expired', 'idle_timeout');
          // Work arrived as the deadline passed: the session lives on, with a new watch.
          this.data.idleExpired = false;
          this.idleWatching = false;
        }
        if (this.data.closeReason !== null) return await this.finish('closed', this.data.closeReason);
        await this.housekeeping();
        this.refuseOverflow();
        const message = this.data.takeNext();
        if (message) await this.handle(message);
      }
    } catch (err) {
      // Cancelled from outside (the API's DELETE may cancel instead of signalling): record it,
      // in a scope the cancellation does not reach.
      if (isCancellation(err)) {
        this.upsertStatus('closed');
        await CancellationScope.nonCancellable(() => this.persist({ status: 'closed', expiresAt: null }));
      }
      throw err;
    }
  }

  /** First run: search attributes for auditors, the configs cache, the session row. */
  private async begin(): Promise<void> {
    const withStatus = patched(SESSION_STATUS_PATCH);
    upsertSearchAttributes([
      { key: userIdSearchAttribute, value: this.data.userId },
      ...(this.data.deviceId ? [{ key: deviceIdSearchAttribute, value: this.data.deviceId }] : []),
      ...(withStatus ? [{ key: sessionStatusSearchAttribute, value: 'active' }] : []),
    ]);
    if (this.input.carried) return this.send(this.input.carried.unsent ?? []);
    await this.reloadConfigs(false);
    await this.persist({ status: 'active' });
  }

  /**
   * The last answer's frames go with the new run, which publishes them in its first activation.
   * Published here, they would bring a client's next message in while this task completes; the
   * server then refuses the completion (a signal it has not shown the run), the worker drops the
   * run from its cache and replays it from the start, and the last answer is computed again: the
   * pause of up to seconds a long session saw every `continueAsNewAfter` messages.
   */
  private async continueAsNew(): Promise<never> {
    await condition(allHandlersFinished);
    const unsent = this.unsent.splice(0);
    return continueAsNew<typeof sessionWorkflow>({
      ...this.input,
      carried: { ...this.data.carry(), ...(unsent.length ? { unsent } : {}) },
    });
  }

  /**
   * Due after `continueAsNewAfter` messages, when the server suggests it, or when history passes
   * CONTINUE_AS_NEW_HISTORY_BYTES; taken when no message waits (none pays for the new run's first
   * task), or regardless once twice due, so a flood cannot grow history without bound.
   */
  private shouldContinueAsNew(): boolean {
    const d = this.data;
    if (d.hasHousekeeping() || d.closeReason !== null || d.refused.length > 0) return false;
    const info = workflowInfo();
    const count = d.handledThisRun / this.tuning.continueAsNewAfter;
    const size = info.historySize / CONTINUE_AS_NEW_HISTORY_BYTES;
    const due = Math.max(count, size);
    if (due < 1 && !info.continueAsNewSuggested) return false;
    return d.pending.length === 0 || due >= 2;
  }

  /** Messages that arrived while too many were waiting: a failed result each, which the client may resend. */
  private refuseOverflow(): void {
    const refused = this.data.takeRefused();
    if (refused.length === 0) return;
    const results = refused.map((m) => failedResult(m, SESSION_BUSY_TEXT));
    for (const result of results) this.data.keep(result);
    this.send(results);
  }

  private async handle(message: IncomingMessage): Promise<void> {
    const ctx: AnswerContext = { session: this.data, acts: this.acts, tuning: this.tuning, deviceResults: this.deviceResults };
    const reply = await answer(ctx, message);
    log.info('message answered', {
      id: message.id,
      routing: reply.routing.kind,
      status: reply.result.status,
      configId: reply.result.config_id,
    });
    const wanted = this.data.complete(
      { id: message.id, text: message.text, receivedAt: message.receivedAt, routing: reply.routing, result: reply.result },
      Date.now(),
    );
    // Held until the loop has decided whether this run continues as new (see continueAsNew).
    if (wanted) this.unsent = [...reply.extraFrames, reply.result];
    await this.endTaskIfLarge(jsonBytes(reply.result) + jsonBytes(reply.routing));
    if (reply.effect?.kind === 'change_role') this.data.setRole(reply.effect.role);
    if (reply.effect?.kind === 'end_session') this.data.requestClose('end_session');
  }

  private taskBytes = { historyLength: -1, bytes: 0 };

  /** A short timer ends the workflow task once its results pass TASK_RESULT_BYTES (floods of large answers only). */
  private async endTaskIfLarge(bytes: number): Promise<void> {
    const { historyLength } = workflowInfo();
    if (historyLength !== this.taskBytes.historyLength) this.taskBytes = { historyLength, bytes: 0 };
    this.taskBytes.bytes += bytes;
    if (this.taskBytes.bytes <= TASK_RESULT_BYTES) return;
    this.flush();
    await sleep(1);
  }

  /** The last answer's frames, handed to the relay once this run goes on (or to the next run). */
  private unsent: RelayFrame[] = [];

  private flush(): void {
    this.send(this.unsent.splice(0));
  }

  /** What the handlers asked for: fresh configs, a redelivery to a new socket, the row updated. */
  private async housekeeping(): Promise<void> {
    const d = this.data;
    if (d.configsStale) await this.reloadConfigs(true);
    if (d.redeliver) {
      d.redeliver = false;
      if (d.outbox.length) this.send(d.outbox);
    }
    if (d.recordDirty) await this.persist();
  }

  private async reloadConfigs(notify: boolean): Promise<void> {
    this.data.configsStale = false;
    try {
      this.data.setConfigs(await this.acts.local.loadConfigs({ userId: this.data.userId }));
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn('loading configs failed; keeping the cached ones', { error: String(err) });
      return;
    }
    if (notify) this.send([{ type: 'reload_configs' }]);
  }

  /** Close or expire: unanswered messages get a failed result, the socket a session_closed frame. */
  private async finish(status: SessionOutcome['status'], reason: string): Promise<SessionOutcome> {
    const d = this.data;
    d.status = status;
    this.upsertStatus(status);
    const unanswered = this.failPending(reason);
    this.send([...unanswered, { type: 'session_closed', reason }]);
    await this.persist({ status, expiresAt: null });
    // A message signalled during the last await is answered too: the workflow only completes
    // in a task that saw every signal (the server refuses the completion otherwise and the
    // task runs again with the new signal, reaching this line with it pending).
    const late = this.failPending(reason);
    if (late.length) this.send(late);
    return { status, reason, handledCount: d.view().handledCount };
  }

  /** The SessionStatus search attribute (SESSION_STATUS_PATCH). */
  private upsertStatus(status: SessionStatus): void {
    if (patched(SESSION_STATUS_PATCH)) upsertSearchAttributes([{ key: sessionStatusSearchAttribute, value: status }]);
  }

  private failPending(reason: string): ResultFrame[] {
    const d = this.data;
    const unanswered: ResultFrame[] = [];
    for (const m of [...d.takeRefused(), ...drain(d)]) {
      const result = failedResult(m, closedBeforeAnswerText(reason));
      d.complete({ id: m.id, text: m.text, receivedAt: m.receivedAt, routing: null, result }, Date.now());
      unanswered.push(result);
    }
    return unanswered;
  }

  /** Mirror activity times and settings to the row; the config snapshot only when it changed. */
  private async persist(extra: Pick<SessionRecordUpdate, 'status' | 'expiresAt'> = {}): Promise<void> {
    const d = this.data;
    const withSnapshot = d.snapshotDirty;
    d.recordDirty = d.snapshotDirty = false;
    const update: SessionRecordUpdate = {
      ...d.recordUpdate(d.lastActivityAt),
      settings: d.settings,
      ...(withSnapshot ? { sessionData: { configs: d.configs, role: d.settings.role } } : {}),
      ...extra,
    };
    try {
      await this.acts.local.updateSessionRecord(update);
    } catch (err) {
      // The row is a mirror for the REST API; failing to update it must not stop the session.
      if (isCancellation(err)) throw err;
      log.warn('updating the session row failed', { error: String(err) });
    }
  }

  /** Best effort and outside history: a client that misses them gets the outbox on resume. */
  private send(frames: RelayFrame[]): void {
    for (const [relayAddress, group] of this.replies.route(frames, this.data.relayAddress)) relay.publish(relayAddress, group);
  }
}

function failedResult(message: Pick<IncomingMessage, 'id'>, error: string): ResultFrame {
  return {
    type: 'function_call_result',
    id: message.id,
    config_id: 0,
    config_name: 'none',
    result: '',
    execute_time: 0,
    status: 'failed',
    error,
  };
}

function drain(d: SessionData): IncomingMessage[] {
  const out: IncomingMessage[] = [];
  for (let m = d.takeNext(); m; m = d.takeNext()) out.push(m);
  return out;
}
