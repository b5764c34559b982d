// Analysis of a mix: loudness (meter.ts), spectrum (spectrum.ts) and the sample statistics a
// mastering engineer checks first: crest factor, stereo width and correlation, clipping, DC offset.
import { measureLoudness, type Loudness } from './meter.js';
import { decodeFile } from './ffmpeg-run.js';
import { durationOf, type Pcm } from './pcm.js';
import { spectrumOf, type Spectrum } from './spectrum.js';

export interface Analysis {
  durationSeconds: number;
  sampleRate: number;
  channels: number;
  loudness: Loudness;
  spectrum: Spectrum;
  /** Sample peak over RMS, dB (all channels together). */
  crestFactorDb: number;
  /** Side RMS over mid RMS (0: mono; 1: as much side as mid). */
  stereoWidth: number;
  /** Pearson correlation of left and right (1: mono, 0: unrelated, below 0: out of phase). */
  correlation: number;
  /** Runs of 3 or more consecutive samples at or above 0.999 full scale. */
  clippedRuns: number;
  /** Mean of each channel, dBFS (-120 for none). */
  dcOffsetDb: number[];
}

/**
 * Decodes `file` once (at its own rate for loudness and at 48 kHz for the true peak and spectra, from
 * one ffmpeg run) and analyses it. The 48 kHz samples come back: the chain renders from them.
 */
export async function analyzeFile(file: string, sampleRate?: number, signal?: AbortSignal): Promise<{ analysis: Analysis; pcm48: Pcm }> {
  const { pcm48, native } = await decodeFile(file, sampleRate, signal);
  return { analysis: analyzePcm(native, pcm48), pcm48 };
}

/** Analyses `pcm` (loudness at its rate) with `pcm48` (the same audio at 48 kHz); `loudness` when already measured. */
export function analyzePcm(pcm: Pcm, pcm48: Pcm = pcm, loudness: Loudness = measureLoudness(pcm, pcm48)): Analysis {
  const [left, right = left] = pcm48.channels as [Float32Array, Float32Array?];
  let sumL = 0, sumR = 0, sumLL = 0, sumRR = 0, sumLR = 0, sumM = 0, sumS = 0;
  for (let i = 0; i < left.length; i++) {
    const l = left[i]!, r = right[i]!;
    sumL += l; sumR += r; sumLL += l * l; sumRR += r * r; sumLR += l * r;
    const m = (l + r) / 2, s = (l - r) / 2;
    sumM += m * m; sumS += s * s;
  }
  const n = Math.max(1, left.length);
  const rms = Math.sqrt((sumLL + sumRR) / (2 * n));
  const samplePeakLinear = 10 ** (loudness.samplePeak / 20);
  const covariance = sumLR / n - (sumL / n) * (sumR / n);
  const spread = Math.sqrt((sumLL / n - (sumL / n) ** 2) * (sumRR / n - (sumR / n) ** 2));
  const dc = pcm48.channels.map((c) => {
    let sum = 0;
    for (let i = 0; i < c.length; i++) sum += c[i]!;
    const mean = Math.abs(sum / Math.max(1, c.length));
    return mean > 1e-6 ? 20 * Math.log10(mean) : -120;
  });
  return {
    durationSeconds: durationOf(pcm48),
    sampleRate: pcm.sampleRate,
    channels: pcm.channels.length,
    loudness,
    spectrum: spectrumOf(pcm48),
    crestFactorDb: rms > 0 ? 20 * Math.log10(samplePeakLinear / rms) : 0,
    stereoWidth: sumM > 0 ? Math.sqrt(sumS / sumM) : 0,
    correlation: spread > 0 ? covariance / spread : 1,
    clippedRuns: pcm48.channels.reduce((total, c) => total + clippedRuns(c), 0),
    dcOffsetDb: dc,
  };
}

function clippedRuns(samples: Float32Array): number {
  let runs = 0, length = 0;
  for (let i = 0; i < samples.length; i++) {
    if (Math.abs(samples[i]!) >= 0.999) length++;
    else {
      if (length >= 3) runs++;
      length = 0;
    }
  }
  return runs + (length >= 3 ? 1 : 0);
}
