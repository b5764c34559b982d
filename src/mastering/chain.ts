// The mastering chain: analyse the mix, derive EQ, compression and gain from the target (a genre
// template, or a reference track), render through ffmpeg (fluent-ffmpeg), then measure the rendered
// file with our own meter and adjust gain and limiter ceiling until it lands within the tolerance
// of the target loudness with the true peak under the ceiling. Nothing is assumed: every accepted
// render was measured after its final encode.
import { rename, rm } from 'node:fs/promises';
import ffmpeg from 'fluent-ffmpeg';
import { analyzeFile, analyzePcm, type Analysis } from './analysis.js';
import { ffmpegFor } from './ffmpeg.js';
import { filterChain, type ChainSettings } from './filters.js';
import { FORMATS, metadataArgs, type ExportFormat } from './formats.js';
import type { GenreTemplate } from './genres.js';
import { measureLoudness } from './meter.js';
import { decode, type Pcm } from './pcm.js';
import { THIRD_OCTAVES, type BandName, BANDS } from './spectrum.js';

export const MAX_TRUE_PEAK = -1.0;
/** Our meter must land inside these before a render is accepted (the spec's ±0.2 LU, -1 dBTP, with margin). */
const LOUDNESS_TOLERANCE = 0.1;
const PEAK_MARGIN = 0.05;
const MAX_PASSES = 10;

export interface MasterOptions {
  /** Integrated loudness to reach, LUFS. */
  target: number;
  template: GenreTemplate;
  /** Match this reference's spectrum (its 1/3-octave shape) instead of the template's curve. */
  reference?: Analysis;
  format: ExportFormat;
  metadata?: Record<string, string>;
  /** The input's analysis, when the caller has it already. */
  before?: Analysis;
  /** Progress from 0 to 1, with what is being done. */
  onProgress?: (fraction: number, stage: string) => void;
  /** Stops the render in progress (ffmpeg is killed) and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface Pass {
  gainDb: number;
  ceilingDb: number;
  integrated: number;
  truePeak: number;
}

export interface MasterResult {
  before: Analysis;
  after: Analysis;
  settings: ChainSettings;
  passes: Pass[];
  /** Within tolerance of the target with the true peak at or under -1 dBTP, by our meter. */
  converged: boolean;
  /** Mean absolute 1/3-octave difference from the reference after mastering, dB (reference matching only). */
  referenceDeviationDb: number | null;
  /** The same before mastering. */
  referenceDeviationBeforeDb: number | null;
}

const clamp = (x: number, low: number, high: number) => Math.min(high, Math.max(low, x));

/** EQ points toward the template: a share of the difference per broad band, at most ±4 dB. */
export function templateEq(before: Analysis, template: GenreTemplate): { hz: number; db: number }[] {
  return BANDS.map((b) => {
    const delta = template.curve[b.name as BandName] - before.spectrum.mid[b.name as BandName];
    return { hz: Math.sqrt(b.low * b.high), db: clamp(0.6 * delta, -4, 4) };
  });
}

/** Shape of a 1/3-octave curve with its mean over 63 Hz to 8 kHz removed, so two mixes compare by shape alone. */
function shape(levels: number[]): number[] {
  const inRange = levels.filter((_, i) => THIRD_OCTAVES[i]! >= 63 && THIRD_OCTAVES[i]! <= 8000);
  const mean = inRange.reduce((a, b) => a + b, 0) / inRange.length;
  return levels.map((l) => l - mean);
}

/** Bands both mixes fill (above -60 dB of their loudest band), 31.5 Hz to 16 kHz. */
function comparable(a: number[], b: number[]): number[] {
  return THIRD_OCTAVES.flatMap((f, i) => (f >= 31.5 && f <= 16000 && a[i]! > -60 && b[i]! > -60 ? [i] : []));
}

/** Mean absolute difference of two 1/3-octave curves by shape, dB. */
export function thirdOctaveDeviation(mix: number[], reference: number[]): number {
  const bands = comparable(mix, reference);
  if (bands.length === 0) return 0;
  const [m, r] = [shape(mix), shape(reference)];
  return bands.reduce((sum, i) => sum + Math.abs(m[i]! - r[i]!), 0) / bands.length;
}

