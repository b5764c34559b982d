// The creator insights screen (#/insights) in Chromium, against a dev-mode server whose catalogue
// and listening history go in through its own APIs (the history import and the events bus): the
// page shows what the API answers, its live panel moves when a play arrives, a creator without
// tracks gets a sentence, another creator's insights stay closed, and the screen passes axe-core
// and fits from 1024 px.
import path from 'node:path';
import type { Browser, Page, WebSocket as PageSocket } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import { chromiumPath, launchChromium } from '../helpers/browser.js';
import { freePort } from '../helpers/ports.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { accessibilityViolations, buildWebClient, sessionToken, SHOTS, signedIn, tokenLeaks } from '../helpers/web-client.js';

const browserPath = chromiumPath();
const DAY_MS = 86_400_000;
const DURATION_MS = 200_000;
// iris-4 is in the catalogue but nobody has played it.
const TITLES: Record<string, string> = { 'iris-1': 'Morning Light', 'iris-2': 'Glass City', 'iris-3': 'Paper Boats', 'iris-4': 'Quiet Harbour', 'otto-1': 'Low Orbit' };

/** A JSON answer read loosely: the assertions say what shape they expect. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- deep JSON bodies, checked by the assertions
type Body = any;

/**
 * Iris's audience over 100 days, in four groups of listeners, so that the churn model has people
 * who left and people who stayed in both its training and its test window: A listens throughout,
 * B stops 60 days ago, C listens from 70 to 32 days ago, D arrived in the last 20 days and likes,
 * shares, buys and follows. Plays end in five ways: complete, left at 40 %, skipped, arrived by
 * seeking, and complete then partly replayed.
 */
function history(now: number): VezaEvent[] {
  const events: VezaEvent[] = [];
  const add = <T extends 'track.played' | 'track.liked' | 'track.shared' | 'track.purchased' | 'user.followed'>(type: T, actor: string, at: number, payload: object) =>
    events.push(createEvent(type, { tenantId: 'default', actor, at: new Date(at), payload } as never) as VezaEvent);
  const groups = [
    { name: 'a', people: 10, from: -100, to: -1, every: 4 },
    { name: 'b', people: 10, from: -100, to: -60, every: 4 },
    { name: 'c', people: 10, from: -70, to: -32, every: 4 },
    { name: 'd', people: 8, from: -20, to: -1, every: 3 },
  ];
  for (const g of groups) {
    for (let i = 0; i < g.people; i++) {
      const fan = `fan-${g.name}${i}`;
      let first = true;
      for (let day = g.from + (i % g.every); day <= g.to; day += g.every) {
        const at = now + day * DAY_MS - 3_600_000 * (1 + (i % 5));
        const track = `iris-${1 + ((i + day + 300) % 3)}`;
        const play = (startMs: number, endMs: number, offset = 0) => add('track.played', fan, at + offset, { trackId: track, startMs, endMs, durationMs: DURATION_MS });
        const way = (i + day + 500) % 5;
        if (way === 0) play(0, DURATION_MS);
        else if (way === 1) play(0, 0.4 * DURATION_MS);
        else if (way === 2) play(0, 10_000);
        else if (way === 3) play(60_000, DURATION_MS);
        else {
          play(0, DURATION_MS);
          play(100_000, 160_000, DURATION_MS + 5_000);
        }
        if (g.name === 'd' && first) {
          // The funnel, in order: 4 like, 2 of them share, 1 buys; 5 follow.
          if (i < 4) add('track.liked', fan, at + 60_000, { trackId: track });
          if (i < 2) add('track.shared', fan, at + 120_000, { trackId: track });
          if (i < 1) add('track.purchased', fan, at + 180_000, { trackId: track, amount: 199, currency: 'EUR' });
          if (i < 5) add('user.followed', fan, at + 240_000, { userId: 'iris' });
        }
        first = false;
      }
    }
  }
  for (let i = 0; i < 3; i++) add('track.played', `otto-fan-${i}`, now - (i + 1) * DAY_MS, { trackId: 'otto-1', startMs: 0, endMs: DURATION_MS, durationMs: DURATION_MS });
  return events;
}

