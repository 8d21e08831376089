// The audit trail of one session, read from Temporal's history (every run, across continue-as-new),
// never from a second copy. What a message records (ARCHITECTURE.md, "The message path"): its
// `message` signal, one `answerMessage` local-activity marker (the message id, the tools offered,
// routing and the first attempt), and a marker per retry or fallback (`executeLLMConfig`,
// `executeFunction`). Each step records its config, step, attempt and outcome (contract
// StepRecord: in the result, or in the failure's details), and the audit reads them; failure
// texts come from the same builders the workflow uses (contract/failure-texts.ts). Histories
// recorded before the step records are read by the LEGACY module beside this one.
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { LoadedDataConverter } from '@temporalio/common/lib/converter/data-converter';
import { msToNumber } from '@temporalio/common/lib/time';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import {
  attachSignal,
  closedBeforeAnswerText,
  DEFAULT_SESSION_TUNING,
  describeFailure,
  detachSignal,
  deviceNotConnectedText,
  deviceToolResultSignal,
  deviceToolTimeoutText,
  MAX_PENDING_MESSAGE_BYTES,
  messageSignal,
  missingArgumentsText,
  noLLMConfigAnsweredText,
  routingFailedReason,
  SESSION_BUSY_TEXT,
  providerToolName,
  toCachedConfig,
  updateSessionConfigSignal,
  type AnswerMessageOutput,
  type AuditEntry,
  type AuditOffered,
  type AuditPage,
  type CachedConfig,
  type CarriedState,
  type DeviceToolResult,
  type DetachInput,
  type RelayAddress,
  type ExecuteFunctionOutput,
  type ExecuteLLMConfigOutput,
  type FirstAttempt,
  type IncomingMessage,
  type SessionSettingsUpdate,
  type SessionSettings,
  type SessionTuning,
  type SessionWorkflowInput,
  type StepRecord,
} from '../contract';
import { parseLLMConfigToolName, routeWithoutRouter } from '../routing';
import { eventTimeMs, historyEvents, localActivityMarker, type LocalActivityMarker } from '../lib/temporal-history';
import type { TemporalHandles } from '../app/context';
import { LegacyHistory, type Step } from './session-audit-legacy';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface AuditLocation {
  namespace: string;
  /** The Temporal UI's base URL, without a trailing slash; null when unknown. */
  uiBaseUrl: string | null;
}

export function temporalUiRunUrl(location: AuditLocation, workflowId: string, runId: string): string | null {
  if (!location.uiBaseUrl) return null;
  const e = encodeURIComponent;
  return `${location.uiBaseUrl}/namespaces/${e(location.namespace)}/workflows/${e(workflowId)}/${e(runId)}/history`;
}

// ---------------------------------------------------------------------------------------------
// Cursors: the run and how many of its entries earlier pages held. History is append-only, so a
// position stays valid while the session goes on.

const RUN_ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;

export function encodeAuditCursor(runId: string, skip: number): string {
  return Buffer.from(`${runId}.${skip}`).toString('base64url');
}

export function decodeAuditCursor(cursor: string): { runId: string; skip: number } | undefined {
  const match = /^([A-Za-z0-9-]{1,64})\.(\d{1,6})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  if (!match || !RUN_ID_PATTERN.test(match[1]!)) return undefined;
  return { runId: match[1]!, skip: Number(match[2]) };
}

// ---------------------------------------------------------------------------------------------
// Reading one run

/** A local activity's marker as the audit reads it: its outcome, and the step record it holds. */
interface Marker extends Omit<LocalActivityMarker, 'failure'> {
  error?: string;
  record?: StepRecord;
}

interface OpenEntry {
  entry: AuditEntry;
  /** `device`: a device tool call, answered by a `deviceToolResult` signal (workflows/device-tools.ts). */
  kind: 'llm' | 'function' | 'device' | 'other';
  /** LEGACY: the steps still to come, for markers that record none. */
  plan: Step[];
  done: boolean;
  answer?: string;
}

function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

