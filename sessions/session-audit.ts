// The audit trail of one session, read from Temporal's history (every run, across continue-as-new),
// never from a second copy. What a message records (ARCHITECTURE.md, "The message path"): its
// `message` signal, one `answerMessage` local-activity marker (routing and the first attempt; since
// the audit trail also the message id and the tools offered), and a marker per retry or fallback
// (`executeLLMConfig`, `executeFunction`). A local-activity marker holds the result and the attempt
// count, not the input, so which config a retry ran is worked out as the workflow chose it: from the
// cached configs and settings at that point of history (the run's input, `loadConfigs` results,
// `updateSessionConfig` signals) and the same pure rules (contract/routing.ts).
import { ActivityFailure, TimeoutFailure, TimeoutType } from '@temporalio/common';
import type { LoadedDataConverter } from '@temporalio/common/lib/converter/data-converter';
import { decodeFromPayloadsAtIndex, decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import {
  BUILTIN_FUNCTIONS,
  DEFAULT_SESSION_TUNING,
  MAX_PENDING_MESSAGE_BYTES,
  enabledBuiltins,
  llmAnswerOrder,
  llmConfigToolName,
  parseLLMConfigToolName,
  providerToolName,
  routeWithoutRouter,
  routingCandidates,
  toCachedConfig,
  type AnswerMessageOutput,
  type CachedConfig,
  type CarriedState,
  type ExecuteFunctionOutput,
  type ExecuteLLMConfigOutput,
  type FirstAttempt,
  type IncomingMessage,
  type RoutedBy,
  type RoutingDecision,
  type SessionConfigUpdate,
  type SessionSettings,
  type SessionTuning,
  type SessionWorkflowInput,
} from '../contract';
import { historyEvents } from '../lib/temporal-history';
import type { TemporalHandles } from '../app/context';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface AuditAttempt {
  /** `first_attempt`: in the routing step; `retry`: the chosen config again; `fallback`: another LLM config. */
  step: 'first_attempt' | 'retry' | 'fallback';
  config_id: number;
  config_name: string | null;
  /** Tries this step made (Temporal's retries of one local activity count here). */
  tries: number;
  status: 'success' | 'failed';
  error: string | null;
  /** The model that answered, as the provider reported it. */
  model: string | null;
  duration_ms: number | null;
  finished_at: string | null;
}

export interface AuditOffered {
  tool: string;
  kind: 'llm_config' | 'function' | 'builtin';
  config_id: number | null;
  config_name: string | null;
}

export interface AuditEntry {
  message_id: string | null;
  text: string | null;
  received_at: string | null;
  /** What routing was given, and whether history records it (`recorded`) or it was worked out from the cached configs (`derived`). */
  offered: AuditOffered[];
  offered_source: 'recorded' | 'derived';
  /** What routing chose, as recorded (null: the message never reached routing). */
  routing: RoutingDecision | null;
  /** The tool or built-in chosen, or `direct_answer` / `none`. */
  chosen: string | null;
  routed_by: RoutedBy | null;
  /** The config that produced the result (null for built-ins, direct answers and failures before a call). */
  executed_by: { config_id: number; config_name: string | null } | null;
  fallback_from: { config_id: number; config_name: string | null; error: string } | null;
  status: 'success' | 'failed' | 'in_progress' | 'unanswered';
  error: string | null;
  /** The answer as history holds it (a built-in's answer is computed in the workflow and not recorded). */
  answer: string | null;
  attempts: AuditAttempt[];
  timings: {
    /** The routing decision (router LLM or rules). */
    routing_ms: number | null;
    /** The whole routing step (routing plus the first attempt), scheduled to completed. */
    step_ms: number | null;
    /** Time spent in the configs that tried to answer (first attempt, retries, fallbacks). */
    execute_ms: number | null;
    /** Received by the gateway to the last recorded step. */
    total_ms: number | null;
    answered_at: string | null;
  };
  workflow_id: string;
  run_id: string;
  /** The run in the Temporal UI (null when no UI address is configured: TEMPORAL_UI_URL). */
  temporal_ui_url: string | null;
}

export interface AuditPage {
  entries: AuditEntry[];
  next_cursor: string | null;
}

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

interface MarkerData {
  activity_type?: string;
  attempt?: number;
  complete_time?: { seconds?: number; nanos?: number } | null;
  original_schedule_time?: { seconds?: number; nanos?: number } | null;
}

interface Marker {
  type: string;
  tries: number;
  result?: unknown;
  error?: string;
  durationMs: number | null;
  at: number | null;
}

interface PlannedStep {
  config: Pick<CachedConfig, 'id' | 'config_name'>;
  step: AuditAttempt['step'];
}

interface OpenEntry {
  entry: AuditEntry;
  kind: 'llm' | 'function' | 'other';
  plan: PlannedStep[];
  done: boolean;
}

function eventMs(event: HistoryEvent): number | null {
  const t = event.eventTime;
  if (!t) return null;
  return Number(t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6);
}

function jsonTimeMs(t: MarkerData['complete_time']): number | null {
  return t ? (t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6) : null;
}

function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

/** The same readable reason the workflow gives (workflows/answer-shared.ts, describeFailure). */
function describeFailure(err: Error | undefined): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof TimeoutFailure) {
    return cause.timeoutType === TimeoutType.HEARTBEAT ? 'the worker stopped responding' : 'no answer within the time limit';
  }
  return cause?.message ?? 'unknown error';
}

