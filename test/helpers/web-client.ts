// The built web client for browser tests: a fresh build in a temporary directory, pages signed in
// through its dev-mode sign-in form, the sign-in they keep, and axe-core's accessibility checks.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';
import type { StudioDoc } from '../../src/studio/model.js';

/** Where the pages' screenshots go (kept by CI with the test results). */
export const SHOTS = path.join(process.cwd(), 'test-results', 'screenshots');

/** What the page exposes as `window.veza` (web/src/main.ts). */
export interface PageWindow {
  veza: {
    studio?: { studio: StudioDoc; player: { played: number; clicks: number } };
    replay?: { studio(): StudioDoc } | null;
    dj?: { state(): { role: string | null; liveCamera: string | null; cameras: string[]; framesShown: number; hlsUrl: string | null } } | null;
  };
}

/** Builds the client into a temporary directory (the server serves it with `--web-dir`). */
export async function buildWebClient(): Promise<{ dir: string; remove: () => void }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'veza-web-'));
  const { build } = await import('vite');
  await build({ configFile: path.join(process.cwd(), 'web', 'vite.config.ts'), build: { outDir: dir, emptyOutDir: true, sourcemap: false }, logLevel: 'warn' });
  mkdirSync(SHOTS, { recursive: true });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A signed token (JWT) anywhere in a line of text. */
const JWT = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]+/;
const leaks: string[] = [];

/**
 * The console lines of every page `signedIn` opened (in this test file) that held a sign-in: the
 * page's own token, or any signed token. A browser test file expects none once its pages are closed.
 */
export function tokenLeaks(): string[] {
  return [...leaks];
}

/** A new page of a dev-mode server, signed in as `user` with `role`, then sent to `hash`. */
export async function signedIn(browser: Browser, serverUrl: string, user: string, hash = '#/', role = 'owner'): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  page.on('pageerror', (error) => console.warn(`[${user}] page error: ${error.message}`));
  let token: string | null = null;
  page.on('console', (message) => {
    const text = message.text();
    if (JWT.test(text) || (token && text.includes(token))) leaks.push(`[${user}] ${message.type()}: ${(token ? text.split(token).join('<token>') : text).replace(JWT, '<token>')}`);
  });
  await page.goto(`${serverUrl}/`);
  await page.getByLabel('user name').fill(user);
  await page.getByLabel('role').selectOption(role);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('[data-testid=sessions]');
  token = await sessionToken(page);
  await page.evaluate((h) => ((globalThis as unknown as { location: { hash: string } }).location.hash = h), hash);
  return page;
}

/** axe-core's rules for WCAG 2 A and AA, run in the page: each violation as rule, help, count and first element. */
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
export async function accessibilityViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const results = (await page.evaluate(() =>
    (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<unknown> }; document: unknown }).axe.run((globalThis as unknown as { document: unknown }).document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }),
  )) as { violations: { id: string; help: string; nodes: { target: string[] }[] }[] };
  return results.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.length}; first ${v.nodes[0]?.target.join(' ')})`);
}

/** The sign-in the page keeps in localStorage. */
export async function sessionToken(page: Page): Promise<string> {
  const { token } = (await page.evaluate(() => JSON.parse((globalThis as unknown as { localStorage: { getItem(key: string): string | null } }).localStorage.getItem('veza.session') ?? '{}'))) as { token: string };
  expect(token.length).toBeGreaterThan(20);
  return token;
}
