// The mastering screen (#/mastering) in Chromium against a dev-mode server: a mix uploaded through
// the page is mastered with progress shown, the before/after figures, charts, suggestions and both
// players appear, the master is on target by the API, a file that is not audio is refused with the
// server's reason, and the screen passes axe-core and fits at 1024 and 1440 px.
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium } from '../helpers/browser.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { accessibilityViolations, buildWebClient, SHOTS, signedIn, tokenLeaks } from '../helpers/web-client.js';
import { materialMissing, sample } from '../mastering/support.js';

const browserPath = chromiumPath();

describe.skipIf(!browserPath || materialMissing !== null)('the mastering screen in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let web: Awaited<ReturnType<typeof buildWebClient>>;

  beforeAll(async () => {
    web = await buildWebClient();
    server = await startTestServer({ dev: 'true', 'web-dir': web.dir, 'example-sessions': 'false', 'rate-limit-connections-per-minute': '0', 'rate-limit-requests-per-minute': '0', 'recs-train-interval-s': '0' });
    browser = await launchChromium(browserPath!);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    web?.remove();
    // No page's console held a sign-in, in any test of this file.
    expect(tokenLeaks()).toEqual([]);
  });

  const jobOf = (page: Page) => page.evaluate(() => (globalThis as unknown as { veza: { mastering?: { job(): { id: string; state: string } | null } } }).veza.mastering?.job() ?? null);

  it('masters an uploaded mix, following its progress, and shows before and after with A/B players', { timeout: 150_000 }, async () => {
    const page = await signedIn(browser, server.url, 'mira', '#/mastering');
    await page.getByRole('heading', { name: 'Mastering' }).waitFor();
    await page.getByLabel('mix to master').setInputFiles(sample('loop_tabla'));
    await page.getByLabel('loudness target').selectOption('-16');
    await page.getByLabel('genre').selectOption('percussion');
    await page.getByLabel('export format').selectOption('flac');
    await page.getByRole('button', { name: 'Master', exact: true }).click();
    await page.getByTestId('mastering-figures').waitFor({ timeout: 120_000 });
    expect(await page.getByTestId('mastering-stage').textContent()).toMatch(/^done: done \(100 %\)/);
    const figures = await page.getByTestId('mastering-figures').innerText();
    expect(figures).toMatch(/Integrated loudness \(LUFS\)\s+-26\.6\s+-16\.0/);
    expect(await page.getByRole('img', { name: /Short-term loudness/ }).count()).toBe(1);
    expect(await page.getByRole('img', { name: /Spectrum, 1\/3 octaves/ }).count()).toBe(1);
    for (const id of ['audio-a', 'audio-b']) expect(await page.getByTestId(id).getAttribute('src')).toMatch(/^blob:/);
    // What the page shows is what the API holds.
    const { id } = (await jobOf(page))!;
    const token = await server.veza.auth.sign({ sub: 'mira' });
    const job = (await (await fetch(`${server.url}/api/v1/mastering/${id}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { result: { after: { integrated: number; truePeak: number } } };
    expect(Math.abs(job.result.after.integrated + 16)).toBeLessThanOrEqual(0.1);
    expect(job.result.after.truePeak).toBeLessThanOrEqual(-1);

    expect(await accessibilityViolations(page)).toEqual([]);
    for (const width of [1024, 1440]) {
      await page.setViewportSize({ width, height: 900 });
      const { scroll, inner } = await page.evaluate(() => {
        const d = globalThis as unknown as { document: { documentElement: { scrollWidth: number } }; innerWidth: number };
        return { scroll: d.document.documentElement.scrollWidth, inner: d.innerWidth };
      });
      expect(scroll, `${width} px`).toBeLessThanOrEqual(inner);
      await page.screenshot({ path: path.join(SHOTS, `mastering-${width}.png`), fullPage: true });
    }
    await page.context().close();
  });

  it('shows the server’s reason when the file is not audio', { timeout: 60_000 }, async () => {
    const page = await signedIn(browser, server.url, 'mira', '#/mastering');
    await page.getByLabel('mix to master').setInputFiles({ name: 'notes.txt', mimeType: 'application/octet-stream', buffer: Buffer.from('these are words, not sound') });
    await page.getByRole('button', { name: 'Master', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').first().textContent()).toMatch(/the mix was refused: the file is not audio that ffmpeg can read/);
    expect(await jobOf(page)).toBeNull();
    await page.context().close();
  });
});
