// What the workflow and activity tests share: a test AppContext, the scripted fake LLM, the real
// session worker on a unique task queue, and a stand-in gateway: subscribed to the relay as
// gateway `test-…` (in process, and on its PostgreSQL channel), it records frames instead of
// writing them to a socket.
import { randomBytes } from 'node:crypto';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AppContext, RunningRole } from '../../app/context';
import { startWorker } from '../../worker';
import {
  attachSignal,
  messageSignal,
  relayAddressFor,
  sessionWorkflowId,
  type PublicConfig,
  type RelayAddress,
  type ResultFrame,
  type ServerFrame,
  type SessionTuning,
} from '../../contract';
import { sessionWorkflow } from '../../workflows';
import { subscribeRelay, type RelayDelivery } from '../../relay';
import { createTestContext, uniqueId, type TestContext } from './context';
import { startFakeLLM, type FakeLLM } from './fake-llm';
import { createLLMConfigRow } from './llm-configs';
import { testTemporal } from './temporal';
import { fetchAllRuns, type RecordedRun } from './histories';
import { registerSecret } from './secret-scan';
import type { Logger } from '../../lib/logger';

/** Short timeouts so failure paths finish in seconds; individual tests override what they probe. */
export const FAST_TUNING: Partial<SessionTuning> = {
  llmTimeout: '5 seconds',
  retryInitialInterval: '100 milliseconds',
};

export const ROUTER_MODEL = 'router-model';

export interface RecordedFrame {
  connectionId: string;
  frame: ServerFrame;
}

/** The stand-in gateway: records every frame the relay brings. */
export class FrameRecorder {
  readonly instanceId = uniqueId('test');
  readonly frames: RecordedFrame[] = [];
  /** Connection ids whose socket is "gone": frames for them are dropped, as a gateway would. */
  readonly gone = new Set<string>();
  /** How often the relay said "read the outbox" instead of bringing frames. */
  outboxHints = 0;

  receive = (connectionId: string, delivery: RelayDelivery): void => {
    if (this.gone.has(connectionId)) return;
    if ('fetchOutbox' in delivery) return void (this.outboxHints += 1);
    for (const frame of delivery.frames) this.frames.push({ connectionId, frame: frame as ServerFrame });
  };

  /** Where the relay reaches socket `connectionId` of this stand-in gateway. */
  relayAddress(connectionId: string): RelayAddress {
    return relayAddressFor(this.instanceId, connectionId);
  }

  framesFor(connectionId: string): ServerFrame[] {
    return this.frames.filter((f) => f.connectionId === connectionId).map((f) => f.frame);
  }

  resultsFor(connectionId: string, messageId?: string): ResultFrame[] {
    return this.framesFor(connectionId).filter(
      (f): f is ResultFrame => f.type === 'function_call_result' && (messageId === undefined || f.id === messageId),
    );
  }

