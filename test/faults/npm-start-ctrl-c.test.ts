// Fault: Ctrl-C in the terminal that runs `npm start`. The terminal sends SIGINT to the whole
// foreground process group (npm and the service), and npm forwards its copy, so the service
// receives the one key press twice. One Ctrl-C must still be the ordered, graceful stop: roles
// first, then the Temporal connection and database, then the Temporal dev server and PostgreSQL
// (which run in process groups of their own, so the terminal's signal does not reach them).
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { AppProcess, appEnv, appPorts, descendants, isAlive, killLeftovers, READY, tempDataDir } from '../support/app-process';
import { eventually } from '../support/eventually';
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

describe('fault: one Ctrl-C in the terminal running npm start', function () {
  this.timeout(240_000);
  let dir: string;
  let app: AppProcess | undefined;

  before(function () {
    if (!existsSync('/proc')) throw new Error('this suite reads /proc (Linux)');
    dir = tempDataDir();
  });
  after(function () {
    if (app?.running()) process.kill(-app.pid, 'SIGKILL');
    killLeftovers(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGINT to the process group stops everything in order, exits 0 and frees every port', async function () {
    const ports = await appPorts();
    // info: the lifecycle's "… stopped" lines are what this test reads.
    app = new AppProcess('npm', appEnv({ DATA_DIR: dir, LOG_LEVEL: 'info', ...ports }), [], { detached: true });
    await app.waitFor(READY);
    const started = descendants(app.pid);
    const names = started.map((p) => p.cmdline);
    assert.ok(
      names.some((c) => c.includes('start-dev')),
      `the Temporal dev server among ${JSON.stringify(names)}`,
    );
    assert.ok(
      names.some((c) => c.includes('postgres')),
      'the embedded PostgreSQL',
    );

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
    assert.equal(stopping.filter((msg) => msg === 'shutting down').length, 1, 'one shutdown for one Ctrl-C');

    await eventually(() => {
      const alive = started.filter((p) => isAlive(p.pid));
      assert.deepEqual(alive, [], 'still running after Ctrl-C');
    }, 60_000);
    for (const [name, port] of Object.entries(ports)) assert.ok(await portFree(Number(port)), `${name} ${port} is still taken`);
  });
});
