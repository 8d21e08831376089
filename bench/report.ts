// The figures as tables: the README section between the bench markers, and the console summary.
import { readFileSync, writeFileSync } from 'node:fs';
import type { BreakdownFigures, Figures, LatencyFigures, Samples } from './bench';
import type { ChartSeries } from './chart';
import type { Counts, Variant } from './messages';
import type { RestMeasure, RestProcess, RestRoute } from './rest';
import { kib, ms, rate, ratio } from './stats';

export const README_START = '<!-- bench:start -->';
export const README_END = '<!-- bench:end -->';
export const CHART_PATH = 'docs/bench-latency.svg';

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

function latencyRows(variant: Variant, l: LatencyFigures): Row[] {
  const what = `1. Added latency per message, ${VARIANT_LABEL[variant]}`;
  return [
    [
      `${what}, p50`,
      `${ms(l.floor.p50)} bare update`,
      `${ms(l.added.p50)} (socket ${ms(l.ours.p50)} − direct ${ms(l.direct.p50)})`,
      ratio(l.ratio.p50),
      `≤ 2× ${verdict(l.ratio.p50 <= 2)}`,
    ],
    [
      `${what}, p99`,
      `${ms(l.floor.p99)} bare update`,
      `${ms(l.added.p99)} (socket ${ms(l.ours.p99)} − direct ${ms(l.direct.p99)})`,
      ratio(l.ratio.p99),
      `≤ 3× ${verdict(l.ratio.p99 <= 3)}`,
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
        `≥ 0.5× ${verdict(r.requestsPerSecond >= 0.5)}`,
      ]);
      rows.push([`${label}, p99`, ms(floor.p99), ms(m.p99), ratio(r.p99), `≤ 2× ${verdict(r.p99 <= 2)}`]);
    }
  }
  return rows;
}

function throughputRows(t: Figures['throughput'], where: string): Row[] {
  return [
    [
      `2. Throughput, ${t.sessions} sessions × ${t.perSession} messages back to back (router LLM), ${where}`,
      `${rate(t.floor.updatesPerSecond, 'updates/s')} (${t.floor.workflows} workflows)`,
      `${rate(t.messagesPerSecond, 'messages/s')}; ${countsText(t.counts)}`,
      ratio(t.ratio),
      `≥ 0.5× ${verdict(t.ratio >= 0.5)}`,
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
    ...latencyRows('router', f.latency.router),
    ...latencyRows('noRouter', f.latency.noRouter),
    ...throughputRows(f.throughput, 'servers and clients in one process'),
    ...throughputRows(f.throughputSeparate, 'servers in processes of their own'),
    ...restRows(f),
    [
      `4. Gateway memory per idle open socket (${m.sessions} sessions), RSS / heap`,
      '',
      `${kib(m.gateway.rssPerSession)} / ${kib(m.gateway.heapPerSession)}`,
      '',
      `≤ 30 KiB ${verdict(m.gateway.rssPerSession <= 30 * 1024)}`,
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
    rows.push([`6. Peer: ${peer.name}`, '', `not measured: ${peer.error.split('\n')[0]}`, '', '']);
  } else if (peer) {
    const nr = f.latency.noRouter;
    rows.push([
      `6. Peer: ${peer.name} ${peer.version}, added latency per call p50 / p99 (Switchboard without router: ${ms(nr.added.p50)} / ${ms(nr.added.p99)})`,
      `${ms(nr.floor.p50)} / ${ms(nr.floor.p99)} bare update`,
      `${ms(peer.added.p50)} / ${ms(peer.added.p99)}`,
      `${ratio(peer.added.p50 / nr.floor.p50)} / ${ratio(peer.added.p99 / nr.floor.p99)}`,
      'peer',
    ]);
    rows.push([
      `6. Peer: ${peer.name}, requests/s with ${peer.clients} concurrent clients (${peer.requests} answered, ${peer.errors} errors)`,
      `${rate(peer.directRequestsPerSecond, 'req/s')} direct to the fake LLM`,
      rate(peer.requestsPerSecond, 'req/s'),
      ratio(peer.requestsPerSecond / peer.directRequestsPerSecond),
      'peer',
    ]);
  }
  return rows;
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

export function readmeSection(f: Figures, withChart: boolean): string {
  const b = f.breakdown;
  const lines = [
    README_START,
    `Measured by \`npm run bench\` on ${f.meta.date}: ${f.meta.cores} cores (${f.meta.cpu}), Node ${f.meta.node}, one Temporal dev server and one PostgreSQL for every figure. ` +
      'The fake LLM answers at once, so "added latency" is Switchboard\'s own cost: socket send → `function_call_result` frame minus the same LLM calls made directly with the openai SDK. ' +
      'Each floor is measured in the same run: a bare Workflow Update round trip (its own tiny workflow and worker), a bare Koa handler for REST.',
    '',
    markdownTable(['measure', 'floor (same run)', 'Switchboard', 'ratio', 'target'], summaryRows(f)),
    '',
    `Messages lost or failed: latency runs ${countsText(f.latency.router.counts)} (router), ${countsText(f.latency.noRouter.counts)} (no router); memory run ${countsText(f.memory.counts)}.`,
    '',
    `**Where one message's time goes** (router LLM; message measured at ${ms(b.socketMs)} on the socket; its history from the \`message\` signal to the client's \`ack\`; ` +
      `result frame produced at +${b.resultOffsetMs.toFixed(1)} ms${b.resultFoundBy === 'payload' ? '' : b.resultFoundBy === 'socket time' ? ' (placed by the socket time: no event carries it)' : ' (the workflow task that recorded the answer; the frame itself travels outside history)'}; slowest step in bold):`,
    '',
    breakdownTable(b),
    '',
    `Up to the result, by the kind of event that ends each gap: ${totalsText(b)}.`,
  ];
  if (withChart) lines.push('', `![Latency distributions: Switchboard, direct LLM calls and the bare update floor](${CHART_PATH})`);
  lines.push(README_END);
  return lines.join('\n');
}

export function writeReadme(file: string, section: string): void {
  const text = readFileSync(file, 'utf8');
  const i = text.indexOf(README_START);
  const j = text.indexOf(README_END);
  if (i < 0 || j < i) throw new Error(`${file} has no ${README_START} … ${README_END} section`);
  writeFileSync(file, text.slice(0, i) + section + text.slice(j + README_END.length));
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
  const errors = [
    ...f.latency.router.errors,
    ...f.latency.noRouter.errors,
    ...f.throughput.errors,
    ...f.throughputSeparate.errors,
    ...f.memory.errors,
  ];
  if (errors.length) out.push('', 'errors seen:', ...errors.map((e) => `  ${e}`));
  return out.join('\n');
}

export function chartSeries(samples: Samples): ChartSeries[] {
  return [
    { label: 'Switchboard, router LLM', values: samples.latency.router.ours, color: '#d62728' },
    { label: 'Switchboard, no router', values: samples.latency.noRouter.ours, color: '#ff7f0e' },
    { label: 'Direct LLM calls (router + execution)', values: samples.latency.router.direct, color: '#1f77b4', dash: '6 3' },
    { label: 'Direct LLM call (one)', values: samples.latency.noRouter.direct, color: '#17becf', dash: '6 3' },
    {
      label: 'Bare Workflow Update (floor)',
      values: [...samples.latency.router.floor, ...samples.latency.noRouter.floor],
      color: '#2ca02c',
    },
  ];
}
