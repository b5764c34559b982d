// Voice chat in the studio page, in Chromium with its fake microphone: joining, what the page says
// when the server goes away, and the call joined again once the server is back.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium } from '../helpers/browser.js';
import { builtWorker } from '../helpers/media.js';
import { freePort } from '../helpers/ports.js';
import { spawnServer, type ServerProcess } from '../helpers/process.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/services.js';
import { buildWebClient, signedIn, tokenLeaks } from '../helpers/web-client.js';

const worker = builtWorker();
const browserPath = worker ? chromiumPath() : null;

/** Who the session's awareness says is in the voice call, as this page sees it. */
const inCall = (page: Page) =>
  page.evaluate(() => {
    const provider = (globalThis as unknown as { veza: { studio: { provider: { awareness: { getStates(): Map<number, { voice?: { inCall?: string[] } }> } } } } }).veza.studio.provider;
    for (const state of provider.awareness.getStates().values()) if (state.voice) return state.voice.inCall ?? [];
    return [];
  });

describe.skipIf(!browserPath)('voice chat in the studio page', () => {
  let browser: Browser;
  let web: Awaited<ReturnType<typeof buildWebClient>>;

  beforeAll(async () => {
    web = await buildWebClient();
    browser = await launchChromium(browserPath!);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    web?.remove();
    // No page's console held a sign-in, in any test of this file.
    expect(tokenLeaks()).toEqual([]);
  });

  it('says when the server drops the call and joins it again when the server is back', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const data = tempDir('voice-rejoin');
    const flags = { dev: 'true', 'web-dir': web.dir, port: String(port), 'data-dir': data.dir, 'example-sessions': 'false', 'rate-limit-connections-per-minute': '0' };
    let server: TestServer = await startTestServer(flags);
    const session = `voice-${Date.now()}`;
    try {
      const ann = await signedIn(browser, server.url, 'ann', `#/studio/${session}`);
      await expect.poll(() => ann.getByTestId('status').textContent()).toBe('connected');
      await ann.getByTestId('voice').click();
      await expect.poll(() => ann.getByTestId('voice').textContent(), { timeout: 20_000 }).toBe('Leave voice');
      await expect.poll(() => inCall(ann), { timeout: 20_000 }).toEqual(['ann']);
      // In the room, then sending the microphone: the "joining" line goes once the call is on.
      await expect.poll(() => ann.getByTestId('voice-status').isHidden(), { timeout: 20_000 }).toBe(true);

      await server.stop();
      await expect.poll(() => ann.getByTestId('voice-status').textContent(), { timeout: 15_000 }).toBe('Voice lost the server: joining the call again when it is back.');
      // Still in the call as far as the user is concerned: pressing the button leaves it.
      expect(await ann.getByTestId('voice').textContent()).toBe('Leave voice');

      server = await startTestServer(flags);
      await expect.poll(() => inCall(ann), { timeout: 30_000 }).toEqual(['ann']);
      await expect.poll(() => ann.getByTestId('voice-status').isHidden()).toBe(true);
      expect(await ann.getByTestId('voice').textContent()).toBe('Leave voice');

      // Leaving is leaving: the server stops counting ann, and a restart does not bring her back.
      await ann.getByTestId('voice').click();
      await expect.poll(() => ann.getByTestId('voice').textContent()).toBe('Join voice');
      await expect.poll(() => inCall(ann), { timeout: 15_000 }).toEqual([]);
      await ann.context().close();
    } finally {
      await server.stop();
      data.remove();
    }
  });

  it('gives up with a sentence when the server comes back without voice, and the studio carries on', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const data = tempDir('voice-gone');
    const cache = tempDir('voice-gone-media');
    const server = await startTestServer({ dev: 'true', 'web-dir': web.dir, port: String(port), 'data-dir': data.dir, 'example-sessions': 'false', 'rate-limit-connections-per-minute': '0' });
    let noMedia: ServerProcess | null = null;
    const session = `voice-gone-${Date.now()}`;
    try {
      const ann = await signedIn(browser, server.url, 'ann', `#/studio/${session}`);
      await expect.poll(() => ann.getByTestId('status').textContent()).toBe('connected');
      await ann.getByTestId('voice').click();
      await expect.poll(() => inCall(ann), { timeout: 20_000 }).toEqual(['ann']);
      await expect.poll(() => ann.getByTestId('voice-status').isHidden(), { timeout: 20_000 }).toBe(true);
      await server.stop();
      await expect.poll(() => ann.getByTestId('voice-status').textContent(), { timeout: 15_000 }).toBe('Voice lost the server: joining the call again when it is back.');
      // Back on the same port and data, but with no media worker to be found.
      noMedia = await spawnServer(['--dev', '--web-dir', web.dir, '--port', String(port), '--data-dir', data.dir, '--example-sessions', 'false', '--rate-limit-connections-per-minute', '0'], { VEZA_MEDIA_CACHE_DIR: cache.dir });
      await expect.poll(() => ann.getByTestId('status').textContent(), { timeout: 20_000 }).toBe('connected');
      await expect.poll(() => ann.getByTestId('voice-status').textContent(), { timeout: 60_000 }).toBe('Voice could not join the call again; press Join voice to try once more.');
      expect(await ann.getByTestId('voice').textContent()).toBe('Join voice');
      await ann.context().close();
    } finally {
      await server.stop();
      if (noMedia) {
        noMedia.child.kill('SIGTERM');
        await noMedia.exited;
      }
      data.remove();
      cache.remove();
    }
  });
});
