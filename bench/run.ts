// Benchmarks of DESIGN section 8, all in one run on this machine, each against a baseline
// measured in the same run: the real API, gateway and worker on the real Temporal dev server and
// PostgreSQL, with the scripted fake LLM on loopback as the only stand-in.
//
//   npm run bench            prints the figures and writes them into README.md
//   npm run bench -- --quick fewer iterations (a smoke run; README untouched)
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { startApi } from '../api/server';
import { startGateway } from '../gateway';
import { startWorker } from '../worker';
import type { RunningRole } from '../app/context';
import { createTestContext, insertLLMConfig, uniqueId, type TestContext } from '../test/support/context';
import { dropRunDatabase } from '../test/support/database';
import { startFakeLLM, type FakeLLM } from '../test/support/fake-llm';
import { stopTestTemporal, testTemporal } from '../test/support/temporal';
import { TestSocket } from '../test/support/ws-client';

const quick = process.argv.includes('--quick');
const N = {
  sequential: quick ? 20 : 200,
  sessions: quick ? 5 : 20,
  perSession: quick ? 3 : 10,
  idleSessions: quick ? 20 : 200,
  rest: quick ? 200 : 2000,
  restConcurrency: 10,
};

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const ms = (v: number) => `${v.toFixed(1)} ms`;
const now = () => performance.now();

interface Stack {
  tc: TestContext;
  llm: FakeLLM;
  roles: RunningRole[];
  api: RunningRole;
  gateway: RunningRole;
}

async function startStack(): Promise<Stack> {
  const tc = await createTestContext({ env: { EGRESS_ALLOW: '127.0.0.0/8', RATE_LIMIT_PER_MINUTE: '1000000', WS_MESSAGES_PER_MINUTE: '1000000' } });
  const llm = await startFakeLLM();
  const worker = await startWorker(tc.ctx, { connection: (await testTemporal()).nativeConnection });
  const gateway = await startGateway(tc.ctx, { host: '127.0.0.1', port: 0 });
  const api = await startApi(tc.ctx, { host: '127.0.0.1', port: 0 });
  return { tc, llm, roles: [api, gateway, worker], api, gateway };
}

/** One user with one LLM config; no router LLM, so each message makes exactly one LLM call. */
async function openSession(stack: Stack, model: string): Promise<TestSocket> {
  const userId = uniqueId('bench');
  await insertLLMConfig(stack.tc.ctx, userId, { model, baseUrl: stack.llm.baseUrl, apiKey: 'sk-bench-0123456789abcdef' });
  const socket = await TestSocket.open(stack.gateway.urls.websocket!, { token: await stack.tc.token(userId), deviceId: 'bench' });
  await socket.next('hello');
  return socket;
}

async function ask(socket: TestSocket, id: string, text: string): Promise<void> {
  socket.send({ type: 'message', id, text });
  const result = await socket.next('function_call_result', (f) => f.id === id);
  if (result.status !== 'success') throw new Error(`message ${id} failed: ${result.error ?? ''}`);
  socket.send({ type: 'ack', id });
}

async function messageLatency(stack: Stack): Promise<Record<string, string>> {
  const model = uniqueId('latency');
  const direct = new OpenAI({ baseURL: stack.llm.baseUrl, apiKey: 'sk-direct', maxRetries: 0 });
  const directTimes: number[] = [];
  const sessionTimes: number[] = [];
  const socket = await openSession(stack, model);
  for (let i = 0; i < 5; i++) await ask(socket, `warm-${i}`, 'warm up'); // bundle caches, JIT, connections
  // Interleaved, so drift on a noisy machine hits both series alike.
  for (let i = 0; i < N.sequential; i++) {
    let t = now();
    await direct.chat.completions.create({ model, messages: [{ role: 'user', content: `q${i}` }] });
    directTimes.push(now() - t);
    t = now();
    await ask(socket, `m-${i}`, `q${i}`);
    sessionTimes.push(now() - t);
  }
  socket.ws.close();
  const d50 = percentile(directTimes, 50);
  const d99 = percentile(directTimes, 99);
  const s50 = percentile(sessionTimes, 50);
  const s99 = percentile(sessionTimes, 99);
  return {
    'Direct LLM call (openai SDK → fake LLM), p50 / p99': `${ms(d50)} / ${ms(d99)}`,
    'Socket send → result frame, p50 / p99': `${ms(s50)} / ${ms(s99)}`,
    'Added by Switchboard per message, p50 / p99': `${ms(s50 - d50)} / ${ms(s99 - d99)}`,
    'Ratio session / direct, p50': `${(s50 / d50).toFixed(1)}×`,
  };
}

