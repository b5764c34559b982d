// The chain's ffmpeg runs, all on samples in memory: the shaping stage (EQ, compression) once per
// job, the gain and 4x limiter per pass, and the export, which encodes the accepted samples once and
// hands back what the file holds: for WAV and FLAC the same run's second output (the samples at the
// file's bit depth), for MP3 and AAC a decode of the encoded file (the encoder changes the peaks).
import { FORMATS, metadataArgs, OUTPUT_RATE, type ExportFormat } from './formats.js';
import { decodeFile, pipeName, runFfmpeg } from './ffmpeg-run.js';
import { limiterFilters, shapingFilters, type ChainSettings } from './filters.js';
import type { Pcm } from './pcm.js';

export interface RenderControl {
  onFraction?: (fraction: number) => void;
  signal?: AbortSignal;
}

const floats = (pcm: Pcm) => ({ kind: 'raw' as const, sample: 'f32le' as const, sampleRate: OUTPUT_RATE, channels: pcm.channels.length });
const control = (pcm: Pcm, c: RenderControl) => ({ expectedFrames: pcm.channels[0]?.length ?? 0, ...(c.onFraction ? { onFraction: c.onFraction } : {}), ...(c.signal ? { signal: c.signal } : {}) });

/** EQ, gain before the compressor and the compressor over `pcm48`. */
export async function renderShaping(pcm48: Pcm, settings: ChainSettings, c: RenderControl = {}): Promise<Pcm> {
  const [out] = await runFfmpeg({ input: pcm48, args: ['-af', shapingFilters(settings).join(','), '-c:a', 'pcm_f32le', '-f', 'f32le', pipeName(0)], pipes: [floats(pcm48)], ...control(pcm48, c) });
  return out!;
}

/** Gain and the 4x true-peak limiter over the shaped samples. */
export async function renderLimited(shaped: Pcm, settings: Pick<ChainSettings, 'gainDb' | 'ceilingDb'>, c: RenderControl = {}): Promise<Pcm> {
  const [out] = await runFfmpeg({ input: shaped, args: ['-af', limiterFilters(settings).join(','), '-c:a', 'pcm_f32le', '-f', 'f32le', pipeName(0)], pipes: [floats(shaped)], ...control(shaped, c) });
  return out!;
}

/** Gain alone, where no peak reaches the ceiling: the limiter would pass the samples unchanged. */
export function scaled(pcm: Pcm, gainDb: number): Pcm {
  const g = 10 ** (gainDb / 20);
  return {
    sampleRate: pcm.sampleRate,
    channels: pcm.channels.map((c) => {
      const out = new Float32Array(c.length);
      for (let i = 0; i < c.length; i++) out[i] = c[i]! * g;
      return out;
    }),
  };
}

/**
 * Encodes `pcm` into `output` as `format` with `metadata`; resolves with the samples the file holds
 * (at 48 kHz), which is what the chain measures before it accepts the master.
 */
export async function exportMaster(pcm: Pcm, output: string, format: ExportFormat, metadata: Record<string, string>, c: RenderControl = {}): Promise<Pcm> {
  const spec = FORMATS[format];
  const muxer = spec.extension === 'm4a' ? 'ipod' : spec.extension;
  const file = ['-c:a', spec.codec, ...spec.options, '-map_metadata', '-1', ...metadataArgs(metadata), '-f', muxer, '-y', output];
  if (spec.lossy) {
    await runFfmpeg({ input: pcm, args: ['-map', '0:a', ...file], pipes: [], ...(c.signal ? { signal: c.signal } : {}) });
    return (await decodeFile(output, undefined, c.signal)).pcm48;
  }
  const bits = format === 'wav16' ? 16 : 24;
  const check = ['-map', '[check]', '-c:a', `pcm_s${bits}le`, '-f', `s${bits}le`, pipeName(0)];
  const [held] = await runFfmpeg({
    input: pcm,
    args: ['-filter_complex', '[0:a]asplit=2[file][check]', '-map', '[file]', ...file, ...check],
    pipes: [{ kind: 'raw', sample: bits === 16 ? 's16le' : 's24le', sampleRate: OUTPUT_RATE, channels: pcm.channels.length }],
    ...control(pcm, c),
  });
  return held!;
}
