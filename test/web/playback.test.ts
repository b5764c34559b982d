// Studio playback in Chromium: what each General MIDI family's instrument sounds like (rendered
// offline by Tone.js through the player's own voice factory, then measured here), and the studio's
// player on the shared transport with two listeners (notes passed, metronome, loop, a note added by
// the other client, an instrument changed while playing, solo and mute, everything disposed on stop).
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium, serveBundle, type TestPage } from '../helpers/browser.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { buildWebClient, signedIn as signIn, type PageWindow, tokenLeaks } from '../helpers/web-client.js';
import type { VoiceRenderApi } from './voice-render.js';
import { fft } from '../../src/mastering/spectrum.js';

const browserPath = chromiumPath();
const RATE = 44_100;

/** What the studio's player reports (web/src/synth.ts). */
interface PlayerView {
  played: number;
  clicks: number;
  accents: number;
  liveVoices: number;
  instruments(): Record<string, number>;
}
const playerOf = (page: Page) => page.evaluate(() => {
  const player = (globalThis as unknown as PageWindow).veza.studio!.player as unknown as PlayerView;
  return { played: player.played, clicks: player.clicks, accents: player.accents, liveVoices: player.liveVoices, instruments: player.instruments() };
});

// --- measuring a rendered note ----------------------------------------------------------------

const rms = (x: readonly number[]) => Math.sqrt(x.reduce((sum, v) => sum + v * v, 0) / Math.max(1, x.length));

/** The loudest `size` samples (in steps of a quarter of that), where the note is measured. */
function loudest(x: readonly number[], size = 4096): number[] {
  let best = 0;
  let bestLevel = -1;
  for (let start = 0; start + size <= x.length; start += size / 4) {
    const level = rms(x.slice(start, start + size));
    if (level > bestLevel) [best, bestLevel] = [start, level];
  }
  return x.slice(best, best + size);
}

/**
 * The fundamental frequency by normalised autocorrelation: the shortest lag (40 Hz to 2 kHz) whose
 * correlation comes within 10 % of the best, refined between its neighbours. Measured where the
 * note is loudest after its first 80 ms (the attack, where a drum's pitch still sweeps).
 */
function pitchOf(samples: readonly number[]): number {
  const x = loudest(samples.slice(Math.round(0.08 * RATE)));
  const half = x.length / 2;
  const corr = (lag: number) => {
    let xy = 0;
    let xx = 0;
    let yy = 0;
    for (let i = 0; i < half; i++) {
      xy += x[i]! * x[i + lag]!;
      xx += x[i]! * x[i]!;
      yy += x[i + lag]! * x[i + lag]!;
    }
    return xy / Math.sqrt(xx * yy || 1);
  };
  const min = Math.floor(RATE / 2000);
  const max = Math.ceil(RATE / 40);
  const r = Array.from({ length: max + 2 }, (_, lag) => (lag >= min - 1 ? corr(lag) : 0));
  const best = Math.max(...r.slice(min, max + 1));
  let lag = min;
  while (lag < max && !(r[lag]! >= 0.9 * best && r[lag]! >= r[lag - 1]! && r[lag]! >= r[lag + 1]!)) lag++;
  const [a, b, c] = [r[lag - 1]!, r[lag]!, r[lag + 1]!];
  const shift = a - 2 * b + c === 0 ? 0 : (0.5 * (a - c)) / (a - 2 * b + c);
  return RATE / (lag + shift);
}

/** Magnitude spectrum of the loudest 4096 samples (Hann window, radix-2 FFT): bin k is k × RATE / 4096 Hz. */
function spectrum(samples: readonly number[]): number[] {
  const x = loudest(samples);
  const n = x.length;
  const re = Float64Array.from(x, (v, i) => v * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1))));
  const im = new Float64Array(n);
  fft(re, im);
  return Array.from({ length: n / 2 }, (_, k) => Math.hypot(re[k]!, im[k]!));
}

/** Where the spectrum's energy sits, Hz. */
function centroid(samples: readonly number[]): number {
  const mags = spectrum(samples);
  const total = mags.reduce((s, m) => s + m * m, 0);
  return mags.reduce((s, m, k) => s + m * m * ((k * RATE) / 4096), 0) / total;
}

/** The strongest frequency, Hz. */
function peak(samples: readonly number[]): number {
  const mags = spectrum(samples);
  return (mags.indexOf(Math.max(...mags)) * RATE) / 4096;
}

