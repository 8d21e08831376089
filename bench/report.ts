// The figures as tables: the section of the performance page between its bench markers, and the
// console summary.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BreakdownFigures, Figures, IndexedMs, LatencyFigures, LongSessionFigures, Samples } from './bench';
import type { ChartSeries } from './chart';
import type { Counts, Variant } from './messages';
import type { RestMeasure, RestProcess, RestRoute } from './rest';
import { kib, ms, rate, ratio } from './stats';
import { DEFAULT_SESSION_TUNING } from '../contract';

const DEFAULT_CONTINUE_AS_NEW = DEFAULT_SESSION_TUNING.continueAsNewAfter;

/** The page the full run rewrites (between its markers), relative to the repository root. */
export const PERFORMANCE_PAGE = 'docs/performance.md';
export const PERFORMANCE_TABLE_START = '<!-- bench:start -->';
export const PERFORMANCE_TABLE_END = '<!-- bench:end -->';
/** The latency chart, relative to the repository root. */
export const CHART_PATH = 'docs/bench-latency.svg';
/** The chart as the page links it. */
const CHART_LINK = path.posix.relative(path.posix.dirname(PERFORMANCE_PAGE), CHART_PATH);

const VARIANT_LABEL: Record<Variant, string> = { router: 'router LLM', noRouter: 'no router' };
const PROCESS_LABEL: Record<RestProcess, string> = { api: 'API alone', all: 'api+gateway+worker in one process' };
const ROUTE_LABEL: Record<RestRoute, string> = { getOne: 'GET /ai-configs/:id', list: 'GET /ai-configs' };

/** ✓ or ✗ after a target. */
function verdict(ok: boolean): string {
  return ok ? '✓' : '✗';
}

function countsText(c: Counts): string {
  return `${c.sent} sent, ${c.answered} answered, ${c.failed} failed, ${c.lost} lost, ${c.duplicated} duplicated`;
}

type Row = [measure: string, floor: string, ours: string, ratio: string, target: string];

/** The issue's bars: added latency against a bare Update, the slowest message against the p50. */
export const GOALS = {
  addedP50: 1.5,
  addedP99: 3,
  slowestOverP50: 10,
  throughput: 0.5,
  restRate: 0.5,
  restP99: 2,
  gatewayRssPerSocket: 30 * 1024,
  peerAddedP50: 1.5,
  peerThroughput: 1,
} as const;

function indexed(list: readonly IndexedMs[]): string {
  return list.map((m) => `#${m.index} ${ms(m.ms)}`).join(', ');
}

function longSessionRows(variant: Variant, l: LongSessionFigures): Row[] {
  const last = l.firstIndex + l.messages - 1;
  const what = `1. Long session, ${VARIANT_LABEL[variant]}: one socket, messages #${l.firstIndex}–#${last} back to back`;
  return [
    [
      `${what}, added p50`,
      `${ms(l.floor.p50)} bare update`,
      `${ms(l.added.p50)} (socket ${ms(l.ours.p50)} − direct ${ms(l.direct.p50)})`,
      ratio(l.ratio.p50),
      `≤ ${GOALS.addedP50}× ${verdict(l.ratio.p50 <= GOALS.addedP50)}`,
    ],
    [
      `${what}, added p99`,
      `${ms(l.floor.p99)} bare update`,
      `${ms(l.added.p99)} (socket ${ms(l.ours.p99)} − direct ${ms(l.direct.p99)})`,
      ratio(l.ratio.p99),
      `≤ ${GOALS.addedP99}× ${verdict(l.ratio.p99 <= GOALS.addedP99)}`,
    ],
    [
      `${what}, slowest message ÷ p50 (continue-as-new after every ${DEFAULT_CONTINUE_AS_NEW} messages)`,
      `${ms(l.ours.p50)} socket p50`,
      `slowest five: ${indexed(l.slowest)}; at the boundaries: ${indexed(l.boundaries)}`,
      ratio(l.slowestOverP50),
      `≤ ${GOALS.slowestOverP50}× ${verdict(l.slowestOverP50 <= GOALS.slowestOverP50)}`,
    ],
  ];
}

