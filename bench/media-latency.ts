// Glass-to-glass latency of a live room, by both delivery paths: a Chromium publisher paints
// Date.now() into every frame (bench/media-latency-page.ts) and publishes it to a real Veza server;
// Chromium viewers read the stamp of each presented frame, by WebRTC (/media) and by HLS (hls.js
// with its defaults, and tuned for low latency). All pages run in one browser, so one clock.
// Usage: npm run bench:latency [-- --seconds S --warmup S --paths webrtc,hls --chart FILE ...]; --help lists all.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { Authenticator } from '../src/server/auth.js';
import { locateMediaWorker } from '../src/media/worker-binary.js';
import { chromiumPath, launchChromium, pageApi, serveBundle } from '../test/helpers/browser.js';
import { freePort, machineBusySeconds, sleep } from './lib/servers.js';
import { latencyChart, type ChartSeries } from './media-latency-chart.js';
import type { LatencyPageApi, LatencySample, ViewerReport } from './media-latency-page.js';

const USAGE = `bench/media-latency.ts: glass-to-glass latency of a live room by WebRTC and by HLS

  --seconds S     measured seconds per path (30)      --warmup S   unmeasured seconds after the first frame (5)
  --paths LIST    webrtc,hls (default: both)          --fps N      publisher frame rate (30)
  --chart FILE    SVG of latency over time (bench/media-latency.svg; "" for none)
  --json FILE     every sample, per series (none by default)
`;

const root = fileURLToPath(new URL('..', import.meta.url));
const host = '127.0.0.1';
/** hls.js on top of its defaults: follow one segment behind the live edge, catch up by playing faster. */
const LOW_LATENCY_HLS = { liveSyncDurationCount: 1, liveMaxLatencyDurationCount: 3, maxLiveSyncPlaybackRate: 1.5 };


/**
 * CPU seconds of this process and all its descendants (the server, its mediasoup worker and ffmpeg,
 * Chromium and its renderers), so that the machine's load can be split into ours and the others'.
 */
function ownTreeCpuSeconds(): number {
  const stats = new Map<number, { parent: number; seconds: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(entry), { parent: Number(fields[1]), seconds: (Number(fields[11]) + Number(fields[12])) / 100 });
    } catch {
      // gone since the listing
    }
  }
  const ours = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, { parent }] of stats) {
      if (!ours.has(pid) && ours.has(parent)) {
        ours.add(pid);
        grew = true;
      }
    }
  }
  return [...ours].reduce((sum, pid) => sum + (stats.get(pid)?.seconds ?? 0), 0);
}

