// The one entry point: `npm start` (every role, embedded PostgreSQL and Temporal when no
// DATABASE_URL / TEMPORAL_ADDRESS is set) and, in production, `--role api|gateway|worker` in any
// combination. Start-up order: config, ports, PostgreSQL and Temporal (in parallel), migrations,
// roles. Shutdown on SIGINT/SIGTERM/SIGHUP runs it backwards; a second signal forces the exit
// (a terminal's Ctrl-C arriving twice at once counts as one, see runtime/signals.ts).
import { parseArgs } from 'node:util';
import pino from 'pino';
import { ConfigError, type AppConfig } from './config';
import { createLogger, type Logger } from './lib/logger';
import { logDestination } from './lib/log-pretty';
import { closeTemporal, connectTemporal, temporalAddress } from './lib/temporal-connection';
import { renderBanner } from './runtime/banner';
import { exitWith, loadConfigOrExit } from './runtime/cli';
import { buildAppContext, payloadEncryptionOf, type RunningRole } from './app/context';
import { migrate, openDatabase, provideDatabase, stopOrphanedPostgres, type DatabaseServer } from './runtime/database';
import { markNodeModulesInUse } from './runtime/in-use';
import { Lifecycle } from './runtime/lifecycle';
import { ShutdownSignals } from './runtime/signals';
import { assertPortsFree, describeListenError, type PortClaim } from './runtime/ports';
import { parseRoles, prepareRoles, RoleArgumentError, ROLE_NAMES, startRole, type RoleName } from './runtime/roles';
import { StartupError, redactUrl } from './runtime/startup-error';
import { codecEndpointUrl, startTemporalDevServer, type TemporalDevServer } from './runtime/temporal-dev-server';

const USAGE = `usage: npm start [-- --role ${ROLE_NAMES.join(',')}]

Runs the given roles (default: all) in one process. Configuration comes from the environment;
see README.md, "Environment".`;