function latencyRows(variant: Variant, l: LatencyFigures): Row[] {
  const what = `1. Added latency per message, one at a time (between direct calls and floor updates), ${VARIANT_LABEL[variant]}`;
  return [
    [
      `${what}, p50`,
      `${ms(l.floor.p50)} bare update`,
      `${ms(l.added.p50)} (socket ${ms(l.ours.p50)} − direct ${ms(l.direct.p50)})`,
      ratio(l.ratio.p50),
      `≤ ${GOALS.addedP50}× ${verdict(l.ratio.p50 <= GOALS.addedP50)}`,
    ],
    [
      `${what}, p99`,
      `${ms(l.floor.p99)} bare update`,
      `${ms(l.added.p99)} (socket ${ms(l.ours.p99)} − direct ${ms(l.direct.p99)})`,
      ratio(l.ratio.p99),
      `≤ ${GOALS.addedP99}× ${verdict(l.ratio.p99 <= GOALS.addedP99)}`,
    ],
  ];
}

function restRows(f: Figures): Row[] {
  const rows: Row[] = [];
  const floor = f.rest.floor;
  for (const process of ['api', 'all'] as const) {
    for (const route of ['getOne', 'list'] as const) {
      const m: RestMeasure = f.rest.servers[process][route];
      const r = f.rest.ratios[process][route];
      const label = `3. REST ${ROUTE_LABEL[route]}${route === 'list' ? ` (${f.rest.configsInList} configs)` : ''}, ${PROCESS_LABEL[process]}`;
      rows.push([
        `${label}, req/s`,
        rate(floor.requestsPerSecond, 'req/s'),
        rate(m.requestsPerSecond, 'req/s'),
        ratio(r.requestsPerSecond),
        `≥ ${GOALS.restRate}× ${verdict(r.requestsPerSecond >= GOALS.restRate)}`,
      ]);
      rows.push([`${label}, p99`, ms(floor.p99), ms(m.p99), ratio(r.p99), `≤ ${GOALS.restP99}× ${verdict(r.p99 <= GOALS.restP99)}`]);
    }
  }
  return rows;
}

function throughputRows(t: Figures['throughput'], variant: Variant, where: string): Row[] {
  return [
    [
      `2. Throughput, ${t.sessions} sessions × ${t.perSession} messages back to back (${VARIANT_LABEL[variant]}), ${where}`,
      `${rate(t.floor.updatesPerSecond, 'updates/s')} (${t.floor.workflows} workflows)`,
      `${rate(t.messagesPerSecond, 'messages/s')}; ${countsText(t.counts)}`,
      ratio(t.ratio),
      `≥ ${GOALS.throughput}×, 0 lost ${verdict(t.ratio >= GOALS.throughput && t.counts.lost === 0)}`,
    ],
    [
      `2. Latency under that load, p50 / p99`,
      `${ms(t.floor.latency.p50)} / ${ms(t.floor.latency.p99)}`,
      `${ms(t.latency.p50)} / ${ms(t.latency.p99)}`,
      '',
      '',
    ],
  ];
}

