// A server under test in a process of its own, started by the bench (bench/children.ts):
//
//   node --expose-gc --import tsx bench/servers.ts --role api,gateway,worker   Switchboard roles
//   node --expose-gc --import tsx bench/servers.ts --koa-floor                 the bare Koa floor
//   node --expose-gc --import tsx bench/servers.ts --floor-worker QUEUE        the bare update floor's worker
//
// The roles are built the way main.ts builds them (config and secrets from the environment,
// database, Temporal client, then the roles worker first), listening on free ports (API_PORT=0,
// GATEWAY_PORT=0). Over the IPC channel it reports {type:'ready', urls} once listening, answers
// {type:'memory'} with process.memoryUsage() after a full GC, and stops on {type:'stop'} or SIGTERM.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Koa from 'koa';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { loadConfig } from '../config';
import { resolveSecrets } from '../config/secrets';
import { buildAppContext, type RunningRole } from '../app/context';
import { createLogger } from '../lib/logger';
import { closeTemporal, connectTemporal, connectWorkerTemporal } from '../lib/temporal-connection';
import { openDatabase } from '../runtime/database';
import { parseRoles, startRole } from '../runtime/roles';

export type ParentMessage = { type: 'memory' } | { type: 'stop' };
export interface MemoryReport {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** VmRSS from /proc/self/status, in bytes (NaN where there is no /proc). */
  vmRss: number;
}
export type ChildMessage = { type: 'ready'; urls: Record<string, string> } | { type: 'memory'; memory: MemoryReport };

function send(message: ChildMessage): void {
  process.send?.(message);
}

function vmRss(): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function memoryReport(): Promise<MemoryReport> {
  // Two collections with a pause between: finalizers and weak references settle in between.
  global.gc?.();
  await new Promise((resolve) => setTimeout(resolve, 100));
  global.gc?.();
  const usage = process.memoryUsage();
  return {
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    heapTotal: usage.heapTotal,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    vmRss: vmRss(),
  };
}

/** The floor of the REST figures: Koa with one handler and a small JSON body, nothing else. */
async function startKoaFloor(): Promise<{ urls: Record<string, string>; close(): Promise<void> }> {
  const app = new Koa();
  app.use((ctx) => {
    ctx.body = { code: 200, message: 'ok', data: { id: 1, config_name: 'floor', config_type: 'llm', is_active: true, priority: 0 } };
  });
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    urls: { base: `http://127.0.0.1:${port}` },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The bare update floor's worker (bench/floor-workflow.ts) on its own task queue, in a process of its own. */
async function startFloorWorker(taskQueue: string): Promise<{ urls: Record<string, string>; close(): Promise<void> }> {
  const config = loadConfig(process.env);
  const connection = await connectWorkerTemporal(config);
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('./floor-workflow'),
    logger: new DefaultLogger('WARN'),
  });
  const worker = await Worker.create({ connection, namespace: config.TEMPORAL_NAMESPACE, taskQueue, workflowBundle });
  const running = worker.run();
  return {
    urls: {},
    async close() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

/** What main.ts does for the given roles, minus the banner, embedded services and migrations. */
async function startRoles(roleArgument: string): Promise<{ urls: Record<string, string>; close(): Promise<void> }> {
  const names = parseRoles([roleArgument]);
  const config = loadConfig(process.env);
  const secrets = resolveSecrets(config);
  const logger = createLogger(config.LOG_LEVEL);
  if (!config.DATABASE_URL) throw new Error('DATABASE_URL is required (the bench database)');
  const db = await openDatabase(config.DATABASE_URL, logger);
  const temporal = await connectTemporal(config);
  const ctx = buildAppContext({ config, secrets, logger, db, temporal });
  const roles: RunningRole[] = [];
  for (const name of [...names].reverse()) roles.unshift(await startRole(name, ctx));
  return {
    urls: Object.assign({}, ...roles.map((role) => role.urls)) as Record<string, string>,
    async close() {
      for (const role of roles) await role.close();
      await closeTemporal(temporal);
      await db.close();
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { role: { type: 'string' }, 'koa-floor': { type: 'boolean' }, 'floor-worker': { type: 'string' } },
  });
  const server = values['koa-floor']
    ? await startKoaFloor()
    : values['floor-worker']
      ? await startFloorWorker(values['floor-worker'])
      : await startRoles(values.role ?? 'api,gateway,worker');
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`bench server: close failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'stop') stop();
    if (message.type === 'memory') void memoryReport().then((memory) => send({ type: 'memory', memory }));
  });
  // The parent went away: nothing will stop us otherwise.
  process.on('disconnect', stop);
  send({ type: 'ready', urls: server.urls });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench server failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
