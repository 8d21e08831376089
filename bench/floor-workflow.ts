// The floor of the message benchmarks: the smallest workflow that answers a Workflow Update.
// Bundled on its own (bench/floor.ts) and run by its own worker on its own task queue, so a bare
// update round trip on the same Temporal server is what Switchboard's per-message cost is held
// against. Deterministic workflow code: only @temporalio/workflow.
import { condition, defineSignal, defineUpdate, setHandler } from '@temporalio/workflow';

/** Answers at once with its argument. */
export const pingUpdate = defineUpdate<number, [number]>('ping');
/** Lets the workflow complete (a floor workflow is retired after a few hundred updates). */
export const stopSignal = defineSignal('stop');

export async function floorWorkflow(): Promise<void> {
  let stopped = false;
  setHandler(pingUpdate, (n: number) => n);
  setHandler(stopSignal, () => {
    stopped = true;
  });
  await condition(() => stopped);
}
