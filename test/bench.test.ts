// A smoke run of the benchmark (bench/bench.ts) with its tiny profile: every figure is there and
// is a finite number, the raw measurements are positive, and no message was lost, failed or
// answered twice. Timings are never asserted on: machines are noisy.
import assert from 'node:assert/strict';
import { PROFILES, runBench, type Figures } from '../bench/bench';
import type { Counts } from '../bench/messages';
import { DEFAULT_SESSION_TUNING } from '../contract';
import type { Percentiles } from '../bench/stats';

/** Every number anywhere in the figures, with its path. */
function numbers(value: unknown, at = 'figures'): [string, number][] {
  if (typeof value === 'number') return [[at, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => numbers(v, `${at}[${i}]`));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => numbers(v, `${at}.${k}`));
  return [];
}

function assertPositive(value: number, what: string): void {
  assert.ok(Number.isFinite(value) && value > 0, `${what} should be a finite positive number, is ${value}`);
}

function assertPercentiles(p: Percentiles, what: string, samples?: number): void {
  for (const key of ['p50', 'p90', 'p99', 'min', 'max', 'mean'] as const) assertPositive(p[key], `${what}.${key}`);
  if (samples !== undefined) assert.equal(p.n, samples, `${what}: number of samples`);
}

function assertNothingLost(c: Counts, what: string, expectedSent?: number): void {
  assert.ok(c.sent > 0, `${what}: nothing was sent`);
  if (expectedSent !== undefined) assert.equal(c.sent, expectedSent, `${what}: sent`);
  assert.deepEqual(
    { answered: c.answered, failed: c.failed, lost: c.lost, duplicated: c.duplicated },
    { answered: c.sent, failed: 0, lost: 0, duplicated: 0 },
    what,
  );
}

