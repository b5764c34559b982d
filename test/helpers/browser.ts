import { existsSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import { processAlive } from '../../src/storage/directory-lock.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Debian's Chromium, or null (a printed skip; a failure with REQUIRE_SERVICES=1, as in CI). */
export function chromiumPath(): string | null {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const reason = `no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`;
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`${reason} (REQUIRE_SERVICES=1)`);
  console.warn(`SKIP: ${reason}`);
  return null;
}

export interface TestPage {
  /** The page that loads the bundle. */
  url: string;
  close(): Promise<void>;
}

/**
 * Bundles a browser-side module with esbuild and serves it from a blank page on 127.0.0.1, so that
 * Chromium pages can load it with `page.goto(url)`. `scripts` (path → source) load before it, in
 * order (hls.js, say).
 */
export async function serveBundle(entry: URL, scripts: Record<string, string> = {}): Promise<TestPage> {
  const esbuild = await import('esbuild');
  const bundle = await esbuild.build({
    entryPoints: [entry.pathname],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome110',
    write: false,
    logLevel: 'silent',
  });
  const files: Record<string, string> = { ...scripts, '/peer.js': bundle.outputFiles[0]!.text };
  const tags = Object.keys(files).map((src) => `<script src="${src}"></script>`).join('');
  const server = createServer((req, res) => {
    const script = files[req.url ?? ''];
    if (script !== undefined) res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>veza media test</title><body style="margin:0;background:#000">${tags}</body>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Headless Chromium with fake camera and microphone, WebRTC over loopback, and media that plays
 * without a user gesture (the receivers' <video> and AudioContext start by themselves).
 */
export async function launchChromium(executablePath: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required',
      // Pages in the background must keep their timers and frames at full rate.
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/**
 * Calls the functions a bundled module put on `globalThis[name]`, typed by that module's exported
 * API type: `const dj = pageApi<DjApi>(page, 'vezaDj'); await dj('publish', url, options)`.
 * Arguments and results cross as JSON-like values.
 */
export function pageApi<Api>(page: Page, name: string) {
  type Fn<K extends keyof Api> = Api[K] extends (...args: infer A) => infer R ? { args: A; result: Awaited<R> } : never;
  return <K extends keyof Api & string>(method: K, ...args: Fn<K>['args']): Promise<Fn<K>['result']> =>
    page.evaluate(
      ([global, m, a]) => {
        const api = (globalThis as unknown as Record<string, Record<string, (...x: unknown[]) => unknown>>)[global]!;
        return api[m]!(...a);
      },
      [name, method, args as unknown[]] as const,
    ) as Promise<Fn<K>['result']>;
}

const LOCK = join(tmpdir(), 'veza-media-browser-test.lock');

const alive = processAlive;

/**
 * Runs the media tests that load many Chromium peers one at a time across vitest's workers: on two
 * cores, a 20-viewer fan-out next to the lip-sync measurement starves the receivers' audio and
 * turns the measurement into one of CPU contention. Resolves with the release function. A lock left
 * by a process that no longer runs is taken over.
 */
export async function exclusiveMediaSlot(timeoutMs = 120_000): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        if (readFileSync(LOCK, 'utf8') === String(process.pid)) unlinkSync(LOCK);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder = Number.NaN;
    try {
      holder = Number(readFileSync(LOCK, 'utf8'));
    } catch {
      continue; // released meanwhile
    }
    if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
      try {
        unlinkSync(LOCK);
      } catch {
        // another waiter took it over first
      }
      continue;
    }
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${LOCK}, held by process ${holder}`);
    await sleep(250);
  }
}
