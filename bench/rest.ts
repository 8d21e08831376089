// Goal 3: REST reads under 50 connections (autocannon in the bench process), the server under test
// in a child process: the API role alone, and all three roles in one process. The floor is a bare
// Koa app with one handler, also in a child process, measured the same way in the same run.
import autocannon from 'autocannon';
import { insertLLMConfig, uniqueId, type TestContext } from '../test/support/context';
import type { PublicConfig } from '../contract';
import { childEnv, spawnAll, spawnServer, type ServerChild } from './children';

export type RestProcess = 'api' | 'all';
export type RestRoute = 'getOne' | 'list';

export interface RestMeasure {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  non2xx: number;
}

export interface RestRun {
  connections: number;
  seconds: number;
  configsInList: number;
  floor: RestMeasure;
  servers: Record<RestProcess, Record<RestRoute, RestMeasure>>;
}

async function load(url: string, headers: Record<string, string>, connections: number, seconds: number): Promise<RestMeasure> {
  const result = await autocannon({ url, headers, connections, duration: seconds, timeout: 10 });
  return {
    requestsPerSecond: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result['2xx'] + result.non2xx,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

/** One user with `count` LLM configs to read, and that user's Authorization header. */
export async function seedRestUser(tc: TestContext, count: number): Promise<{ configs: PublicConfig[]; headers: Record<string, string> }> {
  const userId = uniqueId('bench-rest');
  const configs: PublicConfig[] = [];
  for (let i = 0; i < count; i++) {
    configs.push(
      await insertLLMConfig(tc.ctx, userId, {
        model: `bench-rest-${i}`,
        baseUrl: 'http://127.0.0.1:9/v1',
        apiKey: 'sk-bench-0123456789abcdef',
        priority: i,
      }),
    );
  }
  return { configs, headers: { authorization: `Bearer ${await tc.token(userId, { expiresIn: '2h' })}` } };
}

export async function measureRest(
  tc: TestContext,
  options: { connections: number; seconds: number; warmupSeconds: number; configs: number },
  log: (line: string) => void,
): Promise<RestRun> {
  const { configs, headers } = await seedRestUser(tc, options.configs);
  const children: ServerChild[] = [];
  try {
    log('rest: starting the Koa floor, the API alone and all roles, each in a child process');
    const [floor, api, all] = await spawnAll(children, [
      spawnServer('koa floor', ['--koa-floor'], childEnv(tc)),
      spawnServer('api', ['--role', 'api'], childEnv(tc)),
      spawnServer('api+gateway+worker', ['--role', 'api,gateway,worker'], childEnv(tc, { TEMPORAL_TASK_QUEUE: uniqueId('bench-rest') })),
    ]);

    const measure = async (what: string, url: string, withAuth: boolean): Promise<RestMeasure> => {
      const h = withAuth ? headers : {};
      if (options.warmupSeconds > 0) await load(url, h, options.connections, options.warmupSeconds);
      const m = await load(url, h, options.connections, options.seconds);
      log(
        `rest: ${what}: ${m.requestsPerSecond.toFixed(0)} req/s, p99 ${m.p99} ms${m.non2xx || m.errors ? `, ${m.non2xx} non-2xx, ${m.errors} errors` : ''}`,
      );
      return m;
    };
    const routes = (base: string): Record<RestRoute, string> => ({
      getOne: `${base}/ai-configs/${configs[0].id}`,
      list: `${base}/ai-configs`,
    });
    const floorMeasure = await measure('koa floor', `${floor.urls.base}/`, false);
    const servers = {} as Record<RestProcess, Record<RestRoute, RestMeasure>>;
    for (const [key, child] of [
      ['api', api],
      ['all', all],
    ] as const) {
      const api = child.urls.api;
      if (!api) throw new Error(`${child.name} reported no API URL`);
      const urls = routes(api);
      servers[key] = {
        getOne: await measure(`${child.name} GET one`, urls.getOne, true),
        list: await measure(`${child.name} GET list`, urls.list, true),
      };
    }
    return { connections: options.connections, seconds: options.seconds, configsInList: options.configs, floor: floorMeasure, servers };
  } finally {
    await Promise.all(children.map((child) => child.stop()));
  }
}
