// Loudness per ITU-R BS.1770-4 / EBU R128: K-weighting, 400 ms blocks gated at -70 LUFS and -10 LU,
// loudness range from 3 s windows gated at -70 LUFS and -20 LU (10th to 95th percentile), and true
// peak from 4x oversampling. Works on planar float samples at any rate.
import type { Pcm } from './pcm.js';

export interface Loudness {
  /** Integrated loudness in LUFS (-Infinity for silence). */
  integrated: number;
  /** Loudness range in LU. */
  range: number;
  /** True peak in dBTP (4x oversampled), over all channels. */
  truePeak: number;
  /** Sample peak in dBFS. */
  samplePeak: number;
  /** Short-term loudness (3 s windows) every 100 ms, in LUFS; for plots. */
  shortTerm: number[];
}

const ABSOLUTE_GATE = -70;

/** The two biquads of the K-weighting filter for sample rate `fs` (high shelf, then RLB high-pass). */
export function kWeighting(fs: number): { b: number[]; a: number[] }[] {
  let f0 = 1681.974450955533;
  const G = 3.999843853973347;
  let Q = 0.7071752369554196;
  let K = Math.tan((Math.PI * f0) / fs);
  const Vh = 10 ** (G / 20);
  const Vb = Vh ** 0.4996667741545416;
  let a0 = 1 + K / Q + K * K;
  const shelf = {
    b: [(Vh + (Vb * K) / Q + K * K) / a0, (2 * (K * K - Vh)) / a0, (Vh - (Vb * K) / Q + K * K) / a0],
    a: [1, (2 * (K * K - 1)) / a0, (1 - K / Q + K * K) / a0],
  };
  f0 = 38.13547087602444;
  Q = 0.5003270373238773;
  K = Math.tan((Math.PI * f0) / fs);
  a0 = 1 + K / Q + K * K;
  const highPass = { b: [1, -2, 1], a: [1, (2 * (K * K - 1)) / a0, (1 - K / Q + K * K) / a0] };
  return [shelf, highPass];
}

/** K-weighted squares of one channel, summed per 100 ms step (so 4 steps make a 400 ms block). */
export function stepEnergies(samples: Float32Array, fs: number, step: number): Float64Array {
  const [s, h] = kWeighting(fs) as [{ b: number[]; a: number[] }, { b: number[]; a: number[] }];
  const steps = Math.floor(samples.length / step);
  const out = new Float64Array(steps);
  let x1 = 0, x2 = 0, y1 = 0, y2 = 0, z1 = 0, z2 = 0;
  const [sb0, sb1, sb2] = s.b as [number, number, number];
  const [, sa1, sa2] = s.a as [number, number, number];
  const [, ha1, ha2] = h.a as [number, number, number];
  for (let k = 0; k < steps; k++) {
    let sum = 0;
    const end = (k + 1) * step;
    for (let i = k * step; i < end; i++) {
      const x = samples[i]!;
      const y = sb0 * x + sb1 * x1 + sb2 * x2 - sa1 * y1 - sa2 * y2;
      x2 = x1; x1 = x;
      const z = y - 2 * y1 + y2 - ha1 * z1 - ha2 * z2;
      y2 = y1; y1 = y;
      z2 = z1; z1 = z;
      sum += z * z;
    }
    out[k] = sum;
  }
  return out;
}

const lufs = (meanSquare: number) => -0.691 + 10 * Math.log10(meanSquare);

/** Mean-square energy of every window of `width` steps, moving one step (100 ms) at a time. */
function windows(energy: Float64Array, width: number, step: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let k = 0; k < energy.length; k++) {
    sum += energy[k]!;
    if (k >= width) sum -= energy[k - width]!;
    if (k >= width - 1) out.push(Math.max(0, sum) / (width * step));
  }
  return out;
}

function gatedMean(blocks: number[], relativeLu: number): { mean: number; kept: number[] } {
  const absolute = blocks.filter((z) => z > 0 && lufs(z) > ABSOLUTE_GATE);
  if (absolute.length === 0) return { mean: 0, kept: [] };
  const threshold = lufs(absolute.reduce((a, b) => a + b, 0) / absolute.length) + relativeLu;
  const kept = absolute.filter((z) => lufs(z) > threshold);
  return { mean: kept.length ? kept.reduce((a, b) => a + b, 0) / kept.length : 0, kept };
}

/** Integrated loudness (LUFS, -Infinity for silence) from K-weighted energies summed per 100 ms step of `step` samples. */
export function integratedFromSteps(energy: Float64Array, step: number): number {
  const mean = gatedMean(windows(energy, 4, step), -10).mean;
  return mean > 0 ? lufs(mean) : -Infinity;
}

/**
 * EBU Tech 3342: the 10th to 95th percentile of the gated short-term loudness. The percentiles are
 * ranks as ffmpeg's ebur128 takes them (the k-th smallest of n, k = round(p * n)), so short files agree.
 */
