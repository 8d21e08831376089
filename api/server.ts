// The api role: the Koa app on API_PORT, wired from the application context.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { AppContext, ConfigChangeNotifier, RunningRole } from '../app/context';
import { urlHost } from '../lib/address';
import { projectRoot } from '../lib/temporal-cli';
import { createApiKeyService } from './api-keys.service';
import { createApp } from './app';
import { createDeviceService, type DeviceSessions } from './devices.service';
import { createConfigService } from './configs.service';
import { createConfigTrialService } from './config-trials.service';
import { createConfigExecutor } from '../execution';
import type { ReadinessCheck } from './health.routes';
import { createSessionsRouter } from './sessions.routes';
import { createRateLimitStore } from '../db';
import { createConfigChangeNotifier, createSessionService, type SessionService } from '../sessions/sessions.service';
import { createChatCompletions } from '../sessions/chat-completions';
import { createOpenAiChatRouter } from './openai-chat.routes';
import { ConflictError, NotFoundError } from '../lib/errors';

/** Where scripts/build-console.mjs puts the web console. */
export const CONSOLE_DIST = path.join(projectRoot, 'console', 'dist');

export interface ApiOptions {
  host: string;
  port: number;
}

function readinessChecks(ctx: AppContext): Record<string, ReadinessCheck> {
  const checks: Record<string, ReadinessCheck> = {
    database: async () => {
      await ctx.db.sequelize.query('SELECT 1');
    },
  };
  const temporal = ctx.temporal;
  if (temporal) {
    checks.temporal = async () => {
      await temporal.connection.healthService.check({});
    };
  }
  return checks;
}

export function createApiFromContext(ctx: AppContext, notifier: ConfigChangeNotifier) {
  // Chat completions drive session workflows: served with Temporal only, like the sessions.
  const chat = ctx.temporal ? createChatCompletions(ctx) : undefined;
  const executor = createConfigExecutor(ctx);
  const configs = createConfigService({
    db: ctx.db,
    secretBox: ctx.secretBox,
    config: ctx.config,
    notifier,
    logger: ctx.logger,
    listMcpTools: (target) => executor.listToolsAt(target, { timeoutMs: ctx.config.TRIAL_TIMEOUT }),
  });
  const app = createApp({
    config: ctx.config,
    logger: ctx.logger,
    rateLimits: createRateLimitStore(ctx.db.sequelize),
    verifier: ctx.verifier,
    configs,
    trials: createConfigTrialService({ db: ctx.db, executor, timeoutMs: ctx.config.TRIAL_TIMEOUT, egressAllow: ctx.config.egressAllow }),
    readiness: readinessChecks(ctx),
    devices: createDeviceService({
      db: ctx.db,
      config: ctx.config,
      rateLimits: createRateLimitStore(ctx.db.sequelize),
      logger: ctx.logger,
      sessions: ctx.temporal ? deviceSessions(createSessionService(ctx)) : undefined,
    }),
    apiKeys: createApiKeyService({ db: ctx.db }),
    db: ctx.db,
    // Sessions live in Temporal; without it (config-only deployments, API tests) they are not served.
    extraRouters: chat
      ? (docs) => [createSessionsRouter(createSessionService(ctx), docs), createOpenAiChatRouter(ctx.db, chat, docs)]
      : undefined,
    console: { distDir: CONSOLE_DIST, config: ctx.config, secrets: ctx.secrets },
    codec: ctx.payloadEncryption ? { codec: ctx.payloadEncryption.codec, origins: ctx.config.temporalUiOrigins } : undefined,
  });
  /** Stops what the app holds beyond its requests (the chat completions' relay listener). */
  return Object.assign(app, { closeServices: async () => chat?.close() });
}

/** A device's session through the sessions service; one that does not exist (never connected) or has ended is no error. */
function deviceSessions(sessions: SessionService): DeviceSessions {
  const ifAny = async (call: () => Promise<unknown>): Promise<void> => {
    try {
      await call();
    } catch (error) {
      if (!(error instanceof NotFoundError) && !(error instanceof ConflictError)) throw error;
    }
  };
  return {
    close: (userId, sessionId) => ifAny(() => sessions.close(userId, sessionId)),
    applySettings: (userId, sessionId, settings) => ifAny(() => sessions.update(userId, sessionId, settings)),
  };
}

export const noopNotifier: ConfigChangeNotifier = { configsChanged: async () => undefined };

export async function startApi(ctx: AppContext, options: ApiOptions): Promise<RunningRole> {
  const app = createApiFromContext(ctx, ctx.temporal ? createConfigChangeNotifier(ctx) : noopNotifier);
  const server = http.createServer(app.callback());
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = urlHost(options.host);
  return {
    name: 'api',
    urls: {
      console: `http://${host}:${port}/`,
      base: `http://${host}:${port}`,
      api: `http://${host}:${port}/api/v1`,
      openapi: `http://${host}:${port}/openapi.json`,
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }).then(() => app.closeServices()),
  };
}
