// Spectra of a mix: a Welch average of Hann-windowed 4096-point FFTs of the mid (L+R)/2 and side
// (L-R)/2 signals, summed into 1/3-octave bands (what reference matching compares) and into seven
// broad bands (what the genre templates and suggestions speak of).
import type { Pcm } from './pcm.js';

export const FFT_SIZE = 4096;
/** ISO 266 1/3-octave centre frequencies from 25 Hz to 20 kHz. */
export const THIRD_OCTAVES = [25, 31.5, 40, 50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800, 1000, 1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000, 10000, 12500, 16000, 20000];
export const BANDS = [
  { name: 'sub', low: 20, high: 60 },
  { name: 'bass', low: 60, high: 250 },
  { name: 'low-mid', low: 250, high: 500 },
  { name: 'mid', low: 500, high: 2000 },
  { name: 'high-mid', low: 2000, high: 4000 },
  { name: 'presence', low: 4000, high: 8000 },
  { name: 'air', low: 8000, high: 20000 },
] as const;
export type BandName = (typeof BANDS)[number]['name'];

/** Bit-reversed index of every index below FFT_SIZE, and the twiddles e^(-2 pi i k / FFT_SIZE) for k below FFT_SIZE / 2. */
const BIT_REVERSED = new Uint16Array(FFT_SIZE);
for (let i = 1, j = 0; i < FFT_SIZE; i++) {
  let bit = FFT_SIZE >> 1;
  for (; j & bit; bit >>= 1) j ^= bit;
  j ^= bit;
  BIT_REVERSED[i] = j;
}
const TWIDDLE_RE = Float64Array.from({ length: FFT_SIZE / 2 }, (_, k) => Math.cos((2 * Math.PI * k) / FFT_SIZE));
const TWIDDLE_IM = Float64Array.from({ length: FFT_SIZE / 2 }, (_, k) => -Math.sin((2 * Math.PI * k) / FFT_SIZE));

/**
 * In-place radix-2 FFT of `re`/`im` (length a power of two, at most FFT_SIZE): bit reversal and
 * twiddles from tables, each twiddle read once per stage.
 */
export function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  if (n > FFT_SIZE || (n & (n - 1)) !== 0) throw new Error(`the FFT takes a power of two up to ${FFT_SIZE} points`);
  const shift = Math.log2(FFT_SIZE / n);
  for (let i = 1; i < n; i++) {
    const j = BIT_REVERSED[i]! >> shift;
    if (i < j) {
      const r = re[i]!; re[i] = re[j]!; re[j] = r;
      const m = im[i]!; im[i] = im[j]!; im[j] = m;
    }
  }
  for (let i = 0; i + 1 < n; i += 2) {
    const ar = re[i]!, ai = im[i]!, br = re[i + 1]!, bi = im[i + 1]!;
    re[i] = ar + br; im[i] = ai + bi; re[i + 1] = ar - br; im[i + 1] = ai - bi;
  }
  for (let len = 4; len <= n; len <<= 1) {
    const half = len >> 1, stride = FFT_SIZE / len;
    for (let k = 0; k < half; k++) {
      const wr = TWIDDLE_RE[k * stride]!, wi = TWIDDLE_IM[k * stride]!;
      for (let a = k; a < n; a += len) {
        const b = a + half;
        const xr = re[b]!, xi = im[b]!;
        const tr = xr * wr - xi * wi, ti = xr * wi + xi * wr;
        const ar = re[a]!, ai = im[a]!;
        re[b] = ar - tr; im[b] = ai - ti; re[a] = ar + tr; im[a] = ai + ti;
      }
    }
  }
}

const HANN = Float64Array.from({ length: FFT_SIZE }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FFT_SIZE));

/** Mean power per FFT bin (FFT_SIZE / 2 + 1 bins) of `signal`, over at most `maxFrames` evenly spread frames. */
export function powerSpectrum(signal: Float32Array, maxFrames = 256): Float64Array {
  const power = new Float64Array(FFT_SIZE / 2 + 1);
  const available = Math.max(1, Math.floor((signal.length - FFT_SIZE) / FFT_SIZE) + 1);
  const frames = Math.min(available, maxFrames);
  const stride = signal.length > FFT_SIZE ? (signal.length - FFT_SIZE) / Math.max(1, frames - 1) : 0;
  const re = new Float64Array(FFT_SIZE), im = new Float64Array(FFT_SIZE);
  for (let f = 0; f < frames; f++) {
    const start = Math.floor(f * stride);
    for (let i = 0; i < FFT_SIZE; i++) {
      re[i] = (signal[start + i] ?? 0) * HANN[i]!;
      im[i] = 0;
    }
    fft(re, im);
    for (let k = 0; k <= FFT_SIZE / 2; k++) power[k]! += (re[k]! * re[k]! + im[k]! * im[k]!) / frames;
  }
  return power;
}

/**
 * Mean power spectra of the mid (L+R)/2 and side (L-R)/2 signals of `left` and `right` (one length):
 * mid as the real part and side as the imaginary part of one FFT per frame, separated by the
 * transform's symmetry (half the FFTs). Mid and side are formed per frame, only where a frame reads.
 */
