// One ffmpeg run with audio in memory on both sides: samples fed to its stdin as raw interleaved
// 32-bit floats, and any number of outputs read back from pipes (stdout is pipe:1, then pipe:3, 4, …).
// This is how the chain avoids decoding a file it has just written: the same run that encodes the
// master hands back the samples the file holds, and intermediate stages never touch the disk.
import { spawn } from 'node:child_process';
import { ffmpegFor, ffmpegStarted } from './ffmpeg.js';
import type { Pcm } from './pcm.js';
import { PcmCollector, writeInterleaved, type PipeFormat } from './pcm-stream.js';
import { readWav48 } from './wav-reader.js';

export type { PipeFormat } from './pcm-stream.js';

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

/** Runs ffmpeg; resolves with each output pipe's samples. Rejects with ffmpeg's last error line. */
export function runFfmpeg(run: FfmpegRun): Promise<Pcm[]> {
  const ffmpeg = ffmpegFor();
  const inputArgs = run.input ? ['-f', 'f32le', '-ar', String(run.input.sampleRate), '-ac', String(run.input.channels.length), '-i', 'pipe:0'] : [];
  const args = ['-v', 'error', ...(run.input ? [] : ['-nostdin']), ...inputArgs, ...run.args];
  const stdio: ('pipe' | 'ignore')[] = [run.input ? 'pipe' : 'ignore', 'pipe', 'pipe', ...run.pipes.slice(1).map(() => 'pipe' as const)];
  if (run.signal?.aborted) return Promise.reject(run.signal.reason as Error);
  const child = spawn(ffmpeg.path, args, { stdio });
  ffmpegStarted(child);
  // Each output is split into planar channels as its chunks arrive.
  const collectors = run.pipes.map((format) => new PcmCollector(format, run.expectedFrames));
  let errors = '';
  let unreadable: Error | null = null;
  let received = 0;
  const frameBytes = run.input ? 4 * run.input.channels.length : 8;
  run.pipes.forEach((_, n) => {
    const stream = child.stdio[n === 0 ? 1 : n + 2] as NodeJS.ReadableStream;
    stream.on('data', (c: Buffer) => {
      try {
        collectors[n]!.push(c);
      } catch (error) {
        // Not what the pipe was declared to carry: the run is stopped and fails with this.
        unreadable ??= error as Error;
        child.kill('SIGKILL');
      }
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
    void writeInterleaved(run.input, child.stdin!);
  }
  return new Promise<Pcm[]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      run.signal?.removeEventListener('abort', abort);
      if (run.signal?.aborted) return reject(run.signal.reason as Error);
      if (unreadable) return reject(unreadable);
      if (code !== 0) return reject(new Error(`ffmpeg failed: ${errors.trim().split('\n').slice(-2).join(' ') || `exit ${signal ?? code}`}`));
      try {
        resolve(collectors.map((collector) => collector.finish()));
      } catch (error) {
        reject(error as Error);
      }
    });
  });
}

/**
 * Decodes `file` once: 48 kHz (the chain's, the true peak's and the spectra's rate) and, when
 * `nativeRate` differs, the file's own rate too (loudness is measured there), from one ffmpeg run.
 * Mono stays mono; more than two channels fold to stereo. A 48 kHz mono or stereo PCM WAV is read
 * by node (wav-reader.ts), the same samples without an ffmpeg start.
 */
export async function decodeFile(file: string, nativeRate?: number, signal?: AbortSignal): Promise<{ pcm48: Pcm; native: Pcm }> {
  if (nativeRate === undefined || nativeRate === 48000) {
    const read = await readWav48(file);
    signal?.throwIfAborted();
    if (read) return { pcm48: read, native: read };
  }
  const both = nativeRate !== undefined && nativeRate > 0 && nativeRate !== 48000;
  const graph = both ? '[0:a:0]aformat=channel_layouts=mono|stereo,asplit=2[native][up];[up]aresample=48000[r48]' : '[0:a:0]aformat=channel_layouts=mono|stereo,aresample=48000[r48]';
  const outputs = both ? ['[r48]', '[native]'] : ['[r48]'];
  const args = ['-i', file, '-filter_complex', graph, ...outputs.flatMap((label, n) => ['-map', label, '-c:a', 'pcm_f32le', '-f', 'wav', pipeName(n)])];
  const [pcm48, native] = await runFfmpeg({ args, pipes: outputs.map(() => ({ kind: 'wav' })), ...(signal ? { signal } : {}) }).catch((error: Error) => {
    throw new Error(error.message.replace(/^ffmpeg failed/, 'ffmpeg could not decode the audio'));
  });
  return { pcm48: pcm48!, native: native ?? pcm48! };
}
