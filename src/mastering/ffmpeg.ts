// The ffmpeg the mastering chain runs: the one the server resolves for recordings and HLS
// (ffmpeg-static's binary, else FFMPEG_PATH, else PATH; see src/shared/ffmpeg-binary.ts), and the
// ffprobe beside it (from PATH where there is none beside it, as with ffmpeg-static).
import type { ChildProcess } from 'node:child_process';
import { ffprobeCommand, locateFfmpeg, type FfmpegBinary } from '../shared/ffmpeg-binary.js';

/** ffmpeg is missing or broken: the message says why and how to fix it. */
export class FfmpegMissingError extends Error {
  constructor(readonly binary: Extract<FfmpegBinary, { available: false }>) {
    super(`mastering needs ffmpeg: ${binary.reason}; fix: ${binary.fix}`);
    this.name = 'FfmpegMissingError';
  }
}

let located: FfmpegBinary | null = null;

/** The ffmpeg another thread of this process resolved already (the jobs' thread: no second `ffmpeg -version`). */
export function adoptFfmpegBinary(binary: FfmpegBinary): void {
  located = binary;
}

/** The resolved ffmpeg, looked up once per process. */
export function ffmpegBinary(): FfmpegBinary {
  located ??= locateFfmpeg();
  return located;
}

/** The ffmpeg and ffprobe to run; throws FfmpegMissingError naming the fix. */
export function ffmpegFor(): { path: string; version: string; ffprobe: string } {
  const binary = ffmpegBinary();
  if (!binary.available) throw new FfmpegMissingError(binary);
  return { path: binary.path, version: binary.version, ffprobe: ffprobeCommand(process.env, binary.path) };
}

/** Processes the mastering code has started in this process, by program (the bench reads them per job). */
export const processStarts = { ffmpeg: 0, ffprobe: 0 };

let watcher: ((child: ChildProcess) => void) | null = null;

/** Counts an ffmpeg the chain has started and shows it to the watcher (the jobs' thread reports it to the main thread). */
export function ffmpegStarted(child: ChildProcess): void {
  processStarts.ffmpeg++;
  watcher?.(child);
}

/** Calls `watch` with every ffmpeg the chain starts from now on in this thread. */
export function watchFfmpegStarts(watch: (child: ChildProcess) => void): void {
  watcher = watch;
}
