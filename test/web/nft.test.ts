// Digital ownership in the web client (Chromium, a real dev-mode server with its local chain): a
// session made by two people is bounced and proposed as a drop from its mint screen; the split shows
// each share and answer; both accept from their own pages; the drop is minted; the ownership screen
// shows one's wallet, the edition, listing one's copy and one's royalties. Both screens pass axe,
// fit from 1024 px, and no token appears in page text or the console.
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateBounceTools } from '../../src/bounce/tools.js';
import { StudioDoc } from '../../src/studio/model.js';
import { chromiumPath, launchChromium } from '../helpers/browser.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { accessibilityViolations, buildWebClient, sessionToken, SHOTS, signedIn } from '../helpers/web-client.js';
import { nftModule } from '../../src/nft/module.js';

const browserPath = chromiumPath();
const tools = locateBounceTools();
if (!tools.available) console.warn(`SKIP: ${tools.reason}`);
const S = 'duo-song';

describe.skipIf(!browserPath || !tools.available)('digital ownership in the web client', () => {
  let server: TestServer;
  let browser: Browser;
  let web: Awaited<ReturnType<typeof buildWebClient>>;
  const consoleText: string[] = [];
  const go = (page: Page, hash: string) => page.evaluate((h) => ((globalThis as unknown as { location: { hash: string } }).location.hash = h), hash);
  const open = async (user: string, hash: string) => {
    const page = await signedIn(browser, server.url, user, hash);
    page.on('console', (message) => consoleText.push(message.text()));
    return page;
  };
  const fits = async (page: Page, name: string) => {
    for (const width of [1024, 1440]) {
      await page.setViewportSize({ width, height: 900 });
      const { scroll, inner } = await page.evaluate(() => {
        const d = globalThis as unknown as { document: { documentElement: { scrollWidth: number } }; innerWidth: number };
        return { scroll: d.document.documentElement.scrollWidth, inner: d.innerWidth };
      });
      expect(scroll, `${name} at ${width} px`).toBeLessThanOrEqual(inner);
      await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
    }
  };

  beforeAll(async () => {
    web = await buildWebClient();
    server = await startTestServer({ dev: 'true', 'web-dir': web.dir, 'example-sessions': 'false', 'rate-limit-connections-per-minute': '0', 'rate-limit-requests-per-minute': '0', 'recs-train-interval-s': '0', 'collab-flush-ms': '5' });
    browser = await launchChromium(browserPath!);
    const edit = (user: string, change: (s: StudioDoc) => void) => server.veza.collab.edit('default', S, user, (doc) => change(new StudioDoc(doc)));
    await edit('ana', (s) => {
      const t = s.addTrack({ name: 'Keys' });
      const c = s.addClip(t, { name: 'A', start: 0, length: 1920 });
      s.addNotes(t, c, [{ pitch: 60, start: 0, duration: 960, velocity: 100 }]);
    });
    await edit('ben', (s) => {
      const t = s.addTrack({ name: 'Bass' });
      const c = s.addClip(t, { name: 'B', start: 0, length: 1920 });
      s.addNotes(t, c, [{ pitch: 36, start: 0, duration: 960, velocity: 100 }]);
    });
    await server.veza.collab.persisted('default', S);
    // The local chain starts at its first use, compiling the contracts first on a fresh checkout:
    // started here, so that the page's first request that needs it does not wait seconds for that.
    await server.veza.modules.api(nftModule).chain();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    web?.remove();
  });

  it('bounces, proposes, shows the split, takes both acceptances and mints', { timeout: 120_000 }, async () => {
    const ana = await open('ana', '#/');
    // The session list links each session's mint screen.
    await ana.getByRole('link', { name: 'mint' }).first().waitFor();
    await go(ana, `#/nft/${S}`);
    await ana.getByRole('button', { name: 'Bounce and propose a drop' }).click();
    await expect.poll(() => ana.getByTestId('drop-state').first().textContent(), { timeout: 60_000 }).toBe('waiting for ana, ben');
    expect(await ana.locator('table.split tbody tr').allInnerTexts()).toEqual(['ana\t50.00 %\t1 notes, 1 tracks, 1 edits\tpending', 'ben\t50.00 %\t1 notes, 1 tracks, 1 edits\tpending']);
    // Minting before everyone accepted says who it waits for.
    await ana.getByRole('button', { name: 'Mint' }).click();
    await expect.poll(() => ana.getByRole('alert').first().textContent()).toContain('the split is not accepted by all: waiting for ana, ben');
    await ana.getByRole('button', { name: 'Accept my share' }).click();
    await expect.poll(() => ana.getByTestId('answer-ana').textContent()).toBe('accepted');
    expect(await accessibilityViolations(ana)).toEqual([]);
    await fits(ana, 'nft-mint');

    const ben = await open('ben', `#/nft/${S}`);
    await ben.getByRole('button', { name: 'Accept my share' }).click();
    await expect.poll(() => ben.getByTestId('drop-state').first().textContent()).toBe('everyone accepted');
    await ben.getByRole('button', { name: 'Mint' }).click();
    await expect.poll(() => ben.getByTestId('drop-state').first().textContent(), { timeout: 60_000 }).toMatch(/^minted as token \d+$/);
    for (const page of [ana, ben]) {
      const token = await sessionToken(page);
      expect(await page.locator('body').innerText()).not.toContain(token);
    }
    await ben.context().close();
    await ana.context().close();
  });

  it('shows the wallet, the edition, listing one’s copy and one’s royalties', { timeout: 120_000 }, async () => {
    const ana = await open('ana', '#/nft');
    await expect.poll(() => ana.getByTestId('address').textContent(), { timeout: 20_000 }).toMatch(/^0x[0-9a-fA-F]{40}$/);
    await expect.poll(() => ana.getByTestId('edition').count()).toBe(1);
    await ana.getByRole('button', { name: 'Get test ETH (development)' }).click();
    await expect.poll(() => ana.getByTestId('balance').textContent(), { timeout: 20_000 }).toBe('1 ETH');
    await ana.getByRole('button', { name: 'List my copy at this price' }).click();
    await expect.poll(() => ana.getByRole('status').first().textContent(), { timeout: 30_000 }).toMatch(/^your copy is listed: listing \d+$/);
    await expect.poll(() => ana.getByTestId('statement-line').count()).toBe(1);
    expect(await accessibilityViolations(ana)).toEqual([]);
    await fits(ana, 'nft-ownership');
    const token = await sessionToken(ana);
    expect(await ana.locator('body').innerText()).not.toContain(token);
    expect(consoleText.filter((line) => line.includes(token))).toEqual([]);
    await ana.context().close();
  });

  it('offers a 1/1 record with stems, and listing in the test currency', { timeout: 180_000 }, async () => {
    const ana = await open('ana', `#/nft/${S}`);
    await ana.getByLabel('Mint as').selectOption('record');
    expect(await ana.getByLabel('Copies (0: an open edition)').isDisabled()).toBe(true);
    await ana.getByLabel('Each track as an edition of its own (stems)').check();
    await ana.getByRole('button', { name: 'Bounce and propose a drop' }).click();
    await expect.poll(() => ana.getByTestId('drop-kind').first().textContent(), { timeout: 60_000 }).toMatch(/^a 1\/1 record · royalty 10\.00 % · waiting for ana, ben$/);
    expect(await ana.getByTestId('drop-stems').first().textContent()).toBe('with stems: each track becomes an edition at the mint');
    expect(await accessibilityViolations(ana)).toEqual([]);
    await go(ana, '#/nft');
    await expect.poll(() => ana.getByLabel('List in').locator('option').allTextContents(), { timeout: 30_000 }).toEqual(['ETH', 'VTT']);
    expect(await accessibilityViolations(ana)).toEqual([]);
    await ana.context().close();
  });
});
