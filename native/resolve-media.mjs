#!/usr/bin/env node
// Resolves the two native programs media needs, so that `npm install` (our postinstall) leaves media
// on wherever it can, and says in one line why not where it cannot.
//
//   node native/resolve-media.mjs             human lines; exit 1 when media is off
//   node native/resolve-media.mjs --check     one JSON object {media, ffmpeg} on stdout; exit 0
//   node native/resolve-media.mjs --install   the postinstall: human lines, never fails (exit 0)
//
// The mediasoup worker, first that works: (a) MEDIASOUP_WORKER_BIN, which is final when set, as it
// is for mediasoup; (b) the cached build (native/build-mediasoup-worker.sh --print-path); (c)
// mediasoup's own prebuilt worker for the installed version from its GitHub release, unless
// VEZA_MEDIA_DOWNLOAD=0; (d) native/build-mediasoup-worker.sh against the system libraries, unless
// VEZA_MEDIA_BUILD=0. (c) and (d) install into the cache path, where the server looks. ffmpeg:
// ffmpeg-static's binary where its install fetched it, else FFMPEG_PATH (or VEZA_FFMPEG), else
// `ffmpeg` on PATH. Every mode resolves (downloads, builds); with both switches
// at 0 it only looks. Results go to stdout, progress to stderr. See docs/media-worker.md.
/* global AbortController */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, homedir, platform } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { workerCachePath, workerProblem } from './worker-check.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUILD_SCRIPT = path.join(ROOT, 'native', 'build-mediasoup-worker.sh');
const BUILD_MEDIA_FIX = 'npm run build:media -- --install-deps';
const INSTALL_FFMPEG_FIX = 'apt-get install ffmpeg';
/** Where mediasoup's own postinstall downloads from; its variable overrides the base here too. */
const RELEASES = 'https://github.com/versatica/mediasoup/releases/download';
/** Up to the response's headers: without a network this fails at once (DNS) or here. */
const CONNECT_TIMEOUT_MS = 10_000;
const DOWNLOAD_TIMEOUT_MS = 120_000;

const MODES = { '--check': 'check', '--install': 'install' };
const args = process.argv.slice(2);
const mode = args.length === 0 ? 'report' : args.length === 1 ? MODES[args[0]] : undefined;
if (!mode) {
  console.error('usage: node native/resolve-media.mjs [--check | --install]');
  process.exit(2);
}

try {
  const media = await resolveWorker(process.env);
  const ffmpeg = locateFfmpeg(process.env);
  if (mode === 'check') {
    console.log(JSON.stringify({ media, ffmpeg }));
  } else {
    // For people (and install logs): paths under the home directory without the user's name.
    const home = process.env.HOME || homedir();
    const shown = (text) => (home && home !== '/' ? text.replaceAll(`${home}/`, '~/') : text);
    console.log(shown(media.available ? `veza: media on: mediasoup ${media.version} worker ${media.path} (${describeSource(media)})` : `veza: media off: ${media.reason}. To turn it on: ${media.fix}`));
    console.log(shown(ffmpeg.available ? `veza: ffmpeg on: ${ffmpeg.version} at ${ffmpeg.path} (${ffmpeg.source})` : `veza: recording and HLS off: ${ffmpeg.reason}. To turn them on: ${ffmpeg.fix}`));
  }
  process.exitCode = mode === 'report' && !media.available ? 1 : 0;
} catch (error) {
  if (mode !== 'install') throw error;
  // An install never fails on media: the server starts without it and says why.
  console.log(`veza: media not resolved (${error instanceof Error ? error.message : String(error)}); retry with: node native/resolve-media.mjs`);
  process.exitCode = 0;
}

function describeSource(media) {
  switch (media.source) {
    case 'cache':
      return 'cached';
    case 'download':
      return `downloaded in ${media.seconds} s`;
    case 'build':
      return `built in ${media.seconds} s`;
    default:
      return media.source;
  }
}

