// The creator's weekly report: one standalone HTML page (inline CSS, hand-drawn inline SVG charts,
// nothing fetched) that prints on A4, and its PDF, printed by headless Chromium. Every string that
// came from users (titles, ids, reasons, alert messages) is escaped; every ratio is guarded so that
// an empty week reads "no plays this week" instead of NaN.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { escapeHtml } from '../shared/html.js';

export interface ReportTotals {
  plays: number;
  listeners: number;
  listenHours: number;
  likes: number;
  shares: number;
  purchases: number;
  /** Revenue in the currency's minor unit (cents). */
  revenueMinor: number;
  currency: string | null;
}

export interface WeeklyReport {
  creatorId: string;
  tenantId: string;
  /** ISO date, inclusive. */
  from: string;
  /** ISO date, exclusive. */
  to: string;
  generatedAt: string;
  totals: ReportTotals;
  previousTotals: ReportTotals | null;
  daily: { day: string; plays: number; listeners: number }[];
  topTracks: { trackId: string; title: string | null; plays: number; /** 0..1 */ completionRate: number }[];
  funnel: { step: 'stream' | 'like' | 'share' | 'purchase'; users: number }[];
  /** Listeners per timeline bucket of one track (e.g. 50 buckets from start to end). */
  heatmap: { trackId: string; title: string | null; buckets: number[] } | null;
  churn: { atRisk: number; users: { userId: string; score: number; reasons: string[] }[] } | null;
  alerts: { at: string; kind: string; message: string }[];
}

/** Why a report could not be printed: Chromium missing, failing or too slow. */
export class ReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportError';
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting

const finite = (value: number) => (Number.isFinite(value) ? value : 0);
const count = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '—');
const percent = (ratio: number, digits = 1) => (Number.isFinite(ratio) ? `${(ratio * 100).toFixed(digits)}%` : '—');
/** Coordinates in SVG: one decimal, and never NaN. */
const px = (value: number) => finite(value).toFixed(1);

function money(minor: number, currency: string | null): string {
  if (!Number.isFinite(minor)) return '—';
  if (currency === null) return (minor / 100).toFixed(2);
  try {
    const format = new Intl.NumberFormat('en-US', { style: 'currency', currency });
    const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    return format.format(minor / 10 ** digits);
  } catch {
    // Not an ISO 4217 code: show the amount with the code as it was given.
    return `${(minor / 100).toFixed(2)} ${escapeHtml(currency)}`;
  }
}