describe.skipIf(!browserPath)('the creator insights screen in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let web: Awaited<ReturnType<typeof buildWebClient>>;
  const signIn = (user: string, hash = '#/') => signedIn(browser, server.url, user, hash);
  const get = async (path: string, token: string) => {
    const response = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, body: (await response.json()) as Body };
  };
  const go = (page: Page, hash: string) => page.evaluate((h) => ((globalThis as unknown as { location: { hash: string } }).location.hash = h), hash);
  const percent = (x: number | null) => (x === null ? '–' : `${Math.round(x * 100)} %`);
  /** Numbers as the page writes them (its locale's grouping). */
  const shown = (page: Page, n: number) => page.evaluate((x) => x.toLocaleString(), n);

  beforeAll(async () => {
    web = await buildWebClient();
    server = await startTestServer({ dev: 'true', 'web-dir': web.dir, 'example-sessions': 'false', 'rate-limit-connections-per-minute': '0', 'rate-limit-requests-per-minute': '0', 'recs-train-interval-s': '0' });
    browser = await launchChromium(browserPath!);

    // The catalogue, through the history import (an administrator's).
    const admin = await server.veza.auth.sign({ sub: 'ops', admin: true });
    const items = Object.entries(TITLES).map(([itemId, title]) => ({ type: 'item', itemId, kind: 'track', artistId: itemId.split('-')[0], title, tags: [] }));
    const load = await fetch(`${server.url}/api/v1/interactions`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/x-ndjson' }, body: items.map((r) => JSON.stringify(r)).join('\n') });
    expect(load.status).toBe(200);

    // The listening, through the bus as players' reports arrive; then wait until all of it is
    // stored, by questions that do not compute (and cache) the churn model on half the history.
    const now = Date.now();
    const events = history(now);
    for (const event of events) await server.veza.bus.publish(event);
    const fromStart = new Date(now - 110 * DAY_MS).toISOString().slice(0, 10);
    const fromStartPlays = events.filter((e) => e.type === 'track.played' && e.payload.trackId.startsWith('iris') && e.payload.startMs === 0).length;
    const ops = await server.veza.auth.sign({ sub: 'ops', admin: true });
    const expected = JSON.stringify({ listens: fromStartPlays, purchases: 1, follows: 5, otto: 3 });
    let seen = '';
    await waitFor(
      async () => {
        const listens = await Promise.all(['iris-1', 'iris-2', 'iris-3'].map(async (t) => (await get(`/api/v1/insights/heatmap?track_id=${t}&from=${fromStart}`, ops)).body.buckets?.[0]?.listens ?? 0));
        const funnel = (await get(`/api/v1/insights/funnel?creator_id=iris&from=${fromStart}`, ops)).body.all?.map((s: { users: number }) => s.users);
        const follows = (await get(`/api/v1/insights/cohorts?creator_id=iris&kind=followers&from=${fromStart}`, ops)).body.cohorts?.reduce((s: number, c: { users: number }) => s + c.users, 0);
        const otto = (await get(`/api/v1/insights/heatmap?track_id=otto-1&from=${fromStart}`, ops)).body.buckets?.[0]?.listens;
        seen = JSON.stringify({ listens: listens.reduce((s, n) => s + n, 0), purchases: funnel?.[3], follows, otto });
        return seen === expected;
      },
      'the history to be stored',
      60_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}: expected ${expected}, last ${seen}`);
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    web?.remove();
    // No page's console held a sign-in, in any test of this file.
    expect(tokenLeaks()).toEqual([]);
  });

  it('shows the creator what the API answers: overview, advice, heat-map, funnel, cohorts and churn, each chart named and summed up in words', { timeout: 120_000 }, async () => {
    const page = await signIn('iris');
    const consoleText: string[] = [];
    page.on('console', (message) => consoleText.push(message.text()));
    await go(page, '#/insights');
    const token = await sessionToken(page);

    // The overview: the same numbers as the API gives the same creator.
    const overview = (await get('/api/v1/insights?creator_id=iris', token)).body;
    const l = overview.listening;
    expect(l.plays).toBeGreaterThan(50);
    await expect.poll(() => page.getByTestId('stat-plays').textContent(), { timeout: 20_000 }).toBe(await shown(page, l.plays));
    const revenue = await page.evaluate((r) => r.map((x) => new Intl.NumberFormat(undefined, { style: 'currency', currency: x.currency }).format(x.amountMinor / 100)).join(' + '), overview.monetization.revenue as { currency: string; amountMinor: number }[]);
    expect(overview.monetization.revenue).toEqual([{ currency: 'EUR', amountMinor: 199, purchases: 1 }]);
    const stats = async () =>
      Object.fromEntries(await Promise.all(['listeners', 'completion', 'skip', 'revenue', 'collaboration', 'monetization', 'churn'].map(async (k) => [k, await page.getByTestId(`stat-${k}`).textContent()])));
    expect(await stats()).toEqual({
      listeners: await shown(page, l.listeners),
      completion: percent(l.completionRate),
      skip: percent(l.skipRate),
      revenue,
      collaboration: `${overview.collaboration.score}/100`,
      monetization: `${overview.monetization.score}/100`,
      churn: overview.churnRisk.status === 'ok' ? percent(overview.churnRisk.atRiskShare) : '–',
    });
    expect(await page.getByTestId('advice').locator('li').allTextContents()).toEqual(overview.recommendations);
    expect(overview.recommendations.length).toBeGreaterThan(0);
    expect(await page.getByTestId('track-table').locator('tbody tr').evaluateAll((rows) => rows.map((r) => (r as unknown as { dataset: { track: string } }).dataset.track))).toEqual(
      l.tracks.map((t: { trackId: string }) => t.trackId),
    );
    expect(await page.getByTestId('track-table').locator('tbody th').allTextContents()).toEqual(l.tracks.map((t: { trackId: string }) => TITLES[t.trackId]));

    // The funnel: step counts and conversions as the API counts them, for all tracks and for one.
    const steps = async (query: string) => (await get(`/api/v1/insights/funnel?${query}`, token)).body.all as { users: number; conversion: number | null }[];
    const funnelShown = () => page.getByTestId('funnel-steps').locator('li b').allTextContents();
    const all = await steps('creator_id=iris');
    expect(all.map((s) => s.users)).toEqual([8, 4, 2, 1]);
    await expect.poll(funnelShown).toEqual(all.map((s) => String(s.users)));
    expect(await page.getByTestId('funnel-steps').locator('li').nth(1).textContent()).toBe(`4 liked (${percent(all[1]!.conversion)} of those who streamed)`);
    await page.getByTestId('funnel-track').selectOption('iris-2');
    const one = await steps('track_id=iris-2');
    await expect.poll(funnelShown).toEqual(one.map((s) => String(s.users)));
    expect(await page.getByTestId('funnel-summary').textContent()).toContain('Glass City');

    // The pickers offer the whole catalogue, a track nobody played too.
    expect(overview.catalogue.map((t: { trackId: string }) => t.trackId)).toEqual(['iris-1', 'iris-2', 'iris-3', 'iris-4']);
    expect(await page.getByTestId('heatmap-track').locator('option').allTextContents()).toContain('Quiet Harbour');
    await page.getByTestId('heatmap-track').selectOption('iris-4');
    await expect.poll(() => page.getByTestId('heatmap-summary').textContent()).toBe('No listening of Quiet Harbour by all listeners in the last 28 days.');

    // The heat-map of the chosen track.
    await page.getByTestId('heatmap-track').selectOption('iris-2');
    const heat = (await get('/api/v1/insights/heatmap?track_id=iris-2&segment=all', token)).body;
    expect(heat.buckets[0].listens).toBeGreaterThan(0);
    await expect.poll(() => page.getByTestId('heatmap-summary').textContent()).toContain('Glass City');
    expect(await page.getByTestId('heatmap-started').textContent()).toBe(await shown(page, heat.buckets[0].listens));
    const half = heat.buckets[25].retention;
    expect(await page.getByTestId('heatmap-summary').textContent()).toContain(`listening half-way was ${percent(half)} of that`);
    expect(await page.getByTestId('heatmap-summary').textContent()).toContain(`most listeners left at ${heat.keyMoments.biggestDrop * 2} %`.replace(/^m/, 'M'));

    // Cohorts: the matrix's rows are the API's cohorts (listeners, then followers), over the same 8 weeks.
    const to = Math.floor(Date.now() / DAY_MS + 1) * DAY_MS;
    const from = new Date(to - 8 * 7 * DAY_MS).toISOString().slice(0, 10);
    const cohortRows = () => page.getByTestId('cohort-table').locator('tbody tr').evaluateAll((rows) => rows.map((r) => [(r as unknown as { dataset: { week: string } }).dataset.week, r.querySelector('td')!.textContent]));
    for (const kind of ['listeners', 'followers']) {
      if (kind === 'followers') await page.getByTestId('cohort-kind').selectOption('followers');
      const { cohorts } = (await get(`/api/v1/insights/cohorts?creator_id=iris&kind=${kind}&weeks=8&from=${from}`, token)).body;
      expect(cohorts.length, kind).toBeGreaterThan(0);
      await expect.poll(cohortRows).toEqual(cohorts.map((c: { week: string; users: number }) => [c.week, String(c.users)]));
      await expect.poll(() => page.getByTestId('cohort-summary').locator('p').first().textContent()).toMatch(new RegExp(`^${cohorts.reduce((s: number, c: { users: number }) => s + c.users, 0)} ${kind} in ${cohorts.length} weekly cohort`));
    }

    // Churn: the share at risk and the list, or the reason there is none.
    const churn = (await get('/api/v1/insights/churn?creator_id=iris', token)).body;
    if (churn.status === 'ok') {
      await expect.poll(() => page.getByTestId('churn-share').textContent()).toBe(percent(churn.atRiskShare));
      expect(await page.getByTestId('churn').textContent()).toContain(`of your ${churn.activeListeners} listeners active`);
      if (churn.atRisk.length > 0) expect(await page.getByTestId('churn-list').locator('li b').allTextContents()).toEqual(churn.atRisk.slice(0, 10).map((u: { userId: string }) => u.userId));
    } else {
      await expect.poll(() => page.getByTestId('churn-reason').textContent()).toBe(`Why: ${churn.reason}.`);
    }

    // Every chart is a named picture, drawn, with its words beside it.
    for (const id of ['live-chart', 'heatmap-chart', 'funnel-chart', 'cohort-chart']) {
      const chart = page.getByTestId(id);
      expect(await chart.getAttribute('role'), id).toBe('img');
      expect((await chart.getAttribute('aria-label'))!.length, id).toBeGreaterThan(10);
      const described = await chart.getAttribute('aria-describedby');
      expect((await page.locator(`[id="${described}"]`).textContent())!.length, id).toBeGreaterThan(10);
      await expect.poll(() => chart.locator('canvas').count(), { message: id }).toBeGreaterThan(0);
    }

    // The controls are reached with the keyboard.
    await page.getByRole('link', { name: 'Insights' }).focus();
    const reached = new Set<string>();
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press('Tab');
      reached.add(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { getAttribute(n: string): string | null } | null } }).document.activeElement?.getAttribute('data-testid') ?? ''));
    }
    expect([...reached]).toEqual(expect.arrayContaining(['heatmap-track', 'heatmap-segment', 'funnel-track', 'cohort-kind']));

    // No sign-in in the page's text or in anything it logged.
    expect(await page.locator('body').innerText()).not.toContain(token);
    expect(consoleText.filter((line) => line.includes(token))).toEqual([]);
    await page.context().close();
  });

  it('moves live: a play of one of the creator’s tracks raises listeners now and the last minute’s plays, and leaving the screen closes the socket', { timeout: 90_000 }, async () => {
    const page = await signIn('iris');
    const consoleText: string[] = [];
    page.on('console', (message) => consoleText.push(message.text()));
    const sockets: PageSocket[] = [];
    page.on('websocket', (socket) => void (socket.url().includes('/insights/live/') && sockets.push(socket)));
    await go(page, '#/insights');
    await expect.poll(() => page.getByTestId('live-status').textContent(), { timeout: 20_000 }).toBe('live');
    await expect.poll(() => page.getByTestId('live-listeners').textContent()).toMatch(/^\d+$/);
    const number = async (id: string) => Number(await page.getByTestId(id).textContent());
    const listeners = await number('live-listeners');
    const hour = await number('live-last-hour');
    const charted = async () => (await page.evaluate(() => (globalThis as unknown as { veza: { insights: { live(): { perMinute: number[] } } } }).veza.insights.live().perMinute)).reduce((s, n) => s + n, 0);
    expect(await charted()).toBe(hour);

    // Someone new plays Morning Light, as a player reports it.
    const fan = await server.veza.auth.sign({ sub: 'live-fan' });
    const report = await fetch(`${server.url}/api/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fan}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'track.played', payload: { trackId: 'iris-1', startMs: 0, endMs: 30_000, durationMs: DURATION_MS } }),
    });
    expect(report.status).toBe(202);
    await expect.poll(() => number('live-listeners'), { timeout: 20_000 }).toBe(listeners + 1);
    await expect.poll(() => number('live-last-hour')).toBe(hour + 1);
    // The play counts in the minute it arrived: the current one, or the one before when the minute
    // turned between the play and this read; the screen shows the current minute's count.
    const perMinute = await page.evaluate(() => (globalThis as unknown as { veza: { insights: { live(): { perMinute: number[] } } } }).veza.insights.live().perMinute);
    expect(perMinute.slice(-2).reduce((sum, n) => sum + n, 0)).toBeGreaterThanOrEqual(1);
    expect(await number('live-last-minute')).toBe(perMinute.at(-1));
    expect(await charted()).toBe(hour + 1);
    expect(sockets.map((s) => s.url())).toEqual([`${server.url.replace('http', 'ws')}/insights/live/iris`]);

    // Leaving the screen closes its socket.
    await go(page, '#/progress');
    await expect.poll(() => sockets.every((s) => s.isClosed())).toBe(true);
    const token = await sessionToken(page);
    expect(consoleText.filter((line) => line.includes(token))).toEqual([]);
    await page.context().close();
  });

  it('says when the live numbers lose the server, and follows again once it is back', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const data = tempDir('insights-offline');
    const flags = { dev: 'true', 'web-dir': web.dir, port: String(port), 'data-dir': data.dir, 'example-sessions': 'false', 'rate-limit-connections-per-minute': '0' };
    let own = await startTestServer(flags);
    try {
      const admin = await own.veza.auth.sign({ sub: 'ops', admin: true });
      const item = { type: 'item', itemId: 'mae-1', kind: 'track', artistId: 'mae', title: 'Tin Roof', tags: [] };
      expect((await fetch(`${own.url}/api/v1/interactions`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/x-ndjson' }, body: JSON.stringify(item) })).status).toBe(200);
      const page = await signedIn(browser, own.url, 'mae', '#/insights');
      await expect.poll(() => page.getByTestId('live-status').textContent(), { timeout: 20_000 }).toBe('live');
      expect(await page.getByTestId('connection').isHidden()).toBe(true);

      const consoleText: string[] = [];
      page.on('console', (message) => consoleText.push(message.text()));
      await own.stop();
      await expect.poll(() => page.getByTestId('live-status').textContent(), { timeout: 15_000 }).toBe('reconnecting…');
      expect(await page.getByTestId('connection').textContent()).toBe('Not connected to the server: the live numbers carry on when it is back.');

      own = await startTestServer(flags);
      await expect.poll(() => page.getByTestId('live-status').textContent(), { timeout: 20_000 }).toBe('live');
      await expect.poll(() => page.getByTestId('connection').isHidden()).toBe(true);
      // Following again: a play moves the numbers.
      const fan = await own.veza.auth.sign({ sub: 'mae-fan' });
      const play = { type: 'track.played', payload: { trackId: 'mae-1', startMs: 0, endMs: DURATION_MS, durationMs: DURATION_MS } };
      expect((await fetch(`${own.url}/api/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${fan}`, 'content-type': 'application/json' }, body: JSON.stringify(play) })).status).toBe(202);
      await expect.poll(() => page.getByTestId('live-listeners').textContent(), { timeout: 20_000 }).toBe('1');
      // The failed attempts to reach the server were logged, never with the sign-in.
      const token = await sessionToken(page);
      expect(consoleText.length).toBeGreaterThan(0);
      expect(consoleText.filter((line) => line.includes(token))).toEqual([]);
      await page.context().close();
    } finally {
      await own.stop();
      data.remove();
    }
  });

  it('a creator without tracks reads a sentence, not an error', { timeout: 60_000 }, async () => {
    const page = await signIn('newcomer', '#/insights');
    await expect.poll(() => page.getByTestId('insights-empty').textContent(), { timeout: 20_000 }).toContain('None of your tracks are in the catalogue yet.');
    const token = await sessionToken(page);
    expect((await get('/api/v1/insights?creator_id=newcomer', token)).status).toBe(404);
    const text = await page.locator('main').innerText();
    for (const raw of ['{', 'HTTP', 'unknown creator', 'Error', token]) expect(text, raw).not.toContain(raw);
    expect(text).not.toMatch(/\bat \S+:\d+|\.(ts|js):\d+/); // no stack trace
    expect(await page.getByRole('alert').allTextContents()).toEqual(['']);
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.context().close();
  });

  it('another creator’s insights are refused: the API answers 403, the live socket is refused, and the page shows only one’s own', { timeout: 60_000 }, async () => {
    const page = await signIn('otto', '#/insights');
    const token = await sessionToken(page);
    for (const path of ['/api/v1/insights?creator_id=iris', '/api/v1/insights/funnel?creator_id=iris', '/api/v1/insights/heatmap?track_id=iris-1', '/api/v1/insights/cohorts?creator_id=iris', '/api/v1/insights/churn?creator_id=iris']) {
      const { status, body } = await get(path, token);
      expect(status, path).toBe(403);
      expect(body.detail, path).toContain('only iris');
    }
    const refused = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/insights/live/iris`, ['veza', `bearer.${token}`]);
      ws.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      ws.on('open', () => reject(new Error('the live socket of another creator opened')));
      ws.on('error', () => undefined);
    });
    expect(refused).toBe(403);
    // Otto's own screen: his track, none of Iris's.
    await expect.poll(() => page.getByTestId('track-table').locator('tbody th').allTextContents(), { timeout: 20_000 }).toEqual(['Low Orbit']);
    await expect.poll(() => page.getByTestId('live-status').textContent()).toBe('live');
    const text = await page.locator('main').innerText();
    for (const theirs of ['iris', 'Morning Light', 'Glass City', 'Paper Boats', 'fan-']) expect(text, theirs).not.toContain(theirs);
    await page.context().close();
  });

  it('passes axe-core’s WCAG 2.1 A and AA checks, fits from 1024 px without sideways scrolling, and its charts follow the window’s width', { timeout: 90_000 }, async () => {
    const page = await signIn('iris', '#/insights');
    await expect.poll(() => page.getByTestId('live-status').textContent(), { timeout: 20_000 }).toBe('live');
    await expect.poll(() => page.getByTestId('cohort-table').count()).toBe(1);
    await page.getByTestId('cohort-summary').locator('summary').click();
    await page.getByTestId('churn').locator('p').first().waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);

    const chartWidth = () => page.getByTestId('heatmap-chart').evaluate((el) => ({ box: (el as unknown as { clientWidth: number }).clientWidth, canvas: (el.querySelector('canvas') as unknown as { clientWidth: number }).clientWidth }));
    const widths: number[] = [];
    for (const width of [1024, 1440]) {
      await page.setViewportSize({ width, height: 900 });
      await expect.poll(async () => { const w = await chartWidth(); return w.canvas === w.box; }).toBe(true);
      widths.push((await chartWidth()).canvas);
      const { scroll, inner } = await page.evaluate(() => {
        const d = globalThis as unknown as { document: { documentElement: { scrollWidth: number } }; innerWidth: number };
        return { scroll: d.document.documentElement.scrollWidth, inner: d.innerWidth };
      });
      expect(scroll, `${width} px`).toBeLessThanOrEqual(inner);
      await page.screenshot({ path: path.join(SHOTS, `insights-${width}.png`), fullPage: true });
    }
    expect(widths[1]).toBeGreaterThan(widths[0]!);
    await page.context().close();
  });
});