/** {available: true, path, version, source[, seconds]} or {available: false, reason, fix}. */
async function resolveWorker(env) {
  const off = (reason, fix = BUILD_MEDIA_FIX) => ({ available: false, reason, fix });
  const version = mediasoupVersion();
  if (!version) return off('the mediasoup package is not installed', 'npm install');
  const on = (binary, source, started) => ({
    available: true,
    path: binary,
    version,
    source,
    ...(started === undefined ? {} : { seconds: Math.round((Date.now() - started) / 1000) }),
  });

  const fromEnv = env.MEDIASOUP_WORKER_BIN;
  if (fromEnv) {
    // mediasoup spawns exactly this path when it is set: nothing else here would be used.
    const problem = workerProblem(fromEnv);
    return problem ? off(`MEDIASOUP_WORKER_BIN ${fromEnv} ${problem}`, `point MEDIASOUP_WORKER_BIN at a mediasoup ${version} worker, or unset it`) : on(fromEnv, 'MEDIASOUP_WORKER_BIN');
  }

  const cached = workerCachePath(version, env);
  const notCached = workerProblem(cached);
  if (!notCached) return on(cached, 'cache');
  const tried = [`cache: ${notCached === 'does not exist' ? 'none' : `the cached worker ${notCached}`}`];

  if (env.VEZA_MEDIA_DOWNLOAD === '0') {
    tried.push('download: off (VEZA_MEDIA_DOWNLOAD=0)');
  } else {
    const started = Date.now();
    const problem = await downloadPrebuiltWorker(version, cached, env);
    if (!problem) return on(cached, 'download', started);
    tried.push(`download: ${problem}`);
  }

  if (env.VEZA_MEDIA_BUILD === '0') {
    tried.push('build: off (VEZA_MEDIA_BUILD=0)');
  } else {
    const started = Date.now();
    const problem = await buildWorker(env);
    const built = problem ?? workerProblem(cached);
    if (!built) return on(cached, 'build', started);
    tried.push(`build: ${problem ?? `the built worker ${built}`}`);
  }

  return off(`no mediasoup ${version} worker (${tried.join('; ')})`);
}

/** The installed mediasoup package's version, or null. */
function mediasoupVersion() {
  try {
    const { version } = createRequire(import.meta.url)('mediasoup/package.json');
    return typeof version === 'string' ? version : null;
  } catch {
    return null;
  }
}

/**
 * (c) The .tgz mediasoup 3.12 publishes per release (one file, `mediasoup-worker`), named as its
 * npm-scripts.mjs names it: mediasoup-worker-<version>-<platform>-<arch>.tgz. Installed only once
 * it runs here (libc, OpenSSL), beside the final path and then renamed over it. Null when installed.
 */
