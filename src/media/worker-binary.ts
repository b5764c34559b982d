import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import path from 'node:path';

/**
 * Finds the mediasoup worker binary (C++) that the media plane spawns. mediasoup's own postinstall
 * is disabled (`allowScripts`); ours, native/resolve-media.mjs, puts a worker into a per-version
 * cache (mediasoup's prebuilt one where it can be downloaded and runs here, else a build against
 * Debian's packages by native/build-mediasoup-worker.sh, also `npm run build:media`). This module
 * only looks, by the same rules; it never downloads or builds.
 *
 * mediasoup 3.12 takes the path only from `MEDIASOUP_WORKER_BIN`, read once when the module is
 * first imported: whoever starts workers sets that variable to `path` before importing mediasoup.
 */
export const BUILD_MEDIA_COMMAND = 'npm run build:media';

export type MediaWorkerBinary =
  | { available: true; path: string; version: string }
  | { available: false; reason: string; fix: typeof BUILD_MEDIA_COMMAND };

/** The worker exits with this code when started without MEDIASOUP_VERSION, i.e. not by mediasoup. */
const NOT_SPAWNED_BY_MEDIASOUP = 41;

/** Same rule as the build script: $VEZA_MEDIA_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/veza. */
export function workerCachePath(version: string, env: NodeJS.ProcessEnv = process.env): string {
  const cacheDir = env.VEZA_MEDIA_CACHE_DIR || path.join(env.XDG_CACHE_HOME || path.join(env.HOME || homedir(), '.cache'), 'veza');
  return path.join(cacheDir, `mediasoup-worker-${version}`, 'mediasoup-worker');
}

/** The installed mediasoup package's version, read without importing mediasoup (see above). */
export function installedMediasoupVersion(): string | null {
  try {
    const file = createRequire(import.meta.url).resolve('mediasoup/package.json');
    const { version } = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown };
    return typeof version === 'string' ? version : null;
  } catch {
    return null;
  }
}

/** `MEDIASOUP_WORKER_BIN` when set, else the cache path for the installed mediasoup version. */
export function locateMediaWorker(env: NodeJS.ProcessEnv = process.env): MediaWorkerBinary {
  const unavailable = (reason: string) => ({ available: false, reason, fix: BUILD_MEDIA_COMMAND }) as const;
  const version = installedMediasoupVersion();
  if (!version) return unavailable('the mediasoup package is not installed (npm install)');
  const fromEnv = env.MEDIASOUP_WORKER_BIN;
  const binary = fromEnv || workerCachePath(version, env);
  const source = fromEnv ? 'MEDIASOUP_WORKER_BIN' : `the mediasoup ${version} worker`;
  const problem = whyNotRunnable(binary);
  return problem ? unavailable(`${source} ${homeRelative(binary, env)} ${problem}`) : { available: true, path: binary, version };
}

/** A path under the home directory as `~/…`: reasons are shown to people and logged, without the user's name. */
export function homeRelative(file: string, env: NodeJS.ProcessEnv = process.env): string {
  const home = env.HOME || homedir();
  return home && home !== '/' && file.startsWith(`${home}/`) ? `~/${file.slice(home.length + 1)}` : file;
}

/** Null when the binary runs as a mediasoup worker; else what is wrong, in a few words. */
function whyNotRunnable(binary: string): string | null {
  try {
    if (!statSync(binary).isFile()) return 'is not a file';
    accessSync(binary, constants.X_OK);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'is not executable';
  }
  // A copy whose shared libraries are missing (another machine, packages removed) exists but
  // cannot start: run it once, without MEDIASOUP_VERSION, which it answers with its own exit code.
  const env = { ...process.env };
  delete env.MEDIASOUP_VERSION;
  const run = spawnSync(binary, [], { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000, encoding: 'utf8' });
  if (run.status === NOT_SPAWNED_BY_MEDIASOUP) return null;
  const detail = run.error?.message ?? (run.stderr.trim().split('\n')[0] || `exit code ${run.status ?? run.signal}`);
  return `does not run as a mediasoup worker: ${detail}`;
}