/** Reads one run's history and turns it into audit entries. */
class RunReader {
  private configs: CachedConfig[] = [];
  private settings: SessionSettings = { default_llm_id: null, enabled_functions: null, role: null };
  private tuning: SessionTuning = DEFAULT_SESSION_TUNING;
  private pending: IncomingMessage[] = [];
  private pendingBytes = 0;
  private readonly known = new Set<string>();
  private open: OpenEntry | undefined;
  /** The answer text of each successful attempt (the entry shows the one that answered). */
  private readonly answers = new WeakMap<AuditAttempt, string>();
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
      if (signalName === 'message') this.enqueue(await this.decode<IncomingMessage>(input), event);
      if (signalName === 'updateSessionConfig') this.updateSettings(await this.decode<SessionConfigUpdate>(input));
    } else if (event.markerRecordedEventAttributes?.markerName === 'core_local_activity') {
      const marker = await this.marker(event);
      if (marker) this.onMarker(marker);
    } else if (event.workflowExecutionContinuedAsNewEventAttributes) {
      this.nextRunId = event.workflowExecutionContinuedAsNewEventAttributes.newExecutionRunId ?? undefined;
    } else if (
      event.workflowExecutionCompletedEventAttributes ||
      event.workflowExecutionFailedEventAttributes ||
      event.workflowExecutionTerminatedEventAttributes ||
      event.workflowExecutionCanceledEventAttributes ||
      event.workflowExecutionTimedOutEventAttributes
    ) {
      this.endOfSession();
    }
  }

  /** After the last event read: an entry still waiting for its steps is in progress. */
  finish(): AuditEntry[] {
    this.close();
    return this.entries;
  }

  private start(input: SessionWorkflowInput | undefined): void {
    const carried: Partial<CarriedState> = input?.carried ?? {};
    this.tuning = { ...DEFAULT_SESSION_TUNING, ...input?.tuning };
    if (carried.settings) this.settings = carried.settings;
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
      entry.error = 'session_busy: too many messages were waiting to be answered';
      entry.timings.answered_at = iso(eventMs(event));
      this.entries.push(entry);
      return;
    }
    this.push({ id: message.id, text: message.text, receivedAt: message.receivedAt });
  }

  private updateSettings(update: SessionConfigUpdate | undefined): void {
    if (!update) return;
    if (update.default_llm_id !== undefined) this.settings = { ...this.settings, default_llm_id: update.default_llm_id };
    if (update.enabled_functions !== undefined) this.settings = { ...this.settings, enabled_functions: update.enabled_functions };
  }

  private async marker(event: HistoryEvent): Promise<Marker | undefined> {
    const attrs = event.markerRecordedEventAttributes!;
    const dataPayload = attrs.details?.data?.payloads?.[0];
    let data: MarkerData;
    try {
      // Core writes this detail itself, as plain JSON (a payload codec never sees it).
      data = JSON.parse(Buffer.from(dataPayload?.data ?? []).toString('utf8')) as MarkerData;
    } catch {
      return undefined;
    }
    if (!data.activity_type) return undefined;
    const scheduled = jsonTimeMs(data.original_schedule_time);
    const completed = jsonTimeMs(data.complete_time);
    const marker: Marker = {
      type: data.activity_type,
      tries: data.attempt ?? 1,
      durationMs: scheduled !== null && completed !== null ? Math.max(0, completed - scheduled) : null,
      at: eventMs(event),
    };
    if (attrs.failure) {
      const error = await decodeOptionalFailureToOptionalError(this.converter, attrs.failure).catch(() => undefined);
      marker.error = describeFailure(error);
    } else {
      marker.result = await this.decode(attrs.details?.result);
    }
    return marker;
  }

  private onMarker(marker: Marker): void {
    switch (marker.type) {
      case 'loadConfigs':
        if (Array.isArray(marker.result)) this.configs = (marker.result as CachedConfig[]).map(toCachedConfig);
        return;
      case 'answerMessage':
        return this.routed(marker);
      case 'executeLLMConfig':
      case 'executeFunction':
        return this.stepRan(marker);
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

  private offered(tools: readonly string[]): AuditOffered[] {
    return tools.map((tool) => {
      const llmId = parseLLMConfigToolName(tool);
      if (llmId !== undefined) return { tool, kind: 'llm_config', config_id: llmId, config_name: this.configName(llmId) };
      const fn = this.configs.find(
        (c) => c.config_type === 'function_call' && c.function_name !== null && providerToolName(c.function_name) === tool && c.is_active,
      );
      if (fn) return { tool, kind: 'function', config_id: fn.id, config_name: fn.config_name };
      return { tool, kind: 'builtin', config_id: null, config_name: null };
    });
  }

  /** What routing was offered, as the workflow computed it for `answerMessage` (histories without `offered`). */
  private derivedOffer(routing: RoutingDecision): string[] {
    const candidates = routingCandidates(this.configs, this.settings);
    const tools = candidates.map((c) =>
      c.config_type === 'llm' ? llmConfigToolName(c.id) : providerToolName(c.function_name ?? c.config_name),
    );
    const noRouter = 'reason' in routing && typeof routing.reason === 'string' && routing.reason.startsWith('no router LLM');
    if (noRouter || routing.routedBy !== 'router_llm') return tools;
    const taken = new Set(tools);
    return [...tools, ...enabledBuiltins(this.settings, BUILTIN_FUNCTIONS).filter((name) => !taken.has(name))];
  }

  /** The routing step of a message: routing and the first attempt, then the steps the workflow will take after it. */
  private routed(marker: Marker): void {
    this.close();
    const output = marker.result as AnswerMessageOutput | undefined;
    const message = this.takeMessage(output?.messageId);
    if (message) this.known.add(message.id);
    const entry = this.blank(message);
    // A failed routing step: the workflow's own rules decided (workflows/answer.ts), from the same cached configs.
    const routing =
      output?.routing ??
      routeWithoutRouter(this.configs, this.settings, message?.text ?? '', `routing failed: ${marker.error ?? 'unknown error'}`);
    entry.routing = routing;
    entry.routed_by = routing.routedBy;
    entry.offered_source = output?.offered ? 'recorded' : 'derived';
    entry.offered = this.offered(output?.offered ?? this.derivedOffer(routing));
    entry.timings.routing_ms = output?.routingMs ?? null;
    entry.timings.step_ms = marker.durationMs;
    entry.timings.answered_at = iso(marker.at);
    const first = output?.firstAttempt;
    const open: OpenEntry = { entry, kind: 'other', plan: [], done: true };
    this.open = open;
    switch (routing.kind) {
      case 'direct_answer':
        entry.chosen = 'direct_answer';
        entry.status = 'success';
        entry.answer = routing.answer;
        return;
      case 'builtin':
        entry.chosen = routing.name;
        entry.status = 'success';
        return;
      case 'none':
        entry.chosen = 'none';
        entry.status = 'failed';
        entry.error = routing.reason;
        return;
      case 'function': {
        entry.chosen = routing.functionName;
        open.kind = 'function';
        const config = { id: routing.configId, config_name: this.configName(routing.configId) ?? routing.functionName };
        if (routing.missing?.length) {
          entry.status = 'failed';
          entry.error = `Function "${routing.functionName}" needs arguments the message does not give: ${routing.missing.join(', ')}`;
          return;
        }
        if (first) this.attempt(open, { config, step: 'first_attempt' }, first);
        if (!first || (!first.ok && first.retryable && this.tuning.functionMaxAttempts > 1)) {
          open.plan.push({ config, step: first ? 'retry' : 'first_attempt' });
        }
        open.done = open.plan.length === 0;
        return;
      }
      case 'llm_config': {
        entry.chosen = routing.tool;
        open.kind = 'llm';
        const order = llmAnswerOrder(this.configs, this.settings, routing.configId).slice(0, this.tuning.maxConfigsPerMessage);
        for (const config of order) {
          if (first && config.id === routing.configId) {
            this.attempt(open, { config, step: 'first_attempt' }, first);
            if (first.ok) break;
            if (first.retryable && this.tuning.llmMaxAttempts > 1) open.plan.push({ config, step: 'retry' });
          } else {
            open.plan.push({ config, step: config.id === routing.configId ? 'first_attempt' : 'fallback' });
          }
        }
        open.done = open.plan.length === 0 || entry.attempts.some((a) => a.status === 'success');
        return;
      }
    }
  }

  private attempt(open: OpenEntry, planned: PlannedStep, outcome: FirstAttempt, tries = 1, at: number | null = null): void {
    const record: AuditAttempt = {
      step: planned.step,
      config_id: planned.config.id,
      config_name: planned.config.config_name,
      tries,
      status: outcome.ok ? 'success' : 'failed',
      error: outcome.ok ? null : outcome.error,
      model: outcome.ok ? (outcome.model ?? null) : null,
      duration_ms: outcome.ms,
      finished_at: iso(at),
    };
    open.entry.attempts.push(record);
    if (outcome.ok) this.answers.set(record, outcome.answer);
  }

  /** A retry or fallback marker: the next step the workflow planned for the open message. */
  private stepRan(marker: Marker): void {
    const open = this.open;
    const planned = open && !open.done ? open.plan.shift() : undefined;
    if (!open || !planned) return;
    const outcome: FirstAttempt =
      marker.error !== undefined
        ? { ok: false, error: marker.error, retryable: false, ms: marker.durationMs ?? 0 }
        : open.kind === 'function'
          ? { ok: true, answer: (marker.result as ExecuteFunctionOutput | undefined)?.result ?? '', ms: marker.durationMs ?? 0 }
          : {
              ok: true,
              answer: (marker.result as ExecuteLLMConfigOutput | undefined)?.answer ?? '',
              ...((marker.result as ExecuteLLMConfigOutput | undefined)?.model
                ? { model: (marker.result as ExecuteLLMConfigOutput).model }
                : {}),
              ms: marker.durationMs ?? 0,
            };
    this.attempt(open, planned, outcome, marker.tries, marker.at);
    open.entry.timings.answered_at = iso(marker.at);
    if (outcome.ok || open.plan.length === 0) open.done = true;
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
    if (open.kind === 'other') {
      this.entries.push(entry);
      return;
    }
    entry.timings.execute_ms = entry.attempts.reduce((sum, a) => sum + (a.duration_ms ?? 0), 0);
    const success = entry.attempts.find((a) => a.status === 'success');
    const failures = entry.attempts.filter((a) => a.status === 'failed');
    if (success) {
      entry.status = 'success';
      entry.executed_by = { config_id: success.config_id, config_name: success.config_name };
      entry.answer = this.answerOf(success);
      const failedOther = failures.filter((f) => f.config_id !== success.config_id);
      const firstFailed = failedOther[0];
      if (firstFailed) {
        // The workflow names the first config that failed, with its last error.
        const last = failedOther.filter((f) => f.config_id === firstFailed.config_id).at(-1)!;
        entry.fallback_from = { config_id: firstFailed.config_id, config_name: firstFailed.config_name, error: last.error ?? '' };
      }
    } else if (entry.status !== 'failed') {
      entry.status = open.done ? 'failed' : 'in_progress';
      if (open.done) {
        const perConfig = new Map<number, AuditAttempt>();
        for (const f of failures) perConfig.set(f.config_id, f);
        entry.error =
          open.kind === 'function'
            ? (failures.at(-1)?.error ?? 'unknown error')
            : perConfig.size
              ? `No LLM config could answer: ${[...perConfig.values()].map((f) => `${f.config_name}: ${f.error}`).join('; ')}`
              : 'No active LLM config could answer';
      }
    }
    this.entries.push(entry);
  }

  private answerOf(attempt: AuditAttempt): string | null {
    return this.answers.get(attempt) ?? null;
  }

  /** The session ended: messages still waiting were answered `failed` by the workflow, outside any marker. */
  private endOfSession(): void {
    this.close();
    for (const message of this.pending.splice(0)) {
      const entry = this.blank(message);
      entry.status = 'unanswered';
      entry.error = 'The session ended before this message was answered';
      this.entries.push(entry);
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
