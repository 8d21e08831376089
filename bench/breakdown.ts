// Goal 5: where the time of one message goes, read from the session workflow's own history. The
// window starts at the first event that mentions the message id (the `message` signal today) and
// runs to the client's `ack` of it; the event whose payload first carries the result frame marks
// "result produced". Nothing here knows which activities or markers the workflow uses: every
// event in the window is listed, in time order, with its offset from the start and the gap to
// the event before; the largest gap up to the result is the slowest step.
import type { Client } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface BreakdownEvent {
  eventId: number;
  /** EVENT_TYPE_… without the prefix, e.g. ACTIVITY_TASK_SCHEDULED. */
  type: string;
  /** Activity type, marker, signal or update name, task queue, when the event has one. */
  detail: string;
  offsetMs: number;
  gapMs: number;
  /** The first event whose payload carries the message's function_call_result frame. */
  result: boolean;
}

export interface Breakdown {
  workflowId: string;
  messageId: string;
  events: BreakdownEvent[];
  /** Offset of the result event (NaN when no event carried the result frame). */
  resultOffsetMs: number;
  /** The largest gap up to the result event: the slowest step. */
  slowest: BreakdownEvent | undefined;
}

/** Every run of the workflow (continue-as-new), oldest first, as one list of events. */
async function allEvents(client: Client, workflowId: string): Promise<HistoryEvent[]> {
  const description = await client.workflow.getHandle(workflowId).describe();
  let runId: string | undefined = description.raw.workflowExecutionInfo?.firstRunId ?? description.runId;
  const events: HistoryEvent[] = [];
  while (runId) {
    const history: History = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const runEvents = history.events ?? [];
    events.push(...runEvents);
    runId = runEvents.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return events;
}

/** The event as text with every payload decoded (bytes as UTF-8), for searching. */
function eventText(event: HistoryEvent): string {
  const decode = (value: unknown): unknown => {
    if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
    if (Array.isArray(value)) return value.map(decode);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
    return value;
  };
  return JSON.stringify(decode(event));
}

function eventTimeMs(event: HistoryEvent): number {
  const seconds = event.eventTime?.seconds;
  const secondsNumber = typeof seconds === 'number' ? seconds : Number(seconds?.toString() ?? NaN);
  return secondsNumber * 1000 + (event.eventTime?.nanos ?? 0) / 1e6;
}

function eventTypeName(event: HistoryEvent): string {
  const name = event.eventType === null || event.eventType === undefined ? undefined : temporal.api.enums.v1.EventType[event.eventType];
  return (name ?? `EVENT_${String(event.eventType)}`).replace(/^EVENT_TYPE_/, '');
}

/** The event's `…EventAttributes` object, whatever the event type. */
function attributesOf(event: HistoryEvent): Record<string, unknown> {
  for (const [key, value] of Object.entries(event)) {
    if (key.endsWith('EventAttributes') && value && typeof value === 'object') return value as Record<string, unknown>;
  }
  return {};
}

function nameAt(value: unknown, ...path: string[]): string | undefined {
  let current: unknown = value;
  for (const key of path) {
    if (!current || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return typeof current === 'string' && current ? current : undefined;
}

function numberAt(value: Record<string, unknown>, key: string): number | undefined {
  const v = value[key];
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'toString' in v) {
    const n = Number(String(v));
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

function describe(event: HistoryEvent, byId: Map<number, HistoryEvent>): string {
  const attributes = attributesOf(event);
  const parts: string[] = [];
  const own =
    nameAt(attributes, 'activityType', 'name') ??
    nameAt(attributes, 'markerName') ??
    nameAt(attributes, 'signalName') ??
    nameAt(attributes, 'acceptedRequest', 'input', 'name') ??
    nameAt(attributes, 'workflowType', 'name') ??
    nameAt(attributes, 'timerId');
  if (own) parts.push(own);
  // Started/completed/failed events point back at the event that scheduled them.
  const scheduledId = numberAt(attributes, 'scheduledEventId');
  const scheduled = scheduledId === undefined ? undefined : byId.get(scheduledId);
  if (!own && scheduled) {
    const scheduledName = nameAt(attributesOf(scheduled), 'activityType', 'name');
    if (scheduledName) parts.push(scheduledName);
  }
  const queue = nameAt(attributes, 'taskQueue', 'name');
  if (queue && nameAt(attributes, 'activityType', 'name')) parts.push(`on ${queue}`);
  return parts.join(' ');
}

export async function messageBreakdown(client: Client, workflowId: string, messageId: string): Promise<Breakdown> {
  let events: HistoryEvent[] = [];
  let start = -1;
  let resultIndex = -1;
  let ackIndex = -1;
  // The client's ack may still be on its way into the history; look again for a little while.
  for (let attempt = 0; attempt < 10 && ackIndex < 0; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 300));
    events = await allEvents(client, workflowId);
    const texts = events.map(eventText);
    start = texts.findIndex((text) => text.includes(messageId));
    resultIndex = texts.findIndex((text, i) => i >= start && text.includes(messageId) && text.includes('function_call_result'));
    ackIndex = texts.findIndex(
      (text, i) => i > Math.max(start, resultIndex) && text.includes(messageId) && /\back\b/i.test(describe(events[i], new Map())),
    );
  }
  if (start < 0) throw new Error(`no event of ${workflowId} mentions message ${messageId}`);
  const end = ackIndex >= 0 ? ackIndex : Math.min(events.length - 1, (resultIndex >= 0 ? resultIndex : start) + 4);

  const byId = new Map<number, HistoryEvent>();
  for (const event of events) {
    const id = Number(event.eventId?.toString() ?? NaN);
    if (Number.isFinite(id)) byId.set(id, event);
  }
  // Listed in time order: a history appends some events later than they happened (an activity's
  // STARTED is written with its completion, a signal that arrives during a workflow task after it).
  const window = events
    .slice(start, end + 1)
    .map((event, i) => ({ event, index: start + i, time: eventTimeMs(event) }))
    .sort((a, b) => a.time - b.time || a.index - b.index);
  const t0 = window[0].time;
  const listed: BreakdownEvent[] = window.map(({ event, index, time }, i) => ({
    eventId: Number(event.eventId?.toString() ?? NaN),
    type: eventTypeName(event),
    detail: describe(event, byId),
    offsetMs: time - t0,
    gapMs: i === 0 ? 0 : time - window[i - 1].time,
    result: index === resultIndex,
  }));
  const resultEvent = listed.find((e) => e.result);
  const upToResult = resultEvent ? listed.filter((e) => e.offsetMs <= resultEvent.offsetMs) : listed;
  const slowest = upToResult.slice(1).reduce<BreakdownEvent | undefined>((worst, e) => (!worst || e.gapMs > worst.gapMs ? e : worst), undefined);
  return {
    workflowId,
    messageId,
    events: listed,
    resultOffsetMs: resultEvent ? resultEvent.offsetMs : NaN,
    slowest,
  };
}
