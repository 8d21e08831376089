// A deliberately different `sessionWorkflow` (it starts with a timer the real one never sets),
// so the replay test can prove that replay catches a non-deterministic change.
import { sleep } from '@temporalio/workflow';

export async function sessionWorkflow(): Promise<void> {
  await sleep('1 day');
}
