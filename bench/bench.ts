// The whole benchmark as one function (bench/run.ts is its command line; test/bench.test.ts runs
// it with the tiny profile). Every figure is measured against a floor taken in the same run on
// the same Temporal dev server and PostgreSQL; the scripted fake LLM is the only stand-in.
import os from 'node:os';
import { DEFAULT_SESSION_TUNING, sessionWorkflowId } from '../contract';
import type { Client } from '@temporalio/client';
import { createTestContext, uniqueId } from '../test/support/context';
import { startFakeLLM, type FakeLLM } from '../test/support/fake-llm';
import { testTemporal } from '../test/support/temporal';
import { messageBreakdown, type Breakdown } from './breakdown';
import { childEnv, spawnAll, spawnServer, type ServerChild } from './children';
import { floorOnQueue, startFloor, type Floor } from './floor';
import { measureChatCompletions } from './chat-completions';
import { measureLiteLLM, type PeerResult } from './litellm';
import { measureMemory } from './memory';
import {
  BENCH_ENV,
  measureLatency,
  measureLongSession,
  measureThroughput,
  scriptRouter,
  startMessageStack,
  type Counts,
  type MessageStack,
  type LatencyRun,
  type LongSessionRun,
  type ThroughputRun,
  type Variant,
} from './messages';
import { measureRest, type RestProcess, type RestRoute, type RestRun } from './rest';
import { percentiles, type Percentiles } from './stats';

export type ProfileName = 'full' | 'quick' | 'tiny';

export interface Profile {
  /** Sequential messages per variant (and as many direct calls and floor updates), after `warmup` untimed ones. */
  latencyMessages: number;
  warmup: number;
  /** Timed messages of the long session (per variant), after `longWarmup` untimed ones on the same socket. */
  longMessages: number;
  longWarmup: number;
  throughputSessions: number;
  throughputPerSession: number;
  restConnections: number;
  restSeconds: number;
  restWarmupSeconds: number;
  restConfigs: number;
  memorySessions: number;
  memoryWarmup: number;
  peerCalls: number;
  peerClients: number;
  peerRequestsPerClient: number;
  messageTimeoutMs: number;
}

export const PROFILES: Record<ProfileName, Profile> = {
  full: {
    latencyMessages: 200,
    warmup: 10,
    // Messages #11 to #320 of one session: three continue-as-new boundaries (#100, #200, #300).
    longMessages: 310,
    longWarmup: 10,
    throughputSessions: 100,
    throughputPerSession: 10,
    restConnections: 50,
    restSeconds: 10,
    restWarmupSeconds: 2,
    restConfigs: 10,
    memorySessions: 400,
    memoryWarmup: 10,
    peerCalls: 200,
    peerClients: 100,
    peerRequestsPerClient: 10,
    messageTimeoutMs: 60_000,
  },
  quick: {
    latencyMessages: 20,
    warmup: 3,
    longMessages: 105,
    longWarmup: 5,
    throughputSessions: 25,
    throughputPerSession: 2,
    restConnections: 50,
    restSeconds: 2,
    restWarmupSeconds: 1,
    restConfigs: 10,
    memorySessions: 40,
    memoryWarmup: 3,
    peerCalls: 20,
    peerClients: 100,
    peerRequestsPerClient: 2,
    messageTimeoutMs: 30_000,
  },
  tiny: {
    latencyMessages: 5,
    warmup: 2,
    // Still across one boundary (#100): nothing may be lost or doubled there.
    longMessages: 101,
    longWarmup: 2,
    throughputSessions: 8,
    throughputPerSession: 2,
    restConnections: 50,
    restSeconds: 1,
    restWarmupSeconds: 0,
    restConfigs: 3,
    memorySessions: 8,
    memoryWarmup: 2,
    peerCalls: 5,
    peerClients: 10,
    peerRequestsPerClient: 1,
    messageTimeoutMs: 30_000,
  },
};

