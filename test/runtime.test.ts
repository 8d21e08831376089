// The process as a user runs it: `main.ts` as a child process with a temporary DATA_DIR and
// free ports, its own Temporal dev server, and either a scratch database or an embedded
// PostgreSQL. Also the start-up errors, the token script and the setup script.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../lib/temporal-cli';
import { markNodeModulesInUse, runningDir } from '../runtime/in-use';
import { ShutdownSignals } from '../runtime/signals';
import { createScratchDatabase } from './support/database';
import { eventually } from './support/eventually';
import { AppProcess, appEnv, distinctFreePorts, killLeftovers, processesMentioning, tempDataDir } from './support/app-process';

const READY = /Switchboard ready in [\d.]+ s/;
const STARTUP_TIMEOUT_MS = 150_000;

const childEnv = appEnv;

function runToExit(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = new AppProcess({ script }, env, args);
  return child.exited.then(({ code }) => ({ code, stdout: child.stdout, stderr: child.stderr }));
}

async function getJson(url: string, token?: string): Promise<{ status: number; body: { data?: unknown } & Record<string, unknown> }> {
  const response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, body: (await response.json()) as { data?: unknown } & Record<string, unknown> };
}

describe('runtime: main.ts', function () {
  const dirs: string[] = [];
  const children: AppProcess[] = [];

  after(function () {
    for (const child of children) if (child.running()) child.process.kill('SIGKILL');
    for (const dir of dirs) {
      if (existsSync('/proc')) killLeftovers(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  function dataDir(): string {
    const dir = tempDataDir('switchboard-rt-');
    dirs.push(dir);
    return dir;
  }

  function startMain(env: NodeJS.ProcessEnv): AppProcess {
    const child = new AppProcess('main', env);
    children.push(child);
    return child;
  }

  describe('configuration errors', function () {
    const cases: [string, string][] = [
      ['API_PORT', '99999'],
      ['EGRESS_ALLOW', '10.0.0.0/99'],
      ['SESSION_IDLE_TTL', 'soon'],
    ];
    for (const [variable, value] of cases) {
      it(`stops with exit code 1 and names ${variable} when it is ${JSON.stringify(value)}`, async function () {
        const result = await runToExit('main.ts', [], childEnv({ DATA_DIR: dataDir(), [variable]: value }));
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, new RegExp(`^\\s+${variable}: `, 'm'));
        assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
      });
    }

    it('refuses an unknown role with exit code 2 and lists the roles', async function () {
      const result = await runToExit('main.ts', ['--role', 'api,brain'], childEnv({ DATA_DIR: dataDir() }));
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /unknown role "brain"; roles are api, gateway, worker/);
    });

    it('names the variable whose port is already taken', async function () {
      const { API_PORT } = await distinctFreePorts(['API_PORT'] as const);
      const blocker = (await import('node:net')).createServer();
      await new Promise<void>((resolve) => blocker.listen(Number(API_PORT), '127.0.0.1', resolve));
      try {
        const result = await runToExit(
          'main.ts',
          ['--role', 'api'],
          childEnv({ DATA_DIR: dataDir(), API_PORT, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', TEMPORAL_ADDRESS: '127.0.0.1:1' }),
        );
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, new RegExp(`port ${API_PORT} \\(API_PORT\\) is already in use`));
      } finally {
        blocker.close();
      }
    });
  });

  describe('full start', function () {
    before(function () {
      if (!existsSync('/proc')) this.skip(); // the orphan checks read /proc
    });

    it('starts every role with its own Temporal dev server, serves /healthz and /readyz, and leaves nothing behind on SIGTERM', async function () {
      this.timeout(STARTUP_TIMEOUT_MS + 60_000);
      const scratch = await createScratchDatabase('switchboard_rt');
      const dir = dataDir();
      try {
        const ports = await distinctFreePorts(['API_PORT', 'GATEWAY_PORT', 'TEMPORAL_DEV_PORT', 'TEMPORAL_UI_PORT'] as const);
        const child = startMain(childEnv({ DATA_DIR: dir, DATABASE_URL: scratch.url, ...ports }));
        await child.waitFor(READY);
        assert.ok(child.stdout.includes(`http://127.0.0.1:${ports.API_PORT}/api/v1`), child.output());
        assert.ok(child.stdout.includes(`ws://127.0.0.1:${ports.GATEWAY_PORT}/ws`), child.output());
        assert.ok(child.stdout.includes(`http://127.0.0.1:${ports.TEMPORAL_UI_PORT}/namespaces/default/workflows`), child.output());

        const health = await getJson(`http://127.0.0.1:${ports.API_PORT}/healthz`);
        assert.equal(health.status, 200);
        const ready = await getJson(`http://127.0.0.1:${ports.API_PORT}/readyz`);
        assert.equal(ready.status, 200, JSON.stringify(ready.body));
        assert.deepEqual(ready.body.data, { status: 'ready', checks: { database: 'ok', temporal: 'ok' } });
        assert.equal((await fetch(`http://127.0.0.1:${ports.GATEWAY_PORT}/healthz`)).status, 200);
        assert.equal((await fetch(`http://127.0.0.1:${ports.TEMPORAL_UI_PORT}/`)).status, 200, 'Temporal UI');

        const temporal = processesMentioning(dir);
        assert.equal(temporal.length, 1, JSON.stringify(temporal));
        assert.match(temporal[0]!.cmdline, /server start-dev/);
        assert.ok(existsSync(path.join(runningDir, String(child.pid))), 'registered as a user of node_modules');

        const exit = await child.stop();
        assert.deepEqual(exit, { code: 0, signal: null }, child.output());
        await eventually(() => assert.deepEqual(processesMentioning(dir), []), 10_000);
        assert.ok(!existsSync(path.join(runningDir, String(child.pid))));
        assert.ok(statSync(path.join(dir, 'temporal', 'dev.db')).size > 0, 'Temporal state kept under DATA_DIR');
      } finally {
        killLeftovers(dir);
        await scratch.drop();
      }
    });

    it('with no DATABASE_URL runs an embedded PostgreSQL under DATA_DIR, keeps data and tokens across restarts, and recovers from being killed', async function () {
      this.timeout(3 * STARTUP_TIMEOUT_MS + 60_000);
      const dir = dataDir();
      const ports = await distinctFreePorts([
        'API_PORT',
        'GATEWAY_PORT',
        'TEMPORAL_DEV_PORT',
        'TEMPORAL_UI_PORT',
        'EMBEDDED_PG_PORT',
      ] as const);
      const env = childEnv({ DATA_DIR: dir, ...ports });
      const api = `http://127.0.0.1:${ports.API_PORT}/api/v1`;
      const user = `rt-${randomBytes(4).toString('hex')}`;

      const first = startMain(env);
      await first.waitFor(READY);
      const postgres = processesMentioning(path.join(dir, 'postgres', 'pgdata'));
      assert.equal(postgres.length, 1, JSON.stringify(processesMentioning(dir)));
      const minted = await runToExit('scripts/token.ts', ['--user', user], env);
      assert.equal(minted.code, 0, minted.stderr);
      const token = minted.stdout.trim();
      const created = await fetch(`${api}/ai-configs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: '天气查询助手',
          ai_type: 'llm',
          model_name: 'qwen-plus',
          parameters: { temperature: 0.7, max_tokens: 1000 },
        }),
      });
      assert.equal(created.status, 201, await created.clone().text());
      assert.deepEqual(await first.stop(), { code: 0, signal: null }, first.output());
      await eventually(() => assert.deepEqual(processesMentioning(dir), []), 10_000);

      // Second run: same data directory, so the same database, JWT secret and Temporal state.
      const second = startMain(env);
      await second.waitFor(READY);
      const listed = await getJson(`${api}/ai-configs`, token);
      assert.equal(listed.status, 200, JSON.stringify(listed.body));
      assert.deepEqual(
        (listed.body.data as { config_name: string }[]).map((c) => c.config_name),
        ['天气查询助手'],
      );

      // Killed outright: the kernel takes the Temporal server along (parent-death signal); the
      // orphaned PostgreSQL is stopped by the next start.
      second.process.kill('SIGKILL');
      await second.exited;
      await eventually(() => assert.deepEqual(processesMentioning(path.join(dir, 'temporal')), []), 10_000);
      const third = startMain(env);
      await third.waitFor(READY);
      assert.equal((await getJson(`http://127.0.0.1:${ports.API_PORT}/readyz`)).status, 200);
      assert.deepEqual(await third.stop(), { code: 0, signal: null }, third.output());
      await eventually(() => assert.deepEqual(processesMentioning(dir), []), 10_000);
    });
  });
});

describe('runtime: shutdown signals', function () {
  // A clock the test moves: the window is about when signals arrive, not how fast anything runs.
  function signalsAt(times: number[]): ShutdownSignals {
    return new ShutdownSignals(1_000, () => times.shift()!);
  }

  it("takes the terminal's Ctrl-C and npm's forwarded copy for one request to stop", function () {
    const signals = signalsAt([0, 5]);
    assert.equal(signals.receive('SIGINT'), 'stop');
    assert.equal(signals.receive('SIGINT'), 'echo');
  });

  it('forces the exit on a second Ctrl-C after the window, or on a different signal', function () {
    const later = signalsAt([0, 1_000]);
    assert.equal(later.receive('SIGINT'), 'stop');
    assert.equal(later.receive('SIGINT'), 'force');
    const other = signalsAt([0, 5]);
    assert.equal(other.receive('SIGTERM'), 'stop');
    assert.equal(other.receive('SIGINT'), 'force');
  });
});

describe('runtime: scripts/token.ts', function () {
  it('refuses to mint when tokens come from an identity provider (JWT_JWKS_URL)', async function () {
    const dir = tempDataDir('switchboard-rt-');
    try {
      const result = await runToExit(
        'scripts/token.ts',
        ['--user', 'alice'],
        childEnv({ DATA_DIR: dir, JWT_JWKS_URL: 'https://idp.example.com/jwks.json' }),
      );
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /JWT_JWKS_URL is set/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('needs --user', async function () {
    const result = await runToExit('scripts/token.ts', [], childEnv({ DATA_DIR: os.tmpdir() }));
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--user is required/);
  });
});

describe('runtime: scripts/setup.mjs', function () {
  const setupScript = path.join(projectRoot, 'scripts', 'setup.mjs');

  function runSetup(root: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const script = path.join(root, 'scripts', 'setup.mjs');
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [script], { cwd: root, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('does nothing on a second run in this checkout', async function () {
    this.timeout(300_000);
    // Registered like a running `npm start`, so a stale node_modules is reported, never reinstalled under us.
    const unmark = markNodeModulesInUse();
    try {
      const first = await runSetup(projectRoot);
      assert.equal(first.code, 0, first.stderr);
      const second = await runSetup(projectRoot);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /^setup: node modules up to date; Temporal CLI 1\.9\.1; console up to date\n$/);
    } finally {
      unmark();
    }
  });

  describe('in a scratch project', function () {
    let root: string;

    beforeEach(function () {
      root = mkdtempSync(path.join(os.tmpdir(), 'switchboard-setup-'));
      mkdirSync(path.join(root, 'scripts'));
      mkdirSync(path.join(root, 'node_modules', 'left-pad'), { recursive: true });
      copyFileSync(setupScript, path.join(root, 'scripts', 'setup.mjs'));
      const lock = {
        name: 'scratch',
        lockfileVersion: 3,
        packages: {
          '': {},
          'node_modules/left-pad': { version: '1.3.0' },
          'node_modules/@x/other-os': { version: '1.0.0', optional: true },
        },
      };
      writeFileSync(path.join(root, 'package-lock.json'), JSON.stringify(lock));
      writeFileSync(
        path.join(root, 'node_modules', '.package-lock.json'),
        JSON.stringify({ ...lock, packages: { 'node_modules/left-pad': { version: '1.3.0' } } }),
      );
    });

    afterEach(function () {
      rmSync(root, { recursive: true, force: true });
    });

    // TEMPORAL_CLI_PATH at any executable skips the PyPI install, so only node_modules is judged.
    const cli = { TEMPORAL_CLI_PATH: process.execPath };

    it('accepts installed modules that match the lock file, then answers from its stamp', async function () {
      const first = await runSetup(root, cli);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout, `setup: node modules up to date; using TEMPORAL_CLI_PATH=${process.execPath}\n`);
      const stamp = readFileSync(path.join(root, '.tools', 'setup-stamp.json'), 'utf8');
      const second = await runSetup(root, cli);
      assert.equal(second.stdout, first.stdout);
      assert.equal(readFileSync(path.join(root, '.tools', 'setup-stamp.json'), 'utf8'), stamp);
    });

    it('will not reinstall a stale node_modules that a running instance uses', async function () {
      writeFileSync(
        path.join(root, 'node_modules', '.package-lock.json'),
        JSON.stringify({ packages: { 'node_modules/left-pad': { version: '1.2.0' } } }),
      );
      mkdirSync(path.join(root, '.tools', 'running'), { recursive: true });
      writeFileSync(path.join(root, '.tools', 'running', String(process.pid)), '');
      const result = await runSetup(root, cli);
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`node_modules is out of date, but switchboard is running from it \\(pid ${process.pid}\\)`));
      assert.ok(existsSync(path.join(root, 'node_modules', 'left-pad')), 'node_modules untouched');
    });

    it('skips the Temporal CLI for `npm start` against a cluster (TEMPORAL_ADDRESS)', async function () {
      const started = await runSetup(root, { TEMPORAL_ADDRESS: 'temporal.example.com:7233', npm_lifecycle_event: 'prestart' });
      assert.equal(started.code, 0, started.stderr);
      assert.match(started.stdout, /not needed \(TEMPORAL_ADDRESS is set\)/);
    });
  });
});
