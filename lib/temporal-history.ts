// A run's history read page by page (the audit trail, the replay gate, the tests' secret scan):
// a few hundred events per call, never the whole of a long session's history in one message. And
// the patch markers it holds (the replay gate's check that no run still needs a retired path), and
// its local activity markers (the audit trail's steps).
import type { Client } from '@temporalio/client';
import type { LoadedDataConverter } from '@temporalio/common/lib/converter/data-converter';
import { decodeFromPayloadsAtIndex, decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';

const EVENTS_PER_PAGE = 250;

export async function* historyEvents(
  client: Client,
  workflowId: string,
  runId: string,
): AsyncGenerator<temporal.api.history.v1.IHistoryEvent> {
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId, runId },
      maximumPageSize: EVENTS_PER_PAGE,
      ...(nextPageToken ? { nextPageToken } : {}),
    });
    yield* page.history?.events ?? [];
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
}

/** Core's marker of a `patched()` / `deprecatePatch()` call, and the detail that names the patch. */
const PATCH_MARKER = 'core_patch';
const PATCH_DETAILS = ['patch-data', 'patch_data'];

/**
 * The ids of the patches a run's history has markers for. Core writes these markers itself, as
 * plain JSON outside any payload codec, so they read the same in an encrypted deployment.
 */
export function recordedPatches(events: Iterable<temporal.api.history.v1.IHistoryEvent>): Set<string> {
  const ids = new Set<string>();
  for (const event of events) {
    const marker = event.markerRecordedEventAttributes;
    if (marker?.markerName !== PATCH_MARKER) continue;
    for (const key of PATCH_DETAILS) {
      const data = marker.details?.[key]?.payloads?.[0]?.data;
      if (!data) continue;
      try {
        const { id } = JSON.parse(Buffer.from(data).toString('utf8')) as { id?: unknown };
        if (typeof id === 'string') ids.add(id);
      } catch {
        // Not core's JSON: not a marker this reader knows.
      }
    }
  }
  return ids;
}

/** When an event happened, in epoch ms. */
export function eventTimeMs(event: temporal.api.history.v1.IHistoryEvent): number | null {
  const t = event.eventTime;
  return t ? Number(t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6) : null;
}

/** A local activity's marker: which activity, Temporal's attempt, its result or failure, how long it took. */
export interface LocalActivityMarker {
  type: string;
  attempt: number;
  result?: unknown;
  failure?: Error;
  /** Scheduled (its first attempt) to completed. */
  durationMs: number | null;
  at: number | null;
}

type MarkerTime = { seconds?: number; nanos?: number } | null | undefined;
const markerMs = (t: MarkerTime) => (t ? (t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6) : null);

/** The local activity an event's marker records, its result and failure decoded (undefined: not such a marker). */
export async function localActivityMarker(
  converter: LoadedDataConverter,
  event: temporal.api.history.v1.IHistoryEvent,
): Promise<LocalActivityMarker | undefined> {
  const attrs = event.markerRecordedEventAttributes;
  if (attrs?.markerName !== 'core_local_activity') return undefined;
  let data: { activity_type?: string; attempt?: number; complete_time?: MarkerTime; original_schedule_time?: MarkerTime };
  try {
    // Core writes this detail itself, as plain JSON (a payload codec never sees it).
    data = JSON.parse(Buffer.from(attrs.details?.data?.payloads?.[0]?.data ?? []).toString('utf8')) as typeof data;
  } catch {
    return undefined;
  }
  if (!data.activity_type) return undefined;
  const scheduled = markerMs(data.original_schedule_time);
  const completed = markerMs(data.complete_time);
  const marker: LocalActivityMarker = {
    type: data.activity_type,
    attempt: data.attempt ?? 1,
    durationMs: scheduled !== null && completed !== null ? Math.max(0, completed - scheduled) : null,
    at: eventTimeMs(event),
  };
  if (attrs.failure) {
    marker.failure = await decodeOptionalFailureToOptionalError(converter, attrs.failure).catch(() => new Error('unknown error'));
  } else {
    marker.result = await decodeFromPayloadsAtIndex(converter, 0, attrs.details?.result?.payloads ?? []).catch(() => undefined);
  }
  return marker;
}
