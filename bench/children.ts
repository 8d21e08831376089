// Servers under test in child processes (bench/servers.ts), so the load generator in the bench
// process does not share a JavaScript thread with them.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { TestContext } from '../test/support/context';
import { BENCH_ENV } from './messages';
import { childProfileArgs, recordProfiledProcess } from './profile-summary';
import type { ChildMessage, MemoryReport, ParentMessage } from './servers';

export interface ServerChild {
  name: string;
  pid: number;
  urls: Record<string, string>;
  memory(): Promise<MemoryReport>;
  stop(): Promise<void>;
}

const SERVERS_SCRIPT = path.join(__dirname, 'servers.ts');
const READY_TIMEOUT_MS = 120_000;

/** The environment of a child that shares the bench's database, Temporal server and secrets. */
export function childEnv(tc: TestContext, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { config } = tc.ctx;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    LOG_LEVEL: 'error',
    HOST: '127.0.0.1',
    API_PORT: '0',
    GATEWAY_PORT: '0',
    DATABASE_URL: config.DATABASE_URL,
    TEMPORAL_ADDRESS: config.TEMPORAL_ADDRESS,
    TEMPORAL_NAMESPACE: config.TEMPORAL_NAMESPACE,
    TEMPORAL_TASK_QUEUE: config.TEMPORAL_TASK_QUEUE,
    JWT_SECRET: config.JWT_SECRET,
    CONFIG_ENCRYPTION_KEY: config.CONFIG_ENCRYPTION_KEY,
    ...BENCH_ENV,
    ...extra,
  };
  if (process.env.TEMPORAL_CLI_PATH) env.TEMPORAL_CLI_PATH = process.env.TEMPORAL_CLI_PATH;
  return env;
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-15).join('\n');
}

export function spawnServer(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<ServerChild> {
  const child: ChildProcess = spawn(process.execPath, ['--expose-gc', ...childProfileArgs(), '--import', 'tsx', SERVERS_SCRIPT, ...args], {
    cwd: path.join(__dirname, '..'),
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  recordProfiledProcess(child.pid, `${name} (${args.join(' ')})`);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const pendingMemory: ((report: MemoryReport) => void)[] = [];
  const ask = (message: ParentMessage): void => {
    if (child.connected) child.send(message);
  };

  return new Promise<ServerChild>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name}: not ready within ${READY_TIMEOUT_MS} ms\n${tail(output)}`));
    }, READY_TIMEOUT_MS);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name}: exited with code ${code} before it was ready\n${tail(output)}`));
    });
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'memory') pendingMemory.shift()?.(message.memory);
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      resolve({
        name,
        pid: child.pid ?? -1,
        urls: message.urls,
        memory: () =>
          new Promise<MemoryReport>((resolveMemory, rejectMemory) => {
            if (!child.connected) return rejectMemory(new Error(`${name} is gone\n${tail(output)}`));
            pendingMemory.push(resolveMemory);
            ask({ type: 'memory' });
          }),
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          ask({ type: 'stop' });
          const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          await exited;
          clearTimeout(killer);
        },
      });
    });
  });
}

/** Waits for children started together; every one that started is in `into` (to be stopped), even when another failed. */
export async function spawnAll(into: ServerChild[], starting: Promise<ServerChild>[]): Promise<ServerChild[]> {
  const settled = await Promise.allSettled(starting);
  for (const s of settled) if (s.status === 'fulfilled') into.push(s.value);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<ServerChild>).value);
}