function isStepRecord(value: unknown): value is StepRecord {
  const record = value as Partial<StepRecord> | null;
  return typeof record?.configId === 'number' && typeof record.kind === 'string';
}

/** The step record of a failed step: a detail of its ApplicationFailure (activities/step-record.ts). */
function failureRecord(err: Error | undefined): StepRecord | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? cause.details?.find(isStepRecord) : undefined;
}

/** How a run ends other than completing (the reason unanswered messages name). */
const SESSION_ENDS: [keyof HistoryEvent, string][] = [
  ['workflowExecutionFailedEventAttributes', 'failed'],
  ['workflowExecutionTerminatedEventAttributes', 'terminated'],
  ['workflowExecutionCanceledEventAttributes', 'cancelled'],
  ['workflowExecutionTimedOutEventAttributes', 'timed out'],
];

/** Reads one run's history and turns it into audit entries. */
class RunReader {
  private configs: CachedConfig[] = [];
  private settings: SessionSettings = { default_llm_id: null, enabled_functions: null, role: null };
  private tuning: SessionTuning = DEFAULT_SESSION_TUNING;
  private pending: IncomingMessage[] = [];
  private pendingBytes = 0;
  private readonly known = new Set<string>();
  private open: OpenEntry | undefined;
  /** The socket attached, as the workflow tracks it: a device tool chosen without one is not called. */
  private attached: RelayAddress | null = null;
  /** The device tools offered by the routing step being read (their mapped names). */
  private deviceTools: readonly string[] = [];
  private deviceTimerId: string | undefined;
  readonly entries: AuditEntry[] = [];
  nextRunId: string | undefined;

  constructor(
    private readonly converter: LoadedDataConverter,
    private readonly workflowId: string,
    private readonly runId: string,
    private readonly uiUrl: string | null,
  ) {}

  private decode<T>(payloads: temporal.api.common.v1.IPayloads | null | undefined): Promise<T | undefined> {
    return decodeFromPayloadsAtIndex<T>(this.converter, 0, payloads?.payloads ?? []).catch(() => undefined);
  }

  async read(event: HistoryEvent): Promise<void> {
    if (event.workflowExecutionStartedEventAttributes) {
      this.start(await this.decode<SessionWorkflowInput>(event.workflowExecutionStartedEventAttributes.input));
    } else if (event.workflowExecutionSignaledEventAttributes) {
      const { signalName, input } = event.workflowExecutionSignaledEventAttributes;
      if (signalName === messageSignal.name) this.enqueue(await this.decode<IncomingMessage>(input), event);
      if (signalName === updateSessionConfigSignal.name) this.updateSettings(await this.decode<SessionSettingsUpdate>(input));
      if (signalName === attachSignal.name) this.attached = (await this.decode<RelayAddress>(input)) ?? this.attached;
      if (signalName === detachSignal.name) this.detached(await this.decode<DetachInput>(input));
      if (signalName === deviceToolResultSignal.name) this.deviceAnswered(await this.decode<DeviceToolResult>(input), event);
    } else if (event.markerRecordedEventAttributes) {
      const marker = await localActivityMarker(this.converter, event);
      if (marker) this.onMarker(marker);
    } else if (event.timerStartedEventAttributes || event.timerFiredEventAttributes) {
      this.deviceTimer(event);
    } else if (event.workflowExecutionContinuedAsNewEventAttributes) {
      this.nextRunId = event.workflowExecutionContinuedAsNewEventAttributes.newExecutionRunId ?? undefined;
    } else if (event.workflowExecutionCompletedEventAttributes) {
      const outcome = await this.decode<{ reason?: string }>(event.workflowExecutionCompletedEventAttributes.result);
      this.endOfSession(outcome?.reason ?? 'completed');
    } else {
      const ended = SESSION_ENDS.find(([key]) => event[key]);
      if (ended) this.endOfSession(ended[1]);
    }
  }

