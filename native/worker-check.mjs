// Where the mediasoup worker is cached and whether a binary runs as one: shared by the postinstall
// (native/resolve-media.mjs, plain JavaScript) and the server (src/media/worker-binary.ts).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

/** The worker exits with this code when started without MEDIASOUP_VERSION, i.e. not by mediasoup. */
const NOT_SPAWNED_BY_MEDIASOUP = 41;

/** Same rule as native/build-mediasoup-worker.sh: $VEZA_MEDIA_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/veza. */
export function workerCachePath(version, env = process.env) {
  const cacheDir = env.VEZA_MEDIA_CACHE_DIR || path.join(env.XDG_CACHE_HOME || path.join(env.HOME || homedir(), '.cache'), 'veza');
  return path.join(cacheDir, `mediasoup-worker-${version}`, 'mediasoup-worker');
}

/**
 * Null when `binary` runs as a mediasoup worker; else what is wrong, in a few words. A copy whose
 * shared libraries are missing (another machine, packages removed) exists but cannot start: it is
 * run once, without MEDIASOUP_VERSION, which a worker answers with its own exit code.
 */
export function workerProblem(binary) {
  try {
    if (!statSync(binary).isFile()) return 'is not a file';
    accessSync(binary, constants.X_OK);
  } catch (error) {
    return error.code === 'ENOENT' ? 'does not exist' : 'is not executable';
  }
  const env = { ...process.env };
  delete env.MEDIASOUP_VERSION;
  const run = spawnSync(binary, [], { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000, encoding: 'utf8' });
  if (run.status === NOT_SPAWNED_BY_MEDIASOUP) return null;
  const detail = run.error?.message ?? (run.stderr.trim().split('\n')[0] || `exit code ${run.status ?? run.signal}`);
  return `does not run as a mediasoup worker: ${detail}`;
}
