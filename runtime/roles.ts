// The three roles one process can run (any combination; all three by default). Each role is
// imported only when asked for, so an API-only process never loads the worker's native code
// (the .js suffix is how TypeScript's nodenext resolution spells an import() of a .ts file).
import { watchEventLoop } from '../lib/event-loop';
import type { Logger } from '../lib/logger';
import type { AppContext, RunningRole } from '../app/context';

export const ROLE_NAMES = ['api', 'gateway', 'worker'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

export class RoleArgumentError extends Error {}

/** `--role api,worker`, `--role=api --role worker`; no flag means every role. */
export function parseRoles(values: readonly string[]): RoleName[] {
  const requested = values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  if (requested.length === 0) return [...ROLE_NAMES];
  const unknown = requested.filter((r) => !(ROLE_NAMES as readonly string[]).includes(r));
  if (unknown.length) {
    throw new RoleArgumentError(`unknown role ${unknown.map((r) => `"${r}"`).join(', ')}; roles are ${ROLE_NAMES.join(', ')}`);
  }
  // Fixed order whatever the spelling, without duplicates.
  return ROLE_NAMES.filter((r) => requested.includes(r));
}

/**
 * Work a role needs that depends on nothing else, begun while PostgreSQL and Temporal start:
 * the worker's workflow bundle takes seconds and is cached for the worker to pick up (a
 * failure here is ignored; the worker's own attempt reports it).
 */
export function prepareRoles(names: readonly RoleName[], logger: Logger, failureConverterPath?: string): void {
  if (!names.includes('worker')) return;
  import('../worker/index.js')
    .then(({ sessionWorkflowBundle }) => sessionWorkflowBundle(logger.child({ role: 'worker' }), failureConverterPath))
    .catch(() => undefined);
}

let temporalRuntimeInstalled = false;

/**
 * The gateway and the worker both run Temporal workers. By default the SDK's Runtime stops every
 * worker by itself on SIGINT/SIGTERM, racing our ordered shutdown (a role's own `close` then
 * finds its worker already draining); main.ts owns the signals, so the Runtime gets none. Its
 * log lines go through our pino logger. Must run before the first Temporal worker exists.
 */
async function installTemporalRuntime(logger: Logger): Promise<void> {
  if (temporalRuntimeInstalled) return;
  const [{ Runtime }, { temporalLogger }] = await Promise.all([import('@temporalio/worker'), import('../worker/index.js')]);
  Runtime.install({ logger: temporalLogger(logger.child({ component: 'temporal-sdk' })), shutdownSignals: [] });
  temporalRuntimeInstalled = true;
}

export async function startRole(name: RoleName, ctx: AppContext): Promise<RunningRole> {
  const { HOST: host } = ctx.config;
  if (name !== 'api') await installTemporalRuntime(ctx.logger);
  // Every role shares the process's event loop: one watch (per logger) warns when a step blocks it.
  const stopWatching = watchEventLoop(ctx.logger);
  try {
    const role = await startRoleOf(name, ctx, host);
    return {
      ...role,
      close: async () => {
        stopWatching();
        await role.close();
      },
    };
  } catch (error) {
    stopWatching();
    throw error;
  }
}

async function startRoleOf(name: RoleName, ctx: AppContext, host: string): Promise<RunningRole> {
  switch (name) {
    case 'api': {
      const { startApi } = await import('../api/server.js');
      return startApi(ctx, { host, port: ctx.config.API_PORT });
    }
    case 'gateway': {
      const { startGateway } = await import('../gateway/index.js');
      return startGateway(ctx, { host, port: ctx.config.GATEWAY_PORT });
    }
    case 'worker': {
      const { startWorker } = await import('../worker/index.js');
      return startWorker(ctx);
    }
  }
}