export function midSidePowerSpectra(left: Float32Array, right: Float32Array, maxFrames = 256): [Float64Array, Float64Array] {
  const half = FFT_SIZE / 2;
  const powerA = new Float64Array(half + 1), powerB = new Float64Array(half + 1);
  const available = Math.max(1, Math.floor((left.length - FFT_SIZE) / FFT_SIZE) + 1);
  const frames = Math.min(available, maxFrames);
  const stride = left.length > FFT_SIZE ? (left.length - FFT_SIZE) / Math.max(1, frames - 1) : 0;
  const re = new Float64Array(FFT_SIZE), im = new Float64Array(FFT_SIZE);
  for (let f = 0; f < frames; f++) {
    const start = Math.floor(f * stride);
    const end = Math.min(FFT_SIZE, left.length - start);
    for (let i = 0; i < end; i++) {
      const l = left[start + i]!, r = right[start + i]!;
      // Rounded to float as a stored mid and side sample would be, so the spectra do not depend on where they are formed.
      re[i] = Math.fround((l + r) / 2) * HANN[i]!;
      im[i] = Math.fround((l - r) / 2) * HANN[i]!;
    }
    re.fill(0, end);
    im.fill(0, end);
    fft(re, im);
    for (let k = 0; k <= half; k++) {
      const j = k === 0 ? 0 : FFT_SIZE - k;
      // A = (X[k] + conj X[N-k]) / 2, B = (X[k] - conj X[N-k]) / 2i.
      const ar = (re[k]! + re[j]!) / 2, ai = (im[k]! - im[j]!) / 2;
      const br = (im[k]! + im[j]!) / 2, bi = (re[j]! - re[k]!) / 2;
      powerA[k]! += (ar * ar + ai * ai) / frames;
      powerB[k]! += (br * br + bi * bi) / frames;
    }
  }
  return [powerA, powerB];
}

const db = (power: number) => 10 * Math.log10(Math.max(power, 1e-20));

/** Power summed between `low` and `high` Hz, in dB. */
function bandPower(power: Float64Array, sampleRate: number, low: number, high: number): number {
  const binHz = sampleRate / FFT_SIZE;
  const first = Math.max(1, Math.ceil(low / binHz));
  const last = Math.min(power.length - 1, Math.floor(high / binHz));
  // A band narrower than a bin (the lowest 1/3 octaves) takes its share of the nearest bin.
  if (last < first) return db((power[Math.min(power.length - 1, Math.max(1, Math.round(Math.sqrt(low * high) / binHz)))]! * (high - low)) / binHz);
  let sum = 0;
  for (let k = first; k <= last; k++) sum += power[k]!;
  return db(sum);
}

/** Level per 1/3-octave band in dB, relative to the loudest band (so two mixes compare by shape). */
export function thirdOctaves(power: Float64Array, sampleRate: number): number[] {
  const levels = THIRD_OCTAVES.map((f) => bandPower(power, sampleRate, f / 2 ** (1 / 6), f * 2 ** (1 / 6)));
  const top = Math.max(...levels);
  return levels.map((l) => l - top);
}

/** Level per broad band in dB relative to the whole spectrum's power (its share of the energy). */
export function broadBands(power: Float64Array, sampleRate: number): Record<BandName, number> {
  const total = bandPower(power, sampleRate, 20, 20000);
  return Object.fromEntries(BANDS.map((b) => [b.name, bandPower(power, sampleRate, b.low, b.high) - total])) as Record<BandName, number>;
}

export interface Spectrum {
  /** 1/3-octave levels (dB, 0 at the loudest band) of the mid signal, at THIRD_OCTAVES. */
  thirdOctaves: number[];
  /** Broad bands of the mid and side signals: dB relative to each signal's whole power. */
  mid: Record<BandName, number>;
  side: Record<BandName, number>;
  /** Side power relative to mid power per broad band, dB (-Infinity-like -200 for mono). */
  sideToMid: Record<BandName, number>;
  /** Spectral centroid of the mid signal, Hz. */
  centroidHz: number;
}

export function spectrumOf(pcm: Pcm): Spectrum {
  const [left, right = left] = pcm.channels as [Float32Array, Float32Array?];
  const [midPower, sidePower] = midSidePowerSpectra(left, right);
  const sideToMid = Object.fromEntries(
    BANDS.map((b) => [b.name, bandPower(sidePower, pcm.sampleRate, b.low, b.high) - bandPower(midPower, pcm.sampleRate, b.low, b.high)]),
  ) as Record<BandName, number>;
  let weighted = 0, total = 0;
  for (let k = 1; k < midPower.length; k++) {
    weighted += midPower[k]! * k * (pcm.sampleRate / FFT_SIZE);
    total += midPower[k]!;
  }
  return {
    thirdOctaves: thirdOctaves(midPower, pcm.sampleRate),
    mid: broadBands(midPower, pcm.sampleRate),
    side: broadBands(sidePower, pcm.sampleRate),
    sideToMid,
    centroidHz: total > 0 ? weighted / total : 0,
  };
}
