import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderPdf, renderReportHtml, ReportError, type WeeklyReport } from '../../src/insights/report.js';
import { chromiumPath } from '../helpers/browser.js';

const OUT = path.join(process.cwd(), 'test-results', 'insights');

function sampleReport(): WeeklyReport {
  const plays = [1204, 980, 1512, 1733, 2210, 3105, 2874];
  return {
    creatorId: 'creator-42',
    tenantId: 'tenant-a',
    from: '2026-11-16',
    to: '2026-11-23',
    generatedAt: '2026-11-23T06:00:00.000Z',
    totals: { plays: 13_618, listeners: 4_021, listenHours: 612.4, likes: 733, shares: 148, purchases: 37, revenueMinor: 36_963, currency: 'EUR' },
    previousTotals: { plays: 11_002, listeners: 4_310, listenHours: 540.1, likes: 733, shares: 160, purchases: 0, revenueMinor: 0, currency: 'EUR' },
    daily: plays.map((p, i) => ({ day: `2026-11-${16 + i}`, plays: p, listeners: Math.round(p * 0.41) })),
    topTracks: [
      { trackId: 'trk-1', title: 'Night Drive <script>alert(1)</script>', plays: 5_120, completionRate: 0.82 },
      { trackId: 'trk-2', title: 'Low Tide', plays: 3_404, completionRate: 0.64 },
      { trackId: 'trk-3', title: null, plays: 1_877, completionRate: 0.31 },
    ],
    funnel: [
      { step: 'stream', users: 4_021 },
      { step: 'like', users: 612 },
      { step: 'share', users: 121 },
      { step: 'purchase', users: 37 },
    ],
    heatmap: {
      trackId: 'trk-1',
      title: 'Night Drive <script>alert(1)</script>',
      // Most listeners leave early; a bump at the chorus (60%).
      buckets: Array.from({ length: 50 }, (_, i) => Math.round(1000 * Math.exp(-i / 30) + (i >= 28 && i <= 33 ? 180 : 0))),
    },
    churn: {
      atRisk: 57,
      users: [
        { userId: 'user-9', score: 0.91, reasons: ['no plays for 12 days', 'skips > 60% of tracks'] },
        { userId: 'user-<b>17</b>', score: 0.77, reasons: ['listening time down 80%'] },
      ],
    },
    alerts: [{ at: '2026-11-20T14:02:00Z', kind: 'spike', message: 'Plays 3.1× the usual for a Friday & rising' }],
  };
}

function emptyReport(): WeeklyReport {
  const zero = { plays: 0, listeners: 0, listenHours: 0, likes: 0, shares: 0, purchases: 0, revenueMinor: 0, currency: null };
  return {
    ...sampleReport(),
    totals: zero,
    previousTotals: zero,
    daily: Array.from({ length: 7 }, (_, i) => ({ day: `2026-11-${16 + i}`, plays: 0, listeners: 0 })),
    topTracks: [],
    funnel: [{ step: 'stream', users: 0 }, { step: 'like', users: 0 }, { step: 'share', users: 0 }, { step: 'purchase', users: 0 }],
    heatmap: { trackId: 'trk-1', title: 'Quiet', buckets: Array.from({ length: 50 }, () => 0) },
    churn: { atRisk: 0, users: [] },
    alerts: [],
  };
}