function readArguments(): RoleName[] {
  try {
    const { values } = parseArgs({
      options: { role: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    }
    return parseRoles(values.role ?? []);
  } catch (error) {
    if (error instanceof RoleArgumentError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      exitWith(`switchboard: ${(error as Error).message}\n${USAGE}`, 2);
    }
    throw error;
  }
}

function portClaims(config: AppConfig, roles: readonly RoleName[]): PortClaim[] {
  const claims: PortClaim[] = [];
  if (roles.includes('api')) claims.push({ variable: 'API_PORT', host: config.HOST, port: config.API_PORT });
  if (roles.includes('gateway')) claims.push({ variable: 'GATEWAY_PORT', host: config.HOST, port: config.GATEWAY_PORT });
  if (config.embeddedDatabase) claims.push({ variable: 'EMBEDDED_PG_PORT', host: '127.0.0.1', port: config.EMBEDDED_PG_PORT });
  if (config.embeddedTemporal) {
    claims.push(
      { variable: 'TEMPORAL_DEV_PORT', host: '127.0.0.1', port: config.TEMPORAL_DEV_PORT },
      { variable: 'TEMPORAL_UI_PORT', host: '127.0.0.1', port: config.TEMPORAL_UI_PORT },
    );
  }
  return claims;
}

/** Starts the embedded PostgreSQL and Temporal side by side (each takes seconds on a first run). */
async function startDependencies(
  config: Readonly<AppConfig>,
  logger: Logger,
  lifecycle: Lifecycle,
  signal: AbortSignal,
  uiCodecEndpoint: string | undefined,
): Promise<{ database: DatabaseServer; temporal?: TemporalDevServer }> {
  const [database, temporal] = await Promise.allSettled([
    provideDatabase(config, logger),
    config.embeddedTemporal ? startTemporalDevServer({ config, logger, signal, uiCodecEndpoint }) : Promise.resolve(undefined),
  ]);
  // Registered in this order so shutdown stops Temporal before PostgreSQL.
  if (database.status === 'fulfilled') lifecycle.add('postgresql', database.value.stop);
  if (temporal.status === 'fulfilled' && temporal.value) lifecycle.add('temporal dev server', temporal.value.stop);
  if (database.status === 'rejected') throw database.reason;
  if (temporal.status === 'rejected') throw temporal.reason;
  return { database: database.value, temporal: temporal.value };
}

/**
 * Pino writes to stdout asynchronously. Its flush(cb) answers at once, even with a write still in
 * flight, and the exit handler then writes what is buffered synchronously: the buffered last line
 * ("switchboard stopped") would overtake the one in flight ("postgresql stopped"). So wait until no
 * write is in flight; what is buffered then goes out in order at exit. Bounded, so a stuck stdout
 * never holds the exit.
 */
function flushed(logger: Logger): Promise<void> {
  // SonicBoom's in-flight flag is not public API; without it (another destination) this only flushes.
  const stream = (logger as unknown as Record<symbol, { _writing?: boolean } | undefined>)[pino.symbols.streamSym];
  const deadline = Date.now() + 2_000;
  return new Promise((resolve) => {
    const idle = (): void => {
      if (!stream?._writing || Date.now() > deadline) resolve();
      else setTimeout(idle, 5);
    };
    logger.flush(idle);
  });
}

async function main(): Promise<void> {
  const roleNames = readArguments();
  const { config, secrets } = loadConfigOrExit('switchboard: ');
  const payloadEncryption = payloadEncryptionOf(secrets);
  const logger = createLogger(config.LOG_LEVEL, logDestination(config.LOG_FORMAT));
  const lifecycle = new Lifecycle(logger);
  const stopping = new AbortController();
  let started = false;

  const shutdown = async (exitCode: number) => {
    const clean = await lifecycle.closeAll();
    logger.info('switchboard stopped');
    await flushed(logger);
    process.exit(clean ? exitCode : 1);
  };
  const signals = new ShutdownSignals();
  const onSignal = (signal: NodeJS.Signals) => {
    if (signals.receive(signal) === 'echo') return;
    if (stopping.signal.aborted) {
      // Exit handlers still kill the Temporal server and PostgreSQL.
      process.stderr.write(`switchboard: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    stopping.abort();
    logger.info({ signal }, 'shutting down');
    // During start-up the start sequence notices the abort and unwinds itself.
    if (started) void shutdown(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
  markNodeModulesInUse();

  const checkpoint = () => {
    if (stopping.signal.aborted) throw new StartupError('start-up interrupted');
  };
  const claims = portClaims(config, roleNames);
  try {
    if (config.embeddedDatabase) await stopOrphanedPostgres(config, logger);
    await assertPortsFree(claims);
    prepareRoles(roleNames, logger, payloadEncryption?.failureConverterPath);
    const { database, temporal } = await startDependencies(
      config,
      logger,
      lifecycle,
      stopping.signal,
      // The UI reads encrypted sessions through the API's codec endpoint (README, "Encrypted payloads").
      payloadEncryption && roleNames.includes('api') ? codecEndpointUrl(config) : undefined,
    );
    checkpoint();

    const db = await openDatabase(database.url, logger);
    lifecycle.add('database connections', () => db.close());
    // The API owns the schema; an embedded database is ours, so any role may migrate it.
    if (roleNames.includes('api') || database.embedded) await migrate(database.url, db, logger);
    checkpoint();

    const handles = await connectTemporal(config, payloadEncryption?.dataConverter).catch((error: unknown) => {
      throw new StartupError(`cannot connect to Temporal at ${temporalAddress(config)}: ${(error as Error).message}`, { cause: error });
    });
    lifecycle.add('temporal connection', () => closeTemporal(handles));
    checkpoint();

    const ctx = buildAppContext({ config, secrets, logger, db, temporal: handles, payloadEncryption });
    // Started worker first, API last; shutdown runs last-in-first-out, so the API and the
    // gateway stop taking work before the worker stops doing it.
    const roles: RunningRole[] = [];
    for (const name of [...roleNames].reverse()) {
      const role = await startRole(name, ctx);
      lifecycle.add(`${name} role`, role.close);
      roles.unshift(role);
      checkpoint();
    }

    for (const role of roles) {
      void role.failed?.then((error) => {
        if (stopping.signal.aborted) return;
        stopping.abort();
        logger.fatal({ err: error, role: role.name }, 'a role stopped on its own; shutting down');
        void shutdown(1);
      });
    }
    started = true;
    logger.info({ roles: roleNames, database: redactUrl(database.url) }, 'switchboard started');
    process.stdout.write(renderBanner({ config, roles, temporalUiUrl: temporal?.uiUrl, seconds: process.uptime() }) + '\n');
  } catch (error) {
    const interrupted = stopping.signal.aborted;
    if (!interrupted) {
      const known = error instanceof StartupError || error instanceof ConfigError ? error : describeListenError(error, claims);
      if (known) process.stderr.write(`switchboard: ${known.message}\n`);
      else logger.fatal({ err: error }, 'start-up failed');
    }
    await lifecycle.closeAll();
    await flushed(logger);
    process.exit(interrupted ? 0 : 1);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`switchboard: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