interface Options {
  seconds: number;
  warmupSeconds: number;
  paths: ('webrtc' | 'hls')[];
  frameRate: number;
  chart: string;
  json: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: { seconds: { type: 'string' }, warmup: { type: 'string' }, paths: { type: 'string' }, fps: { type: 'string' }, chart: { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const num = (key: 'seconds' | 'warmup' | 'fps', fallback: number, min: number) => {
    if (values[key] === undefined) return fallback;
    const n = Number(values[key]);
    if (!(Number.isFinite(n) && n >= min)) throw new Error(`--${key} must be a number ≥ ${min}`);
    return n;
  };
  const paths = (values.paths ?? 'webrtc,hls').split(',').map((p) => p.trim());
  for (const p of paths) if (p !== 'webrtc' && p !== 'hls') throw new Error(`unknown path ${p}; choose from webrtc, hls`);
  return {
    seconds: num('seconds', 30, 1),
    warmupSeconds: num('warmup', 5, 0),
    paths: paths as Options['paths'],
    frameRate: num('fps', 30, 1),
    chart: values.chart ?? join(root, 'bench', 'media-latency.svg'),
    json: values.json ?? '',
  };
}

// ---------------------------------------------------------------------------------------------
// The server under test, and the page that carries the browser side

interface VezaProcess {
  child: ChildProcess;
  url: string;
  token(sub: string, room: string, role: 'owner' | 'viewer'): Promise<string>;
  stop(): Promise<void>;
}

/** `veza serve` as its own process (as deployed), with a fresh data directory and CORS for the page. */
async function startVeza(pageOrigin: string): Promise<VezaProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'veza-latency-'));
  const jwtSecret = randomBytes(32).toString('hex');
  const port = await freePort();
  const args = [
    'bin/veza.js', 'serve', '--host', host, '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn',
    '--cors-origins', pageOrigin, '--media-workers', '1', '--rate-limit-connections-per-minute', '0',
  ];
  // Embedded storage and in-process events, whatever this shell's VEZA_*, DATABASE_URL or REDIS_URL say.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('VEZA_') && key !== 'DATABASE_URL' && key !== 'REDIS_URL'));
  const child = spawn(process.execPath, args, { cwd: root, env: { ...env, VEZA_JWT_SECRET: jwtSecret }, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-3000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 12_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  const url = `http://${host}:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`veza exited during start (${child.exitCode})\n${tail}`);
    }
    const health = await fetch(`${url}/healthz`).then((r) => r.json() as Promise<{ media?: { available?: boolean; reason?: string } }>, () => null);
    if (health) {
      if (health.media?.available === false) {
        await stop();
        throw new Error(`veza started without media: ${JSON.stringify(health.media)}`);
      }
      break;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`veza not answering /healthz after 30 s\n${tail}`);
    }
    await sleep(200);
  }
  const auth = await Authenticator.create({ settings: { jwtSecret }, dataDir });
  return { child, url, stop, token: (sub, room, role) => auth.sign({ sub, docs: { [room]: role } }) };
}

/** Calls `window.vezaLatency[method]` in the page, typed by the page module's API. */
const latencyApi = (page: Page) => pageApi<LatencyPageApi>(page, 'vezaLatency');
type LatencyApi = ReturnType<typeof latencyApi>;

// ---------------------------------------------------------------------------------------------
// Measuring

interface Series {
  name: string;
  samples: LatencySample[];
  unreadable: number;
  repeated: number;
  stalls: number;
  errors: string[];
  /** Percent of the machine's cores busy while this series was measured: everything, and this bench's processes. */
  machineBusyPercent: number;
  ownBusyPercent: number;
  /** WebRTC with audio: the audio jitter buffer's mean delay over the measured seconds. */
  audioJitterBufferMs?: number;
}

interface Watched {
  name: string;
  page: Page;
  series: Series;
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN);
const fmt = (n: number | undefined, digits = 0) => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));

function summary(series: Series) {
  const sorted = series.samples.map((s) => s.latencyMs).sort((a, b) => a - b);
  const median = (values: number[]) => percentile(values.sort((a, b) => a - b), 50);
  const afterReceive = series.samples.flatMap((s) => (s.afterReceiveMs === undefined ? [] : [s.afterReceiveMs]));
  const estimate = series.samples.flatMap((s) => (s.playerEstimateMs === undefined ? [] : [s.playerEstimateMs]));
  const seconds = series.samples.length > 1 ? (series.samples.at(-1)!.at - series.samples[0]!.at) / 1000 : 0;
  return {
    frames: sorted.length,
    seconds,
    fps: seconds > 0 ? sorted.length / seconds : 0,
    min: sorted[0] ?? NaN,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    max: sorted.at(-1) ?? NaN,
    afterReceiveP50: afterReceive.length ? median(afterReceive) : undefined,
    playerEstimateP50: estimate.length ? median(estimate) : undefined,
    heights: [...new Set(series.samples.map((s) => s.height))].sort((a, b) => a - b),
  };
}

/** Drains every watched page each second until `seconds` have passed, printing progress every 5 s. */
async function record(watched: Watched[], seconds: number, keep: boolean): Promise<void> {
  const jitterBuffers = () => Promise.all(watched.map((w) => latencyApi(w.page)('audioJitterBuffer', w.name)));
  const buffersStart = await jitterBuffers();
  const busyStart = machineBusySeconds();
  const ownStart = ownTreeCpuSeconds();
  const started = Date.now();
  let lastPrint = started;
  while (Date.now() - started < seconds * 1000) {
    await sleep(1000);
    for (const w of watched) {
      const report: ViewerReport = await latencyApi(w.page)('take', w.name);
      if (!keep) continue;
      w.series.samples.push(...report.samples);
      w.series.unreadable += report.unreadable;
      w.series.repeated += report.repeated;
      w.series.stalls += report.stalls;
      w.series.errors.push(...report.errors);
    }
    if (keep && Date.now() - lastPrint >= 5000) {
      lastPrint = Date.now();
      const elapsed = Math.round((Date.now() - started) / 1000);
      const parts = watched.map((w) => {
        const s = summary(w.series);
        return `${w.series.name}: ${s.frames} frames, p50 ${fmt(s.p50)} ms, max ${fmt(s.max)} ms`;
      });
      process.stdout.write(`  ${String(elapsed).padStart(3)} s  ${parts.join(' | ')}\n`);
    }
  }
  const percentOfMachine = (seconds: number) => (100 * seconds) / ((Date.now() - started) / 1000) / cpus().length;
  const busy = percentOfMachine(machineBusySeconds() - busyStart);
  const own = percentOfMachine(ownTreeCpuSeconds() - ownStart);
  const buffersEnd = await jitterBuffers();
  if (!keep) return;
  watched.forEach((w, i) => {
    w.series.machineBusyPercent = busy;
    w.series.ownBusyPercent = own;
    const emitted = buffersEnd[i]!.emitted - buffersStart[i]!.emitted;
    if (emitted > 0) w.series.audioJitterBufferMs = (1000 * (buffersEnd[i]!.delaySeconds - buffersStart[i]!.delaySeconds)) / emitted;
  });
}

/** Waits until every watched page has shown a frame with a readable stamp. */
async function firstFrames(watched: Watched[], timeoutMs: number): Promise<void> {
  const waiting = new Set(watched);
  const deadline = Date.now() + timeoutMs;
  while (waiting.size > 0) {
    if (Date.now() > deadline) throw new Error(`no readable frame after ${timeoutMs / 1000} s on ${[...waiting].map((w) => w.name).join(', ')}`);
    await sleep(500);
    for (const w of [...waiting]) {
      const report = await latencyApi(w.page)('take', w.name);
      if (report.errors.length) process.stdout.write(`  ${w.name}: ${report.errors.join('; ')}\n`);
      if (report.samples.length > 0) waiting.delete(w);
    }
  }
}

/** A page with one viewer, `name` in the page and `label` in the results. */
async function watch(browser: Browser, pageUrl: string, name: string, label: string, start: (api: LatencyApi) => Promise<void>): Promise<Watched> {
  const page = await browser.newPage();
  page.on('pageerror', (error) => process.stdout.write(`  [${name}] page error: ${error.message}\n`));
  await page.goto(pageUrl);
  await start(latencyApi(page));
  return { name, page, series: emptySeries(label) };
}

function emptySeries(name: string): Series {
  return { name, samples: [], unreadable: 0, repeated: 0, stalls: 0, errors: [], machineBusyPercent: NaN, ownBusyPercent: NaN };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const worker = locateMediaWorker();
  if (!worker.available) throw new Error(`no mediasoup worker: ${worker.reason}; build it with \`${worker.fix}\``);
  process.env.MEDIASOUP_WORKER_BIN = worker.path;

  const log = (line: string) => process.stdout.write(`${line}\n`);
  const loadBefore = loadavg();
  log(`glass-to-glass latency, ${options.seconds} s per path after ${options.warmupSeconds} s warm-up; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);
  const chromium = chromiumPath();
  if (!chromium) throw new Error('no Chromium: apt-get install -y chromium (or set CHROMIUM_PATH)');
  // The page module and hls.js from 127.0.0.1: WebRTC and MSE need a real origin.
  const bundle = await serveBundle(new URL('./media-latency-page.ts', import.meta.url), { '/hls.js': readFileSync(join(root, 'node_modules', 'hls.js', 'dist', 'hls.min.js'), 'utf8') });
  const pageUrl = new URL(bundle.url).origin;
  let veza: VezaProcess | null = null;
  let browser: Browser | null = null;
  const results: Series[] = [];
  try {
    veza = await startVeza(pageUrl);
    log(`veza at ${veza.url} (pid ${veza.child.pid}); page at ${pageUrl}`);
    browser = await launchChromium(chromium);
    const room = `latency-${Date.now()}`;
    const wsUrl = veza.url.replace('http', 'ws');
    const ownerToken = await veza.token('dj', room, 'owner');
    const viewerToken = await veza.token('viewer', room, 'viewer');

    const publisher = await browser.newPage();
    publisher.on('pageerror', (error) => log(`  [publisher] page error: ${error.message}`));
    await publisher.goto(pageUrl);
    const published = await latencyApi(publisher)('publish', `${wsUrl}/media/${room}?token=${ownerToken}`, { width: 640, height: 360, frameRate: options.frameRate });
    const publishedAt = Date.now();
    log(`publisher: 640×360 canvas at ${options.frameRate} fps and a 440 Hz tone, producers ${published.producers.join(', ')}`);

    // Two WebRTC viewers: one plays audio and video together as a viewer would (Chromium holds the
    // video back to the audio when that arrives later), one the video alone. They watch for the
    // whole run: alone first, then while the HLS egress transcodes.
    const webrtc = await watch(browser, pageUrl, 'webrtc', 'WebRTC, audio + video', (api) => api('watchWebRtc', 'webrtc', `${wsUrl}/media/${room}?token=${viewerToken}`));
    const videoOnly = await watch(browser, pageUrl, 'webrtc-video-only', 'WebRTC, video only', (api) => api('watchWebRtc', 'webrtc-video-only', `${wsUrl}/media/${room}?token=${viewerToken}`, true));
    await firstFrames([webrtc, videoOnly], 30_000);
    await record([webrtc, videoOnly], options.warmupSeconds, false);
    if (options.paths.includes('webrtc')) {
      log('WebRTC viewers:');
      await record([webrtc, videoOnly], options.seconds, true);
      results.push(webrtc.series, videoOnly.series);
    }

    if (options.paths.includes('hls')) {
      const started = await fetch(`${veza.url}/api/v1/rooms/${room}/hls`, { method: 'POST', headers: { authorization: `Bearer ${ownerToken}` } });
      const body = (await started.json()) as { id?: string; url?: string | null; playlist?: string; detail?: string };
      if (started.status !== 201) throw new Error(`POST /api/v1/rooms/${room}/hls answered ${started.status}: ${JSON.stringify(body)}`);
      // The brief named the field `playlist`; the route answers the output row, whose `url` is the playlist.
      const hlsPlaylist = `${veza.url}${body.playlist ?? body.url}`;
      log(`HLS egress ${body.id} started: ${hlsPlaylist}`);
      await waitForPlaylist(hlsPlaylist, 30_000);
      const defaults = await watch(browser, pageUrl, 'hls-default', 'HLS, hls.js defaults', (api) => api('watchHls', 'hls-default', hlsPlaylist, {}));
      const tuned = await watch(browser, pageUrl, 'hls-low-latency', 'HLS, hls.js low-latency', (api) => api('watchHls', 'hls-low-latency', hlsPlaylist, LOW_LATENCY_HLS));
      // The WebRTC viewers keep watching: the same path, now beside ffmpeg's transcoding.
      const during = [webrtc, videoOnly].map((w) => ({ ...w, series: emptySeries(`${w.series.name}, during HLS egress`) }));
      await firstFrames([defaults, tuned], 60_000);
      await record([...during, defaults, tuned], options.warmupSeconds, false);
      log(`HLS viewers (hls.js defaults, and ${JSON.stringify(LOW_LATENCY_HLS)}), WebRTC viewers still watching:`);
      await record([...during, defaults, tuned], options.seconds, true);
      results.push(defaults.series, tuned.series, ...during.map((w) => w.series));
      log(`segments: ${await segmentDurations(hlsPlaylist)}`);
      const stopped = await fetch(`${veza.url}/api/v1/rooms/${room}/hls`, { method: 'DELETE', headers: { authorization: `Bearer ${ownerToken}` } });
      log(`HLS egress stopped: ${stopped.status}`);
    }
    const painted = await latencyApi(publisher)('paintedFrames');
    log(`publisher painted ${painted} frames, ${fmt(painted / ((Date.now() - publishedAt) / 1000), 1)} per second`);
  } finally {
    await browser?.close().catch(() => undefined);
    await veza?.stop();
    await bundle.close();
  }

  printTable(results, loadBefore);
  if (options.chart) {
    const series: ChartSeries[] = results.map((s) => ({ name: s.name, points: s.samples.map((p) => ({ at: p.at, value: p.latencyMs })) }));
    writeFileSync(options.chart, latencyChart(series, 'Glass-to-glass latency of a live room (ms, log scale) over time (s)'));
    log(`chart: ${options.chart}`);
  }
  if (options.json) writeFileSync(options.json, JSON.stringify(results, null, 1));
}

/** Polls the master playlist until ffmpeg has written it and its first media playlist has a segment. */
async function waitForPlaylist(master: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await fetch(master).then((r) => (r.ok ? r.text() : ''), () => '');
    const first = text.split('\n').find((line) => line.trim().endsWith('.m3u8'));
    if (first) {
      const media = await fetch(new URL(first.trim(), master)).then((r) => (r.ok ? r.text() : ''), () => '');
      if (media.includes('#EXTINF')) return;
    }
    if (Date.now() > deadline) throw new Error(`${master} has no segment after ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

/** The EXTINF durations of the first rendition's playlist, e.g. "1.667 s × 6". */
async function segmentDurations(master: string): Promise<string> {
  const text = await fetch(master).then((r) => r.text(), () => '');
  const first = text.split('\n').find((line) => line.trim().endsWith('.m3u8'));
  if (!first) return 'playlist gone';
  const media = await fetch(new URL(first.trim(), master)).then((r) => r.text(), () => '');
  const durations = [...media.matchAll(/#EXTINF:([\d.]+)/g)].map((m) => Number(m[1]).toFixed(3));
  const target = /#EXT-X-TARGETDURATION:(\d+)/.exec(media)?.[1];
  return `target ${target ?? '?'} s, last ${durations.length}: ${durations.join(', ')} s`;
}

function printTable(results: Series[], loadBefore: number[]): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out('');
  out(`| path | frames | fps shown | p50 ms | p95 ms | max ms | min ms | unreadable | repeated | stalls | heights | machine busy (this bench) | notes |`);
  out('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const series of results) {
    const s = summary(series);
    const notes = [
      s.afterReceiveP50 !== undefined ? `packet→display p50 ${fmt(s.afterReceiveP50)} ms` : '',
      series.audioJitterBufferMs !== undefined ? `audio jitter buffer ${fmt(series.audioJitterBufferMs)} ms` : '',
      s.playerEstimateP50 !== undefined ? `hls.js estimate p50 ${fmt(s.playerEstimateP50)} ms` : '',
      series.errors.length ? `errors: ${[...new Set(series.errors)].join('; ')}` : '',
    ].filter(Boolean);
    out(
      `| ${series.name} | ${s.frames} | ${fmt(s.fps, 1)} | ${fmt(s.p50)} | ${fmt(s.p95)} | ${fmt(s.max)} | ${fmt(s.min)} | ${series.unreadable} | ${series.repeated} | ${series.stalls} | ${s.heights.join(', ')} | ${fmt(series.machineBusyPercent)} % (${fmt(series.ownBusyPercent)} %) | ${notes.join('; ')} |`,
    );
  }
  out('');
  out(`load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${cpus().length} cores`);
}


main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
