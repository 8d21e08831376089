// REST throughput against a bare Koa handler measured in the same run:
//
//   [DATABASE_URL=postgres://…] node --import tsx scripts/rest-throughput.ts [--roles api,all] [--duration 10]
//
// Starts a minimal Koa app (a small JSON body) and main.ts (`--role api`, then all roles, each
// on a scratch database (on DATABASE_URL's server, else an embedded PostgreSQL, as the tests do)
// and an embedded Temporal dev server under a temporary DATA_DIR), creates
// one user's configs, and runs autocannon with 50 connections against GET /healthz, GET one
// config and GET the list. The rate limit is lifted (one user sends every request); logging is
// main.ts's own (LOG_LEVEL, default info) to a file. `--cpu-prof DIR` profiles the service.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import Koa from 'koa';
import { mintToken } from '../lib/auth';
import { runCli } from '../runtime/cli';
import { createScratchDatabase, dropRunDatabase } from '../test/support/database';
import { freePort } from '../test/support/net';

const ROOT = path.resolve(__dirname, '..');

interface Measure {
  rps: number;
  /** CPU time of the serving process per request (Linux), which contention on a shared machine hardly moves. */
  cpuUs?: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

const { values: args } = parseArgs({
  options: {
    'serve-bare': { type: 'boolean' },
    roles: { type: 'string', default: 'api,all' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    configs: { type: 'string', default: '10' },
    'cpu-prof': { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    targets: { type: 'string', default: 'healthz,one,list' },
    rounds: { type: 'string', default: '1' },
  },
});

/** The bare handler: Koa answering a small JSON body, nothing else. */
function serveBare(): void {
  const app = new Koa();
  app.use((ctx) => {
    ctx.body = { code: 200, message: 'ok', data: { status: 'ok' } };
  });
  const server = http.createServer(app.callback()).listen(0, '127.0.0.1', () => {
    process.send?.({ port: (server.address() as AddressInfo).port });
  });
  process.on('disconnect', () => process.exit(0));
}

function autocannon(url: string, seconds: string, headers: Record<string, string>): Promise<Measure> {
  const cli = ['-y', 'autocannon@9.0.0', '-c', args.connections!, '-d', seconds, '-j'];
  for (const [name, value] of Object.entries(headers)) cli.push('-H', `${name}=${value}`);
  cli.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn('npx', cli, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited with ${code}`));
      const result = JSON.parse(out) as {
        requests: { average: number };
        latency: { p50: number; p99: number };
        non2xx: number;
        errors: number;
      };
      resolve({
        rps: result.requests.average,
        p50: result.latency.p50,
        p99: result.latency.p99,
        non2xx: result.non2xx,
        errors: result.errors,
      });
    });
  });
}

/** User + system CPU seconds of a process so far, from /proc (undefined elsewhere). */
function cpuSeconds(pid: number | undefined): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return undefined;
  }
}

async function measure(
  name: string,
  pid: number | undefined,
  url: string,
  headers: Record<string, string> = {},
): Promise<[string, Measure]> {
  await autocannon(url, args.warmup!, headers);
  const cpuBefore = cpuSeconds(pid);
  const result = await autocannon(url, args.duration!, headers);
  const cpuAfter = cpuSeconds(pid);
  if (cpuBefore !== undefined && cpuAfter !== undefined) {
    result.cpuUs = ((cpuAfter - cpuBefore) * 1e6) / (result.rps * Number(args.duration));
  }
  const bad = result.non2xx || result.errors ? `  (non-2xx ${result.non2xx}, errors ${result.errors})` : '';
  const load = os.loadavg()[0]!.toFixed(1);
  const cpu = result.cpuUs === undefined ? '' : `   ${result.cpuUs.toFixed(0)} µs CPU/req`;
  console.log(
    `  ${name.padEnd(14)} ${result.rps.toFixed(0).padStart(6)} req/s   p50 ${result.p50} ms   p99 ${result.p99} ms${cpu}   (load ${load})${bad}`,
  );
  return [name, result];
}

function waitExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
}

async function startBare(): Promise<{ url: string; pid?: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/rest-throughput.ts'), '--serve-bare'], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve((m as { port: number }).port)));
  return {
    url: `http://127.0.0.1:${port}/`,
    pid: child.pid,
    async stop() {
      child.disconnect();
      await waitExit(child);
    },
  };
}

/** main.ts with the given roles on a scratch database and a temporary DATA_DIR. */
async function startService(roles: string) {
  const database = await createScratchDatabase('switchboard_rest');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'switchboard-rest-'));
  const jwtSecret = randomBytes(32).toString('base64url');
  const [apiPort, gatewayPort, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const log = path.join(dataDir, 'service.log');
  const nodeArgs = ['--import', 'tsx'];
  if (args['cpu-prof']) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${path.resolve(args['cpu-prof'])}`);
  const child = spawn(process.execPath, [...nodeArgs, 'main.ts', '--role', roles === 'all' ? 'api,gateway,worker' : roles], {
    cwd: ROOT,
    stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')],
    env: {
      ...process.env,
      NODE_ENV: 'development',
      LOG_LEVEL: args['log-level'],
      DATABASE_URL: database.url,
      TEMPORAL_ADDRESS: '',
      DATA_DIR: dataDir,
      API_PORT: String(apiPort),
      GATEWAY_PORT: String(gatewayPort),
      TEMPORAL_DEV_PORT: String(temporalPort),
      TEMPORAL_UI_PORT: String(uiPort),
      JWT_SECRET: jwtSecret,
      CONFIG_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      RATE_LIMIT_PER_MINUTE: '1000000000',
    },
  });
  const base = `http://127.0.0.1:${apiPort}`;
  const stop = async () => {
    child.kill('SIGTERM');
    await waitExit(child);
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  for (let waited = 0; ; waited += 250) {
    const failure =
      child.exitCode !== null ? `main.ts exited with ${child.exitCode}` : waited > 180_000 ? 'main.ts not ready after 180 s' : undefined;
    if (failure) {
      const tail = readFileSync(log, 'utf8').trim().split('\n').slice(-20).join('\n');
      await stop();
      throw new Error(`${failure}; the end of its log:\n${tail}`);
    }
    if (
      await fetch(`${base}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await sleep(250);
  }
  return { base, pid: child.pid, token: (user: string) => mintToken(jwtSecret, user), stop };
}

/** `count` configs for one user, half LLM and half function calls; returns one id. */
async function seed(base: string, token: string, count: number): Promise<number> {
  let id = 0;
  for (let i = 0; i < count; i++) {
    const body =
      i % 2 === 0
        ? {
            config_name: `llm-${i}`,
            config_type: 'llm',
            llm_type: 'deepseek',
            model_name: 'deepseek-chat',
            api_key: `sk-test-key-${i}-abcdefgh`,
            temperature: 0.3,
            max_tokens: 2000,
            system_prompt: 'You answer questions about code.',
            description: 'Programming questions',
            priority: i,
          }
        : {
            config_name: `fn-${i}`,
            config_type: 'function_call',
            function_name: `get_order_status_${i}`,
            description: 'Look up the delivery status of an order by its number',
            parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
            webhook_url: 'https://hooks.example.com/orders',
            priority: i,
          };
    const response = await fetch(`${base}/api/v1/ai-configs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (response.status !== 201) throw new Error(`seeding failed: ${response.status} ${await response.text()}`);
    id = ((await response.json()) as { data: { id: number } }).data.id;
  }
  return id;
}

async function main(): Promise<void> {
  console.log(
    `autocannon -c ${args.connections} -d ${args.duration} (after ${args.warmup} s warm-up), ${os.cpus().length} cores, Node ${process.version}`,
  );
  const bare = await startBare();
  try {
    for (const roles of args.roles!.split(',')) {
      console.log(`\nroles: ${roles}`);
      const service = await startService(roles);
      try {
        const token = await service.token('bench-user');
        const id = await seed(service.base, token, Number(args.configs));
        const auth = { authorization: `Bearer ${token}` };
        const targets: Record<string, [string, string, Record<string, string>?]> = {
          healthz: ['/healthz', `${service.base}/healthz`],
          one: ['GET one', `${service.base}/api/v1/ai-configs/${id}`, auth],
          list: ['GET list', `${service.base}/api/v1/ai-configs`, auth],
        };
        // The machine may be shared: each target is measured right after the bare handler and
        // compared with that neighbour, round after round.
        for (let round = 1; round <= Number(args.rounds); round++) {
          if (Number(args.rounds) > 1) console.log(` round ${round}`);
          for (const target of args.targets!.split(',')) {
            const [name, url, headers] = targets[target] ?? [];
            if (!name || !url) throw new Error(`unknown target ${target}; targets are ${Object.keys(targets).join(', ')}`);
            const [, ref] = await measure('bare Koa', bare.pid, bare.url);
            const [, r] = await measure(name, service.pid, url, headers);
            console.log(`    => ${name}: ${(r.rps / ref.rps).toFixed(2)}x bare req/s, p99 ${(r.p99 / ref.p99).toFixed(2)}x bare`);
          }
        }
      } finally {
        await service.stop();
      }
    }
  } finally {
    await bare.stop();
    await dropRunDatabase(); // stops the embedded PostgreSQL, if one was started
  }
}

if (args['serve-bare']) serveBare();
else
  runCli(
    main,
    'usage: node --import tsx scripts/rest-throughput.ts [--roles api,all] [--targets healthz,one,list] [--duration 10] [--rounds 1] [--cpu-prof DIR]',
  );