export function summaryRows(f: Figures): Row[] {
  const m = f.memory;
  const rows: Row[] = [
    ...longSessionRows('router', f.longSession.router),
    ...longSessionRows('noRouter', f.longSession.noRouter),
    ...latencyRows('router', f.latency.router),
    ...latencyRows('noRouter', f.latency.noRouter),
    ...throughputRows(f.throughput, 'router', 'servers and clients in one process'),
    ...throughputRows(f.throughputSeparate, 'router', 'servers in processes of their own'),
    ...throughputRows(f.throughputNoRouter, 'noRouter', 'servers and clients in one process'),
    ...restRows(f),
    [
      `4. Gateway memory per idle open socket (${m.sessions} sessions), RSS / heap`,
      '',
      `${kib(m.gateway.rssPerSession)} / ${kib(m.gateway.heapPerSession)}`,
      '',
      `≤ 30 KiB ${verdict(m.gateway.rssPerSession <= GOALS.gatewayRssPerSocket)}`,
    ],
    [
      `4. Worker memory per cached session (${m.sessions} sessions), RSS / heap`,
      '',
      `${kib(m.worker.rssPerSession)} / ${kib(m.worker.heapPerSession)}`,
      '',
      '',
    ],
  ];
  const peer = f.peer;
  if (peer && 'error' in peer) {
    rows.push([`6. Side by side with ${peer.name}`, '', `not measured: ${peer.error.split('\n')[0]}`, '', '']);
  } else if (peer && f.peerRatios) {
    const nr = f.latency.noRouter;
    const tp = f.throughputNoRouter;
    const what = `6. Side by side with ${peer.name} ${peer.version} (one worker, no database), no router: one call each to the same fake provider`;
    rows.push([
      `${what}, added latency p50`,
      `${ms(peer.added.p50)} ${peer.name} (proxy ${ms(peer.proxy.p50)} − direct ${ms(peer.direct.p50)})`,
      `${ms(nr.added.p50)} (socket ${ms(nr.ours.p50)} − direct ${ms(nr.direct.p50)})`,
      ratio(f.peerRatios.added.p50),
      `≤ ${GOALS.peerAddedP50}× ${verdict(f.peerRatios.added.p50 <= GOALS.peerAddedP50)}`,
    ]);
    rows.push([
      `${what}, added latency p99`,
      `${ms(peer.added.p99)} ${peer.name} (proxy ${ms(peer.proxy.p99)} − direct ${ms(peer.direct.p99)})`,
      `${ms(nr.added.p99)} (socket ${ms(nr.ours.p99)} − direct ${ms(nr.direct.p99)})`,
      ratio(f.peerRatios.added.p99),
      '',
    ]);
    rows.push([
      `${what}, throughput: ${peer.clients} clients × ${peer.requests / peer.clients} requests vs ${tp.sessions} sessions × ${tp.perSession} messages`,
      `${rate(peer.requestsPerSecond, 'req/s')} ${peer.name} (${peer.errors} errors; ${rate(peer.directRequestsPerSecond, 'req/s')} straight to the fake provider)`,
      `${rate(tp.messagesPerSecond, 'messages/s')}; ${tp.counts.lost} lost`,
      ratio(f.peerRatios.throughput),
      `≥ ${GOALS.peerThroughput}× ${verdict(f.peerRatios.throughput >= GOALS.peerThroughput)}`,
    ]);
  }
  rows.push(...chatCompletionsRows(f));
  return rows;
}

/**
 * POST /v1/chat/completions beside the LiteLLM proxy: both in front of the same fake provider,
 * both measured against the same floor (the calls made straight to it). Against LiteLLM when it
 * ran (the ratio is ours ÷ LiteLLM's), else against the floor alone.
 */