export interface LatencyFigures {
  messages: number;
  /** Socket send → function_call_result frame. */
  ours: Percentiles;
  /** The same LLM calls made directly with the openai SDK. */
  direct: Percentiles;
  /** Bare Workflow Update round trips, interleaved with the messages. */
  floor: Percentiles;
  /** ours − direct, per percentile. */
  added: { p50: number; p99: number };
  /** added ÷ floor (goal: p50 ≤ 1.5, p99 ≤ 3). */
  ratio: { p50: number; p99: number };
  counts: Counts;
  errors: string[];
}

export interface IndexedMs {
  /** The message's number in its session (1-based). */
  index: number;
  ms: number;
}

/** As LatencyFigures, the direct calls and floor updates measured after the messages, not between them. */
export interface LongSessionFigures extends LatencyFigures {
  /** The session's number of the first timed message. */
  firstIndex: number;
  /** The slowest message ÷ ours.p50 (goal ≤ 10). */
  slowestOverP50: number;
  /** The five slowest, slowest first. */
  slowest: IndexedMs[];
  /** Each message whose answer ends a run (continue-as-new) and the one after it. */
  boundaries: IndexedMs[];
}

export interface ThroughputFigures {
  sessions: number;
  perSession: number;
  messagesPerSecond: number;
  latency: Percentiles;
  counts: Counts;
  errors: string[];
  floor: { workflows: number; updates: number; updatesPerSecond: number; latency: Percentiles };
  /** messages/s ÷ floor updates/s (goal ≥ 0.5, 0 lost). */
  ratio: number;
}

export interface RestFigures extends RestRun {
  /** ours ÷ floor: requests/s (goal ≥ 0.5) and p99 (goal ≤ 2). */
  ratios: Record<RestProcess, Record<RestRoute, { requestsPerSecond: number; p99: number }>>;
}

export interface MemoryFigures {
  sessions: number;
  gateway: { rssPerSession: number; heapPerSession: number; rssBefore: number; rssAfter: number };
  worker: { rssPerSession: number; heapPerSession: number; rssBefore: number; rssAfter: number };
  counts: Counts;
  errors: string[];
}

export interface BreakdownFigures extends Breakdown {
  variant: Variant;
  /** The same message measured at the socket. */
  socketMs: number;
}

/** Switchboard without a router (one provider call per message) ÷ the LiteLLM proxy, same fake provider. */
export interface PeerRatios {
  /** Added latency per call (goal: p50 ≤ 1.5). */
  added: { p50: number; p99: number };
  /** Messages/s of 100 sessions ÷ requests/s of 100 clients (goal ≥ 1). */
  throughput: number;
}

export interface Figures {
  meta: { date: string; profile: ProfileName; cores: number; cpu: string; node: string };
  latency: Record<Variant, LatencyFigures>;
  longSession: Record<Variant, LongSessionFigures>;
  throughput: ThroughputFigures;
  /** The same load without a router LLM: one provider call per message, as the LiteLLM peer makes. */
  throughputNoRouter: ThroughputFigures;
  /** The same load with the gateway + worker and the floor's worker each in a process of their own. */
  throughputSeparate: ThroughputFigures;
  rest: RestFigures;
  memory: MemoryFigures;
  breakdown: BreakdownFigures;
  peer?: PeerResult;
  /** Present when the peer ran. */
  peerRatios?: PeerRatios;
  /** Switchboard's POST /v1/chat/completions measured as the peer is (bench/chat-completions.ts). */
  chatCompletions?: PeerResult;
  /** /v1/chat/completions ÷ the LiteLLM proxy (added latency, requests/s); present when both were measured. */
  chatCompletionsRatios?: PeerRatios;
}

/** Raw samples for the chart. */
export interface Samples {
  latency: Record<Variant, { ours: number[]; direct: number[]; floor: number[] }>;
  longSession: Record<Variant, number[]>;
  throughput: { ours: number[]; floor: number[] };
}

export interface BenchOptions {
  profile: ProfileName;
  peer?: 'litellm';
  /** Also measure POST /v1/chat/completions (npm run bench does; the smoke test does not). */
  chatCompletions?: boolean;
  log?: (line: string) => void;
}

