import { execFile, execFileSync, type ExecFileException } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { arch, platform } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { installedMediasoupVersion, locateMediaWorker } from '../../src/media/worker-binary.js';
import { tempDir } from '../helpers/services.js';

/**
 * native/resolve-media.mjs, our postinstall, run as a process. "No system libraries" is an empty
 * VEZA_MEDIA_CACHE_DIR with VEZA_MEDIA_BUILD=0 and VEZA_MEDIA_DOWNLOAD=0; mediasoup's release is a
 * local HTTP server (MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL) serving the worker built here.
 */
const version = installedMediasoupVersion()!;
const FIX = 'npm run build:media -- --install-deps';
const ASSET = `mediasoup-worker-${version}-${platform()}-${arch()}.tgz`;
const OUR_VARIABLES = ['MEDIASOUP_WORKER_BIN', 'VEZA_MEDIA_CACHE_DIR', 'VEZA_MEDIA_BUILD', 'VEZA_MEDIA_DOWNLOAD', 'VEZA_FFMPEG', 'MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL'];
const baseEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !OUR_VARIABLES.includes(name)));

/** The cached build where `--print-path` says, or null (a printed skip; a failure with REQUIRE_SERVICES=1). */
const cachedWorker = ((): string | null => {
  const printed = execFileSync('bash', ['native/build-mediasoup-worker.sh', '--print-path'], { env: baseEnv, encoding: 'utf8' }).trim();
  const found = locateMediaWorker({ ...baseEnv, MEDIASOUP_WORKER_BIN: printed });
  if (found.available) return printed;
  const reason = `no mediasoup worker: ${found.reason}; build it with \`npm run build:media\``;
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`${reason} (REQUIRE_SERVICES=1)`);
  console.warn(`SKIP: ${reason}`);
  return null;
})();

type Media = { available: true; path: string; version: string; source: string; seconds?: number } | { available: false; reason: string; fix: string };

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function temp(): string {
  const dir = tempDir('resolve-media');
  cleanups.push(dir.remove);
  return dir.dir;
}

/** Nothing to find and nothing tried: the state of a machine without the build's libraries. */
function offlineEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...baseEnv, VEZA_MEDIA_CACHE_DIR: temp(), VEZA_MEDIA_BUILD: '0', VEZA_MEDIA_DOWNLOAD: '0', ...extra };
}

