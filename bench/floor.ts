// The floor: bare Workflow Update round trips (bench/floor-workflow.ts) on the same Temporal
// server as Switchboard, with their own worker on their own task queue in the bench process.
import type { Client, WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Worker, type NativeConnection } from '@temporalio/worker';
import { uniqueId } from '../test/support/context';
import { floorWorkflow, pingUpdate, stopSignal } from './floor-workflow';
import { now } from './stats';

/** A workflow is retired after this many updates (the server caps updates per run). */
const UPDATES_PER_WORKFLOW = 500;

export interface Floor {
  taskQueue: string;
  /** A sequence of updates against one running workflow, replaced now and then by a fresh one. */
  loop(): Promise<FloorLoop>;
  close(): Promise<void>;
}

export class FloorLoop {
  private handle: WorkflowHandle<typeof floorWorkflow> | undefined;
  private count = 0;

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly started: Set<WorkflowHandle<typeof floorWorkflow>>,
  ) {}

  /** Starts the first workflow and answers one update, untimed: the first workflow task is not a round trip. */
  async prepare(): Promise<void> {
    await this.rotate();
  }

  private async rotate(): Promise<WorkflowHandle<typeof floorWorkflow>> {
    if (this.handle) {
      const old = this.handle;
      this.started.delete(old);
      await old.signal(stopSignal);
    }
    const handle = await this.client.workflow.start(floorWorkflow, { taskQueue: this.taskQueue, workflowId: uniqueId('bench-floor') });
    this.started.add(handle);
    await handle.executeUpdate(pingUpdate, { args: [0] });
    this.handle = handle;
    this.count = 1;
    return handle;
  }

  /** One timed update round trip, in ms. */
  async ping(): Promise<number> {
    const handle = !this.handle || this.count >= UPDATES_PER_WORKFLOW ? await this.rotate() : this.handle;
    this.count++;
    const t = now();
    const answer = await handle.executeUpdate(pingUpdate, { args: [this.count] });
    const elapsed = now() - t;
    if (answer !== this.count) throw new Error(`floor update answered ${answer}, expected ${this.count}`);
    return elapsed;
  }
}

/** Update loops against a floor worker that runs elsewhere (a child process) on `taskQueue`. */
export function floorOnQueue(client: Client, taskQueue: string): Floor {
  const started = new Set<WorkflowHandle<typeof floorWorkflow>>();
  return {
    taskQueue,
    async loop() {
      const loop = new FloorLoop(client, taskQueue, started);
      await loop.prepare();
      return loop;
    },
    async close() {
      await Promise.allSettled([...started].map((handle) => handle.terminate('bench finished')));
      started.clear();
    },
  };
}

export async function startFloor(env: { client: Client; nativeConnection: NativeConnection }): Promise<Floor> {
  const taskQueue = uniqueId('bench-floor');
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('./floor-workflow'),
    logger: new DefaultLogger('WARN'),
  });
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle });
  const running = worker.run();
  const started = new Set<WorkflowHandle<typeof floorWorkflow>>();
  return {
    taskQueue,
    async loop() {
      const loop = new FloorLoop(env.client, taskQueue, started);
      await loop.prepare();
      return loop;
    },
    async close() {
      // Terminated, not signalled: nothing more for the worker to do while it shuts down.
      await Promise.allSettled([...started].map((handle) => handle.terminate('bench finished')));
      started.clear();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}