function latencyFigures(run: Pick<LatencyRun, 'ours' | 'direct' | 'floor' | 'counts' | 'errors'>): LatencyFigures {
  const ours = percentiles(run.ours);
  const direct = percentiles(run.direct);
  const floor = percentiles(run.floor);
  const added = { p50: ours.p50 - direct.p50, p99: ours.p99 - direct.p99 };
  return {
    messages: run.ours.length,
    ours,
    direct,
    floor,
    added,
    ratio: { p50: added.p50 / floor.p50, p99: added.p99 / floor.p99 },
    counts: run.counts,
    errors: run.errors,
  };
}

function longSessionFigures(run: LongSessionRun): LongSessionFigures {
  const timed = run.ours.map((ms, i) => ({ index: run.firstIndex + i, ms })).filter((m) => Number.isFinite(m.ms));
  const figures = latencyFigures({ ...run, ours: timed.map((m) => m.ms) });
  const every = DEFAULT_SESSION_TUNING.continueAsNewAfter;
  return {
    ...figures,
    messages: run.ours.length,
    firstIndex: run.firstIndex,
    slowestOverP50: figures.ours.max / figures.ours.p50,
    slowest: [...timed].sort((a, b) => b.ms - a.ms).slice(0, 5),
    boundaries: timed.filter((m) => m.index % every === 0 || m.index % every === 1),
  };
}

function restFigures(run: RestRun): RestFigures {
  const ratios = {} as RestFigures['ratios'];
  for (const process of Object.keys(run.servers) as RestProcess[]) {
    const routes = run.servers[process];
    ratios[process] = {
      getOne: { requestsPerSecond: routes.getOne.requestsPerSecond / run.floor.requestsPerSecond, p99: routes.getOne.p99 / run.floor.p99 },
      list: { requestsPerSecond: routes.list.requestsPerSecond / run.floor.requestsPerSecond, p99: routes.list.p99 / run.floor.p99 },
    };
  }
  return { ...run, ratios };
}

function throughputFigures(tp: ThroughputRun): ThroughputFigures {
  return {
    sessions: tp.sessions,
    perSession: tp.perSession,
    messagesPerSecond: tp.ours.perSecond,
    latency: percentiles(tp.ours.latencies),
    counts: tp.ours.counts,
    errors: tp.ours.errors,
    floor: {
      workflows: tp.sessions,
      updates: tp.floor.updates,
      updatesPerSecond: tp.floor.perSecond,
      latency: percentiles(tp.floor.latencies),
    },
    ratio: tp.ours.perSecond / tp.floor.perSecond,
  };
}

/**
 * Throughput with the servers out of the load generator's process: Switchboard's gateway and
 * worker in one child (as `--role gateway,worker` runs), the floor's worker in another; the fake
 * LLM and every client stay in the bench process for both.
 */
async function measureThroughputSeparate(
  llm: FakeLLM,
  client: Client,
  profile: Profile,
  step: (line: string) => void,
): Promise<ThroughputRun> {
  const router = scriptRouter(llm);
  const tc = await createTestContext({ env: { ...BENCH_ENV, ...router.env } });
  const children: ServerChild[] = [];
  const floorQueue = uniqueId('bench-floor-child');
  let floor: Floor | undefined;
  try {
    step('throughput (separate processes): starting a gateway+worker child and a floor-worker child');
    const [switchboard] = await spawnAll(children, [
      spawnServer(
        'switchboard',
        ['--role', 'gateway,worker'],
        childEnv(tc, { ...router.env, TEMPORAL_TASK_QUEUE: uniqueId('bench-sessions') }),
      ),
      spawnServer('floor', ['--floor-worker', floorQueue], childEnv(tc)),
    ]);
    const wsUrl = switchboard!.urls.websocket;
    if (!wsUrl) throw new Error('the switchboard child reported no WebSocket URL');
    floor = floorOnQueue(client, floorQueue);
    return await measureThroughput({ tc, llm, wsUrl }, floor, {
      sessions: profile.throughputSessions,
      perSession: profile.throughputPerSession,
      timeoutMs: profile.messageTimeoutMs,
    });
  } finally {
    await floor?.close();
    await Promise.all(children.map((child) => child.stop()));
    await tc.close();
  }
}