function chatCompletionsRows(f: Figures): Row[] {
  const chat = f.chatCompletions;
  if (!chat) return [];
  const what = '6. POST /v1/chat/completions (an API key, a named config: one provider call, a one-message session workflow each)';
  if ('error' in chat) return [[what, '', `not measured: ${chat.error.split('\n')[0]}`, '', '']];
  const peer = f.peer && !('error' in f.peer) ? f.peer : undefined;
  const r = f.chatCompletionsRatios;
  const floorRate = (run: { requestsPerSecond: number; directRequestsPerSecond: number }): string =>
    `${ratio(run.requestsPerSecond / run.directRequestsPerSecond)} of the direct floor`;
  /** LiteLLM's figure when it ran, else the floor itself: the same calls straight to the fake provider. */
  const against = (withPeer: string, floorOnly: string): string => (peer ? withPeer : floorOnly);
  return [
    [
      `${what}, added latency p50`,
      against(
        `${ms(peer?.added.p50 ?? NaN)} ${peer?.name ?? ''} (proxy ${ms(peer?.proxy.p50 ?? NaN)} − direct ${ms(peer?.direct.p50 ?? NaN)})`,
        `direct ${ms(chat.direct.p50)}`,
      ),
      `${ms(chat.added.p50)} (endpoint ${ms(chat.proxy.p50)} − direct ${ms(chat.direct.p50)})`,
      r ? ratio(r.added.p50) : '',
      r ? `≤ ${GOALS.peerAddedP50}× ${verdict(r.added.p50 <= GOALS.peerAddedP50)}` : '',
    ],
    [
      `${what}, added latency p99`,
      against(
        `${ms(peer?.added.p99 ?? NaN)} ${peer?.name ?? ''} (proxy ${ms(peer?.proxy.p99 ?? NaN)} − direct ${ms(peer?.direct.p99 ?? NaN)})`,
        `direct ${ms(chat.direct.p99)}`,
      ),
      `${ms(chat.added.p99)} (endpoint ${ms(chat.proxy.p99)} − direct ${ms(chat.direct.p99)})`,
      r ? ratio(r.added.p99) : '',
      '',
    ],
    [
      `${what}, throughput: ${chat.clients} clients × ${chat.requests / Math.max(chat.clients, 1)} requests`,
      against(
        `${rate(peer?.requestsPerSecond ?? NaN, 'req/s')} ${peer?.name ?? ''} (${peer ? floorRate(peer) : ''})`,
        `${rate(chat.directRequestsPerSecond, 'req/s')} straight to the fake provider`,
      ),
      `${rate(chat.requestsPerSecond, 'req/s')} (${chat.errors} errors${chat.firstError ? `, first: ${chat.firstError.slice(0, 80)}` : ''}; ${floorRate(chat)}, ${rate(chat.directRequestsPerSecond, 'req/s')})`,
      r ? ratio(r.throughput) : '',
      r ? `≥ ${GOALS.peerThroughput}× ${verdict(r.throughput >= GOALS.peerThroughput)}` : '',
    ],
  ];
}