/** EQ points toward the reference's shape per 1/3 octave, smoothed over neighbours, at most ±8 dB. */
export function referenceEq(before: Analysis, reference: Analysis): { hz: number; db: number }[] {
  const [m, r] = [shape(before.spectrum.thirdOctaves), shape(reference.spectrum.thirdOctaves)];
  const usable = new Set(comparable(before.spectrum.thirdOctaves, reference.spectrum.thirdOctaves));
  const raw = THIRD_OCTAVES.map((_, i) => (usable.has(i) ? r[i]! - m[i]! : 0));
  return THIRD_OCTAVES.map((hz, i) => {
    const near = [raw[i - 1], raw[i], raw[i + 1]].filter((x): x is number => x !== undefined);
    return { hz, db: clamp(near.reduce((a, b) => a + b, 0) / near.length, -8, 8) };
  });
}

/** First settings: EQ, compression when the mix is more dynamic than the template, gain by the difference. */
export function initialSettings(before: Analysis, options: MasterOptions): ChainSettings {
  const eq = options.reference ? referenceEq(before, options.reference) : templateEq(before, options.template);
  const preGainDb = clamp(-20 - before.loudness.integrated, -30, 30);
  const compress = before.crestFactorDb > options.template.crestDb + 1 && options.template.ratio > 1.05;
  return {
    eq,
    preGainDb,
    compressor: compress ? { thresholdDb: -24, ratio: options.template.ratio, attackMs: 15, releaseMs: 200 } : null,
    gainDb: options.target - (before.loudness.integrated + preGainDb),
    // MP3 and AAC encoders add a few tenths of a dB of peak: their ceiling starts lower.
    ceilingDb: FORMATS[options.format].lossy ? -2 : -1.5,
  };
}

