// The whole service as a user runs it, in a child process: `node --import tsx main.ts` (or
// `npm start`) with a temporary DATA_DIR and free ports, for the fault suites that kill it or
// signal it. Linux: the leftover checks read /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { envSchema } from '../../config';
import { projectRoot } from '../../lib/temporal-cli';
import { freePort } from './net';

export const READY = /Switchboard ready in [\d.]+ s/;
export const APP_PORTS = ['API_PORT', 'GATEWAY_PORT', 'TEMPORAL_DEV_PORT', 'TEMPORAL_UI_PORT', 'EMBEDDED_PG_PORT'] as const;
export type AppPorts = Record<(typeof APP_PORTS)[number], string>;

/** The test's environment without any of the service's variables, plus the given ones. */
export function appEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(envSchema.shape)) delete env[key];
  return { ...env, LOG_LEVEL: 'warn', ...extra };
}

/** A DATA_DIR other users can enter: as root, the embedded PostgreSQL runs as user postgres. */
export function tempDataDir(prefix = 'switchboard-fault-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/** Distinct ports that were free a moment ago, one per name (below the ephemeral range, see freePort). */
export async function distinctFreePorts<K extends string>(names: readonly K[]): Promise<Record<K, string>> {
  const taken = new Set<number>();
  const result = {} as Record<K, string>;
  for (const name of names) {
    let port = await freePort();
    while (taken.has(port)) port = await freePort();
    taken.add(port);
    result[name] = String(port);
  }
  return result;
}

export function appPorts(): Promise<AppPorts> {
  return distinctFreePorts(APP_PORTS);
}

export class AppProcess {
  readonly process: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /**
   * `main`: `node --import tsx main.ts`; `npm`: `npm start`, as a supervisor would run it; or any
   * script of ours under `node --import tsx`. `roleArgs` as the compose file passes them
   * (`['--role', 'gateway']`).
   */
  constructor(
    how: 'main' | 'npm' | { script: string },
    env: NodeJS.ProcessEnv,
    roleArgs: string[] = [],
    options: { detached?: boolean } = {},
  ) {
    const script = how === 'main' ? 'main.ts' : how === 'npm' ? undefined : how.script;
    const [command, args] = script
      ? [process.execPath, ['--import', 'tsx', script, ...roleArgs]]
      : ['npm', ['start', ...(roleArgs.length ? ['--', ...roleArgs] : [])]];
    this.process = spawn(command, args, { cwd: projectRoot, env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached });
    this.process.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    this.process.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.process.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** SIGTERM, as a supervisor stops it; resolves with how it exited. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running()) this.process.kill('SIGTERM');
    return this.exited;
  }

  /**
   * Ctrl-C as a terminal sends it: SIGINT to the whole process group (start it with `detached`,
   * so the group is its own and not the test runner's).
   */
  interrupt(): void {
    process.kill(-this.pid, 'SIGINT');
  }

  get pid(): number {
    return this.process.pid!;
  }

  running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  output(): string {
    return `--- stdout (end)\n${this.stdout.slice(-3000)}\n--- stderr (end)\n${this.stderr.slice(-3000)}`;
  }

  async waitFor(pattern: RegExp, ms = 150_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pattern.test(this.stdout)) {
      if (!this.running()) throw new Error(`exited before printing ${pattern}\n${this.output()}`);
      if (Date.now() > deadline) throw new Error(`no ${pattern} after ${ms} ms\n${this.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Processes whose command line mentions `text` (a test's unique DATA_DIR), or whose parent is `parent`. */
export function processesMentioning(text: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(text)) found.push({ pid: Number(entry), cmdline });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Every descendant of `pid` now (Linux /proc), nearest first. */
export function descendants(pid: number): { pid: number; cmdline: string }[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const found: { pid: number; cmdline: string }[] = [];
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length) {
    const next = queue.shift()!;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${next}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    found.push({ pid: next, cmdline });
    queue.push(...(children.get(next) ?? []));
  }
  return found;
}

export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Kills (by pid) whatever a failed test left running under its DATA_DIR. */
export function killLeftovers(dataDir: string): void {
  for (const { pid } of processesMentioning(dataDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
