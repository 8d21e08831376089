// Fault: `npm start` under a supervisor (systemd, Docker, a process manager) that stops it with
// SIGTERM to the process it started, npm itself. Everything npm started (the service, its
// Temporal dev server, its PostgreSQL) must stop, as Ctrl-C stops it, and free the ports.
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { AppProcess, appEnv, appPorts, descendants, isAlive, killLeftovers, READY, tempDataDir } from '../support/app-process';
import { eventually } from '../support/eventually';
import { reportFault } from '../support/fault-report';
import { portFree } from '../support/net';

describe('fault: npm start stopped with SIGTERM by a supervisor', function () {
  this.timeout(240_000);
  let dir: string;
  let app: AppProcess | undefined;

  before(function () {
    if (!existsSync('/proc')) throw new Error('this suite reads /proc (Linux)');
    dir = tempDataDir();
  });
  after(function () {
    if (app?.running()) app.process.kill('SIGKILL');
    killLeftovers(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGTERM to npm stops the service, Temporal and PostgreSQL, and frees every port', async function () {
    const ports = await appPorts();
    app = new AppProcess('npm', appEnv({ DATA_DIR: dir, ...ports }));
    await app.waitFor(READY);
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

    const signalledAt = Date.now();
    app.process.kill('SIGTERM');
    await app.exited;
    const left = await eventually(() => {
      const alive = started.filter((p) => isAlive(p.pid));
      assert.deepEqual(alive, [], 'still running after SIGTERM to npm');
      return alive;
    }, 60_000);
    const seconds = (Date.now() - signalledAt) / 1000;
    for (const [name, port] of Object.entries(ports)) assert.ok(await portFree(Number(port)), `${name} ${port} is still taken`);
    reportFault(
      'npm start, SIGTERM to npm',
      { sent: 0, accepted: 0, answered: 0, duplicated: 0, lost: 0, redelivered: 0 },
      seconds,
      `${started.length} processes under npm, ${left.length} left; all stopped ${seconds.toFixed(1)} s after the signal`,
    );
  });
});
