// The DJ room page in Chromium, end to end: two cameras and a switch followed over WebRTC, and past
// the WebRTC audience a viewer on HLS. It runs with the end-to-end suites, alone: its HLS egress
// decodes and encodes video in real time, which falls behind next to the rest of the test suite.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium } from '../helpers/browser.js';
import { builtWorker } from '../helpers/media.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { buildWebClient, SHOTS, signedIn, type PageWindow, tokenLeaks } from '../helpers/web-client.js';

const browserPath = chromiumPath();
const worker = browserPath ? builtWorker() : null;

describe.skipIf(!worker)('the DJ room page in Chromium', () => {
  let live: TestServer;
  let browser: Browser;
  let web: Awaited<ReturnType<typeof buildWebClient>>;

  beforeAll(async () => {
    web = await buildWebClient();
    process.env.MEDIASOUP_WORKER_BIN = worker!;
    // One WebRTC viewer per room, so that the second one is sent to HLS.
    live = await startTestServer({ dev: 'true', 'web-dir': web.dir, 'media-workers': '1', 'media-max-viewers': '1', 'rate-limit-connections-per-minute': '0' });
    browser = await launchChromium(browserPath!);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await live?.stop();
    web?.remove();
    // No page's console held a sign-in, in any test of this file.
    expect(tokenLeaks()).toEqual([]);
  });

  it('the DJ goes live with two cameras and switches; a viewer follows over WebRTC; past the WebRTC audience the next one watches HLS', { timeout: 150_000 }, async () => {
    const room = `set-${Date.now()}`;
    const state = (page: Page) => page.evaluate(() => (globalThis as unknown as PageWindow).veza.dj!.state());
    const dj = await signedIn(browser, live.url, 'dj', `#/dj/${room}`, 'owner');
    await dj.getByTestId('go-live').click();
    await expect.poll(async () => (await state(dj)).cameras.length, { timeout: 20_000 }).toBe(1);

    const fan = await signedIn(browser, live.url, 'fan', `#/dj/${room}`, 'viewer');
    await fan.getByTestId('watch').click();
    await expect.poll(async () => (await state(fan)).framesShown, { timeout: 30_000 }).toBeGreaterThan(10);
    expect((await state(fan)).liveCamera).toBe((await state(dj)).cameras[0]);

    await dj.getByRole('button', { name: '+ Camera' }).click();
    await expect.poll(async () => (await state(dj)).cameras.length, { timeout: 20_000 }).toBe(2);
    const second = (await state(dj)).cameras[1]!;
    await dj.locator(`button[data-camera="${second}"]`).click();
    await expect.poll(async () => (await state(fan)).liveCamera, { timeout: 10_000 }).toBe(second);
    const shown = (await state(fan)).framesShown;
    await expect.poll(async () => (await state(fan)).framesShown, { timeout: 10_000 }).toBeGreaterThan(shown + 10);
    await dj.screenshot({ path: path.join(SHOTS, 'dj-view.png') });
    await fan.screenshot({ path: path.join(SHOTS, 'dj-viewer-webrtc.png') });

    await dj.getByTestId('start-hls').click();
    await expect.poll(async () => (await state(dj)).hlsUrl, { timeout: 20_000 }).toMatch(/^\/hls\/.+\/master\.m3u8$/);
    const late = await signedIn(browser, live.url, 'late', `#/dj/${room}`, 'viewer');
    await late.getByTestId('watch').click();
    await expect.poll(async () => (await state(late)).role, { timeout: 15_000 }).toBe('hls');
    expect(await late.getByTestId('dj-status').textContent()).toContain('room full');
    await expect.poll(async () => (await state(late)).framesShown, { timeout: 60_000, interval: 500 }).toBeGreaterThan(10);
    // Everyone connected is counted; a tip from the HLS viewer reaches the DJ and is pinned on every page.
    for (const page of [dj, fan, late]) await expect.poll(() => page.getByTestId('audience').textContent()).toBe('3 in the room');
    expect(await late.getByTestId('tip-provider').textContent()).toBe('Test mode: no money moves.');
    await late.getByLabel('tip amount').fill('20');
    await late.getByLabel('tip message').fill('play it again');
    await late.getByTestId('send-tip').click();
    for (const page of [dj, fan, late]) await expect.poll(() => page.getByTestId('pinned-tips').textContent()).toMatch(/^€20\.00 late: play it again$/);
    expect(await late.getByLabel('tip message').inputValue()).toBe('');
    // The room's chat reaches everyone, the HLS viewer included.
    await late.getByLabel('room chat message').fill('what a set');
    await late.getByRole('button', { name: 'Send' }).click();
    for (const page of [dj, fan, late]) await expect.poll(() => page.getByTestId('room-chat').textContent()).toContain('late what a set');
    await late.screenshot({ path: path.join(SHOTS, 'dj-viewer-hls.png') });
    // The server shuts down with everyone in the room: HLS's ffmpeg would finish only when its input
    // times out, so shutdown does not wait for that, ends within its deadline and leaves no HLS files
    // behind; the pages say they lost the room and how to come back.
    expect(await live.veza.shutdown()).toBe(true);
    const hls = path.join(live.config.storage.dataDir, 'hls');
    expect(existsSync(hls) ? readdirSync(hls) : []).toEqual([]);
    for (const page of [dj, fan]) {
      // Lost, then (this test's process still answers its health check) back again.
      await expect.poll(() => page.getByTestId('connection').textContent(), { timeout: 10_000 }).toMatch(/^(Not connected to the server: you left the room\. Go live or Watch again once it is back|The server is back: Go live or Watch to join the room again)\.$/);
      expect(await page.evaluate(() => (globalThis as unknown as { veza: { dj: { state(): { role: string | null } } } }).veza.dj.state().role)).toBeNull();
    }
    await dj.screenshot({ path: path.join(SHOTS, 'dj-server-gone.png') });
    for (const page of [dj, fan, late]) await page.context().close();
  });
});
