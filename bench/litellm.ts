// Goal 6: LiteLLM's proxy as a peer (`npm run bench -- --peer litellm`): installed from PyPI into a
// git-ignored venv by this script, started with one worker and a model entry pointing at the same
// fake LLM, and measured the way Switchboard is: added latency per call (proxy minus direct,
// sequential, interleaved) and requests/s with 100 concurrent clients.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { executable } from '../lib/temporal-cli';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { uniqueId } from '../test/support/context';
import type { FakeLLM } from '../test/support/fake-llm';
import { freePort } from '../test/support/net';
import { measureEndpoint, type EndpointRun } from './openai-peer';
import { sleep } from './stats';

/**
 * Pinned. 1.82.7 and 1.82.8 on PyPI were malicious uploads (a hijacked maintainer account, March
 * 2026); 1.82.6 is the last release before them that projects pinned to as known-clean.
 */
export const LITELLM_VERSION = '1.82.6';

/** An OpenAI-compatible endpoint measured against the fake provider (openai-peer.ts). */
export interface PeerRun extends EndpointRun {
  name: string;
  version: string;
}

export type PeerResult = PeerRun | { name: string; error: string };

const root = path.join(__dirname, '..');

function venvDir(): string {
  return process.env.BENCH_LITELLM_VENV ?? path.join(root, '.tools', 'litellm-venv');
}

function run(command: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${output.trim().split('\n').slice(-8).join('\n')}`,
          ),
        );
    });
  });
}

async function ensureLiteLLM(log: (line: string) => void): Promise<string> {
  const venv = venvDir();
  const binary = path.join(venv, 'bin', 'litellm');
  if (executable(binary)) return binary;
  log(`litellm: installing litellm[proxy]==${LITELLM_VERSION} into ${path.relative(root, venv) || venv} (once)`);
  if (!executable(path.join(venv, 'bin', 'pip'))) await run('python3', ['-m', 'venv', venv], 120_000);
  await run(
    path.join(venv, 'bin', 'pip'),
    ['install', '--disable-pip-version-check', '--no-input', '--quiet', `litellm[proxy]==${LITELLM_VERSION}`],
    15 * 60_000,
  );
  if (!executable(binary)) throw new Error(`pip installed litellm, but ${binary} is missing`);
  return binary;
}

async function waitReady(url: string, proxy: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proxy.exitCode !== null || proxy.signalCode !== null)
      throw new Error(`the LiteLLM proxy exited (${proxy.exitCode ?? proxy.signalCode}):\n${output()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(500);
  }
  throw new Error(`the LiteLLM proxy was not ready within ${timeoutMs} ms:\n${output()}`);
}

/** Stops the proxy and its workers (it runs in a process group of its own). */
async function stopProxy(proxy: ChildProcess): Promise<void> {
  if (proxy.exitCode !== null || proxy.signalCode !== null || proxy.pid === undefined) return;
  const exited = new Promise<void>((resolve) => proxy.once('exit', () => resolve()));
  const group = -proxy.pid;
  try {
    process.kill(group, 'SIGTERM');
  } catch {
    return;
  }
  const killed = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
  if (!killed) {
    try {
      process.kill(group, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  }
}

export async function measureLiteLLM(
  llm: FakeLLM,
  options: { calls: number; warmup: number; clients: number; requestsPerClient: number },
  log: (line: string) => void,
): Promise<PeerResult> {
  let binary: string;
  try {
    binary = await ensureLiteLLM(log);
  } catch (error) {
    return { name: 'LiteLLM proxy', error: `install failed: ${(error as Error).message}` };
  }
  const model = uniqueId('bench-litellm');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-litellm-'));
  const configFile = path.join(dir, 'config.yaml');
  writeFileSync(
    configFile,
    [
      'model_list:',
      '  - model_name: bench-model',
      '    litellm_params:',
      `      model: openai/${model}`,
      `      api_base: ${llm.baseUrl}`,
      '      api_key: sk-bench-anything',
      'litellm_settings:',
      '  telemetry: false',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: process.env.LANG ?? 'C.UTF-8',
    // No network beyond loopback: no cost-map download, no telemetry.
    LITELLM_LOCAL_MODEL_COST_MAP: 'True',
    LITELLM_TELEMETRY: 'False',
    LITELLM_LOG: 'ERROR',
    NO_PROXY: '127.0.0.1,localhost',
  };
  log(`litellm: starting the proxy on 127.0.0.1:${port}`);
  const proxy = spawn(binary, ['--config', configFile, '--host', '127.0.0.1', '--port', String(port), '--num_workers', '1'], {
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Its own process group outlives us if we die: take it down with us.
  const killOnExit = (): void => {
    try {
      if (proxy.pid !== undefined && proxy.exitCode === null) process.kill(-proxy.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killOnExit);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-6000);
  };
  proxy.stdout?.on('data', keep);
  proxy.stderr?.on('data', keep);
  const tail = (): string => output.trim().split('\n').slice(-10).join('\n');
  try {
    await waitReady(`http://127.0.0.1:${port}/health/liveliness`, proxy, tail, 180_000);
    const direct = new OpenAI({ baseURL: llm.baseUrl, apiKey: 'sk-bench-anything', maxRetries: 0 });
    const viaProxy = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'sk-bench-anything', maxRetries: 0, timeout: 30_000 });
    const run = await measureEndpoint({ client: direct, model }, { client: viaProxy, model: 'bench-model' }, options);
    return { name: 'LiteLLM proxy', version: LITELLM_VERSION, ...run };
  } catch (error) {
    return { name: 'LiteLLM proxy', error: (error as Error).message };
  } finally {
    await stopProxy(proxy);
    process.off('exit', killOnExit);
    rmSync(dir, { recursive: true, force: true });
  }
}
