import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startVeza } from '../../src/main.js';
import { BUILD_MEDIA_COMMAND, installedMediasoupVersion, locateMediaWorker, workerCachePath } from '../../src/media/worker-binary.js';
import { builtWorker } from '../helpers/media.js';
import { startTestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/services.js';


const worker = builtWorker();
const version = installedMediasoupVersion()!;
const savedWorkerBin = process.env.MEDIASOUP_WORKER_BIN;
const temps: { remove: () => void }[] = [];

afterEach(() => {
  if (savedWorkerBin === undefined) delete process.env.MEDIASOUP_WORKER_BIN;
  else process.env.MEDIASOUP_WORKER_BIN = savedWorkerBin;
  for (const temp of temps.splice(0)) temp.remove();
});

function temp(): string {
  const dir = tempDir('media');
  temps.push(dir);
  return dir.dir;
}

describe('locateMediaWorker', () => {
  it('reports a MEDIASOUP_WORKER_BIN that does not exist as unavailable, with the reason and the command that builds it', () => {
    expect(locateMediaWorker({ MEDIASOUP_WORKER_BIN: '/nonexistent/mediasoup-worker' })).toEqual({
      available: false,
      reason: 'MEDIASOUP_WORKER_BIN /nonexistent/mediasoup-worker does not exist',
      fix: 'npm run build:media',
    });
  });

  it('refuses a file that is not executable, and an executable that is not a mediasoup worker', () => {
    const file = path.join(temp(), 'mediasoup-worker');
    writeFileSync(file, '#!/bin/sh\nexit 0\n');
    expect(locateMediaWorker({ MEDIASOUP_WORKER_BIN: file })).toMatchObject({ available: false, reason: `MEDIASOUP_WORKER_BIN ${file} is not executable` });
    chmodSync(file, 0o755);
    expect(locateMediaWorker({ MEDIASOUP_WORKER_BIN: file })).toMatchObject({ available: false, reason: `MEDIASOUP_WORKER_BIN ${file} does not run as a mediasoup worker: exit code 0` });
  });

  it('looks in the per-version cache, where the build script puts the binary, when MEDIASOUP_WORKER_BIN is unset', () => {
    const cache = temp();
    const expected = path.join(cache, `mediasoup-worker-${version}`, 'mediasoup-worker');
    expect(workerCachePath(version, { VEZA_MEDIA_CACHE_DIR: cache })).toBe(expected);
    expect(workerCachePath(version, { XDG_CACHE_HOME: cache })).toBe(path.join(cache, 'veza', `mediasoup-worker-${version}`, 'mediasoup-worker'));
    expect(locateMediaWorker({ VEZA_MEDIA_CACHE_DIR: cache })).toMatchObject({ available: false, reason: `the mediasoup ${version} worker ${expected} does not exist` });
    const printed = execFileSync('bash', ['native/build-mediasoup-worker.sh', '--print-path'], { env: { ...process.env, VEZA_MEDIA_CACHE_DIR: cache }, encoding: 'utf8' });
    expect(printed.trim()).toBe(expected);
  });
});

describe('/healthz', () => {
  it('reports media as unavailable with the reason and the fix, and the server warns once at start', async () => {
    process.env.MEDIASOUP_WORKER_BIN = '/nonexistent/mediasoup-worker';
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const config = loadConfig({}, { host: '127.0.0.1', port: '0', 'data-dir': temp() });
    const veza = await startVeza(config, { logger });
    try {
      const health = (await (await fetch(`http://127.0.0.1:${veza.port}/healthz`)).json()) as { status: string; media: unknown };
      expect(health.status).toBe('ok');
      expect(health.media).toEqual({ available: false, reason: 'MEDIASOUP_WORKER_BIN /nonexistent/mediasoup-worker does not exist', fix: BUILD_MEDIA_COMMAND });
      const warnings = lines.map((line) => JSON.parse(line) as { msg: string }).filter((record) => record.msg.startsWith('media unavailable'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.msg).toContain('npm run build:media');
    } finally {
      await veza.shutdown();
    }
  });

  it.skipIf(!worker)('reports media as available when the worker is built', async () => {
    process.env.MEDIASOUP_WORKER_BIN = worker!;
    const server = await startTestServer();
    try {
      const health = (await (await fetch(`${server.url}/healthz`)).json()) as { media: unknown };
      expect(health.media).toEqual({ available: true });
    } finally {
      await server.stop();
    }
  });
});

describe.skipIf(!worker)('the built mediasoup worker', () => {
  it('starts, creates a router with Opus and VP8 and a WebRTC transport, and closes cleanly', async () => {
    // mediasoup 3.12 reads MEDIASOUP_WORKER_BIN once, when it is first imported.
    process.env.MEDIASOUP_WORKER_BIN = worker!;
    const mediasoup = await import('mediasoup');
    expect(mediasoup.workerBin).toBe(worker);
    expect(mediasoup.version).toBe(version);

    const died: unknown[] = [];
    const ms = await mediasoup.createWorker({ logLevel: 'warn' });
    ms.on('died', (error) => died.push(error));
    const router = await ms.createRouter({
      mediaCodecs: [
        { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
        { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
      ],
    });
    expect(router.rtpCapabilities.codecs?.map((codec) => codec.mimeType)).toEqual(expect.arrayContaining(['audio/opus', 'video/VP8']));
    // DTLS fingerprints come from the worker's OpenSSL; the ICE candidate from its libuv socket.
    const transport = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
    expect(transport.dtlsParameters.fingerprints.length).toBeGreaterThan(0);
    expect(transport.iceCandidates[0]).toMatchObject({ ip: '127.0.0.1', protocol: 'udp' });

    const pid = ms.pid;
    const closed = new Promise<void>((resolve) => ms.observer.once('close', resolve));
    ms.close();
    await closed;
    expect(ms.closed).toBe(true);
    expect(router.closed).toBe(true);
    await expect.poll(() => processExists(pid), { timeout: 5000 }).toBe(false);
    expect(died).toEqual([]);
  });
});

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
