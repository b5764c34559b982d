import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * Finds the ffmpeg that recording, HLS, bounces and mastering run, first that applies:
 *   1. `ffmpeg-static`'s binary, where the package is installed and its install script could fetch
 *      the binary (offline, the package installs without it: that is noted, and the search goes on);
 *   2. `FFMPEG_PATH` (or `VEZA_FFMPEG`, its earlier name) when set: final, a broken one is an error;
 *   3. `ffmpeg` on PATH (the system's).
 * Each must prove itself: `<path> -version` within 5 s, its first line `ffmpeg version <version> …`.
 * native/resolve-media.mjs, the postinstall, applies the same rules without TypeScript; a test keeps
 * the two in agreement.
 */
export const INSTALL_FFMPEG_COMMAND = 'apt-get install ffmpeg';

/** Where the ffmpeg in use came from. */
export type FfmpegSource = 'ffmpeg-static' | 'FFMPEG_PATH' | 'VEZA_FFMPEG' | 'PATH';

export type FfmpegBinary =
  | { available: true; path: string; version: string; source: FfmpegSource; notes: string[] }
  | { available: false; reason: string; fix: string; notes: string[] };

const VERSION_TIMEOUT_MS = 5000;
const require = createRequire(import.meta.url);

/**
 * The path `ffmpeg-static` gives (its own FFMPEG_BIN override included), which its install script
 * downloads to; null when the package is not installed or has no binary for this platform.
 */
export function ffmpegStaticPath(): string | null {
  try {
    const found: unknown = require('ffmpeg-static');
    return typeof found === 'string' ? found : null;
  } catch {
    return null;
  }
}

/** `binary -version`: its version, or what is wrong with it. */
function prove(binary: string): { version: string } | { problem: string } {
  const run = spawnSync(binary, ['-version'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: VERSION_TIMEOUT_MS, encoding: 'utf8' });
  if (run.error) {
    const code = (run.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { problem: 'does not exist' };
    if (code === 'EACCES') return { problem: 'is not executable' };
    if (code === 'ETIMEDOUT') return { problem: `did not answer -version within ${VERSION_TIMEOUT_MS / 1000} s` };
    return { problem: `could not run (${run.error.message})` };
  }
  if (run.status !== 0) return { problem: `-version failed (${run.signal ?? `exit code ${run.status}`})` };
  const version = /^ffmpeg version (\S+)/.exec(run.stdout.split('\n')[0] ?? '')?.[1];
  return version ? { version } : { problem: 'is not ffmpeg (-version does not start with "ffmpeg version")' };
}

/** `staticPath`: what ffmpeg-static reports (tests pass their own; null when it is not installed). */
export function locateFfmpeg(env: NodeJS.ProcessEnv = process.env, staticPath: string | null = ffmpegStaticPath()): FfmpegBinary {
  const notes: string[] = [];
  if (staticPath) {
    if (!existsSync(staticPath)) {
      notes.push('ffmpeg-static is installed without its binary (its install could not download it)');
    } else {
      const proof = prove(staticPath);
      if ('version' in proof) return { available: true, path: staticPath, version: proof.version, source: 'ffmpeg-static', notes };
      notes.push(`ffmpeg-static's binary ${staticPath} ${proof.problem}`);
    }
  }
  const variable = env.FFMPEG_PATH ? 'FFMPEG_PATH' : env.VEZA_FFMPEG ? 'VEZA_FFMPEG' : null;
  const binary = variable ? env[variable]! : findOnPath('ffmpeg', env.PATH ?? '');
  if (!binary) return { available: false, reason: 'ffmpeg is not on PATH', fix: INSTALL_FFMPEG_COMMAND, notes };
  const proof = prove(binary);
  if ('version' in proof) return { available: true, path: binary, version: proof.version, source: variable ?? 'PATH', notes };
  return {
    available: false,
    reason: `${variable ? `${variable} ${binary}` : binary} ${proof.problem}`,
    fix: variable ? `point ${variable} at an ffmpeg binary, or unset it to use ffmpeg from PATH (${INSTALL_FFMPEG_COMMAND})` : INSTALL_FFMPEG_COMMAND,
    notes,
  };
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

/**
 * What recording and HLS spawn, by the same order without running it (this is called per
 * recording): ffmpeg-static's binary where the file is there, else FFMPEG_PATH or VEZA_FFMPEG, else
 * `ffmpeg` from PATH.
 */
export function ffmpegCommand(env: NodeJS.ProcessEnv = process.env, staticPath: string | null = ffmpegStaticPath()): string {
  if (staticPath && existsSync(staticPath)) return staticPath;
  return env.FFMPEG_PATH || env.VEZA_FFMPEG || 'ffmpeg';
}

/** ffprobe beside `ffmpeg` (the binary in use) where there is one, else from PATH (ffmpeg-static ships no ffprobe). */
export function ffprobeCommand(env: NodeJS.ProcessEnv = process.env, ffmpeg: string = ffmpegCommand(env)): string {
  if (!path.isAbsolute(ffmpeg)) return 'ffprobe';
  const beside = path.join(path.dirname(ffmpeg), 'ffprobe');
  return existsSync(beside) ? beside : 'ffprobe';
}