describe('renderReportHtml', () => {
  it('renders the numbers, the charts and the tables as one standalone page', async () => {
    const html = renderReportHtml(sampleReport());
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<meta charset="utf-8">');
    expect(html).not.toMatch(/<(link|img|script)\b/i); // nothing external, no scripts
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    for (const text of ['13,618', '4,021', '612.4', '733', '€369.63', '5,120', '82.0%', 'trk-3', 'user-9', 'no plays for 12 days', '57 listeners at risk']) {
      expect(html).toContain(text);
    }
    expect(html).toContain('▲ 23.8%'); // plays 11,002 → 13,618
    expect(html).toContain('▼ 6.7%'); // listeners 4,310 → 4,021
    expect(html).toContain('▲ new'); // purchases 0 → 37
    expect(html).toContain('↓ 15.2% of streamed'); // 612 / 4,021
    expect(html).toContain('0%</text>');
    expect(html).toContain('100% of the track');
    expect(html.match(/<svg/g)?.length).toBe(3);
    expect(html).toContain('Mon 16');
    await mkdir(OUT, { recursive: true });
    await writeFile(path.join(OUT, 'weekly-report.html'), html);
  });

  it('escapes every user-provided string', () => {
    const html = renderReportHtml(sampleReport());
    expect(html).not.toContain('<script>');
    expect(html).toContain('Night Drive &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('user-&lt;b&gt;17&lt;/b&gt;');
    expect(html).toContain('Friday &amp; rising');
  });

  it('renders an empty week without NaN or Infinity', async () => {
    const html = renderReportHtml(emptyReport());
    expect(html).not.toMatch(/NaN|Infinity/);
    expect(html).toContain('No plays this week.');
    expect(html).not.toContain('<svg'); // no chart of nothing
    expect(html).toContain('0 listeners at risk');
    expect(html).toContain('No alerts this week.');
    await mkdir(OUT, { recursive: true });
    await writeFile(path.join(OUT, 'weekly-report-empty.html'), html);
  });

  it('turns a missing history, missing churn and non-finite numbers into dashes', () => {
    const report = { ...sampleReport(), previousTotals: null, churn: null, heatmap: null };
    report.topTracks = [{ trackId: 't', title: 'x', plays: Number.NaN, completionRate: Number.POSITIVE_INFINITY }];
    const html = renderReportHtml(report);
    expect(html).not.toMatch(/NaN|Infinity/);
    expect(html).toContain('No churn prediction');
    expect(html).toContain('No track heat-map');
  });
});

describe('renderPdf', () => {
  const browser = chromiumPath();

  it.skipIf(!browser)('prints the report to an A4 PDF', async () => {
    const pdf = await renderPdf(renderReportHtml(sampleReport()), { chromium: browser! });
    await mkdir(OUT, { recursive: true });
    await writeFile(path.join(OUT, 'weekly-report.pdf'), pdf);
    const text = pdf.toString('latin1');
    expect(text.startsWith('%PDF-')).toBe(true);
    expect(text.trimEnd().endsWith('%%EOF')).toBe(true);
    expect(text).toMatch(/\/Type\s*\/Page\b/);
    expect(pdf.length).toBeGreaterThan(5 * 1024);
  }, 90_000);

  it('names the path tried and the install hint when Chromium is missing', async () => {
    const error = await renderPdf('<p>x</p>', { chromium: '/nonexistent/chromium' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReportError);
    expect((error as Error).message).toContain('/nonexistent/chromium');
    expect((error as Error).message).toContain('apt-get install chromium');
  });

  describe('with a stand-in browser', () => {
    async function fakeChromium(script: string): Promise<{ file: string; done: () => Promise<void> }> {
      const dir = await mkdtemp(path.join(tmpdir(), 'veza-fake-chromium-'));
      const file = path.join(dir, 'chromium');
      await writeFile(file, `#!/bin/sh\n${script}\n`);
      await chmod(file, 0o755);
      return { file, done: () => rm(dir, { recursive: true, force: true }) };
    }

    it('reports a non-zero exit with the tail of stderr', async () => {
      const fake = await fakeChromium('echo "[1:1:ERROR:dbus/bus.cc:405] noise" >&2; echo "cannot open display" >&2; exit 3');
      try {
        const error = await renderPdf('<p>x</p>', { chromium: fake.file }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ReportError);
        expect((error as Error).message).toContain('exit 3');
        expect((error as Error).message).toContain('cannot open display');
        expect((error as Error).message).not.toContain('dbus');
      } finally {
        await fake.done();
      }
    });

    it('kills a browser that hangs', async () => {
      const fake = await fakeChromium('sleep 30');
      try {
        const started = Date.now();
        const error = await renderPdf('<p>x</p>', { chromium: fake.file, timeoutMs: 300 }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ReportError);
        expect((error as Error).message).toContain('within 300 ms');
        expect(Date.now() - started).toBeLessThan(5_000);
      } finally {
        await fake.done();
      }
    });

    it('reports a browser that exits 0 without writing the PDF', async () => {
      const fake = await fakeChromium('exit 0');
      try {
        const error = await renderPdf('<p>x</p>', { chromium: fake.file }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ReportError);
        expect((error as Error).message).toContain('without writing a PDF');
      } finally {
        await fake.done();
      }
    });
  });
});