  /** After the last event read: an entry still waiting for its steps is in progress. */
  finish(): AuditEntry[] {
    if (this.open?.kind === 'device' && !this.open.done) {
      this.open.entry.status = 'in_progress';
      this.entries.push(this.open.entry);
      this.open = undefined;
    }
    this.close();
    return this.entries;
  }

  private start(input: SessionWorkflowInput | undefined): void {
    const carried: Partial<CarriedState> = input?.carried ?? {};
    this.tuning = { ...DEFAULT_SESSION_TUNING, ...input?.tuning };
    if (carried.settings) this.settings = carried.settings;
    this.attached = carried.attached ?? null;
    this.configs = (carried.configs ?? []).map(toCachedConfig);
    for (const id of carried.handledIds ?? []) this.known.add(id);
    for (const message of carried.pending ?? []) this.push(message);
  }

  private push(message: IncomingMessage): void {
    this.pending.push(message);
    this.pendingBytes += Buffer.byteLength(message.text);
    this.known.add(message.id);
  }

  /** As the workflow's `enqueue`: repeats are dropped; beyond the pending bound a message is refused at once. */
  private enqueue(message: IncomingMessage | undefined, event: HistoryEvent): void {
    if (!message || typeof message.id !== 'string' || this.known.has(message.id)) return;
    const bytes = Buffer.byteLength(message.text ?? '');
    if (this.pendingBytes + bytes > MAX_PENDING_MESSAGE_BYTES && this.pending.length > 0) {
      this.known.add(message.id);
      const entry = this.blank({ id: message.id, text: message.text, receivedAt: message.receivedAt });
      entry.status = 'failed';
      entry.error = SESSION_BUSY_TEXT;
      entry.timings.answered_at = iso(eventTimeMs(event));
      this.entries.push(entry);
      return;
    }
    this.push({ id: message.id, text: message.text, receivedAt: message.receivedAt });
  }

  private updateSettings(update: SessionSettingsUpdate | undefined): void {
    if (!update) return;
    if (update.default_llm_id !== undefined) this.settings = { ...this.settings, default_llm_id: update.default_llm_id };
    if (update.enabled_functions !== undefined) this.settings = { ...this.settings, enabled_functions: update.enabled_functions };
  }

  private onMarker({ failure, ...marker }: LocalActivityMarker): void {
    const step = (marker.result as { step?: unknown } | undefined)?.step;
    const recorded: Marker = failure
      ? { ...marker, error: describeFailure(failure), record: failureRecord(failure) }
      : { ...marker, ...(isStepRecord(step) ? { record: step } : {}) };
    switch (marker.type) {
      case 'loadConfigs':
        if (Array.isArray(marker.result)) this.configs = (marker.result as CachedConfig[]).map(toCachedConfig);
        return;
      case 'answerMessage':
        return this.routed(recorded);
      case 'executeLLMConfig':
      case 'executeFunction':
        return this.stepRan(recorded);
      default:
        return;
    }
  }

  private configName(id: number): string | null {
    return this.configs.find((c) => c.id === id)?.config_name ?? null;
  }

  private blank(message: Pick<IncomingMessage, 'id' | 'text' | 'receivedAt'> | undefined): AuditEntry {
    return {
      message_id: message?.id ?? null,
      text: message?.text ?? null,
      received_at: iso(message?.receivedAt),
      offered: [],
      offered_source: 'derived',
      routing: null,
      chosen: null,
      routed_by: null,
      executed_by: null,
      fallback_from: null,
      status: 'in_progress',
      error: null,
      answer: null,
      attempts: [],
      timings: { routing_ms: null, step_ms: null, execute_ms: null, total_ms: null, answered_at: null },
      workflow_id: this.workflowId,
      run_id: this.runId,
      temporal_ui_url: this.uiUrl,
    };
  }

  private takeMessage(id: string | undefined): IncomingMessage | undefined {
    const at = id === undefined ? 0 : this.pending.findIndex((m) => m.id === id);
    const [message] = at >= 0 ? this.pending.splice(at, 1) : [];
    if (message) this.pendingBytes -= Buffer.byteLength(message.text);
    return message ?? (id === undefined ? undefined : { id, text: '', receivedAt: 0 });
  }