function markdownTable(header: string[], rows: string[][]): string {
  const cell = (text: string): string => text.replace(/\|/g, '\\|');
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

function breakdownTable(b: BreakdownFigures): string {
  const rows = b.events.map((e) => {
    const slowest = b.slowest && e.eventId === b.slowest.eventId;
    const name = `${e.type}${e.detail ? ` ${e.detail}` : ''}${e.result ? ' ← result frame' : ''}`;
    return [`+${e.offsetMs.toFixed(1)}`, slowest ? `**${e.gapMs.toFixed(1)}**` : e.gapMs.toFixed(1), slowest ? `**${name}**` : name];
  });
  return markdownTable(['offset (ms)', 'gap (ms)', 'event'], rows);
}

function totalsText(b: BreakdownFigures): string {
  return b.totals
    .filter((t) => t.totalMs >= 0.05)
    .slice(0, 6)
    .map((t) => `${t.step} ${t.totalMs.toFixed(1)} ms (${t.count}×)`)
    .join(', ');
}

/** The section between the performance page's markers. */
export function performanceSection(f: Figures, withChart: boolean): string {
  const b = f.breakdown;
  const lines = [
    PERFORMANCE_TABLE_START,
    `Measured by \`npm run bench\` on ${f.meta.date}: ${f.meta.cores} cores (${f.meta.cpu}), Node ${f.meta.node}, one Temporal dev server and one PostgreSQL for every figure. ` +
      'The fake LLM answers at once, so "added latency" is Switchboard\'s own cost: socket send → `function_call_result` frame minus the same LLM calls made directly with the openai SDK. ' +
      'Each floor is measured in the same run: a bare Workflow Update round trip (its own tiny workflow and worker), a bare Koa handler for REST.',
    '',
    markdownTable(['measure', 'against (same run)', 'Switchboard', 'ratio', 'target'], summaryRows(f)),
    '',
    `Messages lost or failed: latency runs ${countsText(f.latency.router.counts)} (router), ${countsText(f.latency.noRouter.counts)} (no router); ` +
      `long sessions ${countsText(f.longSession.router.counts)} (router), ${countsText(f.longSession.noRouter.counts)} (no router); memory run ${countsText(f.memory.counts)}.`,
    '',
    `**Where one message's time goes** (router LLM; message measured at ${ms(b.socketMs)} on the socket; its history from the \`message\` signal to the client's \`ack\`; ` +
      `result frame produced at +${b.resultOffsetMs.toFixed(1)} ms${b.resultFoundBy === 'payload' ? '' : b.resultFoundBy === 'socket time' ? ' (placed by the socket time: no event carries it)' : ' (the workflow task that recorded the answer; the frame itself travels outside history)'}; slowest step in bold):`,
    '',
    breakdownTable(b),
    '',
    `Up to the result, by the kind of event that ends each gap: ${totalsText(b)}.`,
  ];
  if (withChart) lines.push('', `![Latency distributions: Switchboard, direct LLM calls and the bare update floor](${CHART_LINK})`);
  lines.push(PERFORMANCE_TABLE_END);
  return lines.join('\n');
}

/** Replaces the section between the markers of `file` (the performance page). */
export function writePerformancePage(file: string, section: string): void {
  const text = readFileSync(file, 'utf8');
  const i = text.indexOf(PERFORMANCE_TABLE_START);
  const j = text.indexOf(PERFORMANCE_TABLE_END);
  if (i < 0 || j < i) throw new Error(`${file} has no ${PERFORMANCE_TABLE_START} … ${PERFORMANCE_TABLE_END} section`);
  writeFileSync(file, text.slice(0, i) + section + text.slice(j + PERFORMANCE_TABLE_END.length));
}

export function consoleReport(f: Figures): string {
  const out: string[] = [];
  const rows = summaryRows(f);
  out.push('', 'measure', '    floor (same run) | measured | ratio | target', '-'.repeat(100));
  for (const [measure, floor, ours, r, target] of rows) {
    out.push(measure, `    ${floor || '—'} | ${ours} | ${r || '—'} | ${target || '—'}`);
  }
  const b = f.breakdown;
  out.push('', `one message's history (router; socket ${ms(b.socketMs)}; ${b.workflowId}):`);
  for (const e of b.events) {
    const mark = b.slowest && e.eventId === b.slowest.eventId ? '  ← slowest step' : e.result ? '  ← result frame' : '';
    out.push(
      `  +${e.offsetMs.toFixed(1).padStart(7)} ms  (gap ${e.gapMs.toFixed(1).padStart(6)})  ${e.type}${e.detail ? ` ${e.detail}` : ''}${mark}`,
    );
  }
  out.push(`  up to the result, by the kind of event that ends each gap: ${totalsText(b)}`);
  for (const variant of ['router', 'noRouter'] as const) {
    const l = f.longSession[variant];
    out.push(
      '',
      `long session (${VARIANT_LABEL[variant]}), the five slowest of messages #${l.firstIndex}–#${l.firstIndex + l.messages - 1}:`,
    );
    for (const m of l.slowest) out.push(`  #${String(m.index).padEnd(4)} ${ms(m.ms).padStart(9)}  (${ratio(m.ms / l.ours.p50)} the p50)`);
    out.push(`  at the continue-as-new boundaries: ${indexed(l.boundaries)}`);
  }
  const errors = [
    ...f.latency.router.errors,
    ...f.latency.noRouter.errors,
    ...f.throughput.errors,
    ...f.throughputSeparate.errors,
    ...f.throughputNoRouter.errors,
    ...f.longSession.router.errors,
    ...f.longSession.noRouter.errors,
    ...f.memory.errors,
  ];
  if (errors.length) out.push('', 'errors seen:', ...errors.map((e) => `  ${e}`));
  return out.join('\n');
}

export function chartSeries(samples: Samples): ChartSeries[] {
  return [
    { label: 'Switchboard, router LLM', values: samples.latency.router.ours, color: '#d62728' },
    { label: 'Switchboard, no router', values: samples.latency.noRouter.ours, color: '#ff7f0e' },
    { label: 'Switchboard, long session (router)', values: samples.longSession.router, color: '#9467bd' },
    { label: 'Direct LLM calls (router + execution)', values: samples.latency.router.direct, color: '#1f77b4', dash: '6 3' },
    { label: 'Direct LLM call (one)', values: samples.latency.noRouter.direct, color: '#17becf', dash: '6 3' },
    {
      label: 'Bare Workflow Update (floor)',
      values: [...samples.latency.router.floor, ...samples.latency.noRouter.floor],
      color: '#2ca02c',
    },
  ];
}
