// Goal 5: where the time of one message goes, read from the session workflow's own history. The
// window starts at the first event that mentions the message id (the `message` signal today) and
// runs to the client's `ack` of it; the event whose payload first carries the result frame marks
// "result produced" (when no payload carries it, as on the current path where the result travels
// outside history, the workflow task that recorded a local-activity marker does; failing that,
// the last event no later than the result's arrival at the socket). Nothing here knows which activities or markers the workflow uses: every
// event in the window is listed, in time order, with its offset from the start and the gap to
// the event before; the largest gap up to the result is the slowest step.
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { decodedText, fetchAllRuns } from '../test/support/histories';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface BreakdownEvent {
  eventId: number;
  /** EVENT_TYPE_… without the prefix, e.g. ACTIVITY_TASK_SCHEDULED. */
  type: string;
  /** Activity type, marker, signal or update name, task queue, when the event has one. */
  detail: string;
  offsetMs: number;
  gapMs: number;
  /** The event that produced the result (see Breakdown.resultFoundBy). */
  result: boolean;
}

export interface Breakdown {
  workflowId: string;
  messageId: string;
  events: BreakdownEvent[];
  /** Offset of the result event. */
  resultOffsetMs: number;
  /**
   * `payload`: the first event whose payload carries the message's function_call_result frame;
   * `socket time`: none does, so the last event no later than the result reached the socket.
   */
  resultFoundBy: 'payload' | 'task that recorded the answer' | 'socket time';
  /** The largest gap up to the result event: the slowest step. */
  slowest: BreakdownEvent | undefined;
  /** Up to the result: the gaps summed by the kind of event that ends them, largest first. */
  totals: { step: string; count: number; totalMs: number }[];
}

interface RunEvent {
  event: HistoryEvent;
  /** Which run of the workflow (continue-as-new): event ids count from 1 in each. */
  run: number;
}

/** Every run of the workflow (continue-as-new), oldest first, as one list of events. */
async function allEvents(client: Client, workflowId: string): Promise<RunEvent[]> {
  const runs = await fetchAllRuns(client, workflowId);
  return runs.flatMap(({ history }, run) => (history.events ?? []).map((event) => ({ event, run })));
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

function describe(event: HistoryEvent, lookup: (eventId: unknown) => HistoryEvent | undefined): string {
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
  const scheduled = scheduledId === undefined ? undefined : lookup(scheduledId);
  if (!own && scheduled) {
    const scheduledName = nameAt(attributesOf(scheduled), 'activityType', 'name');
    if (scheduledName) parts.push(scheduledName);
  }
  const queue = nameAt(attributes, 'taskQueue', 'name');
  if (queue && nameAt(attributes, 'activityType', 'name')) parts.push(`on ${queue}`);
  return parts.join(' ');
}

const idKey = (run: number, id: unknown): string => `${run}:${String(id)}`;

/**
 * @param socketMs the message's latency measured at the socket, for placing the result when no
 *                 event's payload carries it.
 */
export async function messageBreakdown(client: Client, workflowId: string, messageId: string, socketMs: number): Promise<Breakdown> {
  let events: RunEvent[] = [];
  let start = -1;
  let resultIndex = -1;
  let ackIndex = -1;
  // The client's ack may still be on its way into the history; look again for a little while.
  for (let attempt = 0; attempt < 10 && ackIndex < 0; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 300));
    events = await allEvents(client, workflowId);
    const texts = events.map(({ event }) => decodedText(event));
    start = texts.findIndex((text) => text.includes(messageId));
    resultIndex = texts.findIndex((text, i) => i >= start && text.includes(messageId) && text.includes('function_call_result'));
    ackIndex = texts.findIndex(
      (text, i) =>
        i > Math.max(start, resultIndex) && text.includes(messageId) && /\back\b/i.test(describe(events[i].event, () => undefined)),
    );
  }
  if (start < 0) throw new Error(`no event of ${workflowId} mentions message ${messageId}`);
  const end = ackIndex >= 0 ? ackIndex : Math.min(events.length - 1, (resultIndex >= 0 ? resultIndex : start) + 8);

  const byId = new Map<string, HistoryEvent>();
  for (const { event, run } of events) byId.set(idKey(run, event.eventId), event);
  // Listed in time order: a history appends some events later than they happened (an activity's
  // STARTED is written with its completion, a signal that arrives during a workflow task after it).
  const window = events
    .slice(start, end + 1)
    .map(({ event, run }, i) => ({ event, run, index: start + i, time: eventTimeMs(event) }))
    .sort((a, b) => a.time - b.time || a.index - b.index);
  const t0 = window[0].time;
  const listed: BreakdownEvent[] = window.map(({ event, run, index, time }, i) => ({
    eventId: Number(event.eventId?.toString() ?? NaN),
    type: eventTypeName(event),
    detail: describe(event, (id) => byId.get(idKey(run, id))),
    offsetMs: time - t0,
    gapMs: i === 0 ? 0 : time - window[i - 1].time,
    result: index === resultIndex,
  }));
  let resultEvent = listed.find((e) => e.result);
  let resultFoundBy: Breakdown['resultFoundBy'] = resultEvent ? 'payload' : 'socket time';
  if (!resultEvent) {
    const marker = listed.findIndex((e) => e.type.includes('MARKER_RECORDED'));
    const completed = listed
      .slice(0, Math.max(marker, 0))
      .filter((e) => e.type.includes('WORKFLOW_TASK_COMPLETED'))
      .at(-1);
    if (completed) {
      completed.result = true;
      resultEvent = completed;
      resultFoundBy = 'task that recorded the answer';
    }
  }
  if (!resultEvent) {
    const placed = listed.filter((e) => e.offsetMs <= socketMs).at(-1) ?? listed[0]!;
    placed.result = true;
    resultEvent = placed;
  }
  const resultOffset = resultEvent.offsetMs;
  const upToResult = listed.filter((e) => e.offsetMs <= resultOffset);
  const slowest = upToResult
    .slice(1)
    .reduce<BreakdownEvent | undefined>((worst, e) => (!worst || e.gapMs > worst.gapMs ? e : worst), undefined);
  const totals = new Map<string, { step: string; count: number; totalMs: number }>();
  for (const e of upToResult.slice(1)) {
    const step = `${e.type}${e.detail ? ` ${e.detail.split(' on ')[0]}` : ''}`;
    const total = totals.get(step) ?? { step, count: 0, totalMs: 0 };
    total.count++;
    total.totalMs += e.gapMs;
    totals.set(step, total);
  }
  return {
    workflowId,
    messageId,
    events: listed,
    resultOffsetMs: resultOffset,
    resultFoundBy,
    slowest,
    totals: [...totals.values()].sort((a, b) => b.totalMs - a.totalMs),
  };
}