/** The strengths of harmonics 1–8 of `f0`, as a unit vector (the shape of the spectrum). */
function harmonics(samples: readonly number[], f0: number): number[] {
  const mags = spectrum(samples);
  const bin = (f: number) => Math.max(...mags.slice(Math.round((f * 0.97 * 4096) / RATE), Math.round((f * 1.03 * 4096) / RATE) + 1));
  const h = Array.from({ length: 8 }, (_, i) => bin(f0 * (i + 1)));
  const norm = Math.hypot(...h);
  return h.map((v) => v / norm);
}
const distance = (a: number[], b: number[]) => Math.hypot(...a.map((v, i) => v - b[i]!));

/** Level of each 50 ms after the note starts, relative to the loudest (the envelope). */
function envelope(samples: readonly number[]): number[] {
  const block = RATE / 20;
  const levels = Array.from({ length: Math.floor(samples.length / block) }, (_, i) => rms(samples.slice(i * block, (i + 1) * block)));
  const top = Math.max(...levels);
  return levels.map((l) => l / top);
}

const semitones = (f: number, target: number) => 12 * Math.log2(f / target);

describe.skipIf(!browserPath)('studio playback in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let web: Awaited<ReturnType<typeof buildWebClient>>;
  let voices: TestPage;

  beforeAll(async () => {
    web = await buildWebClient();
    server = await startTestServer({ dev: 'true', 'web-dir': web.dir, 'rate-limit-connections-per-minute': '0', 'collab-flush-ms': '5' });
    browser = await launchChromium(browserPath!);
    voices = await serveBundle(new URL('./voice-render.ts', import.meta.url));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await voices?.close();
    await server?.stop();
    web?.remove();
    // No page's console held a sign-in, in any test of this file.
    expect(tokenLeaks()).toEqual([]);
  });

  const signedIn = (user: string, hash = '#/', role = 'owner') => signIn(browser, server.url, user, hash, role);

  it('each General MIDI family has its own instrument: it sounds, in tune, and families differ in spectrum and envelope; the drum kit sounds', { timeout: 90_000 }, async () => {
    const page = await browser.newPage();
    await page.goto(voices.url);
    const render = (program: number, pitch: number, options: Parameters<VoiceRenderApi['render']>[2] = {}) =>
      page.evaluate(([p, n, o]) => (globalThis as unknown as { vezaVoices: VoiceRenderApi }).vezaVoices.render(p, n, o), [program, pitch, options] as const);

    // One program of each family (a different one of the eight in each), A4 held 0.6 s; a bass at A2
    // too. Sound effects (family 15) are noise: loud enough, no pitch to check.
    const rendered = new Map<number, number[]>();
    for (let family = 0; family < 16; family++) {
      const program = family * 8 + (family % 8);
      const samples = await render(program, 69);
      rendered.set(family, samples);
      expect(rms(samples), `program ${program}`).toBeGreaterThan(0.005);
      if (family === 15) continue;
      expect(Math.abs(semitones(pitchOf(samples), 440)), `program ${program} at A4 (${pitchOf(samples).toFixed(1)} Hz)`).toBeLessThan(0.5);
    }
    const bass = await render(33, 45);
    expect(Math.abs(semitones(pitchOf(bass), 110)), `bass at A2 (${pitchOf(bass).toFixed(1)} Hz)`).toBeLessThan(0.5);
    // Another pitch, another fundamental: a synth lead's C5 and its dominant frequency.
    const lead = await render(81, 72);
    expect(Math.abs(semitones(pitchOf(lead), 523.25))).toBeLessThan(0.5);
    expect(Math.abs(semitones(peak(lead), 523.25))).toBeLessThan(0.5);

    // Piano and synth lead: the lead's spectrum is far brighter and shaped otherwise.
    const [piano, synthLead, organ, strings] = [rendered.get(0)!, rendered.get(10)!, rendered.get(2)!, rendered.get(5)!];
    expect(centroid(synthLead)).toBeGreaterThan(1.5 * centroid(piano));
    expect(distance(harmonics(piano, 440), harmonics(synthLead, 440))).toBeGreaterThan(0.3);
    expect(distance(harmonics(organ, 440), harmonics(strings, 440))).toBeGreaterThan(0.3);
    // Envelopes, 0.5 s into the held note: the piano has faded, the organ holds steady; and strings
    // swell in slower than the organ.
    const [pianoEnv, organEnv, stringsEnv] = [envelope(piano), envelope(organ), envelope(strings)];
    expect(pianoEnv[10]!).toBeLessThan(0.6);
    expect(organEnv[10]!).toBeGreaterThan(0.9);
    expect(stringsEnv[0]!).toBeLessThan(organEnv[0]!);
    // Every family sounds unlike every other one (spectrum or envelope).
    const signature = (samples: number[]) => [...harmonics(samples, 440), ...envelope(samples).slice(0, 16)];
    for (let a = 0; a < 16; a++) {
      for (let b = a + 1; b < 16; b++) expect(distance(signature(rendered.get(a)!), signature(rendered.get(b)!)), `families ${a} and ${b}`).toBeGreaterThan(0.2);
    }

    // Drums (channel 10): kick, snare, closed hi-hat, crash all sound; the kick is low, the hi-hat bright.
    const drums = new Map<number, number[]>();
    for (const key of [36, 38, 42, 49]) {
      const samples = await render(0, key, { drums: true });
      expect(rms(samples), `drum key ${key}`).toBeGreaterThan(0.002);
      drums.set(key, samples);
    }
    expect(centroid(drums.get(36)!)).toBeLessThan(200);
    expect(centroid(drums.get(38)!)).toBeGreaterThan(4 * centroid(drums.get(36)!));
    expect(centroid(drums.get(42)!)).toBeGreaterThan(2 * centroid(drums.get(38)!));
    await page.close();
  });

  it('two listeners hear a two-track session on the shared clock: the notes passed, the metronome, the loop, a note added and an instrument changed while playing, solo and mute, and nothing left once stopped', { timeout: 120_000 }, async () => {
    const session = `playback-${Date.now()}`;
    const ann = await signedIn('ann', `#/studio/${session}`);
    const bob = await signedIn('bob', `#/studio/${session}`);
    await expect.poll(() => ann.getByTestId('status').textContent()).toBe('connected');
    await expect.poll(() => bob.getByTestId('status').textContent()).toBe('connected');
    /** The beat the page shows (bar.beat, four to the bar) as a whole beat from 0. */
    const beat = async (page: Page) => {
      const [bar, inBar] = ((await page.getByTestId('beat').textContent()) ?? '1.1').split('.').map(Number);
      return (bar! - 1) * 4 + inBar! - 1;
    };
    const noteCount = (page: Page) => page.evaluate(() => {
      const studio = (globalThis as unknown as PageWindow).veza.studio!.studio;
      return studio.tracks().flatMap((t) => studio.clips(t.id).flatMap((c) => studio.notes(t.id, c.id))).length;
    });

    // Ann sets it up: 120 BPM (a bar in two seconds), a piano track and a synth lead track, six
    // notes in the second half of bar 1 (none in its first two beats: on a busy machine a page may
    // start playing up to a second after the transport started, and a note whose time has passed is
    // not played).
    const { keys, lead, leadClip } = await ann.evaluate(() => {
      const studio = (globalThis as unknown as PageWindow).veza.studio!.studio;
      studio.setTransport({ bpm: 120 });
      const ppq = studio.settings().ppq;
      const keys = studio.addTrack({ name: 'Keys', program: 0 });
      const lead = studio.addTrack({ name: 'Lead', program: 80 });
      const keysClip = studio.addClip(keys, { start: 0, length: 64 * ppq });
      const leadClip = studio.addClip(lead, { start: 0, length: 64 * ppq });
      studio.addNotes(keys, keysClip, [2, 2, 2.5, 3].map((at, i) => ({ pitch: 60 + 4 * i, start: at * ppq, duration: ppq / 2, velocity: 100 })));
      studio.addNotes(lead, leadClip, [2.5, 3].map((at, i) => ({ pitch: 72 + 2 * i, start: at * ppq, duration: ppq, velocity: 90 })));
      return { keys, lead, leadClip };
    });
    await expect.poll(() => noteCount(bob)).toBe(6);
    await expect.poll(() => bob.locator(`[data-track="${lead}"] select.instrument`).inputValue()).toBe('80');

    // Ann turns her metronome on and presses Space: both pages play. Once bar 3 is reached, each has
    // played the six notes once, and only Ann heard clicks, the first of each bar accented.
    await ann.locator('h2').click();
    await ann.keyboard.press('m');
    expect(await ann.getByTestId('metronome').getAttribute('aria-pressed')).toBe('true');
    await ann.keyboard.press('Space');
    await expect.poll(() => bob.getByTestId('play').textContent()).toBe('Stop');
    await expect.poll(() => beat(bob), { timeout: 15_000 }).toBeGreaterThanOrEqual(8);
    await expect.poll(() => beat(ann), { timeout: 15_000 }).toBeGreaterThanOrEqual(8);
    const [annHeard, bobHeard] = [await playerOf(ann), await playerOf(bob)];
    expect(annHeard.played).toBe(6);
    expect(bobHeard.played).toBe(6);
    expect(annHeard.instruments).toEqual({ [keys]: 0, [lead]: 80 });
    expect(bobHeard.instruments).toEqual({ [keys]: 0, [lead]: 80 });
    expect(annHeard.clicks).toBeGreaterThan(8);
    expect(annHeard.accents).toBe(Math.floor((annHeard.clicks - 1) / 4) + 1);
    expect(bobHeard.clicks).toBe(0);

    // Bob adds a note two bars ahead while it plays: both pages play it when the transport gets there.
    const ahead = (await beat(bob)) + 8;
    await bob.evaluate(([track, clip, at]) => {
      const studio = (globalThis as unknown as PageWindow).veza.studio!.studio;
      const ppq = studio.settings().ppq;
      studio.addNotes(track, clip, [{ pitch: 76, start: at * ppq, duration: ppq, velocity: 100 }]);
    }, [lead, leadClip, ahead] as const);
    await expect.poll(() => beat(ann), { timeout: 15_000 }).toBeGreaterThanOrEqual(ahead + 2);
    await expect.poll(() => beat(bob), { timeout: 15_000 }).toBeGreaterThanOrEqual(ahead + 2);
    expect((await playerOf(ann)).played).toBe(7);
    expect((await playerOf(bob)).played).toBe(7);

    // Ann loops bar 1 (L) and goes back to the start (Home): the looped notes come round again and again.
    await ann.getByLabel('loop from bar').fill('1');
    await ann.getByLabel('loop to the end of bar').fill('1');
    await ann.getByLabel('loop to the end of bar').press('Enter');
    await ann.locator('h2').click();
    await ann.keyboard.press('l');
    await expect.poll(() => bob.getByTestId('loop').getAttribute('aria-pressed')).toBe('true');
    await ann.keyboard.press('Home');
    await expect.poll(async () => (await playerOf(bob)).played, { timeout: 20_000 }).toBeGreaterThanOrEqual(7 + 3 * 6);
    await expect.poll(async () => (await playerOf(ann)).played, { timeout: 20_000 }).toBeGreaterThanOrEqual(7 + 3 * 6);
    expect(await beat(bob)).toBeLessThan(4);

    // Ann changes the keys to a church organ while it plays: both pages hear the keys with it, notes
    // go on playing, and the piano it replaces is disposed once its last notes have faded.
    await ann.locator(`[data-track="${keys}"] select.instrument`).selectOption('19');
    await expect.poll(async () => (await playerOf(bob)).instruments[keys]).toBe(19);
    await expect.poll(async () => (await playerOf(ann)).instruments[keys]).toBe(19);
    const before = (await playerOf(bob)).played;
    await expect.poll(async () => (await playerOf(bob)).played, { timeout: 20_000 }).toBeGreaterThanOrEqual(before + 2 * 6);
    // Two tracks' instruments (and Ann's metronome) are all that is left.
    await expect.poll(async () => (await playerOf(bob)).liveVoices, { timeout: 20_000 }).toBe(2);
    await expect.poll(async () => (await playerOf(ann)).liveVoices, { timeout: 20_000 }).toBe(3);

    // Ann solos the lead, which silences the keys, and mutes the lead too: from one pass to the next
    // nothing plays (read at the bar's last beat, when the pass has been scheduled and the next not
    // yet). Unmuted, the lead plays again.
    const playedAtLastBeat = async (page: Page) => {
      await expect.poll(() => page.getByTestId('beat').textContent(), { timeout: 5_000 }).toBe('1.4');
      return (await playerOf(page)).played;
    };
    await ann.locator(`[data-track="${lead}"] button[title=solo]`).click();
    await ann.locator(`[data-track="${lead}"] button[title=mute]`).click();
    await expect.poll(() => bob.evaluate((id) => (globalThis as unknown as PageWindow).veza.studio!.studio.track(id), lead)).toMatchObject({ solo: true, mute: true });
    const silent = await playedAtLastBeat(bob);
    await expect.poll(() => bob.getByTestId('beat').textContent(), { timeout: 5_000 }).not.toBe('1.4');
    expect(await playedAtLastBeat(bob)).toBe(silent);
    await ann.locator(`[data-track="${lead}"] button[title=mute]`).click();
    await expect.poll(async () => (await playerOf(bob)).played, { timeout: 10_000 }).toBeGreaterThan(silent);

    // Space stops it for both, and nothing of the sound is left on either page.
    await ann.locator('h2').click();
    await ann.keyboard.press('Space');
    await expect.poll(() => bob.getByTestId('play').textContent()).toBe('Play');
    await expect.poll(async () => (await playerOf(ann)).liveVoices).toBe(0);
    await expect.poll(async () => (await playerOf(bob)).liveVoices).toBe(0);
    await ann.context().close();
    await bob.context().close();
  });
});
