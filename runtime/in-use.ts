// While `npm start` runs, its pid sits in .tools/running/ so that scripts/setup.mjs never runs
// `npm ci` (which deletes node_modules) underneath a live process. The file goes away on exit;
// a file left by a killed process is recognised as stale by setup.mjs.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../lib/temporal-cli';

/** Keep in step with `runningDir` in scripts/setup.mjs. */
export const runningDir = path.join(projectRoot, '.tools', 'running');

/** Registers this process as a user of node_modules; returns the (synchronous) unregister. */
export function markNodeModulesInUse(): () => void {
  const file = path.join(runningDir, String(process.pid));
  try {
    mkdirSync(runningDir, { recursive: true });
    writeFileSync(file, new Date().toISOString() + '\n');
  } catch {
    // A read-only install (a container image) has no setup step to protect against.
    return () => undefined;
  }
  const unmark = () => rmSync(file, { force: true });
  process.once('exit', unmark);
  return () => {
    process.removeListener('exit', unmark);
    unmark();
  };
}
