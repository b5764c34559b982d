// The chain's ffmpeg runs, all on samples in memory: the shaping stage (EQ, compression) once per
// job, the gain and 4x limiter per pass, and the export, which encodes the accepted samples once and
// hands back what the file holds: for WAV and FLAC the same run's second output (the samples at the
// file's bit depth), for MP3 and AAC a decode of the encoded file (the encoder changes the peaks).
// Once the EQ is settled, the limiter and the export share one run (limitAndExport).
import { FORMATS, metadataArgs, OUTPUT_RATE, type ExportFormat } from './formats.js';
import { decodeFile, pipeName, runFfmpeg, type PipeFormat } from './ffmpeg-run.js';
import { limiterFilters, shapingFilters, type ChainSettings } from './filters.js';
import type { Pcm } from './pcm.js';
import { writeWavMaster } from './wav-writer.js';

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

/** The file's encoder and tags; `input` names the filter output or stream that feeds it. */
function fileArgs(input: string, output: string, format: ExportFormat, metadata: Record<string, string>): string[] {
  const spec = FORMATS[format];
  const muxer = spec.extension === 'm4a' ? 'ipod' : spec.extension;
  return ['-map', input, '-c:a', spec.codec, ...spec.options, '-map_metadata', '-1', ...metadataArgs(metadata), '-f', muxer, '-y', output];
}

/** A lossless file's samples as it holds them (16 or 24 bits), a second output of the run that writes it. */
function heldOutput(format: ExportFormat, channels: number): { args: string[]; pipe: PipeFormat } {
  const bits = format === 'wav16' ? 16 : 24;
  return {
    args: ['-map', '[check]', '-c:a', `pcm_s${bits}le`, '-f', `s${bits}le`, pipeName(0)],
    pipe: { kind: 'raw', sample: bits === 16 ? 's16le' : 's24le', sampleRate: OUTPUT_RATE, channels },
  };
}

/**
 * Encodes `pcm` into `output` as `format` with `metadata`; resolves with the samples the file holds
 * (at 48 kHz), which is what the chain measures before it accepts the master. WAV is written by
 * node; FLAC, MP3 and AAC by ffmpeg.
 */
export async function exportMaster(pcm: Pcm, output: string, format: ExportFormat, metadata: Record<string, string>, c: RenderControl = {}): Promise<Pcm> {
  // A WAV is written here, converted as ffmpeg converts (wav-writer.ts): no ffmpeg start for it.
  if (format === 'wav16' || format === 'wav24') return writeWavMaster(pcm, format === 'wav16' ? 16 : 24, output, metadata);
  if (FORMATS[format].lossy) {
    await runFfmpeg({ input: pcm, args: fileArgs('0:a', output, format, metadata), pipes: [], ...(c.signal ? { signal: c.signal } : {}) });
    return decodeEncoded(output, c.signal);
  }
  const held = heldOutput(format, pcm.channels.length);
  const [samples] = await runFfmpeg({
    input: pcm,
    args: ['-filter_complex', '[0:a]asplit=2[file][check]', ...fileArgs('[file]', output, format, metadata), ...held.args],
    pipes: [held.pipe],
    ...control(pcm, c),
  });
  return samples!;
}

/** What an MP3 or AAC file holds, decoded at 48 kHz (the encoder changes loudness and peaks). */
export async function decodeEncoded(file: string, signal?: AbortSignal): Promise<Pcm> {
  return (await decodeFile(file, undefined, signal)).pcm48;
}

/**
 * Gain and the limiter over `shaped`, encoded into `output` in the same ffmpeg run (one pass of the
 * samples through a pipe instead of two). Lossless: `held` is what the file holds. Lossy: `limited` is
 * the limiter's output before the encoder; the file is decoded only when the chain wants to keep it.
 */
export async function limitAndExport(
  shaped: Pcm,
  settings: Pick<ChainSettings, 'gainDb' | 'ceilingDb'>,
  output: string,
  format: ExportFormat,
  metadata: Record<string, string>,
  c: RenderControl = {},
): Promise<{ held: Pcm; limited: null } | { held: null; limited: Pcm }> {
  const graph = `[0:a]${limiterFilters(settings).join(',')},asplit=2[file][check]`;
  const lossy = FORMATS[format].lossy;
  const check = lossy
    ? { args: ['-map', '[check]', '-c:a', 'pcm_f32le', '-f', 'f32le', pipeName(0)], pipe: floats(shaped) }
    : heldOutput(format, shaped.channels.length);
  const [samples] = await runFfmpeg({ input: shaped, args: ['-filter_complex', graph, ...fileArgs('[file]', output, format, metadata), ...check.args], pipes: [check.pipe], ...control(shaped, c) });
  return lossy ? { held: null, limited: samples! } : { held: samples!, limited: null };
}