  private deviceTimeoutMs(): number {
    return msToNumber(this.tuning.deviceToolTimeout ?? DEFAULT_SESSION_TUNING.deviceToolTimeout);
  }

  private deviceTimeoutText(name: string | null): string {
    return deviceToolTimeoutText(name ?? '', Math.round(this.deviceTimeoutMs() / 1000));
  }

  /** The timer of the open device tool call (its duration is the tuning's): started, then fired without an answer. */
  private deviceTimer(event: HistoryEvent): void {
    const open = this.open;
    if (!open || open.done || open.kind !== 'device') return;
    const started = event.timerStartedEventAttributes;
    if (started && started.startToFireTimeout) {
      const { seconds, nanos } = started.startToFireTimeout;
      const ms = Number(seconds ?? 0) * 1000 + Math.round((nanos ?? 0) / 1e6);
      if (ms === this.deviceTimeoutMs() && this.deviceTimerId === undefined) this.deviceTimerId = started.timerId ?? undefined;
    }
    const fired = event.timerFiredEventAttributes;
    if (fired && fired.timerId === this.deviceTimerId) {
      open.done = true;
      Object.assign(open.entry, { status: 'failed', error: this.deviceTimeoutText(open.entry.chosen) } satisfies Partial<AuditEntry>);
      open.entry.timings.answered_at = iso(eventTimeMs(event));
    }
  }

  private detached(input: DetachInput | undefined): void {
    if (input && this.attached?.connectionId === input.connectionId) this.attached = null;
  }

  /** The device's answer to the open device tool call (or why there is none), as the workflow reads it. */
  private deviceAnswered(result: DeviceToolResult | undefined, event: HistoryEvent): void {
    const open = this.open;
    if (!open || open.done || open.kind !== 'device' || !result || !result.callId.endsWith(`/${open.entry.message_id ?? ''}`)) return;
    open.done = true;
    open.entry.status = result.status === 'success' ? 'success' : 'failed';
    open.entry.answer = result.status === 'success' ? result.result : null;
    open.entry.error = result.status === 'success' ? null : (result.error ?? 'the device reported an error');
    open.entry.timings.answered_at = iso(eventTimeMs(event));
  }

  private offered(tools: readonly string[]): AuditOffered[] {
    return tools.map((tool) => {
      if (this.deviceTools.includes(tool)) return { tool, kind: 'device_tool', config_id: null, config_name: null };
      const llmId = parseLLMConfigToolName(tool);
      if (llmId !== undefined) return { tool, kind: 'llm_config', config_id: llmId, config_name: this.configName(llmId) };
      const fn = this.configs.find(
        (c) => c.config_type === 'function_call' && c.function_name !== null && providerToolName(c.function_name) === tool && c.is_active,
      );
      if (fn) return { tool, kind: 'function', config_id: fn.id, config_name: fn.config_name };
      return { tool, kind: 'builtin', config_id: null, config_name: null };
    });
  }

