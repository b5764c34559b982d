// The web client wears the theme of the tenant whose domain it is opened on: colours as CSS custom
// properties, the title, the brand and logo of the top bar, and the DJ room's heading; on the
// platform's own host it keeps its own look.
import type { Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium } from '../helpers/browser.js';
import { call, startTokenServer, tenantOnDomain } from '../helpers/domains.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { buildWebClient } from '../helpers/web-client.js';

const browserPath = chromiumPath();

/** The little of the page's DOM these checks read (the tests compile without the DOM's types). */
interface Dom {
  document: { title: string; documentElement: object; body: object; querySelector(selector: string): { textContent: string | null; getAttribute(name: string): string | null } | null };
  getComputedStyle(element: object): { getPropertyValue(name: string): string; backgroundColor: string };
  localStorage: { setItem(key: string, value: string): void };
}
const LOGO = `data:image/svg+xml;base64,${Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="#b58900"/></svg>').toString('base64')}`;

describe.skipIf(!browserPath)('branding in the web client', () => {
  let server: TestServer;
  let browser: Browser;
  let web: Awaited<ReturnType<typeof buildWebClient>>;
  let tokens: { server: Server; port: number };
  const served = new Map<string, string>();

  beforeAll(async () => {
    web = await buildWebClient();
    tokens = await startTokenServer(served);
    server = await startTestServer({ dev: 'true', 'web-dir': web.dir, 'domain-verify-port': String(tokens.port), 'domain-verify-private': 'true' });
    const admin = await tenantOnDomain(server, served, 'label-a', 'label-a.localhost');
    const theme = {
      name: 'Label A Records',
      logo: LOGO,
      colours: { background: '#fdf6e3', surface: '#eee8d5', text: '#073642', muted: '#586e75', accent: '#b58900', accentText: '#000000' },
      fonts: { body: 'Georgia, serif', heading: 'Georgia, serif' },
    };
    expect((await call(server.url, 'PUT', '/api/v1/branding', { token: admin, body: theme })).status).toBe(200);
    browser = await launchChromium(browserPath!);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await new Promise((resolve) => tokens?.server.close(resolve));
    web?.remove();
  });

  const open = async (origin: string, hash = '#/', token?: string): Promise<Page> => {
    const page = await (await browser.newContext()).newPage();
    if (token) await page.addInitScript((session) => (globalThis as unknown as Dom).localStorage.setItem('veza.session', session), JSON.stringify({ token, userId: 'ann' }));
    await page.goto(`${origin}/${hash}`);
    return page;
  };
  const look = (page: Page) =>
    page.evaluate(() => {
      const dom = globalThis as unknown as Dom;
      return {
        title: dom.document.title,
        bg: dom.getComputedStyle(dom.document.documentElement).getPropertyValue('--bg').trim(),
        body: dom.getComputedStyle(dom.document.body).backgroundColor,
        brand: dom.document.querySelector('.brand')?.textContent,
        logo: dom.document.querySelector('.brand img')?.getAttribute('src') ?? null,
      };
    });

  it('applies the tenant theme on its domain and keeps the platform look elsewhere', { timeout: 120_000 }, async () => {
    const origin = `http://label-a.localhost:${server.veza.port}`;
    const platform = await open(server.url);
    await expect.poll(() => platform.getByRole('button', { name: 'Sign in' }).count(), { timeout: 30_000 }).toBe(1);
    expect(await look(platform)).toEqual({ title: 'Veza Studio', bg: '#111316', body: 'rgb(17, 19, 22)', brand: 'Veza', logo: null });

    const branded = await open(origin);
    await expect.poll(() => branded.title(), { timeout: 30_000 }).toBe('Label A Records');
    expect(await look(branded)).toEqual({ title: 'Label A Records', bg: '#fdf6e3', body: 'rgb(253, 246, 227)', brand: 'Label A Records', logo: LOGO });

    // The live room's page names the label too.
    const token = await server.veza.auth.sign({ sub: 'ann', tenant: 'label-a', docs: { '*': 'owner' } });
    const dj = await open(origin, '#/dj/night', token);
    await expect.poll(() => dj.getByRole('heading', { level: 2 }).first().textContent(), { timeout: 30_000 }).toBe('Label A Records · DJ room: night');
  });
});
