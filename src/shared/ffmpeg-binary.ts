import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Finds the ffmpeg that recording and HLS run: `VEZA_FFMPEG` when set (a path), else `ffmpeg` on
 * PATH. Like the mediasoup worker (worker-binary.ts) it must prove itself: `<path> -version` within
 * 5 s, its first line `ffmpeg version <version> …`. native/resolve-media.mjs, the postinstall,
 * applies the same rules without TypeScript; a test keeps the two in agreement.
 */
export const INSTALL_FFMPEG_COMMAND = 'apt-get install ffmpeg';

export type FfmpegBinary = { available: true; path: string; version: string } | { available: false; reason: string; fix: string };

const VERSION_TIMEOUT_MS = 5000;

export function locateFfmpeg(env: NodeJS.ProcessEnv = process.env): FfmpegBinary {
  const fromEnv = env.VEZA_FFMPEG;
  const binary = fromEnv || findOnPath('ffmpeg', env.PATH ?? '');
  if (!binary) return { available: false, reason: 'ffmpeg is not on PATH', fix: INSTALL_FFMPEG_COMMAND };
  const label = fromEnv ? `VEZA_FFMPEG ${binary}` : binary;
  const unavailable = (problem: string): FfmpegBinary => ({
    available: false,
    reason: `${label} ${problem}`,
    fix: fromEnv ? `point VEZA_FFMPEG at an ffmpeg binary, or unset it to use ffmpeg from PATH (${INSTALL_FFMPEG_COMMAND})` : INSTALL_FFMPEG_COMMAND,
  });

  const run = spawnSync(binary, ['-version'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: VERSION_TIMEOUT_MS, encoding: 'utf8' });
  if (run.error) {
    const code = (run.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return unavailable('does not exist');
    if (code === 'EACCES') return unavailable('is not executable');
    if (code === 'ETIMEDOUT') return unavailable(`did not answer -version within ${VERSION_TIMEOUT_MS / 1000} s`);
    return unavailable(`could not run (${run.error.message})`);
  }
  if (run.status !== 0) return unavailable(`-version failed (${run.signal ?? `exit code ${run.status}`})`);
  const version = /^ffmpeg version (\S+)/.exec(run.stdout.split('\n')[0] ?? '')?.[1];
  return version ? { available: true, path: binary, version } : unavailable('is not ffmpeg (-version does not start with "ffmpeg version")');
}

/** The first executable file called `name` in a PATH-style list of directories, or null. */
function findOnPath(name: string, searchPath: string): string | null {
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.resolve(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here, or not executable: the next directory, as the shell does.
    }
  }
  return null;
}

/** What recording and HLS spawn: `VEZA_FFMPEG` when set, else `ffmpeg` from PATH. */
export function ffmpegCommand(env: NodeJS.ProcessEnv = process.env): string {
  return env.VEZA_FFMPEG || 'ffmpeg';
}

/** ffprobe from the same installation as `ffmpegCommand` (beside `VEZA_FFMPEG`), else from PATH. */
export function ffprobeCommand(env: NodeJS.ProcessEnv = process.env): string {
  return env.VEZA_FFMPEG ? path.join(path.dirname(env.VEZA_FFMPEG), 'ffprobe') : 'ffprobe';
}
