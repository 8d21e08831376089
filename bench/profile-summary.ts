// Where the time of a profiled bench run went (`npm run bench -- --cpu-prof`): every V8 CPU
// profile the run wrote (the bench process, its workflow threads, each server child), read back
// as self time per function and per place in the code, so a goal that is not met can be explained
// from the run's own profile. `npx tsx bench/profile-summary.ts DIR` prints it again.
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Set by `--cpu-prof` for the re-run bench process and the server children it spawns. */
export const CPU_PROFILE_DIR_ENV = 'BENCH_CPU_PROF_DIR';

/** A fresh directory under bench/profiles for one run. */
export function profilesDir(root: string): string {
  return path.join(root, 'bench', 'profiles', new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19));
}

/** `--cpu-prof` arguments for a child Node process, when the run is profiled. */
export function childProfileArgs(): string[] {
  const dir = process.env[CPU_PROFILE_DIR_ENV];
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : [];
}

const PROCESSES_FILE = 'processes.txt';

/** Names a profiled process (`pid name` lines), so the summary can say whose profile is whose. */
export function recordProfiledProcess(pid: number | undefined, name: string): void {
  const dir = process.env[CPU_PROFILE_DIR_ENV];
  if (dir && pid !== undefined) appendFileSync(path.join(dir, PROCESSES_FILE), `${pid} ${name}\n`);
}

function processNames(dir: string): Map<string, string> {
  const file = path.join(dir, PROCESSES_FILE);
  if (!existsSync(file)) return new Map();
  return new Map(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)] as [string, string]),
  );
}

/** CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: whose it is. */
function owner(file: string, names: Map<string, string>): string {
  const [, pid, thread] = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\./.exec(file) ?? [];
  if (!pid) return '';
  const name = names.get(pid) ?? `pid ${pid}`;
  return thread === '0' ? `${name}, main thread` : `${name}, worker thread ${thread} (workflow threads, module loader)`;
}

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileTotals {
  file: string;
  /** Wall time the profile covers and the time its samples were not idle, in ms. */
  wallMs: number;
  busyMs: number;
  functions: { name: string; ms: number }[];
  places: { name: string; ms: number }[];
}

/** Where a function lives: a package, a folder of ours, Node itself, or V8's own entries. */
function place(url: string, functionName: string): string {
  if (!url) return `(${functionName || 'anonymous'})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return 'node (built-in)';
  const ours =
    /\/(activities|api|app|bench|contract|execution|functions|gateway|lib|llm|relay|runtime|sessions|test|worker|workflows|db|config)\//.exec(
      url,
    );
  if (ours) return `${ours[1]}/`;
  if (url.includes('workflow-bundle') || url.startsWith('evalmachine')) return 'workflow bundle';
  return url
    .replace(/^file:\/\//, '')
    .split('/')
    .slice(-2)
    .join('/');
}

const IDLE = new Set(['(idle)', '(program)', '(garbage collector)']);

function top(map: Map<string, number>, n: number): { name: string; ms: number }[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, ms: us / 1000 }));
}

export function profileTotals(file: string, n = 12): ProfileTotals {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const frame = frames.get(id);
    const us = profile.timeDeltas[i] ?? 0;
    if (!frame || us <= 0) return;
    const name = frame.functionName || '(anonymous)';
    // GC is work the run caused; idle and "program" (outside JavaScript) are not ours to read.
    if (IDLE.has(name) && name !== '(garbage collector)') return;
    busy += us;
    const where = place(frame.url, name);
    const key = frame.url ? `${name} ${where}:${frame.lineNumber + 1}` : name;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    byPlace.set(where, (byPlace.get(where) ?? 0) + us);
  });
  return {
    file: path.basename(file),
    wallMs: (profile.endTime - profile.startTime) / 1000,
    busyMs: busy / 1000,
    functions: top(byFunction, n),
    places: top(byPlace, n),
  };
}

export function summarizeProfiles(dir: string, n = 12): string {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f));
  const names = processNames(dir);
  const lines: string[] = [];
  for (const totals of files.map((f) => profileTotals(f, n)).sort((a, b) => b.busyMs - a.busyMs)) {
    if (totals.busyMs < 50) continue;
    lines.push(
      `${totals.file} (${owner(totals.file, names)}): ${(totals.busyMs / 1000).toFixed(1)} s busy of ${(totals.wallMs / 1000).toFixed(1)} s`,
    );
    lines.push(`  by place: ${totals.places.map((p) => `${p.name} ${(p.ms / 1000).toFixed(2)} s`).join(', ')}`);
    for (const fn of totals.functions) lines.push(`  ${(fn.ms / 1000).toFixed(2).padStart(6)} s  ${fn.name}`);
  }
  return lines.length ? lines.join('\n') : `no CPU profiles with work in ${dir}`;
}

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: tsx bench/profile-summary.ts DIR');
  console.log(summarizeProfiles(dir));
}
