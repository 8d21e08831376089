// The Koa application, built from its dependencies; it never listens by itself.
import Koa from 'koa';
import type Router from '@koa/router';
import type { AppConfig } from '../config';
import type { Database, RateLimitStore } from '../db';
import type { TokenVerifier } from '../lib/auth';
import type { Logger } from '../lib/logger';
import type { PayloadCodec } from '@temporalio/common';
import { createApiKeysRouter } from './api-keys.routes';
import type { ApiKeyService } from './api-keys.service';
import { codecEndpoint, createCodecRouter } from './codec.routes';
import { serveConsole, type ConsoleOptions } from './console';
import { createConfigsRouter } from './configs.routes';
import type { ConfigService } from './configs.service';
import type { ConfigTrialService } from './config-trials.service';
import { createDeviceRouters } from './devices.routes';
import type { DeviceService } from './devices.service';
import { createHealthRouter, type ReadinessCheck } from './health.routes';
import { authenticate, refuseCodecTokens, userTokensOnly } from './middleware/authenticate';
import { errorHandler } from './middleware/error-handler';
import { requireServedHost } from './middleware/host-check';
import { jsonBody } from './middleware/json-body';
import { createHttpMetrics } from './middleware/metrics';
import { AUTH_FAILURE_PREFIX, createFailureLimiter, createSharedLimiter } from '../db';
import { limitFailedAuth, rateLimit } from './middleware/rate-limit';
import { requestContext, requestLogger } from './middleware/request-context';
import { isOpenAiPath, OPENAI_BODY_LIMIT_BYTES, openAiErrorHandler } from './openai-errors';
import { createOpenAiRouter } from './openai.routes';
import { buildOpenApi } from './openapi';
import { RouteDocs } from './route-docs';
import packageJson from '../package.json';

export interface ApiDeps {
  config: Pick<AppConfig, 'BODY_LIMIT_BYTES' | 'RATE_LIMIT_PER_MINUTE' | 'AUTH_FAILURES_PER_MINUTE' | 'TRUST_PROXY_HOPS' | 'servedHosts'>;
  logger: Logger;
  /** The shared counters of the rate limits (PostgreSQL), so every replica counts against one budget. */
  rateLimits: RateLimitStore;
  verifier: TokenVerifier;
  configs: ConfigService;
  trials: ConfigTrialService;
  devices: DeviceService;
  /** User API keys (/api/v1/api-keys). */
  apiKeys: ApiKeyService;
  /** The database the OpenAI-compatible routes (/v1) read the caller's configs from. */
  db: Database;
  readiness: Record<string, ReadinessCheck>;
  /** Extra authenticated routers under /api/v1 (sessions), built with the same RouteDocs. */
  extraRouters?: (docs: RouteDocs) => Router[];
  /** The web console at `/` (its files, settings and development sign-in); absent, those paths are 404s. */
  console?: ConsoleOptions;
  /** The codec endpoint (/codec/decode, /codec/encode) for the Temporal UI, with payload encryption only; absent, 404s. */
  codec?: { codec: PayloadCodec; origins: readonly string[] };
}

export function createApp(deps: ApiDeps): Koa {
  // Behind TRUST_PROXY_HOPS proxies, the client address is the one the outermost of ours saw.
  const hops = deps.config.TRUST_PROXY_HOPS;
  const app = new Koa({ proxy: hops > 0, maxIpsCount: hops });
  const docs = new RouteDocs();
  const metrics = createHttpMetrics();
  const apiRouters = [
    createConfigsRouter(deps.configs, deps.trials, docs),
    ...createDeviceRouters(deps.devices, docs),
    createApiKeysRouter(deps.apiKeys, docs),
    createOpenAiRouter(deps.db, docs),
    ...(deps.extraRouters?.(docs) ?? []),
  ];
  const codecRouter = deps.codec ? createCodecRouter({ docs, codec: deps.codec.codec }) : undefined;
  let openapi: Record<string, unknown> | undefined;
  const health = createHealthRouter({
    docs,
    checks: deps.readiness,
    registry: metrics.registry,
    openapi: () =>
      (openapi ??= buildOpenApi([health, ...apiRouters, ...(codecRouter ? [codecRouter] : [])], docs, { version: packageJson.version })),
  });

  app.use(requestContext(deps.logger, metrics));
  // Failures in the REST envelope; on the OpenAI-compatible surface (/v1) in OpenAI's shape.
  app.use(function errors(ctx, next) {
    return isOpenAiPath(ctx.path) ? openAiErrorHandler(ctx, next) : errorHandler(ctx, next);
  });
  // Before every route, health included: probes by address pass, a rebound DNS name does not.
  app.use(requireServedHost(deps.config.servedHosts, hops > 0));
  const healthRoutes = health.routes();
  const healthMethods = health.allowedMethods();
  app.use(function operations(ctx: Parameters<typeof healthRoutes>[0] & Parameters<typeof healthMethods>[0], next: Koa.Next) {
    // No /api path is an operational route: those requests skip the lookup.
    return ctx.path.startsWith('/api/') ? next() : healthRoutes(ctx, () => healthMethods(ctx, next));
  });
  const limiterOptions = { store: deps.rateLimits, logger: deps.logger };
  const requireUser = limitFailedAuth(
    createFailureLimiter({ ...limiterOptions, limit: deps.config.AUTH_FAILURES_PER_MINUTE, prefix: AUTH_FAILURE_PREFIX }),
    authenticate(deps.verifier),
  );
  const limit = rateLimit(createSharedLimiter({ ...limiterOptions, limit: deps.config.RATE_LIMIT_PER_MINUTE, prefix: 'user:' }));
  app.use(function apiGuard(ctx, next) {
    // /api/v1 takes user tokens only; /v1 user tokens and API keys. The same limits on both.
    if (ctx.path.startsWith('/api/')) return requireUser(ctx, () => userTokensOnly(ctx, () => limit(ctx, next)));
    if (isOpenAiPath(ctx.path)) return requireUser(ctx, () => refuseCodecTokens(ctx, () => limit(ctx, next)));
    return next();
  });
  if (deps.codec && codecRouter) {
    // Its own CORS, token scope and body limit; before the API's body reader.
    app.use(codecEndpoint({ router: codecRouter, origins: deps.codec.origins, authenticate: requireUser }));
  }
  const restBody = jsonBody(deps.config.BODY_LIMIT_BYTES);
  // A chat completion carries its whole context: /v1 takes 1 MiB (api/openai-errors.ts), or more if BODY_LIMIT_BYTES says so.
  const openAiBody = jsonBody(Math.max(OPENAI_BODY_LIMIT_BYTES, deps.config.BODY_LIMIT_BYTES));
  app.use(function bodies(ctx, next) {
    return isOpenAiPath(ctx.path) ? openAiBody(ctx, next) : restBody(ctx, next);
  });
  if (deps.console) app.use(serveConsole(deps.console));
  for (const router of apiRouters) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  app.on('error', (error: unknown, ctx?: Koa.Context) => {
    requestLogger(ctx, deps.logger).error({ err: error }, 'unhandled error');
  });
  return app;
}
