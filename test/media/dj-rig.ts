import type { Browser } from 'playwright-core';
import { exclusiveMediaSlot, launchChromium, serveBundle, type TestPage } from '../helpers/browser.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

export interface DjRig {
  server: TestServer;
  /** The page that loads dj-peer.ts (`window.vezaDj`). */
  bundle: TestPage;
  browser: Browser;
  close(): Promise<void>;
}

/**
 * What the Chromium DJ tests share: the media slot (one such test at a time across vitest's
 * workers), a one-worker server without rate limits or timed quality events, the dj-peer page and
 * Chromium. `close()` releases all of it, the slot last.
 */
export async function startDjRig(worker: string, browserPath: string): Promise<DjRig> {
  const release = await exclusiveMediaSlot();
  const opened: { server?: TestServer; bundle?: TestPage; browser?: Browser } = {};
  const close = async () => {
    try {
      await opened.browser?.close();
      await opened.bundle?.close();
      await opened.server?.stop();
    } finally {
      release();
    }
  };
  try {
    process.env.MEDIASOUP_WORKER_BIN = worker;
    opened.server = await startTestServer({ 'media-workers': '1', 'rate-limit-connections-per-minute': '0', 'media-stats-interval-ms': '0' });
    opened.bundle = await serveBundle(new URL('./dj-peer.ts', import.meta.url));
    opened.browser = await launchChromium(browserPath);
    return { server: opened.server, bundle: opened.bundle, browser: opened.browser, close };
  } catch (error) {
    await close();
    throw error;
  }
}
