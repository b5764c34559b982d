// The chain as ffmpeg filters: EQ toward the target curve (a linear-phase FIR through firequalizer),
// optional compression (the shaping, rendered once per job), then gain and a true-peak limiter run at
// 4x the rate (192 kHz) so that peaks between samples are caught, then back to 48 kHz (rendered per
// pass, and only when the gain pushes the true peak over the ceiling).
import { OUTPUT_RATE } from './formats.js';

export interface ChainSettings {
  /** EQ points: frequency (Hz) → gain (dB); empty for none. */
  eq: { hz: number; db: number }[];
  /** Gain before the compressor, dB (brings the mix to the compressor's working level). */
  preGainDb: number;
  /** null: no compression. */
  compressor: { thresholdDb: number; ratio: number; attackMs: number; releaseMs: number } | null;
  /** Gain into the limiter, dB: what the iteration adjusts. */
  gainDb: number;
  /** Limiter ceiling at 192 kHz, dBFS. */
  ceilingDb: number;
}

const OVERSAMPLE = 4;
const lin = (db: number) => 10 ** (db / 20);
const num = (x: number) => Number(x.toFixed(4)).toString();

/** EQ, gain before the compressor and the compressor: what does not change while gain and ceiling are sought. */
export function shapingFilters(settings: ChainSettings): string[] {
  const filters: string[] = [`aresample=${OUTPUT_RATE}`, 'aformat=sample_fmts=flt:channel_layouts=mono|stereo'];
  if (settings.eq.length) {
    // Gains in dB, interpolated between the points (linlog: linear frequency, gain in dB), held flat
    // below the first point and above the last.
    const points = [{ hz: 0, db: settings.eq[0]!.db }, ...settings.eq, { hz: OUTPUT_RATE / 2, db: settings.eq.at(-1)!.db }];
    const entries = points.map((p) => `entry(${num(p.hz)},${num(p.db)})`).join(';');
    filters.push(`firequalizer=gain_entry='${entries}':scale=linlog:zero_phase=on:delay=0.05`);
  }
  if (settings.preGainDb !== 0) filters.push(`volume=${num(settings.preGainDb)}dB`);
  if (settings.compressor) {
    const c = settings.compressor;
    filters.push(`acompressor=threshold=${num(Math.max(lin(c.thresholdDb), 0.000976563))}:ratio=${num(c.ratio)}:attack=${num(c.attackMs)}:release=${num(c.releaseMs)}:knee=4`);
  }
  return filters;
}

/** Gain, then the true-peak limiter at 4x the rate and back to the output rate. */
export function limiterFilters(settings: Pick<ChainSettings, 'gainDb' | 'ceilingDb'>): string[] {
  return [
    `volume=${num(settings.gainDb)}dB`,
    `aresample=${OUTPUT_RATE * OVERSAMPLE}`,
    `alimiter=limit=${num(Math.max(0.0625, Math.min(1, lin(settings.ceilingDb))))}:attack=1:release=60:level=0:latency=1`,
    `aresample=${OUTPUT_RATE}`,
  ];
}

/** The whole chain as one filter list (shaping, gain, limiter). */
export function filterChain(settings: ChainSettings): string[] {
  return [...shapingFilters(settings), ...limiterFilters(settings)];
}
