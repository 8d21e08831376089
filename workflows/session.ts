// The session workflow: one per WebSocket session. Signal handlers only record what arrived;
// the main loop waits for work (or the idle TTL), does the housekeeping the handlers asked for,
// answers one message at a time in arrival order, and continues as new before history grows.
import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  ackSignal,
  attachSignal,
  closeSignal,
  detachSignal,
  deviceIdSearchAttribute,
  messageSignal,
  refreshConfigsSignal,
  stateQuery,
  transcriptQuery,
  updateSessionConfigSignal,
  userIdSearchAttribute,
  type IncomingMessage,
  type ResultFrame,
  type ServerFrame,
  type SessionStatus,
  type SessionTuning,
  type SessionWorkflowInput,
} from '../contract';
import type { SessionRecordUpdate } from '../contract';
import { answer, type AnswerContext } from './answer';
import { gatewayActivities, sessionActivities, type SessionProxies } from './session-activities';
import { SessionData } from './session-state';

export const DEFAULT_SESSION_TUNING: SessionTuning = {
  llmTimeout: '60 seconds',
  llmMaxAttempts: 3,
  routeMaxAttempts: 2,
  retryInitialInterval: '1 second',
  maxConfigsPerMessage: 3,
  continueAsNewAfter: 100,
};

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

  constructor(private readonly input: SessionWorkflowInput) {
    this.data = new SessionData(input, Date.now());
    this.tuning = { ...DEFAULT_SESSION_TUNING, ...input.tuning };
    this.acts = sessionActivities(this.tuning);
  }

  listen(): void {
    const d = this.data;
    setHandler(messageSignal, (message) => d.enqueue(message, Date.now()));
    setHandler(ackSignal, ({ id }) => d.ack(id));
    setHandler(attachSignal, (info) => d.attach(info, Date.now()));
    setHandler(detachSignal, ({ connectionId }) => d.detach(connectionId));
    setHandler(refreshConfigsSignal, () => void (d.configsStale = true));
    setHandler(updateSessionConfigSignal, (update) => d.updateSettings(update));
    setHandler(closeSignal, ({ reason }) => d.requestClose(reason));
    setHandler(stateQuery, () => d.view());
    setHandler(transcriptQuery, () => d.transcript);
  }

  async run(): Promise<SessionOutcome> {
    try {
      await this.begin();
      for (;;) {
        const idleLeft = this.data.lastActivityAt + this.input.idleTtlMs - Date.now();
        if (idleLeft <= 0 && !this.data.hasWork()) return await this.finish('expired', 'idle_timeout');
        if (!(await condition(() => this.data.hasWork(), Math.max(idleLeft, 1)))) continue;
        if (this.data.closeReason !== null) return await this.finish('closed', this.data.closeReason);
        await this.housekeeping();
        if (this.shouldContinueAsNew()) {
          await condition(allHandlersFinished);
          return await continueAsNew<typeof sessionWorkflow>({ ...this.input, carried: this.data.carry() });
        }
        const message = this.data.takeNext();
        if (message) await this.handle(message);
      }
    } catch (err) {
      // Cancelled from outside (the API's DELETE may cancel instead of signalling): record it,
      // in a scope the cancellation does not reach.
      if (isCancellation(err)) await CancellationScope.nonCancellable(() => this.persist({ status: 'closed', expiresAt: null }));
      throw err;
    }
  }

  /** First run: search attributes for auditors, the configs cache, the session row. */
  private async begin(): Promise<void> {
    upsertSearchAttributes([
      { key: userIdSearchAttribute, value: this.data.userId },
      ...(this.data.deviceId ? [{ key: deviceIdSearchAttribute, value: this.data.deviceId }] : []),
    ]);
    if (this.input.carried) return;
    await this.reloadConfigs(false);
    await this.persist({ status: 'active' });
  }

  private shouldContinueAsNew(): boolean {
    const due = this.data.handledThisRun >= this.tuning.continueAsNewAfter || workflowInfo().continueAsNewSuggested;
    return due && !this.data.hasHousekeeping() && this.data.closeReason === null;
  }

  private async handle(message: IncomingMessage): Promise<void> {
    const ctx: AnswerContext = { session: this.data, acts: this.acts, tuning: this.tuning, progress: (f) => this.sendProgress(f) };
    const reply = await answer(ctx, message);
    log.info('message answered', { id: message.id, routing: reply.routing.kind, status: reply.result.status, configId: reply.result.config_id });
    this.data.complete({ id: message.id, text: message.text, receivedAt: message.receivedAt, routing: reply.routing, result: reply.result }, Date.now());
    await this.deliver([...reply.extraFrames, reply.result]);
    if (reply.effect?.kind === 'change_role') this.data.setRole(reply.effect.role);
    if (reply.effect?.kind === 'end_session') this.data.requestClose('end_session');
  }

  /** What the handlers asked for: fresh configs, a redelivery to a new socket, the row updated. */
  private async housekeeping(): Promise<void> {
    const d = this.data;
    if (d.configsStale) await this.reloadConfigs(true);
    if (d.redeliver) {
      d.redeliver = false;
      if (d.outbox.length) await this.deliver(d.outbox);
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
    if (notify) await this.deliver([{ type: 'configs_updated', configs: this.data.configs }]);
  }

  /** Close or expire: unanswered messages get a failed result, the socket a session_closed frame. */
  private async finish(status: SessionOutcome['status'], reason: string): Promise<SessionOutcome> {
    const d = this.data;
    const unanswered: ResultFrame[] = [];
    for (let m = d.takeNext(); m; m = d.takeNext()) {
      const error = `The session was closed (${reason}) before this message was answered`;
      const result: ResultFrame = { type: 'function_call_result', id: m.id, config_id: 0, config_name: 'none', result: '', execute_time: 0, status: 'failed', error };
      d.complete({ id: m.id, text: m.text, receivedAt: m.receivedAt, routing: null, result }, Date.now());
      unanswered.push(result);
    }
    d.status = status;
    await this.deliver([...unanswered, { type: 'session_closed', reason }]);
    await this.persist({ status, expiresAt: null });
    return { status, reason, handledCount: d.view().handledCount };
  }

  /** Mirror activity times and settings to the row; the config snapshot only when it changed. */
  private async persist(extra: Pick<SessionRecordUpdate, 'status' | 'expiresAt'> = {}): Promise<void> {
    const d = this.data;
    const withSnapshot = d.snapshotDirty;
    d.recordDirty = d.snapshotDirty = false;
    await this.record({
      lastActivityAt: d.lastActivityAt,
      expiresAt: d.lastActivityAt + this.input.idleTtlMs,
      settings: d.settings,
      ...(withSnapshot ? { sessionData: this.snapshot() } : {}),
      ...extra,
    });
  }

  private snapshot(): NonNullable<SessionRecordUpdate['sessionData']> {
    return { configs: this.data.configs, role: this.data.settings.role };
  }

  /** The row is a mirror for the REST API; failing to update it must not stop the session. */
  private async record(update: Omit<SessionRecordUpdate, 'userId' | 'sessionId' | 'workflowId' | 'deviceId'>): Promise<void> {
    const d = this.data;
    try {
      await this.acts.local.updateSessionRecord({ userId: d.userId, sessionId: d.sessionId, workflowId: workflowInfo().workflowId, deviceId: d.deviceId, ...update });
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn('updating the session row failed', { error: String(err) });
    }
  }

  /** Results and notices to the attached socket; when the gateway cannot deliver, they wait in the outbox. */
  private async deliver(frames: ServerFrame[]): Promise<void> {
    const target = this.data.attached;
    if (!target || frames.length === 0) return;
    try {
      const { delivered } = await gatewayActivities(target.taskQueue).results.deliver({ connectionId: target.connectionId, frames });
      if (!delivered) this.data.detach(target.connectionId);
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn('delivery failed; results stay in the outbox', { error: String(err) });
      this.data.detach(target.connectionId);
    }
  }

  private async sendProgress(frame: ServerFrame): Promise<void> {
    const target = this.data.attached;
    if (!target) return;
    try {
      await gatewayActivities(target.taskQueue).progress.deliver({ connectionId: target.connectionId, frames: [frame] });
    } catch (err) {
      if (isCancellation(err)) throw err;
    }
  }
}
