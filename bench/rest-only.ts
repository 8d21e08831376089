// The REST part of the bench alone (bench/rest.ts, the same children and the same load), for work
// on the API's read path without the message runs:
//
//   node --import tsx bench/rest-only.ts [--seconds 10] [--warmup 2] [--rounds 1] [--roles api,all]
//                                        [--cpu-prof DIR] [--node-options '--require x.cjs']
//
// Each round measures the Koa floor, then each role's GET one and GET list, and prints every
// figure with its ratio to the floor of that round; `--cpu-prof DIR` writes a CPU profile of each
// Switchboard child into DIR. The CPU time per request of each child (Linux /proc) is printed too:
// on a shared machine it moves much less than requests/s.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { createTestContext, uniqueId } from '../test/support/context';
import { dropRunDatabase } from '../test/support/database';
import { stopTestTemporal } from '../test/support/temporal';
import { childEnv, spawnAll, spawnServer, type ServerChild } from './children';
import { BENCH_ENV } from './messages';
import { seedRestUser } from './rest';

const CONNECTIONS = 50;
const CONFIGS = 10;

/** User + system CPU seconds of a process so far (undefined without /proc). */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return undefined;
  }
}

/**
 * A preload that profiles a child from start to exit and writes DIR/<pid>.cpuprofile (NODE_OPTIONS
 * refuses --cpu-prof, and the children leave by process.exit).
 */
function profiler(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'rest-prof-')), 'profile.cjs');
  writeFileSync(
    file,
    `const inspector = require('node:inspector');
const session = new inspector.Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.start');
process.on('exit', () => {
  session.post('Profiler.stop', (error, result) => {
    if (!error) require('node:fs').writeFileSync(${JSON.stringify(dir)} + '/' + process.pid + '.cpuprofile', JSON.stringify(result.profile));
  });
});
`,
  );
  return file;
}

interface Measure {
  rps: number;
  p50: number;
  p99: number;
  cpuUs?: number;
  bad: number;
}

async function load(url: string, headers: Record<string, string>, seconds: number, pid: number): Promise<Measure> {
  const before = cpuSeconds(pid);
  const result = await autocannon({ url, headers, connections: CONNECTIONS, duration: seconds, timeout: 10 });
  const after = cpuSeconds(pid);
  const rps = result['2xx'] / result.duration;
  return {
    rps,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuUs: before !== undefined && after !== undefined ? ((after - before) * 1e6) / result['2xx'] : undefined,
    bad: result.non2xx + result.errors,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '1' },
      roles: { type: 'string', default: 'api,all' },
      'cpu-prof': { type: 'string' },
      'node-options': { type: 'string', default: '' },
    },
  });
  const seconds = Number(values.seconds);
  const warmup = Number(values.warmup);
  const roles = values.roles!.split(',');
  const nodeOptions = [values['node-options'], values['cpu-prof'] ? `--require ${profiler(path.resolve(values['cpu-prof']))}` : '']
    .filter(Boolean)
    .join(' ');
  const profile: Record<string, string> = nodeOptions ? { NODE_OPTIONS: nodeOptions } : {};
  const tc = await createTestContext({ env: BENCH_ENV });
  const children: ServerChild[] = [];
  try {
    const { configs, headers: auth } = await seedRestUser(tc, CONFIGS);
    const roleArgs: Record<string, string> = { api: 'api', all: 'api,gateway,worker' };
    const [floor, ...servers] = await spawnAll(children, [
      spawnServer('koa floor', ['--koa-floor'], childEnv(tc)),
      ...roles.map((role) =>
        spawnServer(role, ['--role', roleArgs[role] ?? role], childEnv(tc, { ...profile, TEMPORAL_TASK_QUEUE: uniqueId('bench-rest') })),
      ),
    ]);
    const measure = async (name: string, child: ServerChild, url: string, headers: Record<string, string>): Promise<Measure> => {
      if (warmup > 0) await load(url, headers, warmup, child.pid);
      const m = await load(url, headers, seconds, child.pid);
      const cpu = m.cpuUs === undefined ? '' : `, ${m.cpuUs.toFixed(0)} µs CPU/request`;
      console.log(
        `  ${name.padEnd(14)} ${m.rps.toFixed(0).padStart(6)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms${cpu} (load ${os.loadavg()[0]!.toFixed(1)})${m.bad ? `, ${m.bad} failed` : ''}`,
      );
      return m;
    };
    for (let round = 1; round <= Number(values.rounds); round++) {
      console.log(`round ${round}`);
      const base = await measure('koa floor', floor!, `${floor!.urls.base}/`, {});
      for (const server of servers) {
        for (const [route, url] of [
          ['GET one', `${server.urls.api}/ai-configs/${configs[0]!.id}`],
          ['GET list', `${server.urls.api}/ai-configs`],
        ] as const) {
          const m = await measure(`${server.name} ${route}`, server, url, auth);
          console.log(`    => ${(m.rps / base.rps).toFixed(2)}x the floor's req/s, p99 ${(m.p99 / base.p99).toFixed(2)}x`);
        }
      }
    }
  } finally {
    await Promise.all(children.map((child) => child.stop()));
    await tc.close();
  }
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopTestTemporal();
    await dropRunDatabase();
    process.exit();
  });