export async function runBench(options: BenchOptions): Promise<{ figures: Figures; samples: Samples }> {
  const profile = PROFILES[options.profile];
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const started = Date.now();
  const step = (line: string): void => log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}`);

  step('starting the Temporal dev server, the fake LLM and the floor worker');
  const env = await testTemporal();
  const llm = await startFakeLLM();
  const floor = await startFloor(env);
  try {
    const latency = {} as Record<Variant, LatencyRun>;
    const long = {} as Record<Variant, LongSessionRun>;
    let breakdown: BreakdownFigures | undefined;
    let throughputRun;
    let throughputNoRouterRun;
    const longSession = async (stack: MessageStack): Promise<LongSessionRun> => {
      step(
        `long session: ${profile.longWarmup} + ${profile.longMessages} messages back to back on one socket, then as many direct calls and floor updates`,
      );
      const run = await measureLongSession(stack, floor, {
        messages: profile.longMessages,
        warmup: profile.longWarmup,
        timeoutMs: profile.messageTimeoutMs,
      });
      if (run.ours.length === 0) throw new Error(`no message of the long session was answered: ${run.errors.join('; ')}`);
      return run;
    };

    step('router variant: gateway and worker with ROUTER_LLM_* pointing at the fake LLM');
    let stack = await startMessageStack(llm, 'router');
    try {
      step(`latency: ${profile.latencyMessages} messages one at a time, interleaved with direct calls and floor updates`);
      latency.router = await measureLatency(stack, floor, {
        messages: profile.latencyMessages,
        warmup: profile.warmup,
        timeoutMs: profile.messageTimeoutMs,
      });
      const { sample } = latency.router;
      if (!sample.messageId) throw new Error(`no message was answered: ${latency.router.errors.join('; ')}`);
      step(`breakdown: history of message ${sample.messageId}`);
      const found = await messageBreakdown(env.client, sessionWorkflowId(sample.userId, sample.sessionId), sample.messageId, sample.ms);
      breakdown = { ...found, variant: 'router', socketMs: sample.ms };
      long.router = await longSession(stack);
      step(
        `throughput: ${profile.throughputSessions} sessions × ${profile.throughputPerSession} messages back to back, then as many update loops`,
      );
      throughputRun = await measureThroughput(stack, floor, {
        sessions: profile.throughputSessions,
        perSession: profile.throughputPerSession,
        timeoutMs: profile.messageTimeoutMs,
      });
    } finally {
      await stack.close();
    }

    step('no-router variant: gateway and worker without ROUTER_LLM_* (one LLM call per message)');
    stack = await startMessageStack(llm, 'noRouter');
    try {
      latency.noRouter = await measureLatency(stack, floor, {
        messages: profile.latencyMessages,
        warmup: profile.warmup,
        timeoutMs: profile.messageTimeoutMs,
      });
      long.noRouter = await longSession(stack);
      step(`throughput without a router: ${profile.throughputSessions} sessions × ${profile.throughputPerSession} messages back to back`);
      throughputNoRouterRun = await measureThroughput(stack, floor, {
        sessions: profile.throughputSessions,
        perSession: profile.throughputPerSession,
        timeoutMs: profile.messageTimeoutMs,
      });
    } finally {
      await stack.close();
    }

    const throughputSeparateRun = await measureThroughputSeparate(llm, env.client, profile, step);

    const tc = await createTestContext({ env: BENCH_ENV });
    let rest: RestRun;
    let memory;
    try {
      step(`rest: ${profile.restConnections} connections, ${profile.restSeconds} s per route`);
      rest = await measureRest(
        tc,
        {
          connections: profile.restConnections,
          seconds: profile.restSeconds,
          warmupSeconds: profile.restWarmupSeconds,
          configs: profile.restConfigs,
        },
        step,
      );
      step(`memory: ${profile.memorySessions} idle sessions`);
      memory = await measureMemory(
        tc,
        llm,
        { sessions: profile.memorySessions, warmup: profile.memoryWarmup, timeoutMs: profile.messageTimeoutMs },
        step,
      );
    } finally {
      await tc.close();
    }

    const endpointOptions = {
      calls: profile.latencyMessages,
      warmup: profile.warmup,
      clients: profile.peerClients,
      requestsPerClient: profile.peerRequestsPerClient,
    };
    let chatCompletions: PeerResult | undefined;
    if (options.chatCompletions) {
      step(`chat completions: ${endpointOptions.calls} calls one at a time, then ${endpointOptions.clients} clients`);
      chatCompletions = await measureChatCompletions(llm, endpointOptions, step);
      if ('error' in chatCompletions) step(`chat completions: not measured: ${chatCompletions.error}`);
    }

    let peer: PeerResult | undefined;
    if (options.peer === 'litellm') {
      step('peer: LiteLLM proxy');
      peer = await measureLiteLLM(llm, endpointOptions, step);
      if ('error' in peer) step(`peer: LiteLLM skipped: ${peer.error}`);
    }
    step('done');

    const tp = throughputRun;
    const throughputNoRouter = throughputFigures(throughputNoRouterRun);
    const latencyByVariant = { router: latencyFigures(latency.router), noRouter: latencyFigures(latency.noRouter) };
    const figures: Figures = {
      meta: {
        date: new Date().toISOString().slice(0, 10),
        profile: options.profile,
        cores: os.cpus().length,
        cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
        node: process.version,
      },
      latency: latencyByVariant,
      longSession: { router: longSessionFigures(long.router), noRouter: longSessionFigures(long.noRouter) },
      throughput: throughputFigures(tp),
      throughputNoRouter,
      throughputSeparate: throughputFigures(throughputSeparateRun),
      rest: restFigures(rest),
      memory: {
        sessions: memory.sessions,
        gateway: {
          rssPerSession: memory.gateway.rssPerSession,
          heapPerSession: memory.gateway.heapPerSession,
          rssBefore: memory.gateway.before.rss,
          rssAfter: memory.gateway.after.rss,
        },
        worker: {
          rssPerSession: memory.worker.rssPerSession,
          heapPerSession: memory.worker.heapPerSession,
          rssBefore: memory.worker.before.rss,
          rssAfter: memory.worker.after.rss,
        },
        counts: memory.counts,
        errors: memory.errors,
      },
      breakdown,
      ...(peer ? { peer } : {}),
      ...(peer && !('error' in peer)
        ? {
            peerRatios: {
              added: {
                p50: latencyByVariant.noRouter.added.p50 / peer.added.p50,
                p99: latencyByVariant.noRouter.added.p99 / peer.added.p99,
              },
              throughput: throughputNoRouter.messagesPerSecond / peer.requestsPerSecond,
            },
          }
        : {}),
      ...(chatCompletions ? { chatCompletions } : {}),
      ...(chatCompletions && !('error' in chatCompletions) && peer && !('error' in peer)
        ? {
            chatCompletionsRatios: {
              added: { p50: chatCompletions.added.p50 / peer.added.p50, p99: chatCompletions.added.p99 / peer.added.p99 },
              throughput: chatCompletions.requestsPerSecond / peer.requestsPerSecond,
            },
          }
        : {}),
    };
    const samples: Samples = {
      latency: {
        router: { ours: latency.router.ours, direct: latency.router.direct, floor: latency.router.floor },
        noRouter: { ours: latency.noRouter.ours, direct: latency.noRouter.direct, floor: latency.noRouter.floor },
      },
      longSession: { router: long.router.ours, noRouter: long.noRouter.ours },
      throughput: { ours: tp.ours.latencies, floor: tp.floor.latencies },
    };
    return { figures, samples };
  } finally {
    await floor.close();
    await llm.close();
  }
}