function loudnessRange(shortBlocks: number[]): number {
  const absolute = shortBlocks.filter((z) => z > 0 && lufs(z) > ABSOLUTE_GATE);
  if (absolute.length === 0) return 0;
  const threshold = lufs(absolute.reduce((a, b) => a + b, 0) / absolute.length) - 20;
  const kept = absolute.map(lufs).filter((l) => l >= threshold).sort((a, b) => a - b);
  const low = Math.floor(0.1 * kept.length + 0.5);
  const high = Math.floor(0.95 * kept.length + 0.5);
  if (high < 1) return 0;
  return kept[high - 1]! - (low >= 1 ? kept[low - 1]! : threshold);
}

/**
 * Integrated loudness, loudness range and peaks of `pcm`. Loudness is measured at the source's own
 * rate; the true peak from `peakPcm` (the same audio at 48 kHz, so 4x oversampling reaches 192 kHz as
 * in ffmpeg's ebur128) when given, else from `pcm`.
 */
export function measureLoudness(pcm: Pcm, peakPcm: Pcm = pcm): Loudness {
  const step = Math.round(pcm.sampleRate / 10);
  const perChannel = pcm.channels.map((c) => stepEnergies(c, pcm.sampleRate, step));
  const steps = perChannel[0]?.length ?? 0;
  // Channel weights are 1 for left, right and centre; only mono and stereo reach the meter.
  const energy = new Float64Array(steps);
  for (const ch of perChannel) for (let k = 0; k < steps; k++) energy[k]! += ch[k]!;
  const integrated = integratedFromSteps(energy, step);
  const shortBlocks = windows(energy, 30, step);
  const range = loudnessRange(shortBlocks);
  const peaks = peakPcm.channels.map((c) => ({ sample: samplePeak(c), true: truePeak(c) }));
  const maxOf = (key: 'sample' | 'true') => 20 * Math.log10(Math.max(1e-12, ...peaks.map((p) => p[key])));
  return {
    integrated,
    range,
    truePeak: maxOf('true'),
    samplePeak: maxOf('sample'),
    shortTerm: shortBlocks.map((z) => (z > 0 ? Math.max(-70, lufs(z)) : -70)),
  };
}

export function samplePeak(samples: Float32Array): number {
  let peak = 0;
  for (let i = 0; i < samples.length; i++) {
    const v = Math.abs(samples[i]!);
    if (v > peak) peak = v;
  }
  return peak;
}

const PHASES = 4;
const TAPS_PER_PHASE = 32;

/** Modified Bessel function of the first kind, order 0 (for the Kaiser window). */
function besselI0(x: number): number {
  let sum = 1, term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
  }
  return sum;
}

/**
 * Polyphase interpolation filter: a sinc cut off at the source's Nyquist, Kaiser-windowed (beta 9),
 * 32 taps per phase, centred on a sample so that phase 0 returns the samples themselves. This is the
 * shape of ffmpeg's default resampler, which ebur128 upsamples with.
 */
const POLYPHASE: Float64Array[] = (() => {
  const length = PHASES * TAPS_PER_PHASE;
  const centre = length / 2;
  const cutoff = 0.5 / PHASES; // cycles per oversampled sample
  const h = new Float64Array(length);
  for (let n = 0; n < length; n++) {
    const t = n - centre;
    const sinc = t === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * t) / (Math.PI * t);
    const r = t / centre;
    h[n] = sinc * (besselI0(9 * Math.sqrt(Math.max(0, 1 - r * r))) / besselI0(9)) * PHASES;
  }
  return Array.from({ length: PHASES }, (_, p) => Float64Array.from({ length: TAPS_PER_PHASE }, (_, k) => h[k * PHASES + p]!));
})();
const [, P1, P2, P3] = POLYPHASE as [Float64Array, Float64Array, Float64Array, Float64Array];
const MIRRORED = P1.every((tap, k) => Math.abs(tap - P3[TAPS_PER_PHASE - 1 - k]!) < 1e-12) && P2.every((tap, k) => Math.abs(tap - P2[TAPS_PER_PHASE - 1 - k]!) < 1e-12);
if (!MIRRORED) throw new Error('the true-peak taps are not mirrored');
const PHASE_GAIN = Math.max(...POLYPHASE.map((taps) => taps.reduce((a, b) => a + Math.abs(b), 0)));
const HALF = TAPS_PER_PHASE / 2;
// Ring r of the window between samples i and i + 1: the taps r from its centre on either side
// (k = 15 - r and 16 + r, which weigh the samples i + 1 + r and i - r).
/** What the taps beyond the nearest `rings` rings of one phase add at most, per unit of the window's largest sample. */
const farGain = (taps: Float64Array, rings: number) => taps.reduce((sum, tap, k) => (k >= HALF - rings && k < HALF + rings ? sum : sum + Math.abs(tap)), 0);
const [F1A, F2A, F3A] = [P1, P2, P3].map((taps) => farGain(taps, 2)) as [number, number, number];
const [F1B, F2B, F3B] = [P1, P2, P3].map((taps) => farGain(taps, 6)) as [number, number, number];
/** Taps of the six nearest rings, phase by phase: [phase 1 near side, far side, phase 2 ..., phase 3 ...] per ring. */
const RING_TAPS = Float64Array.from({ length: 6 * 6 }, (_, at) => {
  const ring = Math.floor(at / 6), which = at % 6;
  const taps = [P1, P2, P3][which >> 1]!;
  return taps[which & 1 ? HALF + ring : HALF - 1 - ring]!;
});
/** Relative slack for rounding: a partial sum and the full one differ from the exact values by far less. */
const SLACK = 1e-9;

