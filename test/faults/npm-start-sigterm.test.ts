// Fault: `npm start` stopped from outside. A supervisor (systemd, Docker, a process manager) stops
// it with SIGTERM to the process it started, npm itself; a terminal's Ctrl-C sends SIGINT to the
// whole foreground process group (npm and the service), and npm forwards its copy, so the service
// receives the one key press twice. Either way everything npm started (the service, its Temporal
// dev server, its PostgreSQL) must stop and free the ports; one Ctrl-C is the ordered, graceful
// stop: roles first, then the Temporal connection and database, then the Temporal dev server and
// PostgreSQL (which run in process groups of their own, so the terminal's signal misses them).
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { AppProcess, appEnv, appPorts, descendants, isAlive, killLeftovers, READY, tempDataDir } from '../support/app-process';
import { eventually } from '../support/eventually';
import { reportFault } from '../support/fault-report';
import { portFree } from '../support/net';

/** The `msg` of every JSON log line, in order (the banner and other plain lines are skipped). */
function logMessages(output: string): string[] {
  const messages: string[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      messages.push(String((JSON.parse(line) as { msg?: unknown }).msg));
    } catch {
      // a plain line that happens to start with a brace
    }
  }
  return messages;
}

/** What `npm start` runs under npm, checked to include the service, Temporal and PostgreSQL. */
function startedUnder(app: AppProcess): { pid: number; cmdline: string }[] {
  const started = descendants(app.pid);
  const names = started.map((p) => p.cmdline);
  assert.ok(
    names.some((c) => c.includes('main.ts')),
    `npm's children: ${JSON.stringify(names)}`,
  );
  assert.ok(
    names.some((c) => c.includes('start-dev')),
    'the Temporal dev server',
  );
  assert.ok(
    names.some((c) => c.includes('postgres')),
    'the embedded PostgreSQL',
  );
  return started;
}

async function assertAllStopped(started: { pid: number; cmdline: string }[], ports: Record<string, string>, how: string) {
  const left = await eventually(() => {
    const alive = started.filter((p) => isAlive(p.pid));
    assert.deepEqual(alive, [], `still running after ${how}`);
    return alive;
  }, 60_000);
  for (const [name, port] of Object.entries(ports)) assert.ok(await portFree(Number(port)), `${name} ${port} is still taken`);
  return left;
}

describe('fault: npm start stopped with SIGTERM by a supervisor, or with Ctrl-C in its terminal', function () {
  this.timeout(240_000);
  let dir: string;
  const apps: AppProcess[] = [];

  before(function () {
    if (!existsSync('/proc')) throw new Error('this suite reads /proc (Linux)');
    dir = tempDataDir();
  });
  after(function () {
    for (const app of apps) if (app.running()) app.process.kill('SIGKILL');
    killLeftovers(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGTERM to npm stops the service, Temporal and PostgreSQL, and frees every port', async function () {
    const ports = await appPorts();
    const app = new AppProcess('npm', appEnv({ DATA_DIR: dir, ...ports }));
    apps.push(app);
    await app.waitFor(READY);
    const started = startedUnder(app);

    const signalledAt = Date.now();
    app.process.kill('SIGTERM');
    await app.exited;
    const left = await assertAllStopped(started, ports, 'SIGTERM to npm');
    const seconds = (Date.now() - signalledAt) / 1000;
    reportFault(
      'npm start, SIGTERM to npm',
      { sent: 0, accepted: 0, answered: 0, duplicated: 0, lost: 0, redelivered: 0 },
      seconds,
      `${started.length} processes under npm, ${left.length} left; all stopped ${seconds.toFixed(1)} s after the signal`,
    );
  });

  it('one Ctrl-C (SIGINT to the process group) stops everything in order, exits 0 and frees every port', async function () {
    const ports = await appPorts();
    // info: the lifecycle's "… stopped" lines are what this test reads. Its own process group,
    // as a terminal's foreground job has, so the SIGINT reaches npm and the service only.
    const app = new AppProcess('npm', appEnv({ DATA_DIR: dir, LOG_LEVEL: 'info', ...ports }), [], { detached: true });
    apps.push(app);
    await app.waitFor(READY);
    const started = startedUnder(app);
    // No role warns about what it does not need (a worker without workflows used to).
    assert.doesNotMatch(app.stdout, /No workflows registered/, app.output());

    app.interrupt();
    const { code, signal } = await app.exited;
    const output = app.output();
    assert.equal(signal, null, output);
    assert.equal(code, 0, output);
    assert.doesNotMatch(app.stderr, /again, exiting now/, 'the echoed SIGINT was taken for a second Ctrl-C');
    assert.doesNotMatch(app.stdout + app.stderr, /DatabaseError|administrator command/, 'PostgreSQL was stopped under the roles');

    const stopping = logMessages(app.stdout);
    const expected = [
      'shutting down',
      'api role stopped',
      'gateway role stopped',
      'worker role stopped',
      'temporal connection stopped',
      'database connections stopped',
      'temporal dev server stopped',
      'postgresql stopped',
      'switchboard stopped',
    ];
    assert.deepEqual(
      stopping.filter((msg) => expected.includes(msg)),
      expected,
      output,
    );
    await assertAllStopped(started, ports, 'Ctrl-C');
  });
});