function parseDay(day: string): Date | null {
  const date = new Date(`${day.slice(0, 10)}T00:00:00Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "Mon 17" for an ISO day; the escaped text itself when it is not one. */
function dayLabel(day: string): string {
  const date = parseDay(day);
  if (!date) return escapeHtml(day);
  return `${date.toLocaleDateString('en-US', { weekday: 'short', timeZone: 'UTC' })} ${date.getUTCDate()}`;
}

/** The last day of the period (`to` is exclusive). */
function lastDay(to: string): string {
  const date = parseDay(to);
  if (!date) return escapeHtml(to);
  return new Date(date.getTime() - 86_400_000).toISOString().slice(0, 10);
}

/** ▲/▼ and the relative change from the previous week; "new" when last week had none. */
function change(current: number, previous: number | null): string {
  if (previous === null || !Number.isFinite(previous) || !Number.isFinite(current)) return '<span class="flat">—</span>';
  if (previous === 0) return current === 0 ? '<span class="flat">0%</span>' : '<span class="up">▲ new</span>';
  const ratio = (current - previous) / Math.abs(previous);
  if (ratio === 0) return '<span class="flat">0%</span>';
  return ratio > 0 ? `<span class="up">▲ ${percent(ratio)}</span>` : `<span class="down">▼ ${percent(-ratio)}</span>`;
}

/** A round step for about `ticks` gridlines up to `max` (> 0), and the axis top it gives. */
function niceAxis(max: number, ticks = 4): { step: number; top: number } {
  const raw = max / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  const step = Math.max(1, (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * magnitude);
  return { step, top: Math.ceil(max / step) * step };
}

const NO_PLAYS = '<p class="empty">No plays this week.</p>';

// ---------------------------------------------------------------------------------------------
// Charts (inline SVG, 680 px wide: the A4 text width at 96 dpi less the margins)

const CHART_WIDTH = 680;
const PLAYS_COLOUR = '#3b6fb6';
const LISTENERS_COLOUR = '#e07b24';

function dailyChart(daily: WeeklyReport['daily']): string {
  const days = daily.map((d) => ({ day: d.day, plays: Math.max(0, finite(d.plays)), listeners: Math.max(0, finite(d.listeners)) }));
  const max = Math.max(0, ...days.map((d) => Math.max(d.plays, d.listeners)));
  if (days.length === 0 || max === 0) return NO_PLAYS;
  const height = 260;
  const margin = { left: 56, right: 12, top: 28, bottom: 44 };
  const plotW = CHART_WIDTH - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const { step, top } = niceAxis(max);
  const band = plotW / days.length;
  const x = (index: number) => margin.left + band * index + band / 2;
  const y = (value: number) => margin.top + plotH * (1 - value / top);

  const parts = [`<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${CHART_WIDTH} ${height}" width="${CHART_WIDTH}" height="${height}" role="img" aria-label="Daily plays">`];
  for (let value = 0; value <= top; value += step) {
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${px(y(value))}" y2="${px(y(value))}" stroke="${value === 0 ? '#666' : '#e3e3e3'}"/>`);
    parts.push(`<text x="${margin.left - 6}" y="${px(y(value) + 4)}" text-anchor="end">${count(value)}</text>`);
  }
  const barW = Math.min(56, band * 0.64);
  days.forEach((d, index) => {
    const barTop = y(d.plays);
    parts.push(`<rect x="${px(x(index) - barW / 2)}" y="${px(barTop)}" width="${px(barW)}" height="${px(y(0) - barTop)}" fill="${PLAYS_COLOUR}"><title>${escapeHtml(d.day)}: ${count(d.plays)} plays, ${count(d.listeners)} listeners</title></rect>`);
    if (days.length <= 14) parts.push(`<text x="${px(x(index))}" y="${px(barTop - 4)}" text-anchor="middle" class="value">${count(d.plays)}</text>`);
    if (days.length <= 14 || index % Math.ceil(days.length / 14) === 0) {
      parts.push(`<text x="${px(x(index))}" y="${height - margin.bottom + 16}" text-anchor="middle">${dayLabel(d.day)}</text>`);
    }
  });
  const line = days.map((d, index) => `${index === 0 ? 'M' : 'L'}${px(x(index))},${px(y(d.listeners))}`).join('');
  parts.push(`<path d="${line}" fill="none" stroke="${LISTENERS_COLOUR}" stroke-width="2"/>`);
  for (const [index, d] of days.entries()) parts.push(`<circle cx="${px(x(index))}" cy="${px(y(d.listeners))}" r="3.5" fill="${LISTENERS_COLOUR}"/>`);
  parts.push(`<text x="14" y="${px(margin.top + plotH / 2)}" text-anchor="middle" transform="rotate(-90 14 ${px(margin.top + plotH / 2)})">plays / listeners</text>`);
  parts.push(`<text x="${px(margin.left + plotW / 2)}" y="${height - 6}" text-anchor="middle">day (UTC)</text>`);
  const legendX = CHART_WIDTH - margin.right - 190;
  parts.push(`<rect x="${legendX}" y="6" width="12" height="12" fill="${PLAYS_COLOUR}"/><text x="${legendX + 17}" y="16">plays</text>`);
  parts.push(`<line x1="${legendX + 80}" x2="${legendX + 100}" y1="12" y2="12" stroke="${LISTENERS_COLOUR}" stroke-width="2"/><circle cx="${legendX + 90}" cy="12" r="3.5" fill="${LISTENERS_COLOUR}"/><text x="${legendX + 105}" y="16">listeners</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

const STEP_LABELS: Record<WeeklyReport['funnel'][number]['step'], string> = { stream: 'Streamed', like: 'Liked', share: 'Shared', purchase: 'Purchased' };

function funnelChart(funnel: WeeklyReport['funnel']): string {
  const steps = funnel.map((s) => ({ step: s.step, users: Math.max(0, finite(s.users)) }));
  const widest = Math.max(0, ...steps.map((s) => s.users));
  if (steps.length === 0 || widest === 0) return NO_PLAYS;
  const labelW = 96;
  const barMax = CHART_WIDTH - labelW - 90;
  const rowH = 26;
  const gap = 22;
  const height = steps.length * rowH + (steps.length - 1) * gap + 8;
  const parts = [`<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${CHART_WIDTH} ${height}" width="${CHART_WIDTH}" height="${height}" role="img" aria-label="Funnel">`];
  steps.forEach((s, index) => {
    const top = 4 + index * (rowH + gap);
    const width = Math.max(2, (s.users / widest) * barMax);
    const shade = ['#3b6fb6', '#5a8bcc', '#7ea7dc', '#a6c4ea'][index % 4]!;
    parts.push(`<text x="${labelW - 8}" y="${top + rowH / 2 + 4}" text-anchor="end">${escapeHtml(STEP_LABELS[s.step] ?? s.step)}</text>`);
    parts.push(`<rect x="${labelW}" y="${top}" width="${px(width)}" height="${rowH}" fill="${shade}"/>`);
    parts.push(`<text x="${px(labelW + width + 6)}" y="${top + rowH / 2 + 4}">${count(s.users)} users</text>`);
    if (index > 0) {
      const previous = steps[index - 1]!.users;
      const text = previous > 0 ? `↓ ${percent(s.users / previous)} of ${escapeHtml(STEP_LABELS[steps[index - 1]!.step] ?? steps[index - 1]!.step).toLowerCase()}` : '↓ —';
      parts.push(`<text x="${labelW + 4}" y="${top - 6}" class="conversion">${text}</text>`);
    }
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** White → deep blue as `t` goes 0 → 1. */
function heat(t: number): string {
  const from = [239, 245, 252];
  const to = [8, 48, 107];
  const mix = from.map((c, i) => Math.round(c + (to[i]! - c) * Math.min(1, Math.max(0, finite(t)))));
  return `rgb(${mix.join(',')})`;
}

function heatmapChart(heatmap: NonNullable<WeeklyReport['heatmap']>): string {
  const buckets = heatmap.buckets.map((b) => Math.max(0, finite(b)));
  const max = Math.max(0, ...buckets);
  if (buckets.length === 0 || max === 0) return NO_PLAYS;
  const left = 20;
  const stripW = CHART_WIDTH - 2 * left;
  const stripTop = 8;
  const stripH = 44;
  const height = 128;
  const cell = stripW / buckets.length;
  const parts = [`<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${CHART_WIDTH} ${height}" width="${CHART_WIDTH}" height="${height}" role="img" aria-label="Listening heat-map">`];
  buckets.forEach((listeners, index) => {
    // The extra 0.5 px hides the hairline gaps between anti-aliased cells.
    parts.push(`<rect x="${px(left + index * cell)}" y="${stripTop}" width="${px(cell + 0.5)}" height="${stripH}" fill="${heat(listeners / max)}"><title>${percent(index / buckets.length, 0)}–${percent((index + 1) / buckets.length, 0)}: ${count(listeners)} listeners</title></rect>`);
  });
  parts.push(`<rect x="${left}" y="${stripTop}" width="${stripW}" height="${stripH}" fill="none" stroke="#999"/>`);
  for (const [fraction, label, anchor] of [[0, '0%', 'start'], [0.5, '50%', 'middle'], [1, '100% of the track', 'end']] as const) {
    const at = left + fraction * stripW;
    parts.push(`<line x1="${px(at)}" x2="${px(at)}" y1="${stripTop + stripH}" y2="${stripTop + stripH + 6}" stroke="#666"/>`);
    parts.push(`<text x="${px(at)}" y="${stripTop + stripH + 20}" text-anchor="${anchor}">${label}</text>`);
  }
  const scaleTop = stripTop + stripH + 40;
  parts.push('<defs><linearGradient id="heat-scale">' + `<stop offset="0" stop-color="${heat(0)}"/><stop offset="1" stop-color="${heat(1)}"/>` + '</linearGradient></defs>');
  parts.push(`<text x="${left}" y="${scaleTop + 11}">listeners:</text>`);
  parts.push(`<text x="${left + 120}" y="${scaleTop + 11}" text-anchor="end">0</text>`);
  parts.push(`<rect x="${left + 126}" y="${scaleTop}" width="200" height="14" fill="url(#heat-scale)" stroke="#999"/>`);
  parts.push(`<text x="${left + 332}" y="${scaleTop + 11}">${count(max)}</text>`);
  const first = buckets[0]!;
  const last = buckets.at(-1)!;
  if (first > 0) parts.push(`<text x="${left + stripW}" y="${scaleTop + 11}" text-anchor="end">${percent(last / first, 0)} of starting listeners reach the end</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Tables

function totalsTable(totals: ReportTotals, previous: ReportTotals | null): string {
  const rows: [string, number, number | null, (value: number) => string][] = [
    ['Plays', totals.plays, previous?.plays ?? null, count],
    ['Listeners', totals.listeners, previous?.listeners ?? null, count],
    ['Listening hours', totals.listenHours, previous?.listenHours ?? null, (v) => (Number.isFinite(v) ? v.toFixed(1) : '—')],
    ['Likes', totals.likes, previous?.likes ?? null, count],
    ['Shares', totals.shares, previous?.shares ?? null, count],
    ['Purchases', totals.purchases, previous?.purchases ?? null, count],
    ['Revenue', totals.revenueMinor, previous?.revenueMinor ?? null, (v) => money(v, totals.currency)],
  ];
  const body = rows
    .map(([label, current, before, format]) => `<tr><th scope="row">${label}</th><td class="num">${format(current)}</td><td class="num">${before === null ? '—' : format(before)}</td><td class="num">${change(current, before)}</td></tr>`)
    .join('\n');
  return `<table><thead><tr><th>Metric</th><th class="num">This week</th><th class="num">Previous week</th><th class="num">Change</th></tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function topTracksTable(tracks: WeeklyReport['topTracks']): string {
  if (tracks.length === 0) return NO_PLAYS;
  const body = tracks
    .map((t, index) => `<tr><td class="num">${index + 1}</td><td>${escapeHtml(t.title ?? t.trackId)}${t.title === null ? '' : `<div class="muted">${escapeHtml(t.trackId)}</div>`}</td><td class="num">${count(t.plays)}</td><td class="num">${percent(t.completionRate)}</td></tr>`)
    .join('\n');
  return `<table><thead><tr><th class="num">#</th><th>Track</th><th class="num">Plays</th><th class="num">Completion</th></tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function churnSection(churn: WeeklyReport['churn']): string {
  if (churn === null) return '<p class="empty">No churn prediction for this period.</p>';
  const head = `<p>${count(churn.atRisk)} listener${churn.atRisk === 1 ? '' : 's'} at risk of not coming back.</p>`;
  if (churn.users.length === 0) return head;
  const body = churn.users
    .map((u) => `<tr><td>${escapeHtml(u.userId)}</td><td class="num">${percent(u.score, 0)}</td><td>${u.reasons.length === 0 ? '—' : u.reasons.map(escapeHtml).join('; ')}</td></tr>`)
    .join('\n');
  return `${head}<table><thead><tr><th>Listener</th><th class="num">Risk</th><th>Reasons</th></tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function alertsSection(alerts: WeeklyReport['alerts']): string {
  if (alerts.length === 0) return '<p class="empty">No alerts this week.</p>';
  return `<ul class="alerts">\n${alerts.map((a) => `<li><span class="muted">${escapeHtml(a.at)}</span> <strong>${escapeHtml(a.kind)}</strong> ${escapeHtml(a.message)}</li>`).join('\n')}\n</ul>`;
}

const CSS = `
@page { size: A4; margin: 14mm 15mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 11pt; color: #1d1d1f; margin: 0 auto; max-width: 720px; padding: 16px; line-height: 1.35; }
@media print { body { padding: 0; max-width: none; } }
h1 { font-size: 18pt; margin: 0 0 4px; }
h2 { font-size: 13pt; margin: 0 0 8px; border-bottom: 1px solid #ccc; padding-bottom: 3px; }
section { margin: 18px 0; break-inside: avoid; page-break-inside: avoid; }
.meta, .muted { color: #666; font-size: 9pt; }
table { border-collapse: collapse; width: 100%; font-size: 10pt; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e3e3; vertical-align: top; }
thead th { background: #f2f4f7; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.up { color: #1a7f37; } .down { color: #c62828; } .flat { color: #666; }
.empty { color: #666; font-style: italic; }
svg.chart { display: block; max-width: 100%; height: auto; font-family: inherit; font-size: 11px; fill: #333; }
svg.chart .value { font-size: 10px; fill: #555; }
svg.chart .conversion { font-size: 10px; fill: #555; }
ul.alerts { padding-left: 18px; margin: 0; } ul.alerts li { margin: 3px 0; }
`;

/** A tenant's look on its reports: its theme's name, colours and font, and its header and footer. */
export interface ReportBrand {
  name: string;
  /** A data: image (the report fetches nothing); an https logo is left out. */
  logo: string | null;
  colours: { background: string; text: string; muted: string; accent: string };
  fontFamily: string;
  /** HTML-safe text (the template filled with escaped values), under the title and at the foot. */
  headerHtml?: string;
  footerHtml?: string;
}

const HEX = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;
const FONT = /^[A-Za-z0-9 ,'"-]{1,200}$/;

/** The brand's CSS; anything that is not a plain colour or family list is left out rather than trusted. */
function brandCss(brand: ReportBrand): string {
  const { background, text, muted, accent } = brand.colours;
  if (![background, text, muted, accent].every((c) => HEX.test(c))) return '';
  return `
header.brand { background: ${background}; color: ${text}; padding: 10px 14px; border-radius: 6px; display: flex; gap: 12px; align-items: center; }
header.brand .meta { color: ${muted}; }
header.brand img { max-height: 40px; max-width: 160px; }
h2 { border-bottom-color: ${accent}; }
${FONT.test(brand.fontFamily) ? `body { font-family: ${brand.fontFamily}, "DejaVu Sans", Arial, sans-serif; }` : ''}
`;
}

/** The report as one standalone HTML document (no external resources), ready to print on A4. */
export function renderReportHtml(report: WeeklyReport, brand: ReportBrand | null = null): string {
  const logo = brand?.logo?.startsWith('data:image/') ? `<img src="${escapeHtml(brand.logo)}" alt="">` : '';
  const heatmap = report.heatmap;
  const heatmapBody = heatmap === null ? '<p class="empty">No track heat-map for this period.</p>' : `<p>${escapeHtml(heatmap.title ?? heatmap.trackId)} <span class="muted">— listeners at each position along the track</span></p>\n${heatmapChart(heatmap)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${brand ? `${escapeHtml(brand.name)} · ` : ''}Weekly report ${escapeHtml(report.from)} – ${lastDay(report.to)}</title>
<style>${CSS}${brand ? brandCss(brand) : ''}</style>
</head>
<body>
<header${brand ? ' class="brand"' : ''}>${logo}<div>
<h1>${brand ? `${escapeHtml(brand.name)} · ` : ''}Weekly report</h1>
<div class="meta">Creator ${escapeHtml(report.creatorId)} · tenant ${escapeHtml(report.tenantId)} · ${escapeHtml(report.from)} to ${lastDay(report.to)} (UTC) · generated ${escapeHtml(report.generatedAt)}</div>
${brand?.headerHtml ? `<p class="brand-header">${brand.headerHtml}</p>` : ''}</div>
</header>
<section><h2>Totals</h2>
${totalsTable(report.totals, report.previousTotals)}
</section>
<section><h2>Daily plays</h2>
${dailyChart(report.daily)}
</section>
<section><h2>Funnel</h2>
${funnelChart(report.funnel)}
</section>
<section><h2>Where listeners drop off</h2>
${heatmapBody}
</section>
<section><h2>Top tracks</h2>
${topTracksTable(report.topTracks)}
</section>
<section><h2>Listeners at risk</h2>
${churnSection(report.churn)}
</section>
<section><h2>Alerts</h2>
${alertsSection(report.alerts)}
</section>
${brand?.footerHtml ? `<footer class="muted">${brand.footerHtml}</footer>` : ''}
</body>
</html>
`;
}

// ---------------------------------------------------------------------------------------------
// PDF

const DEFAULT_CHROMIUM = '/usr/bin/chromium';
const INSTALL_HINT = 'apt-get install chromium (or set CHROMIUM_PATH)';

/** The given binary, else Debian's /usr/bin/chromium, else chromium or chromium-browser on PATH. */
function locateChromium(explicit: string | undefined): { binary: string | null; tried: string[] } {
  if (explicit !== undefined && explicit !== '') return { binary: explicit, tried: [explicit] };
  const tried = [DEFAULT_CHROMIUM];
  if (existsSync(DEFAULT_CHROMIUM)) return { binary: DEFAULT_CHROMIUM, tried };
  for (const name of ['chromium', 'chromium-browser']) {
    for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
      const candidate = path.join(dir, name);
      tried.push(candidate);
      if (existsSync(candidate)) return { binary: candidate, tried };
    }
  }
  return { binary: null, tried };
}

/** The last lines of Chromium's stderr, less the D-Bus complaints it prints in every container. */
function stderrTail(stderr: string): string {
  const lines = stderr.split('\n').filter((line) => line.trim() !== '' && !/ERROR:dbus\//.test(line));
  return lines.slice(-12).join('\n') || '(no stderr)';
}

/**
 * Prints `html` to PDF with headless Chromium (A4, from the page's @page rule, no header or footer)
 * and returns the file's bytes. The HTML, the profile and the PDF live in a temp dir that is removed
 * afterwards; Chromium and its children are killed after `timeoutMs` (default 60 s).
 */
export async function renderPdf(html: string, options: { chromium?: string; timeoutMs?: number } = {}): Promise<Buffer> {
  const { binary, tried } = locateChromium(options.chromium ?? process.env.CHROMIUM_PATH);
  if (binary === null) throw new ReportError(`Chromium not found (tried ${tried.join(', ')}): ${INSTALL_HINT}`);
  if (path.isAbsolute(binary) && !existsSync(binary)) throw new ReportError(`Chromium not found at ${binary}: ${INSTALL_HINT}`);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const dir = await mkdtemp(path.join(tmpdir(), 'veza-report-'));
  try {
    const htmlFile = path.join(dir, 'report.html');
    const pdfFile = path.join(dir, 'report.pdf');
    await writeFile(htmlFile, html);
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-extensions',
      // A profile of its own: two reports printed at once must not share (and lock) one.
      `--user-data-dir=${path.join(dir, 'profile')}`,
      // Chromium ≥ 120 spells it --no-pdf-header-footer, older ones --print-to-pdf-no-header; each
      // ignores the other.
      '--no-pdf-header-footer',
      '--print-to-pdf-no-header',
      `--print-to-pdf=${pdfFile}`,
      pathToFileURL(htmlFile).href,
    ];
    const { code, signal, stderr, timedOut } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; timedOut: boolean }>((resolve, reject) => {
      // Its own process group, so that a timeout kills the renderer and GPU processes too.
      const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
      let err = '';
      let timedOut = false;
      child.stderr.on('data', (chunk: Buffer) => (err = (err + chunk.toString()).slice(-20_000)));
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, timeoutMs);
      child.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(error.code === 'ENOENT' ? new ReportError(`Chromium not found at ${binary}: ${INSTALL_HINT}`) : new ReportError(`Chromium at ${binary} could not start: ${error.message}`));
      });
      child.once('close', (exitCode, exitSignal) => {
        clearTimeout(timer);
        resolve({ code: exitCode, signal: exitSignal, stderr: err, timedOut });
      });
    });
    if (timedOut) throw new ReportError(`Chromium at ${binary} did not print the report within ${timeoutMs} ms and was killed; stderr:\n${stderrTail(stderr)}`);
    if (code !== 0) throw new ReportError(`Chromium at ${binary} failed (${code === null ? `signal ${String(signal)}` : `exit ${code}`}); stderr:\n${stderrTail(stderr)}`);
    const pdf = await readFile(pdfFile).catch(() => null);
    if (pdf === null || pdf.subarray(0, 5).toString('latin1') !== '%PDF-') {
      throw new ReportError(`Chromium at ${binary} exited without writing a PDF; stderr:\n${stderrTail(stderr)}`);
    }
    return pdf;
  } finally {
    await rm(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
  }
}