async function downloadPrebuiltWorker(version, destination, env) {
  const asset = `mediasoup-worker-${version}-${platform()}-${arch()}.tgz`;
  const url = new URL(`${(env.MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL || RELEASES).replace(/\/+$/, '')}/${version}/${asset}`);
  url.username = url.password = '';
  const abort = new AbortController();
  let timer = setTimeout(() => abort.abort(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
  let archive;
  try {
    const response = await fetch(url, { signal: abort.signal, redirect: 'follow' });
    clearTimeout(timer);
    if (response.status === 404) return `${url.host} has no ${asset}`;
    if (!response.ok) return `${url.host} answered HTTP ${response.status} for ${asset}`;
    timer = setTimeout(() => abort.abort(new Error(`not downloaded within ${DOWNLOAD_TIMEOUT_MS / 1000} s`)), DOWNLOAD_TIMEOUT_MS);
    archive = Buffer.from(await response.arrayBuffer());
  } catch (error) {
    return `${url.host} not reachable (${error?.cause?.code ?? error?.cause?.message ?? error?.message ?? String(error)})`;
  } finally {
    clearTimeout(timer);
  }

  let binary;
  try {
    binary = fileFromTar(gunzipSync(archive), 'mediasoup-worker');
  } catch (error) {
    return `${asset} is not a gzipped tar (${error.message})`;
  }
  if (!binary) return `${asset} holds no mediasoup-worker`;

  const dir = path.dirname(destination);
  const temp = path.join(dir, `.mediasoup-worker.${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(temp, binary, { mode: 0o755 });
    const problem = workerProblem(temp);
    if (problem) return `the prebuilt worker ${problem}`;
    const sha256 = createHash('sha256').update(binary).digest('hex');
    writeFileSync(`${temp}.info`, `mediasoup ${version} worker, prebuilt, downloaded ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} from ${url}\nsha256 ${sha256}\n`);
    renameSync(`${temp}.info`, path.join(dir, 'BUILD-INFO'));
    renameSync(temp, destination);
    return null;
  } catch (error) {
    return `could not install it (${error.code ?? error.message})`;
  } finally {
    rmSync(temp, { force: true });
    rmSync(`${temp}.info`, { force: true });
  }
}

/** The contents of the regular file called `name` (at any depth) in a tar archive, or null. */
function fileFromTar(tar, name) {
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const field = (start, length) => header.toString('utf8', start, start + length).replace(/\0.*$/s, '');
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    if (!Number.isFinite(size) || (field(257, 5) !== 'ustar' && field(257, 6).trim() !== '')) throw new Error('bad header');
    const type = field(156, 1);
    if ((type === '0' || type === '') && path.posix.basename(field(0, 100)) === name) return tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return null;
}

/**
 * (d) native/build-mediasoup-worker.sh, which checks the build dependencies first. Its `==>` steps
 * are shown as they come; meson's and ninja's output is not (`npm run build:media` shows it).
 * Null when it built the worker; else why not, in one line.
 */
function buildWorker(env) {
  return new Promise((resolve) => {
    const child = spawn('bash', [BUILD_SCRIPT], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let failure = null;
    createInterface({ input: child.stderr }).on('line', (line) => {
      // Printed lines name no path but the binary's: the build's temporary directory is gone after it.
      if (line.startsWith('==> ')) process.stderr.write(`${line.replace(/ to \S*\/veza-mediasoup-worker\.[^/\s]+\/worker$/, ' to a temporary directory')}\n`);
      // Its error says how to install the dependencies, which the line printed here says too.
      else if (line.startsWith('build-mediasoup-worker: ')) failure ??= line.slice('build-mediasoup-worker: '.length).replace(/\. Install the build dependencies.*$/, '');
    });
    child.once('error', (error) => resolve(`could not run the build script (${error.message})`));
    child.once('close', (code, signal) => {
      if (code === 0) resolve(null);
      else resolve(failure ?? `the build failed (${signal ?? `exit code ${code}`}); npm run build:media shows its output`);
    });
  });
}

/** What ffmpeg-static reports (its binary's path), or null when it is not installed. */
function ffmpegStaticPath() {
  try {
    const found = createRequire(path.join(ROOT, 'package.json'))('ffmpeg-static');
    return typeof found === 'string' ? found : null;
  } catch {
    return null;
  }
}

function proveFfmpeg(binary) {
  const run = spawnSync(binary, ['-version'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000, encoding: 'utf8' });
  if (run.error) {
    const code = run.error.code;
    return { problem: code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not executable' : code === 'ETIMEDOUT' ? 'did not answer -version within 5 s' : `could not run (${run.error.message})` };
  }
  if (run.status !== 0) return { problem: `-version failed (${run.signal ?? `exit code ${run.status}`})` };
  const version = /^ffmpeg version (\S+)/.exec(run.stdout.split('\n')[0] ?? '')?.[1];
  return version ? { version } : { problem: 'is not ffmpeg (-version does not start with "ffmpeg version")' };
}

/**
 * Same rules as src/shared/ffmpeg-binary.ts: ffmpeg-static's binary where its install fetched it,
 * else FFMPEG_PATH (or VEZA_FFMPEG), else ffmpeg on PATH, proven by -version.
 */
function locateFfmpeg(env, staticPath = ffmpegStaticPath()) {
  const notes = [];
  if (staticPath) {
    if (!existsSync(staticPath)) notes.push('ffmpeg-static is installed without its binary (its install could not download it)');
    else {
      const proof = proveFfmpeg(staticPath);
      if (proof.version) return { available: true, path: staticPath, version: proof.version, source: 'ffmpeg-static', notes };
      notes.push(`ffmpeg-static's binary ${staticPath} ${proof.problem}`);
    }
  }
  const variable = env.FFMPEG_PATH ? 'FFMPEG_PATH' : env.VEZA_FFMPEG ? 'VEZA_FFMPEG' : null;
  const binary = variable ? env[variable] : findOnPath('ffmpeg', env.PATH ?? '');
  if (!binary) return { available: false, reason: 'ffmpeg is not on PATH', fix: INSTALL_FFMPEG_FIX, notes };
  const proof = proveFfmpeg(binary);
  if (proof.version) return { available: true, path: binary, version: proof.version, source: variable ?? 'PATH', notes };
  return {
    available: false,
    reason: `${variable ? `${variable} ${binary}` : binary} ${proof.problem}`,
    fix: variable ? `point ${variable} at an ffmpeg binary, or unset it to use ffmpeg from PATH (${INSTALL_FFMPEG_FIX})` : INSTALL_FFMPEG_FIX,
    notes,
  };
}

function findOnPath(name, searchPath) {
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.resolve(dir, name);
    try {
      if (statSync(candidate).isFile()) {
        accessSync(candidate, constants.X_OK);
        return candidate;
      }
    } catch {
      // not here
    }
  }
  return null;
}
