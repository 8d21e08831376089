// Unauthenticated operational routes: liveness, readiness (database, Temporal), Prometheus, OpenAPI.
import Router from '@koa/router';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { respond } from './respond';
import { KNOWN_METHODS, route, type RouteDocs } from './route-docs';

export type ReadinessCheck = () => Promise<void>;

const CHECK_TIMEOUT_MS = 3000;

async function runCheck(check: ReadinessCheck): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (error) {
    return `failing: ${(error as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

export function createHealthRouter(options: {
  docs: RouteDocs;
  checks: Record<string, ReadinessCheck>;
  registry: Registry;
  openapi: () => unknown;
}): Router {
  const router = new Router({ methods: KNOWN_METHODS });
  const tag = 'Operations';
  route(
    router,
    options.docs,
    'get',
    '/healthz',
    { summary: 'Liveness', tag, public: true, response: z.object({ status: z.literal('ok') }) },
    (ctx) => {
      respond(ctx, { status: 'ok' });
    },
  );
  route(
    router,
    options.docs,
    'get',
    '/readyz',
    {
      summary: 'Readiness: database and Temporal reachable',
      tag,
      public: true,
      response: z.object({ status: z.string(), checks: z.record(z.string(), z.string()) }),
      errors: [503],
    },
    async (ctx) => {
      const names = Object.keys(options.checks);
      const results = await Promise.all(names.map((name) => runCheck(options.checks[name]!)));
      const checks = Object.fromEntries(names.map((name, i) => [name, results[i]!]));
      const ready = results.every((r) => r === 'ok');
      respond(ctx, { status: ready ? 'ready' : 'not_ready', checks }, { status: ready ? 200 : 503, message: ready ? 'ok' : 'not ready' });
    },
  );
  route(
    router,
    options.docs,
    'get',
    '/metrics',
    { summary: 'Prometheus metrics (text format)', tag, public: true, produces: 'text/plain; version=0.0.4' },
    async (ctx) => {
      ctx.type = options.registry.contentType;
      ctx.body = await options.registry.metrics();
    },
  );
  route(router, options.docs, 'get', '/openapi.json', { summary: 'This OpenAPI document', tag, public: true }, (ctx) => {
    ctx.body = options.openapi();
  });
  return router;
}
