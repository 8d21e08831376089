// Stopping a child process we started (the embedded PostgreSQL, the Temporal dev server): its
// own signal first, then SIGKILL if it does not exit within the grace time.
import type { ChildProcess } from 'node:child_process';

export function exited(child: ChildProcess): boolean {
  // No pid: the spawn itself failed, so there is nothing to wait for or kill.
  return child.pid === undefined || child.exitCode !== null || child.signalCode !== null;
}

export function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Sends `signal`; after `graceMs` without an exit, calls `onKill` and sends SIGKILL. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs: number, onKill: () => void): Promise<void> {
  if (exited(child)) return;
  child.kill(signal);
  if (await waitForExit(child, graceMs)) return;
  onKill();
  child.kill('SIGKILL');
  await waitForExit(child, graceMs);
}
