// Child processes of the fault suites (a worker, a gateway) that print a line once ready. Started
// as `node --import tsx <script>`: one process, so SIGKILL really kills it (the tsx CLI would leave
// a child behind).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const WORKER_SCRIPT = path.join(__dirname, 'worker-process.ts');

export async function spawnReady(
  script: string,
  env: Record<string, string>,
  ready: RegExp,
): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const found = stdout.match(ready);
      if (found) resolve(found);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before it was ready:\n${stderr}`)));
  });
  return { child, match };
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function killHard(child: ChildProcess): Promise<void> {
  child.kill('SIGKILL');
  await exited(child);
}

/** A session worker in a process of its own (worker-process.ts), once it polls: for tests that kill it mid-activity. */
export async function spawnWorkerProcess(env: Record<string, string>): Promise<ChildProcess> {
  return (await spawnReady(WORKER_SCRIPT, env, /worker ready/)).child;
}