/** The three interpolated values (phases 1 to 3) between samples i and i + 1, summed in one fixed order. */
function interpolate(samples: Float32Array, i: number): number {
  const n = samples.length;
  const newest = i + HALF;
  let a1 = 0, a2 = 0, a3 = 0;
  if (newest - TAPS_PER_PHASE + 1 >= 0 && newest < n) {
    // The taps mirror each other (phase 3 is phase 1 reversed, phase 2 its own mirror), so the
    // samples k from either end of the window share them: five products per pair, not six.
    const oldest = newest - TAPS_PER_PHASE + 1;
    for (let k = 0; k < HALF; k++) {
      const u = samples[newest - k]!, v = samples[oldest + k]!;
      const near = P1[k]!, far = P1[TAPS_PER_PHASE - 1 - k]!;
      a1 += near * u + far * v; a3 += far * u + near * v; a2 += P2[k]! * (u + v);
    }
  } else {
    for (let k = 0; k < TAPS_PER_PHASE; k++) {
      const idx = newest - k;
      if (idx < 0 || idx >= n) continue;
      const x = samples[idx]!;
      a1 += P1[k]! * x; a2 += P2[k]! * x; a3 += P3[k]! * x;
    }
  }
  return Math.max(Math.abs(a1), Math.abs(a2), Math.abs(a3));
}

/** Largest absolute value of the 4x oversampled signal, every sample interpolated (what truePeak must equal). */
export function truePeakFull(samples: Float32Array): number {
  let peak = samplePeak(samples);
  for (let i = 0; i < samples.length; i++) {
    const v = interpolate(samples, i);
    if (v > peak) peak = v;
  }
  return peak;
}

/**
 * Largest absolute value of the 4x oversampled signal: the same value as truePeakFull, with most
 * samples skipped. The samples go in blocks of 16; an interpolated value between two samples of a
 * block is at most the largest sample of the block and its neighbours (which hold its window) times
 * the filter's worst-case gain. Where that could beat the peak found so far, the nearest taps are
 * summed (4, then 12 per phase) and the rest bounded by the sum of their absolute values times that
 * largest sample. Only a sample whose bound still reaches the peak is interpolated in full, in the
 * one fixed order, so the result is identical to every sample interpolated.
 */
export function truePeak(samples: Float32Array): number {
  const n = samples.length;
  const blocks = Math.ceil(n / HALF);
  const blockMax = new Float32Array(blocks);
  let peak = 0;
  for (let b = 0; b < blocks; b++) {
    let m = 0;
    for (let i = b * HALF, end = Math.min(n, i + HALF); i < end; i++) {
      const v = Math.abs(samples[i]!);
      if (v > m) m = v;
    }
    blockMax[b] = m;
    if (m > peak) peak = m;
  }
  for (let b = 0; b < blocks; b++) {
    // The windows of the samples in block b reach 15 samples back and 16 on: blocks b - 1 to b + 1.
    const localMax = Math.max(blockMax[b]!, b > 0 ? blockMax[b - 1]! : 0, b + 1 < blocks ? blockMax[b + 1]! : 0);
    if (localMax * PHASE_GAIN <= peak) continue;
    for (let i = b * HALF, end = Math.min(n, i + HALF); i < end; i++) {
      if (i >= 5 && i + 6 < n) {
        // The two nearest rings (4 taps per phase), then four more (12); phase 0 is the samples themselves.
        const limit = peak - localMax * SLACK;
        let b1 = 0, b2 = 0, b3 = 0, ring = 0;
        for (; ring < 2; ring++) {
          const u = samples[i + 1 + ring]!, v = samples[i - ring]!, t = ring * 6;
          b1 += RING_TAPS[t]! * u + RING_TAPS[t + 1]! * v; b2 += RING_TAPS[t + 2]! * u + RING_TAPS[t + 3]! * v; b3 += RING_TAPS[t + 4]! * u + RING_TAPS[t + 5]! * v;
        }
        if (Math.abs(b1) + F1A * localMax <= limit && Math.abs(b2) + F2A * localMax <= limit && Math.abs(b3) + F3A * localMax <= limit) continue;
        for (; ring < 6; ring++) {
          const u = samples[i + 1 + ring]!, v = samples[i - ring]!, t = ring * 6;
          b1 += RING_TAPS[t]! * u + RING_TAPS[t + 1]! * v; b2 += RING_TAPS[t + 2]! * u + RING_TAPS[t + 3]! * v; b3 += RING_TAPS[t + 4]! * u + RING_TAPS[t + 5]! * v;
        }
        if (Math.abs(b1) + F1B * localMax <= limit && Math.abs(b2) + F2B * localMax <= limit && Math.abs(b3) + F3B * localMax <= limit) continue;
      }
      const v = interpolate(samples, i);
      if (v > peak) peak = v;
    }
  }
  return peak;
}