async function resolveMedia(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['native/resolve-media.mjs', ...args], { env, encoding: 'utf8' }, (error: ExecFileException | null, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

async function check(env: NodeJS.ProcessEnv): Promise<Media> {
  const result = await resolveMedia(['--check'], env);
  expect(result.code).toBe(0);
  const lines = result.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return (JSON.parse(lines[0]!) as { media: Media }).media;
}

/** A stand-in for mediasoup's GitHub release: `files` by URL path, 404 for anything else. */
async function releaseServer(files: Record<string, Buffer>): Promise<string> {
  const server: Server = createServer((request, response) => {
    const body = files[request.url ?? ''];
    response.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A .tgz holding one file, `mediasoup-worker`, with `source`'s contents: mediasoup's release layout. */
function workerArchive(source: string): Buffer {
  const dir = temp();
  copyFileSync(source, path.join(dir, 'mediasoup-worker'));
  execFileSync('tar', ['-czf', path.join(dir, ASSET), '-C', dir, 'mediasoup-worker']);
  return readFileSync(path.join(dir, ASSET));
}

describe('native/resolve-media.mjs without a worker anywhere', () => {
  it('--check reports media off with what it tried and the command that turns it on', async () => {
    expect(await check(offlineEnv())).toEqual({
      available: false,
      reason: `no mediasoup ${version} worker (cache: none; download: off (VEZA_MEDIA_DOWNLOAD=0); build: off (VEZA_MEDIA_BUILD=0))`,
      fix: FIX,
    });
  });

  it('--install exits 0 with one line for media; the default mode exits 1', async () => {
    const env = offlineEnv();
    const install = await resolveMedia(['--install'], env);
    expect(install.code).toBe(0);
    expect(install.stderr).toBe('');
    const lines = install.stdout.trim().split('\n');
    expect(lines.filter((line) => line.startsWith('veza: media'))).toEqual([
      `veza: media off: no mediasoup ${version} worker (cache: none; download: off (VEZA_MEDIA_DOWNLOAD=0); build: off (VEZA_MEDIA_BUILD=0)). To turn it on: ${FIX}`,
    ]);
    // The other line is ffmpeg's, on or off.
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^veza: (ffmpeg on|recording and HLS off): /);

    const report = await resolveMedia([], env);
    expect(report.code).toBe(1);
    expect(report.stdout).toBe(install.stdout);
  });

  it('falls through when the release cannot be reached, or has no worker for this platform', async () => {
    const closed = await releaseServer({});
    const port = new URL(closed).port;
    await cleanups.pop()!(); // closed at once: nothing listens on that port any more
    expect(await check(offlineEnv({ VEZA_MEDIA_DOWNLOAD: '1', MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL: closed }))).toMatchObject({
      available: false,
      reason: expect.stringContaining(`download: 127.0.0.1:${port} not reachable (ECONNREFUSED); build: off`),
    });

    const empty = await releaseServer({});
    expect(await check(offlineEnv({ VEZA_MEDIA_DOWNLOAD: '1', MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL: empty }))).toMatchObject({
      available: false,
      reason: expect.stringContaining(`download: 127.0.0.1:${new URL(empty).port} has no ${ASSET}; build: off`),
    });
  });

  it('hands the build to native/build-mediasoup-worker.sh, whose missing dependencies end up in the one line', async () => {
    // A PATH with only what the script needs before its dependency check: meson, ninja,
    // pkg-config and the compiler are absent, as on a machine where they were never installed.
    const bin = temp();
    for (const tool of ['bash', 'dirname']) symlinkSync(execFileSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), path.join(bin, tool));
    symlinkSync(process.execPath, path.join(bin, 'node'));
    const media = await check(offlineEnv({ VEZA_MEDIA_BUILD: '1', PATH: bin }));
    expect(media).toEqual({
      available: false,
      reason: `no mediasoup ${version} worker (cache: none; download: off (VEZA_MEDIA_DOWNLOAD=0); build: missing meson ninja pkg-config c++)`,
      fix: FIX,
    });
  });
});

describe('native/resolve-media.mjs with MEDIASOUP_WORKER_BIN set to something else than a worker', () => {
  it('refuses it with the reason, and does not look further: mediasoup would spawn exactly that path', async () => {
    const textFile = path.join(temp(), 'mediasoup-worker');
    writeFileSync(textFile, 'not a worker\n');
    for (const [binary, problem] of [
      ['/bin/true', 'does not run as a mediasoup worker: exit code 0'],
      [textFile, 'is not executable'],
      ['/nonexistent/mediasoup-worker', 'does not exist'],
    ] as const) {
      expect(await check({ ...baseEnv, MEDIASOUP_WORKER_BIN: binary })).toEqual({
        available: false,
        reason: `MEDIASOUP_WORKER_BIN ${binary} ${problem}`,
        fix: `point MEDIASOUP_WORKER_BIN at a mediasoup ${version} worker, or unset it`,
      });
    }
    const install = await resolveMedia(['--install'], { ...baseEnv, MEDIASOUP_WORKER_BIN: '/bin/true' });
    expect(install.code).toBe(0);
    expect(install.stdout).toContain('veza: media off: MEDIASOUP_WORKER_BIN /bin/true does not run as a mediasoup worker: exit code 0.');
  });
});

describe.skipIf(!cachedWorker)('native/resolve-media.mjs with the worker built', () => {
  it('reports media on with the path: MEDIASOUP_WORKER_BIN first, else the cache, where the server looks too', async () => {
    expect(await check({ ...baseEnv, MEDIASOUP_WORKER_BIN: cachedWorker! })).toEqual({ available: true, path: cachedWorker, version, source: 'MEDIASOUP_WORKER_BIN' });
    const cached = await check(baseEnv);
    expect(cached).toEqual({ available: true, path: cachedWorker, version, source: 'cache' });
    expect(locateMediaWorker(baseEnv)).toEqual({ available: true, path: cachedWorker, version });

    const report = await resolveMedia([], baseEnv);
    expect(report.code).toBe(0);
    // Shown to people: a path under the home directory without the user's name.
    const home = baseEnv.HOME ?? '';
    const shown = home && cachedWorker!.startsWith(`${home}/`) ? `~/${cachedWorker!.slice(home.length + 1)}` : cachedWorker;
    expect(report.stdout.split('\n')[0]).toBe(`veza: media on: mediasoup ${version} worker ${shown} (cached)`);
  });

  it("installs mediasoup's prebuilt worker into the cache once it has seen it run, and uses the cache from then on", async () => {
    const base = await releaseServer({ [`/${version}/${ASSET}`]: workerArchive(cachedWorker!) });
    const env = offlineEnv({ VEZA_MEDIA_DOWNLOAD: '1', MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL: base });
    const destination = path.join(env.VEZA_MEDIA_CACHE_DIR!, `mediasoup-worker-${version}`, 'mediasoup-worker');

    expect(await check(env)).toMatchObject({ available: true, path: destination, version, source: 'download' });
    expect(readFileSync(destination).equals(readFileSync(cachedWorker!))).toBe(true);
    expect(readFileSync(path.join(path.dirname(destination), 'BUILD-INFO'), 'utf8')).toContain(`mediasoup ${version} worker, prebuilt, downloaded`);
    expect(locateMediaWorker(env)).toEqual({ available: true, path: destination, version });
    expect(await check(env)).toEqual({ available: true, path: destination, version, source: 'cache' });
  });

  it('refuses a prebuilt worker that does not run here, and leaves the cache empty', async () => {
    const script = path.join(temp(), 'fake-worker');
    writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const base = await releaseServer({ [`/${version}/${ASSET}`]: workerArchive(script) });
    const env = offlineEnv({ VEZA_MEDIA_DOWNLOAD: '1', MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL: base });

    expect(await check(env)).toEqual({
      available: false,
      reason: `no mediasoup ${version} worker (cache: none; download: the prebuilt worker does not run as a mediasoup worker: exit code 0; build: off (VEZA_MEDIA_BUILD=0))`,
      fix: FIX,
    });
    // Written beside the final path to be run, then removed: nothing is left behind.
    const dir = path.join(env.VEZA_MEDIA_CACHE_DIR!, `mediasoup-worker-${version}`);
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });
});
