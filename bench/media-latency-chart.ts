// A small SVG line chart for bench/media-latency.ts: one line per series, time on x (seconds from
// each series' first point, so that series measured one after the other share the axis), latency
// on a log-scale y from 10 ms (lower values, within a display frame of 0, sit on the axis) so that
// 30 ms and 5 s fit together.

export interface ChartSeries {
  name: string;
  points: { at: number; value: number }[];
}

const WIDTH = 900;
const HEIGHT = 420;
const MARGIN = { left: 60, right: 290, top: 36, bottom: 40 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
/** Latency bands of ANCHORS.md, shaded behind the lines. */
const BANDS = [
  { from: 0, to: 500, label: 'WebRTC < 500 ms', colour: '#e8f4e8' },
  { from: 2000, to: 3000, label: 'LL-HLS 2–3 s', colour: '#fdf3dc' },
  { from: 6000, to: 30_000, label: 'HLS 6–30 s', colour: '#fbe4e4' },
];

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function latencyChart(series: ChartSeries[], title: string): string {
  const withPoints = series.filter((s) => s.points.length > 0);
  const values = withPoints.flatMap((s) => s.points.map((p) => p.value));
  const low = 10;
  const high = 10 ** Math.ceil(Math.log10(Math.max(...values, 1000)));
  const span = Math.max(1, ...withPoints.map((s) => (s.points.at(-1)!.at - s.points[0]!.at) / 1000));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (seconds: number) => MARGIN.left + (seconds / span) * plotW;
  const y = (ms: number) => MARGIN.top + plotH * (1 - (Math.log10(Math.min(high, Math.max(low, ms))) - Math.log10(low)) / (Math.log10(high) - Math.log10(low)));

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`);
  parts.push(`<text x="${MARGIN.left}" y="20" font-size="14">${escape(title)}</text>`);
  for (const band of BANDS) {
    const top = y(Math.min(band.to, high));
    const bottom = y(Math.max(band.from, low));
    if (bottom <= top) continue;
    parts.push(`<rect x="${MARGIN.left}" y="${top.toFixed(1)}" width="${plotW}" height="${(bottom - top).toFixed(1)}" fill="${band.colour}"/>`);
    parts.push(`<text x="${MARGIN.left + plotW - 4}" y="${(top + 14).toFixed(1)}" text-anchor="end" fill="#888">${escape(band.label)}</text>`);
  }
  for (let decade = low; decade <= high; decade *= 10) {
    for (const step of [1, 2, 5]) {
      const ms = decade * step;
      if (ms > high) break;
      parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(ms).toFixed(1)}" y2="${y(ms).toFixed(1)}" stroke="#ddd"/>`);
      parts.push(`<text x="${MARGIN.left - 6}" y="${(y(ms) + 4).toFixed(1)}" text-anchor="end">${ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`}</text>`);
    }
  }
  const tick = span > 60 ? 10 : 5;
  for (let s = 0; s <= span; s += tick) parts.push(`<text x="${x(s).toFixed(1)}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${s}</text>`);
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 8}" text-anchor="middle">seconds since the series' first frame</text>`);
  withPoints.forEach((s, index) => {
    const colour = COLOURS[index % COLOURS.length]!;
    const start = s.points[0]!.at;
    const path = s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x((p.at - start) / 1000).toFixed(1)},${y(p.value).toFixed(1)}`).join('');
    parts.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="1"/>`);
    const legendY = MARGIN.top + 16 + index * 18;
    parts.push(`<line x1="${WIDTH - MARGIN.right + 12}" x2="${WIDTH - MARGIN.right + 32}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${colour}" stroke-width="2"/>`);
    parts.push(`<text x="${WIDTH - MARGIN.right + 38}" y="${legendY}">${escape(s.name)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
