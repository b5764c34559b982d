import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { workerCachePath, workerProblem } from '../../native/worker-check.mjs';
export { workerCachePath };

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
  const problem = workerProblem(binary);
  return problem ? unavailable(`${source} ${homeRelative(binary, env)} ${problem}`) : { available: true, path: binary, version };
}

/** A path under the home directory as `~/…`: reasons are shown to people and logged, without the user's name. */
export function homeRelative(file: string, env: NodeJS.ProcessEnv = process.env): string {
  const home = env.HOME || homedir();
  return home && home !== '/' && file.startsWith(`${home}/`) ? `~/${file.slice(home.length + 1)}` : file;
}
