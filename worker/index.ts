// The worker role: the session workflow and its activities on TEMPORAL_TASK_QUEUE. The workflow
// bundle is built once per process and shared by every worker and by replay tests.
import { NativeConnection, Worker, bundleWorkflowCode, type InjectedSinks, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { createActivities } from '../activities';
import type { RelaySinks } from '../contract';
import { createRelay } from '../relay';
import type { Logger } from '../lib/logger';
import { connectWorkerTemporal } from '../lib/temporal-connection';
import type { AppContext, RunningRole } from '../app/context';

/** The directory Temporal bundles: workflows/index.ts and what it imports. */
export const workflowsPath = require.resolve('../workflows');

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** pino behind Temporal's logger interface (the bundler's webpack output; Runtime.install for the SDK's own logs). */
export function temporalLogger(logger: Logger): TemporalLogger {
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => logger[PINO_LEVEL[level]](meta ?? {}, message);
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

/** Bundles by failure converter ('' for the default one). */
const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();

/**
 * Bundling takes seconds; every worker (and `Worker.runReplayHistories`) in the process reuses one.
 * With payload encryption the bundle carries its failure converter, so failures raised inside the
 * workflow are encoded (and encrypted) like everything else.
 */
export function sessionWorkflowBundle(logger: Logger, failureConverterPath?: string): Promise<WorkflowBundleWithSourceMap> {
  const key = failureConverterPath ?? '';
  let bundle = bundles.get(key);
  if (!bundle) {
    // webpack's module listing is noise at start-up; its warnings and errors are not.
    const bundlerLogger = temporalLogger(logger.child({ component: 'workflow-bundler' }, { level: 'warn' }));
    bundle = bundleWorkflowCode({ workflowsPath, logger: bundlerLogger, ...(failureConverterPath ? { failureConverterPath } : {}) }).catch(
      (err: unknown) => {
        bundles.delete(key);
        throw err;
      },
    );
    bundles.set(key, bundle);
  }
  return bundle;
}

export type WorkerContext = Pick<AppContext, 'config' | 'logger' | 'db' | 'secretBox' | 'payloadEncryption'>;

/**
 * Sessions a worker keeps in memory. A workflow task for a session it evicted replays the whole
 * run (and a speculative task fails), so the cache must hold every open session; a cached
 * session costs a few hundred KB at most (bench/).
 */
const MAX_CACHED_SESSIONS = 2_000;

export interface StartWorkerOptions {
  /** Defaults to TEMPORAL_TASK_QUEUE. */
  taskQueue?: string;
  /** An existing native connection (tests share the test server's); otherwise one is opened from the config and closed with the role. */
  connection?: NativeConnection;
  /** false: reach even a gateway of this process through PostgreSQL, as a separate process would (tests, bench). */
  relayInProcess?: boolean;
  /** Sessions kept in memory (default MAX_CACHED_SESSIONS); tests set 0 to replay every task from history. */
  maxCachedWorkflows?: number;
}

export async function startWorker(ctx: WorkerContext, options: StartWorkerOptions = {}): Promise<RunningRole> {
  const logger = ctx.logger.child({ role: 'worker' });
  const taskQueue = options.taskQueue ?? ctx.config.TEMPORAL_TASK_QUEUE;
  const connection = options.connection ?? (await connectWorkerTemporal(ctx.config));
  const ownsConnection = !options.connection;
  try {
    const relay = createRelay(ctx.db, logger, { preferLocal: options.relayInProcess ?? true });
    const sinks: InjectedSinks<RelaySinks> = {
      // Skipped on replay: frames go out once, when the workflow produces them.
      relay: { publish: { fn: (_info, relayAddress, frames) => relay.publish(relayAddress, frames), callDuringReplay: false } },
    };
    const worker = await Worker.create({
      connection,
      namespace: ctx.config.TEMPORAL_NAMESPACE,
      taskQueue,
      workflowBundle: await sessionWorkflowBundle(logger, ctx.payloadEncryption?.failureConverterPath),
      // With TEMPORAL_PAYLOAD_KEY every input, result, signal, query, memo and failure is encrypted.
      ...(ctx.payloadEncryption ? { dataConverter: ctx.payloadEncryption.dataConverter } : {}),
      activities: createActivities({ db: ctx.db, secretBox: ctx.secretBox, config: ctx.config, logger, relay }),
      sinks,
      maxCachedWorkflows: options.maxCachedWorkflows ?? MAX_CACHED_SESSIONS,
      reuseV8Context: true,
      // Bounds remote activities on shutdown. The LLM and function calls are local activities: a
      // closing worker waits for them (up to their own timeout, llmTimeout / functionTimeout) and
      // records their results first (test/faults/worker-graceful-shutdown).
      shutdownGraceTime: '5 seconds',
    });
    let reportFailure: (error: unknown) => void = () => undefined;
    const failed = new Promise<unknown>((resolve) => (reportFailure = resolve));
    const running = worker.run().catch((err: unknown) => {
      logger.error({ err }, 'worker stopped with an error');
      reportFailure(err);
    });
    logger.info({ taskQueue, namespace: ctx.config.TEMPORAL_NAMESPACE }, 'worker started');
    return {
      name: 'worker',
      urls: {},
      failed,
      async close() {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
        if (ownsConnection) await connection.close();
      },
    };
  } catch (err) {
    if (ownsConnection) await connection.close();
    throw err;
  }
}