async function throughput(stack: Stack): Promise<Record<string, string>> {
  const model = uniqueId('throughput');
  const sockets = await Promise.all(Array.from({ length: N.sessions }, () => openSession(stack, model)));
  const started = now();
  await Promise.all(
    sockets.map(async (socket, s) => {
      for (let i = 0; i < N.perSession; i++) await ask(socket, `t-${s}-${i}`, `hello ${i}`);
    }),
  );
  const seconds = (now() - started) / 1000;
  for (const socket of sockets) socket.ws.close();
  const total = N.sessions * N.perSession;
  return { [`Messages/s, ${N.sessions} sessions × ${N.perSession} messages each`]: (total / seconds).toFixed(1) };
}

async function sessionMemory(stack: Stack): Promise<Record<string, string>> {
  const model = uniqueId('memory');
  global.gc?.();
  const before = process.memoryUsage();
  const sockets: TestSocket[] = [];
  for (let i = 0; i < N.idleSessions; i++) sockets.push(await openSession(stack, model));
  global.gc?.();
  const after = process.memoryUsage();
  for (const socket of sockets) socket.ws.close();
  const perSession = (after.rss - before.rss) / N.idleSessions / 1024;
  const heapPerSession = (after.heapUsed - before.heapUsed) / N.idleSessions / 1024;
  return {
    [`Memory per open session (${N.idleSessions} idle sessions; gateway + worker in one process), RSS / heap`]: `${perSession.toFixed(0)} KiB / ${heapPerSession.toFixed(0)} KiB`,
  };
}

async function restCrud(stack: Stack): Promise<Record<string, string>> {
  const base = stack.api.urls.api!;
  const token = await stack.tc.token(uniqueId('rest'));
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const times: number[] = [];
  const healthTimes: number[] = [];
  /** Times one request including reading its body; returns the body text. */
  const timed = async (into: number[], request: () => Promise<Response>): Promise<string> => {
    const t = now();
    const response = await request();
    const body = await response.text();
    into.push(now() - t);
    if (response.status >= 400) throw new Error(`REST ${response.status}: ${body}`);
    return body;
  };
  // Baseline: the cheapest route of the same server (no auth, no database).
  const healthUrl = base.replace(/\/api\/v1$/, '/healthz');
  for (let i = 0; i < 200; i++) await timed(healthTimes, () => fetch(healthUrl));
  let next = 0;
  const started = now();
  await Promise.all(
    Array.from({ length: N.restConcurrency }, async () => {
      while (next < N.rest / 4) {
        const i = next++;
        const created = await timed(times, () =>
          fetch(`${base}/ai-configs`, { method: 'POST', headers, body: JSON.stringify({ name: `c${i}`, ai_type: 'llm', model_name: 'm', parameters: { api_key: 'sk-0123456789abcdef', temperature: 0.5 } }) }),
        );
        const id = (JSON.parse(created) as { data: { id: number } }).data.id;
        await timed(times, () => fetch(`${base}/ai-configs/${id}`, { headers }));
        await timed(times, () => fetch(`${base}/ai-configs/${id}`, { method: 'PATCH', headers, body: JSON.stringify({ temperature: 0.9 }) }));
        await timed(times, () => fetch(`${base}/ai-configs/${id}`, { method: 'DELETE', headers }));
      }
    }),
  );
  const seconds = (now() - started) / 1000;
  return {
    [`REST CRUD (create/get/patch/delete, ${N.restConcurrency} concurrent clients), requests/s`]: (times.length / seconds).toFixed(0),
    'REST CRUD latency p50 / p99': `${ms(percentile(times, 50))} / ${ms(percentile(times, 99))}`,
    'Baseline GET /healthz on the same server, p50 / p99': `${ms(percentile(healthTimes, 50))} / ${ms(percentile(healthTimes, 99))}`,
  };
}

function writeReadme(figures: Record<string, string>): void {
  const readme = path.resolve(__dirname, '..', 'README.md');
  const text = readFileSync(readme, 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const table = [
    start,
    `Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version}; the fake LLM answers at once, so these are Switchboard's own costs.`,
    '',
    '| measure | value |',
    '| --- | --- |',
    ...Object.entries(figures).map(([k, v]) => `| ${k} | ${v} |`),
    end,
  ].join('\n');
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  const updated = i >= 0 && j > i ? text.slice(0, i) + table + text.slice(j + end.length) : `${text.trimEnd()}\n\n## Benchmarks\n\n${table}\n`;
  writeFileSync(readme, updated);
}

async function main(): Promise<void> {
  const stack = await startStack();
  const figures: Record<string, string> = {};
  try {
    for (const [name, run] of [
      ['message latency', messageLatency],
      ['throughput', throughput],
      ['session memory', sessionMemory],
      ['REST CRUD', restCrud],
    ] as const) {
      process.stdout.write(`running ${name}…\n`);
      Object.assign(figures, await run(stack));
    }
  } finally {
    for (const role of stack.roles) await role.close();
    await stack.llm.close();
    await stack.tc.close();
    await stopTestTemporal();
    await dropRunDatabase();
  }
  for (const [k, v] of Object.entries(figures)) console.log(`${k}: ${v}`);
  if (!quick) {
    writeReadme(figures);
    console.log('README.md updated');
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
