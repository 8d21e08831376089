// A run's history read page by page (the audit trail, the replay gate, the tests' secret scan):
// a few hundred events per call, never the whole of a long session's history in one message. And
// the patch markers it holds (the replay gate's check that no run still needs a retired path).
import type { Client } from '@temporalio/client';
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