  /** The routing step of a message: what routing was given and chose, and the first attempt. */
  private routed(marker: Marker): void {
    this.close();
    const output = marker.result as AnswerMessageOutput | undefined;
    const message = this.takeMessage(output?.messageId);
    if (message) this.known.add(message.id);
    const entry = this.blank(message);
    // A failed routing step: the workflow's own rules decided (workflows/answer.ts), from the same cached configs.
    const reason = routingFailedReason(marker.error ?? 'unknown error');
    const routing = output?.routing ?? routeWithoutRouter(this.configs, this.settings, message?.text ?? '', reason);
    const legacy = new LegacyHistory(this.configs, this.settings, this.tuning);
    entry.routing = routing;
    entry.routed_by = routing.routedBy;
    entry.offered_source = output?.offered ? 'recorded' : 'derived';
    this.deviceTools = output?.offeredDeviceTools ?? [];
    entry.offered = this.offered(output?.offered ?? legacy.offered(routing));
    entry.timings.routing_ms = output?.routingMs ?? null;
    entry.timings.step_ms = marker.durationMs;
    entry.timings.answered_at = iso(marker.at);
    const open: OpenEntry = { entry, kind: 'other', plan: [], done: true };
    this.open = open;
    switch (routing.kind) {
      case 'direct_answer':
        return void Object.assign(entry, {
          chosen: 'direct_answer',
          status: 'success',
          answer: routing.answer,
        } satisfies Partial<AuditEntry>);
      case 'builtin':
        return void Object.assign(entry, { chosen: routing.name, status: 'success' } satisfies Partial<AuditEntry>);
      case 'none':
        return void Object.assign(entry, { chosen: 'none', status: 'failed', error: routing.reason } satisfies Partial<AuditEntry>);
      case 'device_tool': {
        entry.chosen = routing.name;
        const refused = routing.missing?.length ? missingArgumentsText(routing.name, routing.missing) : routing.invalid;
        const error = refused ?? (this.attached ? undefined : deviceNotConnectedText(routing.name));
        if (error !== undefined) return void Object.assign(entry, { status: 'failed', error } satisfies Partial<AuditEntry>);
        // Answered by the `deviceToolResult` signal; none before the next message: the timer ran out.
        open.kind = 'device';
        open.done = false;
        this.deviceTimerId = undefined;
        return;
      }
      case 'function':
      case 'llm_config': {
        entry.chosen = routing.kind === 'function' ? routing.functionName : routing.tool;
        open.kind = routing.kind === 'function' ? 'function' : 'llm';
        if (routing.kind === 'function' && routing.missing?.length) {
          entry.status = 'failed';
          entry.error = missingArgumentsText(routing.functionName, routing.missing);
          return;
        }
        const first = output?.firstAttempt;
        const planned = first?.step ? undefined : legacy.plan(routing, first);
        open.plan = planned?.rest ?? [];
        const step = first?.step ?? planned?.first;
        if (first && step) this.attempt(open, step, first, 1, null);
        else open.done = open.plan.length === 0;
        return;
      }
    }
  }

  /** One step's outcome on the open message; after a success or the last step, the message is done. */
  private attempt(open: OpenEntry, step: Step, outcome: FirstAttempt, tries: number, at: number | null): void {
    open.entry.attempts.push({
      step: step.kind,
      config_id: step.configId,
      config_name: step.configName,
      tries: step.attempt ?? tries,
      status: outcome.ok ? 'success' : 'failed',
      error: outcome.ok ? null : outcome.error,
      model: outcome.ok ? (outcome.model ?? null) : null,
      duration_ms: outcome.ms,
      finished_at: iso(at),
    });
    if (outcome.ok) open.answer ??= outcome.answer;
    open.done = outcome.ok || (step.last ?? open.plan.length === 0);
  }

  /** A retry or fallback marker: the step it records (LEGACY: the next step planned). */
  private stepRan(marker: Marker): void {
    const open = this.open;
    const step = open && !open.done ? (marker.record ?? open.plan.shift()) : undefined;
    if (!open || !step) return;
    const result = marker.result as Partial<ExecuteLLMConfigOutput & ExecuteFunctionOutput> | undefined;
    const ms = marker.durationMs ?? 0;
    const outcome: FirstAttempt =
      marker.error !== undefined
        ? { ok: false, error: marker.error, retryable: false, ms }
        : { ok: true, answer: result?.answer ?? result?.result ?? '', ...(result?.model ? { model: result.model } : {}), ms };
    this.attempt(open, step, outcome, marker.attempt, marker.at);
    open.entry.timings.answered_at = iso(marker.at);
  }

