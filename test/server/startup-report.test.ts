import { spawn, spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { locateFfmpeg } from '../../src/shared/ffmpeg-binary.js';
import { locateMediaWorker } from '../../src/media/worker-binary.js';
import { formatStartupReport, openUrl, shownDir } from '../../src/startup-report.js';
import { VEZA_BIN } from '../helpers/process.js';
import { tempDir } from '../helpers/services.js';

const required = process.env.REQUIRE_SERVICES === '1';
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** `veza serve --dev` as `npm start` runs it; resolves with what it printed for people once started. */
async function startAndReadReport(env: NodeJS.ProcessEnv, keepRunning = false): Promise<string> {
  const data = tempDir('report');
  cleanups.push(() => data.remove());
  const child = spawn(process.execPath, [VEZA_BIN, 'serve', '--dev', '--host', '127.0.0.1', '--port', '0', '--data-dir', data.dir, '--log-level', 'warn'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  cleanups.push(() => child.kill('SIGKILL'));
  let stderr = '';
  const report = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const start = stderr.indexOf('Veza Studio ');
      if (start >= 0 && stderr.indexOf(' MiB resident', start) > 0) resolve(stderr.slice(start));
    });
    child.once('exit', (code) => reject(new Error(`veza serve exited with ${code}:\n${stderr}`)));
    setTimeout(() => reject(new Error(`no start-up report within 40 s:\n${stderr}`)), 40_000).unref();
  });
  if (!keepRunning) child.kill('SIGTERM');
  return report;
}

