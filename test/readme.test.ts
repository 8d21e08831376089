// The README's walkthrough, run as written: every ```sh block, in order, in one bash, against a
// fresh server (`main.ts` on an empty database), with `npm run demo-llm` standing in for the
// providers, the MCP server and the webhook the examples name. The only edits are mechanical:
// those URLs and the API's port become the test's. (The two commands at the top, `npm start` and `npm test`,
// are fenced `shell`: starting the server is what this test does by other means.) Every curl fails on an HTTP error status, so an
// example that no longer works as written (a 400, a wrong id) fails the test with its block.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../lib/temporal-cli';
import { AppProcess, appEnv, distinctFreePorts, killLeftovers, READY, tempDataDir } from './support/app-process';
import { uniqueId } from './support/context';
import { createScratchDatabase } from './support/database';
import { testTemporal } from './support/temporal';

const README = readFileSync(path.join(projectRoot, 'README.md'), 'utf8');

/** The README's `sh` blocks, in order. */
export function shBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);
}

function runBash(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd: projectRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('README walkthrough', function () {
  this.timeout(300_000);
  const processes: AppProcess[] = [];
  let dataDir: string;
  let database: { url: string; drop(): Promise<void> } | undefined;

  after(async function () {
    for (const app of processes) if (app.running()) app.process.kill('SIGTERM');
    await Promise.all(processes.map((app) => app.exited));
    if (dataDir) {
      killLeftovers(dataDir);
      rmSync(dataDir, { recursive: true, force: true });
    }
    await database?.drop();
  });

  it('runs every sh block of the README in order against a fresh server and the demo provider', async function () {
    const blocks = shBlocks(README);
    assert.ok(blocks.length >= 5, `found ${blocks.length} sh blocks`);

    const ports = await distinctFreePorts(['API_PORT', 'GATEWAY_PORT', 'DEMO'] as const);
    const demo = new AppProcess({ script: 'scripts/demo-llm.ts' }, appEnv({}), ['--port', ports.DEMO]);
    processes.push(demo);
    await demo.waitFor(/Demo provider ready/, 60_000);
    const demoUrl = `http://127.0.0.1:${ports.DEMO}`;

    // What the examples name, and what stands in for it here.
    const standIns: [string, string][] = [
      ['http://127.0.0.1:8080/api/v1', `http://127.0.0.1:${ports.API_PORT}/api/v1`],
      ['https://api.deepseek.com/v1', `${demoUrl}/v1`],
      ['https://dashscope.aliyuncs.com/compatible-mode/v1', `${demoUrl}/v1`],
      ['https://mcp.example.com/mcp', `${demoUrl}/mcp`],
      ['https://hooks.example.com/orders', `${demoUrl}/hooks/orders`],
    ];
    const runnable = blocks.join('\n');
    for (const [named] of standIns)
      assert.ok(runnable.includes(named), `the README's examples no longer name ${named}: update this test's stand-ins`);

    dataDir = tempDataDir('switchboard-readme-');
    database = await createScratchDatabase('switchboard_readme');
    const env = appEnv({
      DATA_DIR: dataDir,
      API_PORT: ports.API_PORT,
      GATEWAY_PORT: ports.GATEWAY_PORT,
      DATABASE_URL: database.url,
      TEMPORAL_ADDRESS: (await testTemporal()).address,
      TEMPORAL_TASK_QUEUE: uniqueId('readme'),
      EGRESS_ALLOW: '127.0.0.1/32',
      HOST: '127.0.0.1',
    });
    const app = new AppProcess('main', env);
    processes.push(app);
    await app.waitFor(READY, 150_000);

    const script = [
      'set -euo pipefail',
      // An HTTP error status fails the block, with the body in the output.
      'curl() { command curl --fail-with-body "$@"; echo; }',
      ...blocks.map((block, i) => {
        let text = block;
        for (const [named, standIn] of standIns) text = text.split(named).join(standIn);
        return `echo "::block ${i + 1}"\n${text}`;
      }),
      'echo "::done"',
    ].join('\n');
    const { code, output } = await runBash(script, env);
    const failedBlock = output.match(/::block (\d+)(?![\s\S]*::block)/)?.[1];
    assert.equal(code, 0, `block ${failedBlock ?? '?'} failed:\n${output.slice(-4000)}\n--- server\n${app.output()}`);
    assert.match(output, /::done/);

    // The ids the README uses are the ones its examples created, and the stand-ins answered.
    assert.match(output, /"name":"get_weather"/, 'GET /ai-configs/3/tools lists the MCP server tools');
    assert.match(
      output,
      /"config_id":3,"config_name":"weather"[^\n]*"status":"success"[^\n]*Sunny in Paris/,
      'POST /ai-configs/3/test ran the MCP tool',
    );
    assert.match(
      output,
      /"config_id":1,"config_name":"deepseek-chat"[^\n]*"status":"success"/,
      'POST /ai-configs/1/test reached the provider',
    );
    assert.match(output, /"webhook_secret":"whsec_/, 'POST /ai-configs/4/webhook-secret rotated the webhook secret');
    assert.match(output, /增强天气查询助手/, 'the PUT replaced config 2');
  });
});