describe('bench (smoke run, tiny profile)', function () {
  this.timeout(240_000);
  const profile = PROFILES.tiny;
  let figures: Figures;
  const log: string[] = [];

  before(async () => {
    ({ figures } = await runBench({ profile: 'tiny', log: (line) => log.push(line) }));
  });

  it('has every figure, each a finite number', () => {
    assert.deepEqual(Object.keys(figures).sort(), [
      'breakdown',
      'latency',
      'longSession',
      'memory',
      'meta',
      'rest',
      'throughput',
      'throughputNoRouter',
      'throughputSeparate',
    ]);
    assert.deepEqual(Object.keys(figures.latency).sort(), ['noRouter', 'router']);
    assert.deepEqual(Object.keys(figures.longSession).sort(), ['noRouter', 'router']);
    const all = numbers(figures);
    assert.ok(all.length > 50, `only ${all.length} numbers`);
    const notFinite = all.filter(([, v]) => !Number.isFinite(v));
    assert.deepEqual(notFinite, [], 'every number is finite');
  });

  it('measures message latency against the direct calls and the update floor, losing nothing', () => {
    for (const variant of ['router', 'noRouter'] as const) {
      const l = figures.latency[variant];
      assert.equal(l.messages, profile.latencyMessages);
      assertPercentiles(l.ours, `latency.${variant}.ours`, profile.latencyMessages);
      assertPercentiles(l.direct, `latency.${variant}.direct`, profile.latencyMessages);
      assertPercentiles(l.floor, `latency.${variant}.floor`, profile.latencyMessages);
      for (const key of ['p50', 'p99'] as const) {
        assert.ok(Number.isFinite(l.added[key]), `latency.${variant}.added.${key}`);
        assert.ok(Number.isFinite(l.ratio[key]), `latency.${variant}.ratio.${key}`);
      }
      assertNothingLost(l.counts, `latency.${variant}`, profile.latencyMessages + profile.warmup);
    }
  });

  it('measures a long session across a continue-as-new boundary: every message answered once, the slowest named by index', () => {
    const every = DEFAULT_SESSION_TUNING.continueAsNewAfter;
    for (const variant of ['router', 'noRouter'] as const) {
      const l = figures.longSession[variant];
      const what = `longSession.${variant}`;
      assert.equal(l.messages, profile.longMessages);
      assert.equal(l.firstIndex, profile.longWarmup + 1);
      assertPercentiles(l.ours, `${what}.ours`, profile.longMessages);
      assertPercentiles(l.direct, `${what}.direct`, profile.longMessages);
      assertPercentiles(l.floor, `${what}.floor`, profile.longMessages);
      assertNothingLost(l.counts, what, profile.longWarmup + profile.longMessages);
      for (const key of ['p50', 'p99'] as const) assert.ok(Number.isFinite(l.ratio[key]), `${what}.ratio.${key}`);
      assert.ok(l.slowestOverP50 >= 1, `${what}.slowestOverP50 is ${l.slowestOverP50}`);
      // The five slowest, slowest first, each a timed message of the session by its number.
      assert.equal(l.slowest.length, 5);
      assert.equal(l.slowest[0]!.ms, l.ours.max);
      for (const [i, m] of l.slowest.entries()) {
        assert.ok(m.index >= l.firstIndex && m.index < l.firstIndex + l.messages, `${what}.slowest[${i}] index ${m.index}`);
        if (i > 0) assert.ok(m.ms <= l.slowest[i - 1]!.ms, `${what}.slowest is in order`);
      }
      // The profile reaches past the first boundary: its answer and the next message are listed.
      assert.ok(profile.longWarmup + profile.longMessages > every, 'the tiny profile crosses a boundary');
      assert.deepEqual(
        l.boundaries.map((m) => m.index),
        [every, every + 1].filter((n) => n < l.firstIndex + l.messages),
      );
    }
  });

  it('measures throughput against as many update loops, in one process and in separate ones, losing nothing', () => {
    for (const key of ['throughput', 'throughputSeparate', 'throughputNoRouter'] as const) {
      const t = figures[key];
      assert.equal(t.sessions, profile.throughputSessions);
      assertPositive(t.messagesPerSecond, `${key}.messagesPerSecond`);
      assertPositive(t.floor.updatesPerSecond, `${key}.floor.updatesPerSecond`);
      assertPositive(t.ratio, `${key}.ratio`);
      assertPercentiles(t.latency, `${key}.latency`, profile.throughputSessions * profile.throughputPerSession);
      assertPercentiles(t.floor.latency, `${key}.floor.latency`, profile.throughputSessions * profile.throughputPerSession);
      // One untimed warm-up message per session, then the timed ones.
      assertNothingLost(t.counts, key, profile.throughputSessions * (profile.throughputPerSession + 1));
    }
  });

  it('measures REST reads of the API alone and of all roles against a bare Koa app, without errors', () => {
    const r = figures.rest;
    const measures = [
      ['floor', r.floor],
      ...(['api', 'all'] as const).flatMap((p) =>
        (['getOne', 'list'] as const).map((route) => [`${p}.${route}`, r.servers[p][route]] as const),
      ),
    ] as const;
    for (const [what, m] of measures) {
      assertPositive(m.requestsPerSecond, `rest.${what}.requestsPerSecond`);
      assertPositive(m.p99, `rest.${what}.p99`);
      assert.equal(m.errors, 0, `rest.${what}: connection errors`);
      assert.equal(m.non2xx, 0, `rest.${what}: non-2xx answers`);
    }
    for (const p of ['api', 'all'] as const) {
      for (const route of ['getOne', 'list'] as const) {
        assertPositive(r.ratios[p][route].requestsPerSecond, `rest.ratios.${p}.${route}.requestsPerSecond`);
        assertPositive(r.ratios[p][route].p99, `rest.ratios.${p}.${route}.p99`);
      }
    }
  });

  it('measures gateway and worker memory per session in processes of their own', () => {
    const m = figures.memory;
    assert.equal(m.sessions, profile.memorySessions);
    for (const side of ['gateway', 'worker'] as const) {
      assertPositive(m[side].rssBefore, `memory.${side}.rssBefore`);
      assertPositive(m[side].rssAfter, `memory.${side}.rssAfter`);
      // A difference of two noisy readings: finite, but its sign is not ours to promise.
      assert.ok(Number.isFinite(m[side].rssPerSession) && Number.isFinite(m[side].heapPerSession), `memory.${side} per session`);
    }
    assertNothingLost(m.counts, 'memory', profile.memorySessions + profile.memoryWarmup);
  });

  it('breaks one message down into the events of its session history', () => {
    const b = figures.breakdown;
    assert.ok(b.events.length >= 3, `only ${b.events.length} events`);
    assert.equal(b.events.filter((e) => e.result).length, 1, 'exactly one event carries the result frame');
    assert.ok(b.slowest, 'a slowest step');
    assertPositive(b.socketMs, 'breakdown.socketMs');
    assert.ok(b.resultOffsetMs >= 0);
    assert.equal(b.events[0].offsetMs, 0);
    assert.ok(b.totals.length > 0, 'time summed by kind of step');
    for (const e of b.events) assert.ok(e.type.length > 0 && e.gapMs >= 0 && e.offsetMs >= 0, JSON.stringify(e));
  });
});
