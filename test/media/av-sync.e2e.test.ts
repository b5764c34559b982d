import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, pageApi, type TestPage } from '../helpers/browser.js';
import { builtWorker } from '../helpers/media.js';
import type { TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import type { ConsumerStats, DjApi, MarkTimes, SubscribeOptions } from './dj-peer.js';
import { startDjRig, type DjRig } from './dj-rig.js';

const worker = builtWorker();
const browserPath = worker ? chromiumPath() : null;

/** Flash-and-beep marks (one a second) to collect at every viewer. */
const MARKS = 15;
/** Marks before Chromium has had RTCP sender reports to synchronise with: reported, not judged. */
const SETTLE_MARKS = 3;
/** ITU-R BT.1359: detectable when audio leads video by more than 45 ms or lags it by more than 125 ms. */
const AUDIO_EARLY_MS = 45;
const AUDIO_LATE_MS = 125;
/** Audio held back in the jitter buffer of the `held` viewer, as a congested path would. */
const HOLD_MS = 150;
/**
 * Uncertainty of one mark: the flash is drawn on an animation frame and shown on a vsync, so its
 * time is quantised to ~17 ms at each end, while the beep is sample accurate. One 30 fps frame.
 */
const FRAME_MS = 1000 / 30;
/**
 * Over loopback there is no network jitter, so Chromium's audio jitter buffer stays at 20-40 ms
 * unless the CPU starves sender, SFU or receiver (two cores shared with other tests). Then the
 * buffer grows in jumps, lip sync chases it a video frame every second or so, and the skew
 * measured is that of a starved machine: the window is not judged (the test is skipped, saying
 * why) when the shared-stream viewer's audio buffer, or its target, averaged more than this.
 */
const STARVED_AUDIO_BUFFER_MS = 60;

/**
 * Three viewers of one DJ, each in its own page: audio and video in one MediaStream (lip-synced), in
 * one stream each, and in one MediaStream with the audio held back.
 */
const VIEWERS = {
  together: { streams: 'shared' },
  apart: { streams: 'separate' },
  held: { streams: 'shared', audioDelayMs: HOLD_MS },
} as const satisfies Record<string, SubscribeOptions>;
type ViewerName = keyof typeof VIEWERS;

const dj = (page: Page) => pageApi<DjApi>(page, 'vezaDj');

/**
 * Pairs each shown flash with the beep heard nearest to it (marks are a second apart): audio − video,
 * ms. The beep's time is when the viewer's AudioContext tap outputs it, which includes that
 * context's own output latency (30 ms here) and the track-to-WebAudio buffer, which the <video>
 * element's playback need not have: the skew measured leans late by up to about that much.
 */
function skews(marks: MarkTimes): number[] {
  return marks.video.flatMap((shown) => {
    const heard = marks.audio.reduce((best, t) => (Math.abs(t - shown) < Math.abs(best - shown) ? t : best), Number.POSITIVE_INFINITY);
    return Math.abs(heard - shown) < 400 ? [heard - shown] : [];
  });
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const summary = (values: number[]) =>
  `mean ${mean(values).toFixed(1)} ms, min ${Math.min(...values).toFixed(1)}, max ${Math.max(...values).toFixed(1)} over ${values.length} marks [${values.map((v) => v.toFixed(0)).join(', ')}]`;

describe.skipIf(!worker || !browserPath)('audio/video sync of a DJ set at the viewer', () => {
  let server: TestServer;
  let bundle: TestPage;
  let browser: Browser;
  let context: BrowserContext;
  const logs: string[] = [];
  const marks = {} as Record<ViewerName, MarkTimes>;
  const stats = {} as Record<ViewerName, ConsumerStats[]>;
  let flashes: number[];

  let rig: DjRig;
  beforeAll(async () => {
    rig = await startDjRig(worker!, browserPath!);
    ({ server, bundle, browser } = rig);
    context = await browser.newContext();
    const open = async (name: string) => {
      const page = await context.newPage();
      page.on('console', (message) => logs.push(`[${name}] ${message.text()}`));
      page.on('pageerror', (error) => logs.push(`[${name}] ${error.message}`));
      await page.goto(bundle.url);
      return page;
    };
    const djPage = await open('dj');
    const pages = {} as Record<ViewerName, Page>;
    for (const name of Object.keys(VIEWERS) as ViewerName[]) pages[name] = await open(name);

    const wsUrl = server.url.replace('http', 'ws');
    const room = `sync-${Date.now()}`;
    const url = async (sub: string, role: 'owner' | 'viewer') => `${wsUrl}/media/${room}?token=${await server.veza.auth.sign({ sub, docs: { [room]: role } })}`;
    for (const [name, options] of Object.entries(VIEWERS) as [ViewerName, SubscribeOptions][]) {
      await dj(pages[name])('subscribe', await url(name, 'viewer'), { ...options, detectMarks: true });
    }
    await dj(djPage)('publish', await url('dj', 'owner'), { media: 'marks', cameras: 1, width: 320, height: 240, frameRate: 30, markPeriodMs: 1000 });

    const collect = async () => {
      for (const name of Object.keys(VIEWERS) as ViewerName[]) {
        const seen = await dj(pages[name])('marks', 0);
        if (!seen) return false;
        marks[name] = seen;
      }
      return Object.values(marks).every((m) => m.video.length >= MARKS && m.audio.length >= MARKS);
    };
    await waitFor(async () => {
      await sleep(500);
      return collect();
    }, `${MARKS} flashes and beeps at every viewer`, (MARKS + 20) * 1000).catch((error: Error) => {
      throw new Error(`${error.message}: ${JSON.stringify(marks)}\n${logs.join('\n')}`);
    });
    flashes = await dj(djPage)('flashes');
    for (const name of Object.keys(VIEWERS) as ViewerName[]) {
      expect((await dj(pages[name])('report', 0)).errors, logs.join('\n')).toEqual([]);
      stats[name] = await dj(pages[name])('stats', 0);
    }
  }, (MARKS + 40) * 1000);

  afterAll(async () => {
    await context?.close();
    await rig?.close();
  });

  const buffers = (name: ViewerName) => stats[name].map((c) => `${c.kind} jitter buffer ${c.jitterBufferMs.toFixed(0)} ms (target ${c.jitterBufferTargetMs.toFixed(0)})`).join(', ');
  /** How long after the DJ's flash each white frame was shown. */
  const flashToDisplay = (name: ViewerName) => marks[name].video.map((shown) => shown - flashes.reduce((best, t) => (t <= shown && t > best ? t : best), 0));

  const judged = (name: ViewerName) => skews(marks[name]).slice(SETTLE_MARKS);
  const last3 = (values: number[]) => mean(values.slice(-3));
  const log = (name: ViewerName) =>
    console.log(
      `av-sync ${name}: skew (audio − video) ${summary(judged(name))}, before sync [${skews(marks[name]).slice(0, SETTLE_MARKS).map((v) => v.toFixed(0)).join(', ')}]; ` +
        `flash-to-display ${summary(flashToDisplay(name).slice(SETTLE_MARKS))}; ${buffers(name)}; AudioContext output latency ${marks[name].audioOutputLatencyMs.toFixed(1)} ms`,
    );

  it('plays the beep with the flash when audio and video share a MediaStream (within ITU-R BT.1359)', (ctx) => {
    log('together');
    // A flash lost to a dropped frame loses its pair; nearly all must pair.
    expect(skews(marks.together).length, JSON.stringify(marks.together)).toBeGreaterThanOrEqual(MARKS - 2);
    // Starved either way: the buffer's target grew, or the buffer itself held far more than its
    // target (it filled during a stall and drained slowly while lip sync chased it).
    const audio = stats.together.find((c) => c.kind === 'audio')!;
    const audioBuffer = Math.max(audio.jitterBufferTargetMs, audio.jitterBufferMs);
    if (audioBuffer > STARVED_AUDIO_BUFFER_MS) {
      const reason = `lip sync not judged: the audio jitter buffer averaged ${audio.jitterBufferMs.toFixed(0)} ms, target ${audio.jitterBufferTargetMs.toFixed(0)} ms (> ${STARVED_AUDIO_BUFFER_MS} ms on loopback: the machine is starved of CPU)`;
      console.warn(`SKIP: ${reason}`);
      ctx.skip(reason);
    }
    const skew = judged('together');
    expect(mean(skew)).toBeGreaterThanOrEqual(-AUDIO_EARLY_MS);
    expect(mean(skew)).toBeLessThanOrEqual(AUDIO_LATE_MS);
    for (const one of skew) {
      expect(one).toBeGreaterThanOrEqual(-AUDIO_EARLY_MS - FRAME_MS);
      expect(one).toBeLessThanOrEqual(AUDIO_LATE_MS + FRAME_MS);
    }
  });

  it('measures as well when audio and video play from separate streams (not lip-synced; logged for comparison)', () => {
    log('apart');
    expect(skews(marks.apart).length, JSON.stringify(marks.apart)).toBeGreaterThanOrEqual(MARKS - 2);
  });

  it('delays the video to follow audio held in the jitter buffer when they share a MediaStream', () => {
    // Chromium can only do this with the RTCP sender reports the SFU sends for both consumers; the
    // separate-streams viewer shows the same video without the added delay.
    log('held');
    expect(skews(marks.held).length, JSON.stringify(marks.held)).toBeGreaterThanOrEqual(MARKS - 2);
    // The separate-streams viewer's delay moves by a frame or two with the frame's phase (16–82 ms in
    // one run), so it is taken over all its judged marks rather than its last three.
    expect(last3(flashToDisplay('held'))).toBeGreaterThan(mean(flashToDisplay('apart').slice(SETTLE_MARKS)) + FRAME_MS);
  });
});