  /** The open message's result, from its attempts, as workflows/answer.ts builds it. */
  private close(): void {
    const open = this.open;
    this.open = undefined;
    if (!open) return;
    const { entry } = open;
    const received = entry.received_at ? Date.parse(entry.received_at) : null;
    const answered = entry.timings.answered_at ? Date.parse(entry.timings.answered_at) : null;
    entry.timings.total_ms = received && answered ? Math.max(0, answered - received) : null;
    if (open.kind === 'device' && !open.done) {
      Object.assign(entry, { status: 'failed', error: this.deviceTimeoutText(entry.chosen) } satisfies Partial<AuditEntry>);
    } else if (open.kind === 'llm' || open.kind === 'function') {
      entry.timings.execute_ms = entry.attempts.reduce((sum, a) => sum + (a.duration_ms ?? 0), 0);
      const success = entry.attempts.find((a) => a.status === 'success');
      const failures = entry.attempts.filter((a) => a.status === 'failed');
      if (success) {
        entry.status = 'success';
        entry.executed_by = { config_id: success.config_id, config_name: success.config_name };
        entry.answer = open.answer ?? null;
        // The workflow names the first other config that failed, with its last error.
        const first = failures.find((f) => f.config_id !== success.config_id);
        const last = failures.filter((f) => f.config_id === first?.config_id).at(-1);
        if (first && last) entry.fallback_from = { config_id: first.config_id, config_name: first.config_name, error: last.error ?? '' };
      } else if (entry.status !== 'failed') {
        entry.status = open.done ? 'failed' : 'in_progress';
        const lastPerConfig = [...new Map(failures.map((f) => [f.config_id, f])).values()];
        if (open.done && open.kind === 'function') entry.error = failures.at(-1)?.error ?? 'unknown error';
        if (open.done && open.kind === 'llm') {
          entry.error = noLLMConfigAnsweredText(lastPerConfig.map((f) => ({ configName: f.config_name, error: f.error })));
        }
      }
    }
    this.entries.push(entry);
  }

  /** The session ended: messages still waiting were answered `failed` by the workflow, outside any marker. */
  private endOfSession(reason: string): void {
    this.close();
    for (const message of this.pending.splice(0)) {
      this.entries.push({ ...this.blank(message), status: 'unanswered', error: closedBeforeAnswerText(reason) });
    }
    this.pendingBytes = 0;
  }
}

// ---------------------------------------------------------------------------------------------

/** The audit entries of one run's events (a recorded fixture, say), as the endpoint reads them from the server. */
export async function auditRunEvents(
  converter: LoadedDataConverter,
  location: AuditLocation,
  workflowId: string,
  runId: string,
  events: Iterable<HistoryEvent>,
): Promise<AuditEntry[]> {
  const reader = new RunReader(converter, workflowId, runId, temporalUiRunUrl(location, workflowId, runId));
  for (const event of events) await reader.read(event);
  return reader.finish();
}

async function readRun(
  temporal: TemporalHandles,
  location: AuditLocation,
  workflowId: string,
  runId: string,
): Promise<{ entries: AuditEntry[]; nextRunId: string | undefined }> {
  const { client } = temporal;
  const reader = new RunReader(client.options.loadedDataConverter, workflowId, runId, temporalUiRunUrl(location, workflowId, runId));
  for await (const event of historyEvents(client, workflowId, runId)) await reader.read(event);
  return { entries: reader.finish(), nextRunId: reader.nextRunId };
}

/**
 * One page of a session's audit trail, oldest message first, starting at `from` (a run of this
 * workflow and how many of its entries to skip) or at the first run.
 */
export async function readAuditPage(
  temporal: TemporalHandles,
  location: AuditLocation,
  workflowId: string,
  from: { runId: string; skip: number },
  limit: number,
): Promise<AuditPage> {
  const entries: AuditEntry[] = [];
  let runId: string | undefined = from.runId;
  let skip = from.skip;
  while (runId) {
    const run = await readRun(temporal, location, workflowId, runId);
    const rest = run.entries.slice(skip);
    if (entries.length + rest.length > limit) {
      const take = limit - entries.length;
      entries.push(...rest.slice(0, take));
      return { entries, next_cursor: encodeAuditCursor(runId, skip + take) };
    }
    entries.push(...rest);
    runId = run.nextRunId;
    skip = 0;
  }
  return { entries, next_cursor: null };
}
