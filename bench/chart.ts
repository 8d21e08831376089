// Goal 7: the latency distributions as cumulative curves in a hand-made SVG (log-scale x axis).

export interface ChartSeries {
  label: string;
  values: readonly number[];
  color: string;
  dash?: string;
}

const WIDTH = 960;
const HEIGHT = 470;
const PLOT = { left: 70, right: 600, top: 60, bottom: 400 };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function tickLabel(value: number): string {
  if (value >= 1000) return `${value / 1000} s`;
  return `${value} ms`;
}

export function latencyCdfSvg(series: readonly ChartSeries[], title: string, subtitle: string): string {
  const drawn = series.filter((s) => s.values.some((v) => Number.isFinite(v) && v > 0));
  const all = drawn.flatMap((s) => s.values.filter((v) => Number.isFinite(v) && v > 0));
  const lowest = all.length ? Math.min(...all) : 1;
  const highest = all.length ? Math.max(...all) : 10;
  const minExp = Math.floor(Math.log10(Math.max(lowest, 0.01)));
  const maxExp = Math.max(minExp + 1, Math.ceil(Math.log10(highest)));
  const x = (v: number): number => {
    const clamped = Math.min(Math.max(v, 10 ** minExp), 10 ** maxExp);
    return PLOT.left + ((Math.log10(clamped) - minExp) / (maxExp - minExp)) * (PLOT.right - PLOT.left);
  };
  const y = (fraction: number): number => PLOT.bottom - fraction * (PLOT.bottom - PLOT.top);
  const f = (n: number): string => n.toFixed(1);

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${PLOT.left}" y="26" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${PLOT.left}" y="44" fill="#555555">${escapeXml(subtitle)}</text>`,
  );
  // Grid: decades with 2 and 5 between them; fractions with the percentiles that matter.
  for (let e = minExp; e <= maxExp; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (e === maxExp && m > 1) continue;
      const gx = f(x(v));
      parts.push(`<line x1="${gx}" y1="${PLOT.top}" x2="${gx}" y2="${PLOT.bottom}" stroke="${m === 1 ? '#cccccc' : '#eeeeee'}"/>`);
      if (m === 1 || maxExp - minExp <= 3) {
        const label = Number(v.toPrecision(3));
        parts.push(`<text x="${gx}" y="${PLOT.bottom + 18}" text-anchor="middle" fill="#333333">${tickLabel(label)}</text>`);
      }
    }
  }
  for (const fraction of [0, 0.25, 0.5, 0.75, 0.9, 0.99]) {
    const gy = f(y(fraction));
    const strong = fraction === 0.5 || fraction === 0.99;
    parts.push(
      `<line x1="${PLOT.left}" y1="${gy}" x2="${PLOT.right}" y2="${gy}" stroke="${strong ? '#bbbbbb' : '#eeeeee'}"${strong ? ' stroke-dasharray="4 3"' : ''}/>`,
    );
    parts.push(
      `<text x="${PLOT.left - 8}" y="${f(y(fraction) + 4)}" text-anchor="end" fill="#333333">${(fraction * 100).toFixed(0)}%</text>`,
    );
  }
  parts.push(
    `<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="#888888"/>`,
    `<text x="${(PLOT.left + PLOT.right) / 2}" y="${PLOT.bottom + 40}" text-anchor="middle" fill="#333333">latency (log scale)</text>`,
    `<text x="18" y="${(PLOT.top + PLOT.bottom) / 2}" text-anchor="middle" fill="#333333" transform="rotate(-90 18 ${(PLOT.top + PLOT.bottom) / 2})">share of requests at or below</text>`,
  );
  // One step curve per series.
  for (const s of drawn) {
    const sorted = s.values.filter((v) => Number.isFinite(v) && v > 0).sort((a, b) => a - b);
    let d = `M${f(x(sorted[0]))},${f(y(0))}`;
    sorted.forEach((v, i) => {
      d += ` H${f(x(v))} V${f(y((i + 1) / sorted.length))}`;
    });
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
  }
  // Legend with each series' p50 / p99.
  let ly = PLOT.top + 10;
  for (const s of drawn) {
    const sorted = s.values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
    const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
    const fmt = (v: number): string => (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));
    parts.push(
      `<line x1="${PLOT.right + 20}" y1="${ly}" x2="${PLOT.right + 48}" y2="${ly}" stroke="${s.color}" stroke-width="3"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
      `<text x="${PLOT.right + 56}" y="${ly + 4}">${escapeXml(s.label)}</text>`,
      `<text x="${PLOT.right + 56}" y="${ly + 19}" fill="#555555">p50 ${fmt(at(50))} ms, p99 ${fmt(at(99))} ms, n=${sorted.length}</text>`,
    );
    ly += 44;
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