/** Renders `input` through the chain into `output` (the export format, with metadata). */
export function render(
  input: string,
  output: string,
  settings: ChainSettings,
  format: ExportFormat,
  metadata: Record<string, string>,
  durationSeconds: number,
  onFraction: (f: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  const binaries = ffmpegFor();
  const spec = FORMATS[format];
  return new Promise((resolve, reject) => {
    const command = ffmpeg(input)
      .setFfmpegPath(binaries.path)
      .noVideo()
      .audioFilters(filterChain(settings))
      .audioCodec(spec.codec)
      // Separate arguments: given one array, fluent-ffmpeg would split a tag value at its space.
      .outputOptions(...spec.options, '-map_metadata', '-1', ...metadataArgs(metadata))
      .format(spec.extension === 'm4a' ? 'ipod' : spec.extension)
      .on('progress', (p: { timemark?: string }) => {
        const [h = 0, m = 0, s = 0] = (p.timemark ?? '0:0:0').split(':').map(Number);
        onFraction(clamp((h * 3600 + m * 60 + s) / Math.max(0.1, durationSeconds), 0, 1));
      })
      .on('error', (error: Error, _stdout: string | null, stderr: string | null) => reject(new Error(`ffmpeg failed: ${error.message}${stderr ? `: ${stderr.trim().split('\n').slice(-2).join(' ')}` : ''}`)))
      .on('end', () => resolve());
    if (signal?.aborted) return reject(signal.reason as Error);
    signal?.addEventListener('abort', () => command.kill('SIGKILL'), { once: true });
    command.save(output);
  });
}

/**
 * Masters `input` into `output`. Each pass renders and measures; the gain moves by the loudness error
 * divided by the gain-to-loudness slope seen so far (below 1 once the limiter works), and the ceiling
 * drops by any true-peak excess.
 */
export async function master(input: string, output: string, options: MasterOptions, sampleRate?: number): Promise<MasterResult> {
  const progress = options.onProgress ?? (() => {});
  progress(0, 'analysing');
  const before = options.before ?? (await analyzeFile(input, sampleRate)).analysis;
  if (!Number.isFinite(before.loudness.integrated)) throw new Error('the audio is silent: there is no loudness to master');
  const settings = initialSettings(before, options);
  const passes: Pass[] = [];
  const scratch = `${output}.pass.${FORMATS[options.format].extension}`;
  const metadata = { comment: `Mastered to ${options.target} LUFS, true peak at most ${MAX_TRUE_PEAK} dBTP`, ...(options.metadata ?? {}) };
  let slope = 1;
  let best: { pass: Pass; settings: ChainSettings; pcm: Pcm } | null = null;
  try {
    for (let i = 0; i < MAX_PASSES; i++) {
      const base = 0.1 + (0.85 * i) / (i + 3);
      const span = 0.85 / ((i + 3) * (i + 4)) * 3;
      await render(input, scratch, settings, options.format, metadata, before.durationSeconds, (f) => progress(Math.min(0.95, base + span * f), `rendering pass ${i + 1}`), options.signal);
      options.signal?.throwIfAborted();
      const pcm = await decode(scratch, 48000);
      // A pass needs only loudness and peak; reference matching also needs the spectrum.
      const rendered = options.reference && i < 2 ? analyzePcm(pcm) : null;
      const measured = rendered?.loudness ?? measureLoudness(pcm);
      const pass = { gainDb: settings.gainDb, ceilingDb: settings.ceilingDb, integrated: measured.integrated, truePeak: measured.truePeak };
      passes.push(pass);
      const loudnessOk = Math.abs(pass.integrated - options.target) <= LOUDNESS_TOLERANCE;
      const peakOk = pass.truePeak <= MAX_TRUE_PEAK - PEAK_MARGIN;
      // Reference matching corrects the EQ after each of its first two passes (the compressor and
      // limiter reshape the spectrum); only passes with the settled EQ may be kept.
      const eqSettled = !options.reference || i >= 2;
      if (peakOk && eqSettled && (!best || Math.abs(pass.integrated - options.target) < Math.abs(best.pass.integrated - options.target))) {
        best = { pass, settings: { ...settings }, pcm };
        await rename(scratch, output);
      }
      if (loudnessOk && peakOk && eqSettled) break;
      const previous = passes.at(-2);
      // The slope is read across ceiling changes too: they are small beside the gain steps, and
      // requiring an unchanged ceiling would leave it at 1 whenever the encoder pushes the peak up.
      if (previous && Math.abs(pass.gainDb - previous.gainDb) > 0.05) {
        slope = clamp((pass.integrated - previous.integrated) / (pass.gainDb - previous.gainDb), 0.2, 1.2);
      }
      if (!peakOk) settings.ceilingDb -= pass.truePeak - (MAX_TRUE_PEAK - PEAK_MARGIN) + 0.05;
      if (!eqSettled) {
        const residual = referenceEq(rendered!, options.reference!);
        settings.eq = settings.eq.map((p, k) => ({ hz: p.hz, db: clamp(p.db + residual[k]!.db, -12, 12) }));
      }
      settings.gainDb += clamp((options.target - pass.integrated) / slope, -24, 24);
    }
  } finally {
    await rm(scratch, { force: true });
  }
  if (!best) throw new Error(`the true peak could not be brought under ${MAX_TRUE_PEAK} dBTP`);
  progress(0.97, 'measuring the master');
  // The kept pass's samples are the master's: it is analysed without decoding it again.
  const after = analyzePcm(best.pcm);
  const converged = Math.abs(after.loudness.integrated - options.target) <= LOUDNESS_TOLERANCE && after.loudness.truePeak <= MAX_TRUE_PEAK;
  const reference = options.reference?.spectrum.thirdOctaves;
  progress(1, 'done');
  return {
    before,
    after,
    settings: best.settings,
    passes,
    converged,
    referenceDeviationDb: reference ? thirdOctaveDeviation(after.spectrum.thirdOctaves, reference) : null,
    referenceDeviationBeforeDb: reference ? thirdOctaveDeviation(before.spectrum.thirdOctaves, reference) : null,
  };
}
