// The mastering chain: analyse the mix, derive EQ, compression and gain from the target (a genre
// template, or a reference track), render through ffmpeg (fluent-ffmpeg), then measure the rendered
// file with our own meter and adjust gain and limiter ceiling until it lands within the tolerance
// of the target loudness with the true peak under the ceiling. Nothing is assumed: every accepted
// render was measured after its final encode.
import { rename, rm } from 'node:fs/promises';
import { analyzeFile, analyzePcm, type Analysis } from './analysis.js';
import type { ChainSettings } from './filters.js';
import { FORMATS, type ExportFormat } from './formats.js';
import { GainModel } from './gain-model.js';
import type { GenreTemplate } from './genres.js';
import { measureLoudness, truePeak, type Loudness } from './meter.js';
import type { Pcm } from './pcm.js';
import { decodeEncoded, exportMaster, limitAndExport, renderLimited, renderShaping, scaled } from './render.js';
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
  /** The input's analysis, when the caller has it already (with `pcm48`, the input is not decoded again). */
  before?: Analysis;
  /** The input at 48 kHz, as analyzeFile returns it. */
  pcm48?: Pcm;
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

/**
 * Masters `input` into `output`. The input is decoded once; the shaping (EQ, compression) is rendered
 * once; a model of the limiter picks the gain (gain-model.ts). Each pass limits (or, where no peak
 * reaches the ceiling, only scales) and is encoded, in the limiter's run where there is one (a lossy
 * pass without the limiter only once its samples are on target); what the file holds is measured
 * before it is accepted. After a pass the model is corrected by its error;
 * from the third pass the gain moves by the error over the gain-to-loudness slope seen so far, and
 * the ceiling drops by any true-peak excess.
 */