describe('the start-up report', () => {
  it('says media and recording are on when the worker and ffmpeg are there', async (ctx) => {
    const worker = locateMediaWorker();
    if (!worker.available || !locateFfmpeg().available) {
      if (required) throw new Error(`media worker or ffmpeg missing (REQUIRE_SERVICES=1): ${worker.available ? 'ffmpeg' : worker.reason}`);
      console.warn(`SKIP: ${worker.available ? 'ffmpeg is not installed' : worker.reason}`);
      return ctx.skip();
    }
    // As `npm start` does: the sources compiled into build/ first, which `veza` then runs.
    const compile = spawnSync(process.execPath, ['scripts/build-server-if-changed.mjs'], { encoding: 'utf8' });
    expect(compile.status, compile.stderr).toBe(0);
    const report = await startAndReadReport({ MEDIASOUP_WORKER_BIN: worker.path, VEZA_EXAMPLE_SESSIONS: 'true' });
    expect(report).toContain('\n  code            compiled copy of the sources (build/)\n');
    // Each module whose start took 100 ms or more has its own figure.
    expect(report).toMatch(/^Veza Studio \S+ ready in [\d.]+ s \(boot [\d.]+, storage [\d.]+, migrations [\d.]+(, [a-z]+ [\d.]+)*\): open http:\/\/127\.0\.0\.1:\d+\n/);
    expect(report).toMatch(/\n {2}live media +on +\d mediasoup workers?/);
    expect(report).toMatch(/\n {2}recording, HLS +on +ffmpeg \d/);
    expect(report).toMatch(/\n {2}mastering +on +ffmpeg \d/);
    expect(report).toMatch(/\n {2}storage +embedded PGlite in /);
    expect(report).toMatch(/\n {2}events bus +in-process\n/);
    for (const module of ['recommendations', 'insights', 'gamification', 'history', 'webhooks']) expect(report).toMatch(new RegExp(`\\n {2}${module} +on +consuming events on their own thread`));
    expect(report).toMatch(/\n {2}examples +2 example sessions \(2 imported now\): Chemistry Lab \(example\), City Blues \(example\)/);
  });

  it('says why media and recording are off, and the command that turns each on', async () => {
    const emptyCache = tempDir('no-worker');
    cleanups.push(() => emptyCache.remove());
    const report = await startAndReadReport({ VEZA_MEDIA_CACHE_DIR: emptyCache.dir, VEZA_FFMPEG: '/nonexistent/ffmpeg', VEZA_CONSUMERS: 'recommendations', VEZA_FROM_SOURCE: '1' });
    expect(report).toContain('\n  code            TypeScript sources through tsx');
    expect(report).toMatch(/\n {2}live media +off +the mediasoup [\d.]+ worker \S+ does not exist; to turn it on: npm run build:media\n/);
    expect(report).toContain('\n  recording, HLS  off  VEZA_FFMPEG /nonexistent/ffmpeg does not exist; to turn it on: point VEZA_FFMPEG at an ffmpeg binary');
    expect(report).toMatch(/\n {2}insights +off +not in VEZA_CONSUMERS; to turn it on: VEZA_CONSUMERS=all\n/);
    expect(report).toMatch(/\n {2}recommendations +on /);
  });

  it('without ffmpeg, refuses recordings and HLS with the same reason', async (ctx) => {
    const worker = locateMediaWorker();
    if (!worker.available) {
      if (required) throw new Error(`media worker missing (REQUIRE_SERVICES=1): ${worker.reason}`);
      console.warn(`SKIP: ${worker.reason}`);
      return ctx.skip();
    }
    const report = await startAndReadReport({ MEDIASOUP_WORKER_BIN: worker.path, VEZA_FFMPEG: '/nonexistent/ffmpeg', VEZA_EXAMPLE_SESSIONS: 'false' }, true);
    expect(report).toMatch(/\n {2}live media +on /);
    const url = /open (http:\/\/\S+)/.exec(report)![1]!;
    const { token } = (await (await fetch(`${url}/api/v1/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'ann' }) })).json()) as { token: string };
    for (const route of ['/api/v1/rooms/stage/recordings', '/api/v1/rooms/stage/hls']) {
      const response = await fetch(`${url}${route}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      expect(response.status, route).toBe(503);
      expect(((await response.json()) as { detail: string }).detail, route).toBe('recording and HLS are unavailable on this server: VEZA_FFMPEG /nonexistent/ffmpeg does not exist; to turn them on: point VEZA_FFMPEG at an ffmpeg binary, or unset it to use ffmpeg from PATH (apt-get install ffmpeg)');
    }
  });

  it('formats addresses and directories for people', () => {
    expect(openUrl('0.0.0.0', 8080)).toBe('http://localhost:8080');
    expect(openUrl('::', 8080)).toBe('http://localhost:8080');
    expect(openUrl('::1', 80)).toBe('http://[::1]:80');
    expect(shownDir('/srv/app/data', '/srv/app')).toBe('./data');
    expect(shownDir('/var/lib/veza', '/srv/app')).toBe('/var/lib/veza');
    const text = formatStartupReport({
      version: '1.2.3',
      readyMs: 2345,
      phasesMs: { storage: 1200, migrations: 300 },
      url: 'http://localhost:8080',
      code: 'compiled',
      storage: 'PostgreSQL',
      bus: 'Redis Streams',
      modules: [
        { name: 'live media', state: { on: false, reason: 'no worker', fix: 'npm run build:media' } },
        { name: 'recording, HLS', state: { on: true, detail: 'ffmpeg 5.1' } },
      ],
      examples: null,
      rssMiB: 210,
      peakRssMiB: null,
      databaseWasmMiB: null,
    });
    expect(text).toBe(
      [
        'Veza Studio 1.2.3 ready in 2.3 s (storage 1.2, migrations 0.3): open http://localhost:8080',
        '  code            compiled copy of the sources (build/)',
        '  storage         PostgreSQL',
        '  events bus      Redis Streams',
        '  live media      off  no worker; to turn it on: npm run build:media',
        '  recording, HLS  on   ffmpeg 5.1',
        '  memory          210 MiB resident',
        '',
      ].join('\n'),
    );
    const embedded = formatStartupReport({ version: '1.2.3', readyMs: 1000, phasesMs: {}, url: 'http://localhost:8080', code: 'compiled', storage: 'embedded PGlite in ./data', bus: 'in-process', modules: [], examples: null, rssMiB: 250, peakRssMiB: 700, databaseWasmMiB: 96 });
    expect(embedded).toContain('\n  memory          250 MiB resident (peak 700 MiB; embedded database 96 MiB of WASM memory)\n');
  });
});
