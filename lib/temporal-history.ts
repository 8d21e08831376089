// A run's history read page by page (the audit trail, the replay gate, the tests' secret scan):
// a few hundred events per call, never the whole of a long session's history in one message.
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