  async waitFor<T extends ServerFrame>(connectionId: string, match: (f: ServerFrame) => f is T, timeoutMs?: number): Promise<T>;
  async waitFor(connectionId: string, match: (f: ServerFrame) => boolean, timeoutMs?: number): Promise<ServerFrame>;
  async waitFor(connectionId: string, match: (f: ServerFrame) => boolean, timeoutMs = 60_000): Promise<ServerFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.framesFor(connectionId).find(match);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(`no matching frame for ${connectionId}; got ${JSON.stringify(this.framesFor(connectionId))}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  waitForResult(connectionId: string, messageId: string, timeoutMs?: number): Promise<ResultFrame> {
    return this.waitFor(connectionId, (f): f is ResultFrame => f.type === 'function_call_result' && f.id === messageId, timeoutMs);
  }
}

export interface TestSession {
  handle: WorkflowHandleWithFirstExecutionRunId<typeof sessionWorkflow>;
  userId: string;
  sessionId: string;
  connectionId: string;
  /** Signal a message; the id defaults to a fresh one. Returns the id. `stream` marks it as a streaming socket's. */
  send(text: string, id?: string, options?: { stream?: boolean }): Promise<string>;
  /** Signal a message and wait for its result frame. */
  ask(text: string, id?: string): Promise<ResultFrame>;
}

export interface SessionOptions {
  userId?: string;
  deviceId?: string | null;
  idleTtlMs?: number;
  tuning?: Partial<SessionTuning>;
  /** Attach the recorder right away (default true). */
  attach?: boolean;
  /** Task queue of the session worker (default: the harness's). */
  taskQueue?: string;
  /** Names the recorded history (replay fixtures). */
  label?: string;
}

export interface SessionHarness {
  ctx: AppContext;
  env: TestWorkflowEnvironment;
  llm: FakeLLM;
  gateway: FrameRecorder;
  taskQueue: string;
  createLLMConfig(userId: string, fields: Partial<LLMConfigFields> & { model_name: string }): Promise<PublicConfig>;
  startSession(options?: SessionOptions): Promise<TestSession>;
  /** Every session workflow this harness started (for history checks and replay); close() terminates those still running. */
  started: { workflowId: string; label: string }[];
  /** Stops the session worker and starts another on the same task queue from `ctx` (e.g. rotated payload keys); its cache starts empty. */
  replaceWorker(ctx: AppContext): Promise<void>;
  close(): Promise<void>;
}

export interface LLMConfigFields {
  config_name: string;
  description: string | null;
  model_name: string;
  api_key: string | null;
  base_url: string;
  priority: number;
  is_active: boolean;
  system_prompt: string | null;
}

/** A fresh API key, registered with the run's secret scan. */
export function randomKey(): string {
  const key = `sk-test-${randomBytes(24).toString('base64url')}`;
  registerSecret(key);
  return key;
}

/**
 * @param router false: no ROUTER_LLM_* in the worker's config (fallback routing only).
 * @param env    extra environment for the config.
 */
export async function startSessionHarness(
  options: { router?: boolean; env?: Record<string, string>; logger?: Logger } = {},
): Promise<SessionHarness> {
  const env = await testTemporal();
  const llm = await startFakeLLM();
  const routerEnv: Record<string, string> =
    options.router === false ? {} : { ROUTER_LLM_BASE_URL: llm.baseUrl, ROUTER_LLM_MODEL: ROUTER_MODEL, ROUTER_LLM_API_KEY: randomKey() };
  let test: TestContext | undefined;
  const roles: RunningRole[] = [];
  try {
    test = await createTestContext({
      env: { EGRESS_ALLOW: '127.0.0.0/8', ...routerEnv, ...options.env },
      ...(options.logger ? { logger: options.logger } : {}),
    });
    const { ctx } = test;
    const gateway = new FrameRecorder();
    const subscription = await subscribeRelay(ctx.db, gateway.instanceId, gateway.receive, { logger: ctx.logger });
    roles.push({ name: 'recorder', urls: {}, close: () => subscription.close() });
    let worker = await startWorker(ctx, { connection: env.nativeConnection });
    roles.push({ name: 'worker', urls: {}, close: () => worker.close() });
    const started: { workflowId: string; label: string }[] = [];
    const taskQueue = ctx.config.TEMPORAL_TASK_QUEUE;

    const harness: SessionHarness = {
      ctx,
      env,
      llm,
      gateway,
      taskQueue,
      started,
      async replaceWorker(next) {
        await worker.close();
        worker = await startWorker(next, { connection: env.nativeConnection });
      },
      async createLLMConfig(userId, fields) {
        const { config } = await createLLMConfigRow(ctx, userId, {
          ...fields,
          config_name: fields.config_name ?? uniqueId(fields.model_name),
          api_key: fields.api_key === undefined ? randomKey() : fields.api_key,
          base_url: fields.base_url ?? llm.baseUrl,
        });
        return config;
      },
      async startSession(opts = {}) {
        const userId = opts.userId ?? uniqueId('user');
        const sessionId = uniqueId('s');
        const workflowId = sessionWorkflowId(userId, sessionId);
        // The context's client: with a payload key, it encrypts like the service's.
        const handle = await ctx.temporal!.client.workflow.start(sessionWorkflow, {
          workflowId,
          taskQueue: opts.taskQueue ?? taskQueue,
          args: [
            {
              userId,
              sessionId,
              deviceId: opts.deviceId ?? 'test-device',
              idleTtlMs: opts.idleTtlMs ?? 10 * 60_000,
              tuning: { ...FAST_TUNING, ...opts.tuning },
            },
          ],
        });
        started.push({ workflowId, label: opts.label ?? 'session' });
        const connectionId = uniqueId('conn');
        if (opts.attach !== false) await handle.signal(attachSignal, gateway.relayAddress(connectionId));
        const send = async (text: string, id = uniqueId('m'), options: { stream?: boolean } = {}) => {
          await handle.signal(messageSignal, { id, text, receivedAt: Date.now(), ...(options.stream ? { stream: true } : {}) });
          return id;
        };
        return {
          handle,
          userId,
          sessionId,
          connectionId,
          send,
          ask: async (text, id) => gateway.waitForResult(connectionId, await send(text, id)),
        };
      },
      async close() {
        // Sessions still running would keep their workflows (and timers) on the shared server.
        for (const { workflowId } of started) {
          await env.client.workflow
            .getHandle(workflowId)
            .terminate('test suite finished')
            .catch(() => undefined);
        }
        for (const role of roles.reverse()) await role.close();
        await test?.close();
        await llm.close();
      },
    };
    return harness;
  } catch (err) {
    for (const role of roles.reverse()) await role.close();
    await test?.close();
    await llm.close();
    throw err;
  }
}

/** Every run of every session the harnesses started, named by its label (`<label>-run<n>` when it continued as new). */
export async function labelledRuns(harnesses: readonly SessionHarness[]): Promise<{ name: string; run: RecordedRun }[]> {
  const recorded: { name: string; run: RecordedRun }[] = [];
  for (const harness of harnesses) {
    for (const { workflowId, label } of harness.started) {
      const runs = await fetchAllRuns(harness.env.client, workflowId);
      runs.forEach((run, i) => recorded.push({ name: runs.length > 1 ? `${label}-run${i + 1}` : label, run }));
    }
  }
  return recorded;
}