export async function master(input: string, output: string, options: MasterOptions, sampleRate?: number): Promise<MasterResult> {
  const progress = options.onProgress ?? (() => {});
  const signal = options.signal;
  progress(0, 'analysing');
  let { before, pcm48 } = options;
  if (!before || !pcm48) {
    const decoded = await analyzeFile(input, sampleRate, signal);
    before ??= decoded.analysis;
    pcm48 = decoded.pcm48;
  }
  if (!Number.isFinite(before.loudness.integrated)) throw new Error('the audio is silent: there is no loudness to master');
  const settings = initialSettings(before, options);
  const passes: Pass[] = [];
  const lossy = FORMATS[options.format].lossy;
  const scratch = `${output}.pass.${FORMATS[options.format].extension}`;
  const metadata = { comment: `Mastered to ${options.target} LUFS, true peak at most ${MAX_TRUE_PEAK} dBTP`, ...(options.metadata ?? {}) };
  const step = (from: number, to: number, stage: string) => (f: number) => progress(from + (to - from) * f, stage);
  progress(0.1, 'shaping');
  let shaped = await renderShaping(pcm48, settings, { onFraction: step(0.1, 0.3, 'shaping'), ...(signal ? { signal } : {}) });
  let model = new GainModel(shaped);
  let shapedPeak: number | null = null;
  settings.gainDb = model.gainFor(options.target, settings.ceilingDb);
  let slope = 1;
  let encoderShift = { integrated: 0, truePeak: 0 };
  let best = null as { pass: Pass; settings: ChainSettings; after: Analysis } | null;
  try {
    for (let i = 0; i < MAX_PASSES; i++) {
      const eqSettled = !options.reference || i >= 2;
      const base = 0.3 + (0.6 * i) / (i + 2);
      const next = 0.3 + (0.6 * (i + 1)) / (i + 3);
      // The limiter only where a true peak would pass the ceiling: below it, it returns its input.
      // The sample peak decides first; the true peak (dearer) only when the samples stay under.
      const over = (peakDb: number) => peakDb + settings.gainDb > settings.ceilingDb;
      const needsLimiter = over(model.samplePeakDb) || over((shapedPeak ??= 20 * Math.log10(Math.max(1e-12, ...shaped.channels.map(truePeak)))));
      progress(base, `rendering pass ${i + 1}`);
      const rendering = { onFraction: step(base, (base + next) / 2, `rendering pass ${i + 1}`), ...(signal ? { signal } : {}) };
      // Once the EQ is settled, a limited pass is encoded in the run that limits it: a lossless pass
      // is measured as its file holds it anyway, and a lossy pass is on target far more often than not.
      const joined = eqSettled && needsLimiter ? await limitAndExport(shaped, settings, scratch, options.format, metadata, { ...rendering, onFraction: step(base, next, `rendering pass ${i + 1}`) }) : null;
      const pcm = joined ? joined.limited : needsLimiter ? await renderLimited(shaped, settings, rendering) : scaled(shaped, settings.gainDb);
      signal?.throwIfAborted();
      const onTarget = (m: Loudness) => ({ loudness: Math.abs(m.integrated - options.target) <= LOUDNESS_TOLERANCE, peak: m.truePeak <= MAX_TRUE_PEAK - PEAK_MARGIN });
      let accepted = false;
      /** Encodes the pass (unless its run did) and measures what the file holds; keeps it when it is the best so far. */
      const exportPass = async (): Promise<Loudness> => {
        const held =
          joined?.held ??
          (joined ? await decodeEncoded(scratch, signal) : await exportMaster(pcm!, scratch, options.format, metadata, { onFraction: step((base + next) / 2, next, 'encoding'), ...(signal ? { signal } : {}) }));
        const loudness = measureLoudness(held);
        const ok = onTarget(loudness);
        if (ok.peak && (!best || Math.abs(loudness.integrated - options.target) < Math.abs(best.pass.integrated - options.target))) {
          best = { pass: { gainDb: settings.gainDb, ceilingDb: settings.ceilingDb, integrated: loudness.integrated, truePeak: loudness.truePeak }, settings: { ...settings }, after: analyzePcm(held, held, loudness) };
          await rename(scratch, output);
          accepted = ok.loudness;
        }
        return loudness;
      };
      // Reference matching needs the spectrum of its first two passes to correct the EQ.
      const rendered = options.reference && i < 2 ? analyzePcm(pcm!) : null;
      let measured: Loudness;
      if (eqSettled && (!lossy || joined)) {
        // WAV and FLAC encode in a fraction of the limiter's time, and a lossy pass encoded in its
        // limiter's run is in its file already: the pass is measured as the file holds it, without
        // measuring the samples before.
        measured = await exportPass();
        if (lossy && !accepted) {
          // Another pass follows: it expects what the encoder did to this one.
          const samples = measureLoudness(pcm!);
          encoderShift = { integrated: measured.integrated - samples.integrated, truePeak: Math.max(0, measured.truePeak - samples.truePeak) };
        }
      } else {
        const samples = rendered?.loudness ?? measureLoudness(pcm!);
        // What the encoder did to the last pass encoded (loudness and peak) is expected of this one.
        measured = { ...samples, integrated: samples.integrated + encoderShift.integrated, truePeak: samples.truePeak + encoderShift.truePeak };
        const ok = onTarget(measured);
        // MP3 and AAC encode slowly: only a pass on target is encoded (and measured again, decoded).
        if (eqSettled && ok.peak && (ok.loudness || i === MAX_PASSES - 1)) {
          measured = await exportPass();
          encoderShift = { integrated: measured.integrated - samples.integrated, truePeak: Math.max(0, measured.truePeak - samples.truePeak) };
        }
      }
      const ok = onTarget(measured);
      const pass = { gainDb: settings.gainDb, ceilingDb: settings.ceilingDb, integrated: measured.integrated, truePeak: measured.truePeak };
      passes.push(pass);
      if (accepted) break;
      const previous = passes.at(-2);
      // The slope is read across ceiling changes too: they are small beside the gain steps.
      if (previous && Math.abs(pass.gainDb - previous.gainDb) > 0.05) {
        slope = clamp((pass.integrated - previous.integrated) / (pass.gainDb - previous.gainDb), 0.2, 1.2);
      }
      const modelError = pass.integrated - (needsLimiter ? model.predict(settings.gainDb, settings.ceilingDb) : model.loudness + settings.gainDb);
      if (!ok.peak) settings.ceilingDb -= pass.truePeak - (MAX_TRUE_PEAK - PEAK_MARGIN) + (lossy ? 0.1 : 0.05);
      if (!eqSettled) {
        const residual = referenceEq(rendered!, options.reference!);
        settings.eq = settings.eq.map((p, k) => ({ hz: p.hz, db: clamp(p.db + residual[k]!.db, -12, 12) }));
        shaped = await renderShaping(pcm48, settings, signal ? { signal } : {});
        model = new GainModel(shaped);
        shapedPeak = null;
        settings.gainDb = model.gainFor(options.target, settings.ceilingDb);
      } else if (passes.length <= 2 || !previous) {
        // The model, shifted by the error it made at this gain.
        settings.gainDb = model.gainFor(options.target - modelError, settings.ceilingDb);
      } else {
        settings.gainDb += clamp((options.target - pass.integrated) / slope, -24, 24);
      }
    }
  } finally {
    await rm(scratch, { force: true });
  }
  if (!best) throw new Error(`the true peak could not be brought under ${MAX_TRUE_PEAK} dBTP`);
  progress(0.97, 'measuring the master');
  const after = best.after;
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
