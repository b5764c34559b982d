// One ffmpeg run with audio in memory on both sides: samples fed to its stdin as raw interleaved
// 32-bit floats, and any number of outputs read back from pipes (stdout is pipe:1, then pipe:3, 4, …).
// This is how the chain avoids decoding a file it has just written: the same run that encodes the
// master hands back the samples the file holds, and intermediate stages never touch the disk.
import { spawn } from 'node:child_process';
import { ffmpegFor } from './ffmpeg.js';
import { parseFloatWav, type Pcm } from './pcm.js';

/** How an output pipe's bytes are read: a float WAV (rate and channels from its header) or raw samples. */
export type PipeFormat = { kind: 'wav' } | { kind: 'raw'; sample: 'f32le' | 's16le' | 's24le'; sampleRate: number; channels: number };

export interface FfmpegRun {
  /** Arguments after `ffmpeg -nostdin -v error`; stdin is `-f f32le -ar <rate> -ac <n> -i pipe:0` when `input` is given. */
  args: string[];
  input?: Pcm;
  /** One entry per output pipe, in order: the first is pipe:1 (stdout), the next pipe:3, and so on. */
  pipes: PipeFormat[];
  /** Frames expected on the first pipe, for progress (0: no progress). */
  expectedFrames?: number;
  onFraction?: (fraction: number) => void;
  signal?: AbortSignal;
}

/** The pipe names to put in `args` for the `n` outputs of a run: pipe:1, pipe:3, pipe:4, … */
export const pipeName = (n: number) => `pipe:${n === 0 ? 1 : n + 2}`;

/** `input`'s channels interleaved, as ffmpeg reads raw f32le. */
export function interleave(pcm: Pcm): Buffer {
  const channels = pcm.channels;
  const n = channels.length;
  const frames = channels[0]?.length ?? 0;
  const out = new Float32Array(frames * n);
  for (let c = 0; c < n; c++) {
    const channel = channels[c]!;
    for (let f = 0, i = c; f < frames; f++, i += n) out[i] = channel[f]!;
  }
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/** Raw little-endian samples (interleaved) into planar floats in [-1, 1). */
export function parseRaw(bytes: Buffer, format: Extract<PipeFormat, { kind: 'raw' }>): Pcm {
  const n = format.channels;
  const width = format.sample === 'f32le' ? 4 : format.sample === 's24le' ? 3 : 2;
  const frames = Math.floor(bytes.length / (width * n));
  const channels = Array.from({ length: n }, () => new Float32Array(frames));
  if (format.sample === 'f32le') {
    // A copy, so the samples are 4-byte aligned wherever the chunk started.
    const interleaved = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + frames * n * 4));
    for (let c = 0; c < n; c++) {
      const channel = channels[c]!;
      for (let f = 0, i = c; f < frames; f++, i += n) channel[f] = interleaved[i]!;
    }
  } else if (format.sample === 's16le') {
    const interleaved = new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + frames * n * 2));
    for (let c = 0; c < n; c++) {
      const channel = channels[c]!;
      for (let f = 0, i = c; f < frames; f++, i += n) channel[f] = interleaved[i]! / 32768;
    }
  } else {
    for (let c = 0; c < n; c++) {
      const channel = channels[c]!;
      for (let f = 0, at = 3 * c; f < frames; f++, at += 3 * n) {
        // Three bytes, little-endian, sign from the top one.
        channel[f] = ((bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 24 >> 8)) / 8388608);
      }
    }
  }
  return { sampleRate: format.sampleRate, channels };
}

/** Runs ffmpeg; resolves with each output pipe's samples. Rejects with ffmpeg's last error line. */
export function runFfmpeg(run: FfmpegRun): Promise<Pcm[]> {
  const ffmpeg = ffmpegFor();
  const inputArgs = run.input ? ['-f', 'f32le', '-ar', String(run.input.sampleRate), '-ac', String(run.input.channels.length), '-i', 'pipe:0'] : [];
  const args = ['-v', 'error', ...(run.input ? [] : ['-nostdin']), ...inputArgs, ...run.args];
  const stdio: ('pipe' | 'ignore')[] = [run.input ? 'pipe' : 'ignore', 'pipe', 'pipe', ...run.pipes.slice(1).map(() => 'pipe' as const)];
  if (run.signal?.aborted) return Promise.reject(run.signal.reason as Error);
  const child = spawn(ffmpeg.path, args, { stdio });
  const chunks = run.pipes.map(() => [] as Buffer[]);
  let errors = '';
  let received = 0;
  const frameBytes = run.input ? 4 * run.input.channels.length : 8;
  run.pipes.forEach((_, n) => {
    const stream = child.stdio[n === 0 ? 1 : n + 2] as NodeJS.ReadableStream;
    stream.on('data', (c: Buffer) => {
      chunks[n]!.push(c);
      if (n === 0 && run.expectedFrames && run.onFraction) {
        received += c.length;
        run.onFraction(Math.min(1, received / frameBytes / run.expectedFrames));
      }
    });
  });
  child.stderr!.on('data', (c: Buffer) => (errors += c.toString()));
  const abort = () => child.kill('SIGKILL');
  run.signal?.addEventListener('abort', abort, { once: true });
  if (run.input) {
    // ffmpeg may stop reading (an error, or the run was killed): that is reported by its exit, not here.
    child.stdin!.on('error', () => {});
    child.stdin!.end(interleave(run.input));
  }
  return new Promise<Pcm[]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      run.signal?.removeEventListener('abort', abort);
      if (run.signal?.aborted) return reject(run.signal.reason as Error);
      if (code !== 0) return reject(new Error(`ffmpeg failed: ${errors.trim().split('\n').slice(-2).join(' ') || `exit ${signal ?? code}`}`));
      try {
        resolve(run.pipes.map((format, n) => (format.kind === 'wav' ? parseFloatWav(Buffer.concat(chunks[n]!)) : parseRaw(Buffer.concat(chunks[n]!), format))));
      } catch (error) {
        reject(error as Error);
      }
    });
  });
}

/**
 * Decodes `file` once: 48 kHz (the chain's, the true peak's and the spectra's rate) and, when
 * `nativeRate` differs, the file's own rate too (loudness is measured there), from one ffmpeg run.
 * Mono stays mono; more than two channels fold to stereo.
 */
export async function decodeFile(file: string, nativeRate?: number, signal?: AbortSignal): Promise<{ pcm48: Pcm; native: Pcm }> {
  const both = nativeRate !== undefined && nativeRate > 0 && nativeRate !== 48000;
  const graph = both ? '[0:a:0]aformat=channel_layouts=mono|stereo,asplit=2[native][up];[up]aresample=48000[r48]' : '[0:a:0]aformat=channel_layouts=mono|stereo,aresample=48000[r48]';
  const outputs = both ? ['[r48]', '[native]'] : ['[r48]'];
  const args = ['-i', file, '-filter_complex', graph, ...outputs.flatMap((label, n) => ['-map', label, '-c:a', 'pcm_f32le', '-f', 'wav', pipeName(n)])];
  const [pcm48, native] = await runFfmpeg({ args, pipes: outputs.map(() => ({ kind: 'wav' })), ...(signal ? { signal } : {}) }).catch((error: Error) => {
    throw new Error(error.message.replace(/^ffmpeg failed/, 'ffmpeg could not decode the audio'));
  });
  return { pcm48: pcm48!, native: native ?? pcm48! };
}
