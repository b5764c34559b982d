import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium } from '../helpers/browser.js';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import { freePort } from '../helpers/ports.js';
import { spawnServer } from '../helpers/process.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/services.js';
import { accessibilityViolations, buildWebClient, sessionToken, SHOTS, signedIn as signIn, type PageWindow, tokenLeaks } from '../helpers/web-client.js';

const browserPath = chromiumPath();
const MIDI_DIR = '/usr/share/games/openttd/baseset/openmsx';

/** The session's notes as the page's own document holds them: trackId → clip notes (pitch, start). */
type Seen = Record<string, { pitch: number; start: number }[]>;
const notesIn = (page: Page) =>
  page.evaluate(() => {
    const studio = (globalThis as unknown as PageWindow).veza.studio!.studio;
    const out: Record<string, { pitch: number; start: number }[]> = {};
    for (const track of studio.tracks()) out[track.id] = studio.clips(track.id).flatMap((clip) => studio.notes(track.id, clip.id).map((n) => ({ pitch: n.pitch, start: n.start })));
    return out;
  }) as Promise<Seen>;

describe.skipIf(!browserPath)('the web client in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let web: Awaited<ReturnType<typeof buildWebClient>>;

  beforeAll(async () => {
    // Build the client fresh into a temporary directory, and serve it from a dev-mode server.
    web = await buildWebClient();
    server = await startTestServer({ dev: 'true', 'web-dir': web.dir, 'rate-limit-connections-per-minute': '0', 'collab-flush-ms': '5' });
    browser = await launchChromium(browserPath!);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    web?.remove();
    // No page's console held a sign-in, in any test of this file.
    expect(tokenLeaks()).toEqual([]);
  });

  const signedIn = (user: string, hash = '#/', role = 'owner') => signIn(browser, server.url, user, hash, role);

  it('serves the built client with its own content security policy, and signs in only in dev mode', async () => {
    const index = await fetch(`${server.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toContain("connect-src 'self' ws: wss:");
    const asset = readdirSync(path.join(web.dir, 'assets')).find((f) => f.endsWith('.js'))!;
    const script = await fetch(`${server.url}/assets/${asset}`);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect(script.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${server.url}/assets/..%2F..%2Fpackage.json`)).status).toBe(404);
    for (const icon of ['/favicon.svg', '/favicon.ico']) {
      const answer = await fetch(`${server.url}${icon}`);
      expect(answer.status, icon).toBe(200);
      expect(answer.headers.get('content-type'), icon).toBe('image/svg+xml');
      expect(await answer.text(), icon).toContain('<svg');
    }
    const token = await fetch(`${server.url}/api/v1/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'x y' }) });
    expect(token.status).toBe(400);

    const production = await startTestServer({ 'web-dir': web.dir });
    try {
      const refused = await fetch(`${production.url}/api/v1/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'mallory' }) });
      expect(refused.status).toBe(404);
    } finally {
      await production.stop();
    }
    const unbuilt = await startTestServer({ 'web-dir': path.join(web.dir, 'missing') });
    try {
      const answer = await fetch(`${unbuilt.url}/`);
      expect(answer.status).toBe(404);
      expect(((await answer.json()) as { detail: string }).detail).toContain('npm run build:web');
    } finally {
      await unbuilt.stop();
    }
  }, 60_000);

  it('the first screen of a newcomer lists the example sessions, and one replays with its notes arriving', { timeout: 90_000 }, async () => {
    const page = await signedIn('newcomer');
    const list = page.getByTestId('sessions');
    await list.getByRole('link', { name: 'example-city-blues' }).waitFor();
    await expect(list.innerText()).resolves.toContain('example-chemistry-lab');
    await list.getByRole('listitem').filter({ hasText: 'example-city-blues' }).getByRole('link', { name: 'replay' }).click();
    await page.getByTestId('replay-play').waitFor();
    await expect(page.locator('.replay').innerText()).resolves.toMatch(/76 edits by ann, ben, cleo/);
    // Paused on open, at the first edit; played at 16×, the first bars arrive as they were entered
    // and the clock follows.
    const clock = () => page.getByTestId('replay-at').textContent();
    const opened = await clock();
    await page.waitForTimeout(600);
    expect(await clock()).toBe(opened);
    expect(await page.getByTestId('replay-play').textContent()).toBe('Play');
    await page.getByTestId('speed').selectOption('16');
    await page.getByTestId('replay-play').click();
    await page.getByRole('button', { name: 'Pause' }).waitFor();
    await expect.poll(clock, { timeout: 10_000 }).not.toBe(opened);
    await page.waitForFunction(() => {
      const studio = (globalThis as unknown as PageWindow).veza.replay?.studio();
      return !!studio && studio.tracks().some((t) => studio.clips(t.id).some((c) => studio.notes(t.id, c.id).length > 0));
    }, undefined, { timeout: 60_000 });
    await page.screenshot({ path: path.join(SHOTS, 'example-replay.png') });
    await page.context().close();
  });

  it('undo and redo take back one’s own changes only, by button and by shortcut', { timeout: 90_000 }, async () => {
    const session = `undo-${Date.now()}`;
    const ann = await signedIn('ann', `#/studio/${session}`);
    const ben = await signedIn('ben', `#/studio/${session}`, 'editor');
    await expect.poll(() => ann.getByTestId('role').textContent()).toBe('owner');
    await expect.poll(() => ben.getByTestId('role').textContent()).toBe('editor');
    await expect.poll(() => ann.getByTestId('undo').isDisabled()).toBe(true);
    await ann.getByTestId('add-track').click();
    await expect.poll(async () => ben.locator('[data-track]').count()).toBe(1);
    // A pause between gestures: changes within 0.4 s of each other are one step.
    await ann.waitForTimeout(600);
    const click = async (page: Page, beat: number, pitch: number) => {
      const box = (await page.getByTestId('piano-roll').boundingBox())!;
      await page.mouse.click(box.x + beat * 48 + 10, box.y + (107 - pitch) * 12 + 6);
    };
    await click(ann, 0, 60);
    await expect.poll(async () => Object.values(await notesIn(ben)).flat().length).toBe(1);
    await click(ben, 4, 67);
    await expect.poll(async () => Object.values(await notesIn(ann)).flat().length).toBe(2);

    // Ann's Ctrl+Z takes back her note, not Ben's, on both screens.
    await ann.getByTestId('piano-roll').click({ position: { x: 5, y: 5 }, button: 'right' });
    await ann.keyboard.press('Control+z');
    const pitches = async (page: Page) => Object.values(await notesIn(page)).flat().map((n) => n.pitch).sort();
    await expect.poll(() => pitches(ben)).toEqual([67]);
    await expect.poll(() => pitches(ann)).toEqual([67]);
    // Redo (Ctrl+Shift+Z) brings it back; Ben's Undo button takes back only his.
    await ann.keyboard.press('Control+Shift+z');
    await expect.poll(() => pitches(ben)).toEqual([60, 67]);
    await ben.getByTestId('undo').click();
    await expect.poll(() => pitches(ann)).toEqual([60]);
    await expect.poll(() => ben.getByTestId('redo').isDisabled()).toBe(false);
    await ben.keyboard.press('Control+y');
    await expect.poll(() => pitches(ann)).toEqual([60, 67]);
    await ann.screenshot({ path: path.join(SHOTS, 'studio-undo.png') });
    await ann.context().close();
    await ben.context().close();
  });

  it('two editors and a viewer: the viewer sees everything, changes nothing, and is told so', { timeout: 90_000 }, async () => {
    const session = `viewer-${Date.now()}`;
    const ann = await signedIn('ann', `#/studio/${session}`);
    await ann.getByTestId('add-track').click();
    const box = (await ann.getByTestId('piano-roll').boundingBox())!;
    await ann.mouse.click(box.x + 10, box.y + (107 - 62) * 12 + 6);
    await ann.getByLabel('chat message').fill('welcome');
    await ann.getByLabel('chat message').press('Enter');
    // A second editor adds a track of their own with a note on it.
    const ben = await signedIn('ben', `#/studio/${session}`, 'editor');
    await expect.poll(async () => Object.values(await notesIn(ben)).flat().length).toBe(1);
    await ben.getByTestId('add-track').click();
    await expect.poll(async () => Object.keys(await notesIn(ben)).length).toBe(2);
    const bbox = (await ben.getByTestId('piano-roll').boundingBox())!;
    await ben.mouse.click(bbox.x + 100, bbox.y + (107 - 67) * 12 + 6);
    await expect.poll(async () => Object.values(await notesIn(ann)).flat().length).toBe(2);
    const vic = await signedIn('vic', `#/studio/${session}`, 'viewer');
    await expect.poll(() => vic.getByTestId('role').textContent()).toBe('viewer: read only');
    await expect.poll(async () => Object.values(await notesIn(vic)).map((notes) => notes.length).sort()).toEqual([1, 1]);
    expect(await notesIn(vic)).toEqual(await notesIn(ann));
    await expect.poll(() => vic.getByTestId('chat').textContent()).toContain('welcome');
    for (const control of [vic.getByTestId('add-track'), vic.getByTestId('play'), vic.getByTestId('to-start'), vic.getByTestId('loop'), vic.getByLabel('loop from bar'), vic.getByLabel('tempo'), vic.getByLabel('chat message'), vic.getByTestId('undo'), vic.locator('.track-name').first(), vic.locator('.track-name').last()]) {
      expect(await control.isDisabled()).toBe(true);
    }
    expect(await vic.getByLabel('chat message').getAttribute('placeholder')).toBe('viewers cannot post in the chat');
    // Clicks and keys on the roll change nothing, here or for anyone.
    const vbox = (await vic.getByTestId('piano-roll').boundingBox())!;
    await vic.mouse.click(vbox.x + 200, vbox.y + (107 - 70) * 12 + 6);
    await vic.locator('.note').first().click({ force: true });
    await vic.keyboard.press('Delete');
    await vic.waitForTimeout(500);
    expect(Object.values(await notesIn(vic)).flat().length).toBe(2);
    expect(Object.values(await notesIn(ann)).flat().length).toBe(2);
    expect(await notesIn(ben)).toEqual(await notesIn(ann));
    // Nor do the transport's keys.
    await vic.locator('h2').click();
    await vic.keyboard.press('Space');
    await vic.keyboard.press('l');
    await vic.waitForTimeout(300);
    expect(await ann.evaluate(() => (globalThis as unknown as PageWindow).veza.studio!.studio.transport())).toMatchObject({ playing: false, looping: false });
    await vic.screenshot({ path: path.join(SHOTS, 'studio-viewer.png') });
    await vic.context().close();
    await ben.context().close();
    await ann.context().close();
  });

  it('the transport: Space plays and stops for everyone, the loop repeats its bars, Home returns to the start, the ruler moves the playhead, the metronome clicks', { timeout: 90_000 }, async () => {
    const session = `transport-${Date.now()}`;
    const ann = await signedIn('ann', `#/studio/${session}`);
    const bob = await signedIn('bob', `#/studio/${session}`);
    await expect.poll(() => ann.getByTestId('status').textContent()).toBe('connected');
    await expect.poll(() => bob.getByTestId('status').textContent()).toBe('connected');
    const beat = (page: Page) => page.getByTestId('beat').textContent();
    // A tempo outside 20–300 is refused with a sentence; 300 is taken.
    await ann.getByLabel('tempo').fill('999');
    await ann.getByLabel('tempo').press('Enter');
    await expect.poll(() => ann.getByRole('alert').textContent()).toBe('the tempo goes from 20 to 300 BPM');
    await ann.getByLabel('tempo').fill('300');
    await ann.getByLabel('tempo').press('Enter');
    await expect.poll(() => bob.getByLabel('tempo').inputValue()).toBe('300');
    // Loop bar 1 (four beats, 0.8 s at 300 BPM), turned on with L: bob's page shows it too.
    await ann.getByLabel('loop from bar').fill('1');
    await ann.getByLabel('loop to the end of bar').fill('1');
    await ann.getByLabel('loop to the end of bar').press('Enter');
    await ann.locator('h2').click();
    await ann.keyboard.press('l');
    await expect.poll(() => bob.getByTestId('loop').getAttribute('aria-pressed')).toBe('true');
    await expect.poll(() => bob.getByTestId('ruler-loop').getAttribute('class')).toBe('ruler-loop on');
    await ann.keyboard.press('m');
    expect(await ann.getByTestId('metronome').getAttribute('aria-pressed')).toBe('true');
    // Space plays, for both; for 2.5 s (three bars' time) bob's page stays in bar 1 and comes round again.
    await ann.keyboard.press('Space');
    await expect.poll(() => bob.getByTestId('play').textContent()).toBe('Stop');
    const seen: string[] = [];
    for (let i = 0; i < 25; i++) {
      seen.push((await beat(bob)) ?? '');
      await bob.waitForTimeout(100);
    }
    expect(seen.every((b) => b.startsWith('1.'))).toBe(true);
    const wrapped = seen.findIndex((b, i) => i > 0 && b < seen[i - 1]!);
    expect(wrapped).toBeGreaterThan(0);
    await expect.poll(() => ann.evaluate(() => (globalThis as unknown as PageWindow).veza.studio!.player.clicks)).toBeGreaterThan(4);
    expect(await bob.evaluate(() => (globalThis as unknown as PageWindow).veza.studio!.player.clicks)).toBe(0);
    await ann.screenshot({ path: path.join(SHOTS, 'studio-transport.png') });
    // Space stops; Home goes back to the start; a click on the ruler at bar 3 moves the playhead there.
    await ann.keyboard.press('Space');
    await expect.poll(() => bob.getByTestId('play').textContent()).toBe('Play');
    await ann.keyboard.press('Home');
    await expect.poll(() => beat(bob)).toBe('1.1');
    expect(await ann.locator('.ruler-bar').allTextContents()).toEqual(expect.arrayContaining(['1', '2', '3', '8']));
    const ruler = (await ann.getByTestId('ruler').boundingBox())!;
    const grid = (await ann.getByTestId('piano-roll').boundingBox())!;
    await ann.mouse.click(grid.x + 8 * 48 + 2, ruler.y + ruler.height / 2);
    await expect.poll(() => beat(bob)).toBe('3.1');
    // A loop that ends before it starts is refused, and the bars shown go back to the loop's.
    await ann.getByLabel('loop to the end of bar').fill('0');
    await ann.getByLabel('loop to the end of bar').press('Enter');
    await expect.poll(() => ann.getByRole('alert').textContent()).toBe('the loop runs from a bar to the same bar or a later one');
    await ann.locator('h2').click();
    await expect.poll(() => ann.getByLabel('loop to the end of bar').inputValue()).toBe('1');
    await ann.context().close();
    await bob.context().close();
  });

  it('the piano roll: shift-click and box selection, a group dragged together, the velocity field and lane, copy and paste, quantise and arrow keys, an instrument, a track deleted and undone, and who works on which track', { timeout: 90_000 }, async () => {
    const session = `roll-${Date.now()}`;
    const ann = await signedIn('ann', `#/studio/${session}`);
    const bob = await signedIn('bob', `#/studio/${session}`);
    await expect.poll(() => ann.getByTestId('status').textContent()).toBe('connected');
    await ann.getByTestId('add-track').click();
    await expect.poll(() => bob.locator('.track').count()).toBe(1);
    await ann.waitForTimeout(300); // the roll scrolls to middle C once its track is shown
    /** Every note of the session as bob's page holds it: beat, pitch, velocity, sorted. */
    const notes = (page: Page) =>
      page.evaluate(() => {
        const studio = (globalThis as unknown as PageWindow).veza.studio!.studio;
        const ppq = studio.settings().ppq;
        return studio
          .tracks()
          .flatMap((t) => studio.clips(t.id).flatMap((c) => studio.notes(t.id, c.id)))
          .map((n) => ({ beat: n.start / ppq, pitch: n.pitch, velocity: n.velocity }))
          .sort((a, b) => a.beat - b.beat || a.pitch - b.pitch);
      });
    const grid = async () => (await ann.getByTestId('piano-roll').boundingBox())!;
    const point = async (beat: number, pitch: number) => {
      const box = await grid();
      return { x: box.x + beat * 48 + 10, y: box.y + (107 - pitch) * 12 + 6 };
    };
    const click = async (beat: number, pitch: number, modifiers: ('Shift' | 'Control')[] = []) => {
      const at = await point(beat, pitch);
      for (const m of modifiers) await ann.keyboard.down(m);
      await ann.mouse.click(at.x, at.y);
      for (const m of modifiers) await ann.keyboard.up(m);
    };
    await click(0, 60);
    await click(1, 62);
    await click(2, 64);
    await expect.poll(() => notes(bob)).toHaveLength(3);
    // Shift-click adds the first two to the selection (the last added is selected already).
    await click(0, 60, ['Shift']);
    await click(1, 62, ['Shift']);
    expect(await ann.locator('.note.selected').count()).toBe(3);
    await ann.getByTestId('velocity').fill('40');
    await ann.getByTestId('velocity').press('Enter');
    await expect.poll(async () => (await notes(bob)).map((n) => n.velocity)).toEqual([40, 40, 40]);
    // Dragging one of them by two beats moves all three.
    const from = await point(1, 62);
    await ann.mouse.move(from.x, from.y);
    await ann.mouse.down();
    await ann.mouse.move(from.x + 2 * 48, from.y, { steps: 4 });
    await ann.mouse.up();
    await expect.poll(() => notes(bob)).toEqual([
      { beat: 2, pitch: 60, velocity: 40 },
      { beat: 3, pitch: 62, velocity: 40 },
      { beat: 4, pitch: 64, velocity: 40 },
    ]);
    // The velocity lane: one bar dragged to the top sets the whole selection to 127.
    const lane = (await ann.getByTestId('velocity-lane').boundingBox())!;
    const barX = (await grid()).x + 3 * 48 + 3;
    await ann.mouse.move(barX, lane.y + lane.height - 4);
    await ann.mouse.down();
    await ann.mouse.move(barX, lane.y - 20, { steps: 4 });
    await ann.mouse.up();
    await expect.poll(async () => (await notes(bob)).map((n) => n.velocity)).toEqual([127, 127, 127]);
    expect(await ann.locator('.lane-bar.selected').count()).toBe(3);
    // Copied, and pasted where the pointer is (beat 8).
    await ann.keyboard.press('Control+c');
    const there = await point(8, 72);
    await ann.mouse.move(there.x - 8, there.y);
    await ann.keyboard.press('Control+v');
    await expect.poll(async () => (await notes(bob)).map((n) => n.beat)).toEqual([2, 3, 4, 8, 9, 10]);
    expect(await ann.locator('.note.selected').count()).toBe(3);
    // A plain click selects one note; a shift-drag box over the first group adds the other two.
    await click(10, 64);
    expect(await ann.locator('.note.selected').count()).toBe(1);
    const corner = await point(2, 66);
    const opposite = await point(4.8, 59);
    await ann.keyboard.down('Shift');
    await ann.mouse.move(corner.x - 12, corner.y - 6);
    await ann.mouse.down();
    await ann.mouse.move(opposite.x, opposite.y, { steps: 5 });
    await ann.mouse.up();
    await ann.keyboard.up('Shift');
    expect(await ann.locator('.note.selected').count()).toBe(4);
    await ann.keyboard.press('Delete');
    await expect.poll(async () => (await notes(bob)).map((n) => n.beat)).toEqual([8, 9]);
    // A note off the grid (a played performance) is quantised with Q, then moved with the arrow keys.
    await ann.evaluate(() => {
      const { studio } = (globalThis as unknown as PageWindow).veza.studio!;
      const track = studio.tracks()[0]!;
      studio.addNotes(track.id, studio.clips(track.id)[0]!.id, [{ pitch: 48, start: 130, duration: 470, velocity: 70 }]);
    });
    await expect.poll(() => notes(bob)).toHaveLength(3);
    await click(130 / 480, 48);
    await ann.keyboard.press('q');
    await expect.poll(async () => (await notes(bob))[0]).toEqual({ beat: 0.25, pitch: 48, velocity: 70 });
    await ann.keyboard.press('ArrowUp');
    await ann.keyboard.press('ArrowRight');
    await expect.poll(async () => (await notes(bob))[0]).toEqual({ beat: 0.5, pitch: 49, velocity: 70 });
    // An instrument for the track; bob sees it, and sees which track ann works on.
    await ann.getByLabel('instrument').selectOption({ label: 'Electric Bass (finger)' });
    await expect.poll(() => bob.getByLabel('instrument').inputValue()).toBe('33');
    await expect.poll(() => bob.locator('[data-user=ann]').textContent()).toBe('ann on Track 1');
    await ann.screenshot({ path: path.join(SHOTS, 'studio-piano-roll.png') });
    // Delete asks once more; the track goes for everyone; undo brings it back with its notes.
    await ann.getByLabel('delete track Track 1').click();
    await expect.poll(() => ann.getByLabel('delete track Track 1').textContent()).toBe('Sure?');
    await ann.getByLabel('delete track Track 1').click();
    await expect.poll(() => bob.locator('.track').count()).toBe(0);
    await ann.locator('h2').click();
    await ann.keyboard.press('Control+z');
    await expect.poll(() => bob.locator('.track').count()).toBe(1);
    expect(await notes(bob)).toHaveLength(3);
    await ann.context().close();
    await bob.context().close();
  });

  it('every screen passes axe-core’s WCAG 2.1 A and AA checks: sign-in, sessions, studio, replay, DJ room, progress, recommendations', { timeout: 90_000 }, async () => {
    const signIn = await (await browser.newContext()).newPage();
    await signIn.goto(`${server.url}/`);
    await signIn.getByLabel('user name').waitFor();
    const found: Record<string, string[]> = { 'sign-in': await accessibilityViolations(signIn) };
    await signIn.context().close();
    const session = `a11y-${Date.now()}`;
    const page = await signedIn('ann', '#/');
    found.sessions = await accessibilityViolations(page);
    await page.evaluate((h) => ((globalThis as unknown as { location: { hash: string } }).location.hash = h), `#/studio/${session}`);
    await expect.poll(() => page.getByTestId('status').textContent()).toBe('connected');
    await page.getByTestId('add-track').click();
    const box = (await page.getByTestId('piano-roll').boundingBox())!;
    await page.mouse.click(box.x + 10, box.y + (107 - 60) * 12 + 6);
    found.studio = await accessibilityViolations(page);
    await page.evaluate((h) => ((globalThis as unknown as { location: { hash: string } }).location.hash = h), `#/replay/${session}`);
    await page.getByTestId('replay-status').waitFor({ state: 'attached' });
    await page.getByTestId('scrubber').waitFor();
    found.replay = await accessibilityViolations(page);
    await page.evaluate(() => ((globalThis as unknown as { location: { hash: string } }).location.hash = '#/dj/stage'));
    await page.getByTestId('go-live').waitFor();
    found.dj = await accessibilityViolations(page);
    await page.evaluate(() => ((globalThis as unknown as { location: { hash: string } }).location.hash = '#/progress'));
    await expect.poll(() => page.getByTestId('leaderboard-status').textContent()).toBe('live');
    found.progress = await accessibilityViolations(page);
    await page.evaluate(() => ((globalThis as unknown as { location: { hash: string } }).location.hash = '#/discover'));
    await page.getByTestId('recs-tracks').waitFor();
    found.discover = await accessibilityViolations(page);
    expect(found).toEqual({ 'sign-in': [], sessions: [], studio: [], replay: [], dj: [], progress: [], discover: [] });
    await page.context().close();
  });

  it('the progress screen shows level, points, achievements and quests, and a leaderboard that moves live', { timeout: 90_000 }, async () => {
    const admin = await server.veza.auth.sign({ sub: 'ops', admin: true });
    const put = await fetch(`${server.url}/api/v1/gamification/rules/web-listener`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Web listener', category: 'listener', event: 'track.played', criteria: { kind: 'count', atLeast: 2 }, points: 150 }),
    });
    expect(put.status).toBeLessThan(300);
    const play = (userId: string) => server.veza.bus.publish(createEvent('track.played', { tenantId: 'default', actor: userId, payload: { trackId: 'song-1' } }));
    const page = await signedIn('pia', '#/progress');
    await expect.poll(() => page.getByTestId('points').textContent()).toBe('0 points');
    await expect.poll(() => page.getByTestId('leaderboard-status').textContent()).toBe('live');
    // Earned while the screen is open: the standing follows without a reload.
    await play('pia');
    await play('pia');
    await play('quinn');
    await expect.poll(() => page.getByTestId('points').textContent(), { timeout: 20_000 }).toBe('150 points');
    expect(await page.getByTestId('achievements').textContent()).toContain('Web listener');
    await expect.poll(() => page.getByTestId('leaderboard-status').textContent()).toBe('live');
    await expect.poll(() => page.evaluate(() => (globalThis as unknown as { veza: { progress: { board(): { member: string; value: number }[] } } }).veza.progress.board().find((e) => e.member === 'pia')?.value)).toBe(150);
    // quinn's second play earns the achievement: the board moves without a reload.
    await play('quinn');
    await expect.poll(() => page.evaluate(() => (globalThis as unknown as { veza: { progress: { board(): { member: string; value: number }[] } } }).veza.progress.board().find((e) => e.member === 'quinn')?.value), { timeout: 20_000 }).toBe(150);
    await page.screenshot({ path: path.join(SHOTS, 'progress.png') });
    await page.context().close();
  });

  it('leaving the progress screen before it has loaded still closes its live leaderboard', { timeout: 60_000 }, async () => {
    const page = await signedIn('rae', '#/');
    const boards: { isClosed(): boolean }[] = [];
    page.on('websocket', (socket) => {
      if (socket.url().includes('/gamification/leaderboards/')) boards.push(socket);
    });
    // Away again before the screen's first read has come back.
    await page.evaluate(() => {
      const where = (globalThis as unknown as { location: { hash: string } }).location;
      where.hash = '#/progress';
      setTimeout(() => (where.hash = '#/'), 0);
    });
    await expect.poll(() => page.getByTestId('sessions').count()).toBeGreaterThan(0);
    await page.waitForTimeout(1500);
    expect(boards.every((socket) => socket.isClosed())).toBe(true);
    // Staying on the screen keeps the board open.
    await page.evaluate(() => ((globalThis as unknown as { location: { hash: string } }).location.hash = '#/progress'));
    await expect.poll(() => page.getByTestId('leaderboard-status').textContent()).toBe('live');
    expect(boards.filter((socket) => !socket.isClosed())).toHaveLength(1);
    await page.context().close();
  });

  it('the recommendations screen lists tracks with their reasons, and a like goes back as an event', { timeout: 90_000 }, async () => {
    const admin = await server.veza.auth.sign({ sub: 'ops', admin: true });
    const lines = [
      { type: 'item', itemId: 'web-t1', kind: 'track', artistId: 'web-a1', title: 'Night Drive', tags: ['house'] },
      { type: 'item', itemId: 'web-t2', kind: 'track', artistId: 'web-a2', title: 'Low Tide', tags: ['ambient'] },
      ...['u1', 'u2', 'u3'].flatMap((u) => [
        { type: 'play', userId: `web-${u}`, itemId: 'web-t1', at: new Date().toISOString(), weight: 5 },
        { type: 'play', userId: `web-${u}`, itemId: 'web-t2', at: new Date().toISOString(), weight: 1 },
      ]),
    ];
    const imported = await fetch(`${server.url}/api/v1/interactions`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/x-ndjson' }, body: lines.map((l) => JSON.stringify(l)).join('\n') });
    expect(imported.status).toBe(200);
    const liked: VezaEvent[] = [];
    await server.veza.bus.subscribe('web-likes', (e) => void liked.push(e), { types: ['track.liked'] });
    const page = await signedIn('rita', '#/discover');
    await expect.poll(() => page.getByTestId('recs-tracks').locator('li b').allTextContents(), { timeout: 20_000 }).toEqual(expect.arrayContaining(['Night Drive', 'Low Tide']));
    expect(await page.getByTestId('recs-source').textContent()).toMatch(/^(what is popular now|from what people like you play|from your latest plays) · confidence \d+ %$/);
    expect(await page.getByTestId('recs-tracks').locator('[data-item=web-t1] .reason').textContent()).not.toBe('');
    await page.getByLabel('like Night Drive').click();
    await expect.poll(() => page.getByLabel('like Night Drive').textContent()).toBe('Liked');
    await expect.poll(() => liked.find((e) => e.actor === 'rita')?.payload).toEqual({ trackId: 'web-t1' });
    await page.getByTestId('recs-context').selectOption('collaboration');
    await expect.poll(() => page.getByTestId('recs-collaborators').isVisible()).toBe(true);
    await page.screenshot({ path: path.join(SHOTS, 'discover.png') });
    await page.context().close();
  });

  it('the sign-in form checks the name before sending it, and says why the server refused', { timeout: 90_000 }, async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.url}/`);
    await page.getByLabel('user name').fill('no spaces please');
    expect(await page.getByLabel('user name').evaluate((el) => (el as unknown as { validity: { valid: boolean } }).validity.valid)).toBe(false);
    await page.getByLabel('user name').fill('dana.k@label-1');
    expect(await page.getByLabel('user name').evaluate((el) => (el as unknown as { validity: { valid: boolean } }).validity.valid)).toBe(true);
    // A server not in development mode has no sign-in: the page says that, not a guess.
    const production = await startTestServer({ 'web-dir': web.dir });
    try {
      await page.goto(`${production.url}/`);
      await page.getByLabel('user name').fill('dana');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => page.getByRole('alert').textContent()).toBe('sign-in is not available: this server does not run in development mode (VEZA_DEV=true)');
    } finally {
      await production.stop();
    }
    await page.context().close();
  });

  it('without live media, the DJ page says why in a sentence, with no token on the page', { timeout: 90_000 }, async () => {
    const cache = tempDir('no-media');
    const data = tempDir('no-media-data');
    const noMedia = await spawnServer(['--dev', '--web-dir', web.dir, '--data-dir', data.dir, '--example-sessions', 'false'], { VEZA_MEDIA_CACHE_DIR: cache.dir });
    try {
      const page = await signIn(browser, noMedia.url, 'dee', '#/dj/stage');
      const consoleText: string[] = [];
      page.on('console', (message) => consoleText.push(message.text()));
      await page.getByTestId('go-live').click();
      await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 20_000 }).toMatch(/^going live failed: live media is off on this server: the mediasoup [\d.]+ worker \S+ does not exist \(to turn it on: npm run build:media\)$/);
      const text = await page.locator('body').innerText();
      const token = await sessionToken(page);
      expect(text).not.toContain(token);
      expect(text).not.toContain('token=');
      expect(consoleText.filter((line) => line.includes(token) || line.includes('token='))).toEqual([]);
      // Pressed again, the old error goes first.
      await page.getByTestId('watch-hls').click();
      await expect.poll(() => page.getByRole('alert').textContent()).not.toContain('going live failed');
      await page.screenshot({ path: path.join(SHOTS, 'dj-no-media.png') });
      await page.context().close();
    } finally {
      noMedia.child.kill('SIGTERM');
      await noMedia.exited;
      cache.remove();
      data.remove();
    }
  });

  it('edits made offline are kept on the device: they survive the tab closing and a server restart, and reach the others', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const data = tempDir('offline');
    const flags = { dev: 'true', 'web-dir': web.dir, port: String(port), 'data-dir': data.dir, 'example-sessions': 'false', 'collab-flush-ms': '5', 'rate-limit-connections-per-minute': '0' };
    let own = await startTestServer(flags);
    const session = `offline-${Date.now()}`;
    try {
      const ann = await signIn(browser, own.url, 'ann', `#/studio/${session}`);
      const consoleText: string[] = [];
      ann.on('console', (message) => consoleText.push(message.text()));
      await expect.poll(() => ann.getByTestId('status').textContent()).toBe('connected');
      expect(await ann.getByTestId('connection').isHidden()).toBe(true);
      await ann.getByTestId('add-track').click();
      const click = async (beat: number, pitch: number) => {
        const box = (await ann.getByTestId('piano-roll').boundingBox())!;
        await ann.mouse.click(box.x + beat * 48 + 10, box.y + (107 - pitch) * 12 + 6);
      };
      await click(0, 60);
      await expect.poll(async () => Object.values(await notesIn(ann)).flat().length).toBe(1);
      await ann.waitForTimeout(300);

      // The server goes away: the page says so, and counts what it keeps.
      await own.stop();
      await expect.poll(() => ann.getByTestId('connection').textContent(), { timeout: 15_000 }).toContain('Not connected to the server');
      await click(2, 64);
      await click(4, 67);
      await expect.poll(() => ann.getByTestId('connection').textContent()).toContain('2 changes kept on this device');
      // Export needs the server: said, not thrown.
      const uncaught: string[] = [];
      ann.on('pageerror', (error) => uncaught.push(error.message));
      await ann.getByTestId('export').click();
      await expect.poll(() => ann.getByRole('alert').textContent()).toBe('export needs the server, which cannot be reached now');
      expect(uncaught).toEqual([]);
      await ann.waitForTimeout(500); // IndexedDB writes are asynchronous
      // The reconnect attempts failed in the console, naming the socket but never the sign-in.
      const token = await sessionToken(ann);
      expect(consoleText.some((line) => line.includes(`/collab/${session}`))).toBe(true);
      expect(consoleText.filter((line) => line.includes(token) || line.includes('token='))).toEqual([]);
      expect(await ann.locator('body').innerText()).not.toContain(token);
      const context = ann.context();
      await ann.close();

      // The server comes back; a new tab of the same browser is still signed in, holds the offline
      // edits, and sends them; another person sees all three notes.
      own = await startTestServer(flags);
      const again = await context.newPage();
      await again.goto(`${own.url}/#/studio/${session}`);
      await expect.poll(() => again.getByTestId('status').textContent(), { timeout: 20_000 }).toBe('connected');
      await expect.poll(async () => Object.values(await notesIn(again)).flat().map((n) => n.pitch).sort()).toEqual([60, 64, 67]);
      const bob = await signIn(browser, own.url, 'bob', `#/studio/${session}`);
      await expect.poll(async () => Object.values(await notesIn(bob)).flat().map((n) => n.pitch).sort(), { timeout: 20_000 }).toEqual([60, 64, 67]);
      expect(await again.getByTestId('connection').isHidden()).toBe(true);
      await again.screenshot({ path: path.join(SHOTS, 'studio-back-online.png') });
      await context.close();
      await bob.context().close();
    } finally {
      await own.stop();
      data.remove();
    }
  });

  it('a replay whose server goes away says so, and carries on from where it was when the server is back', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const data = tempDir('replay-offline');
    const flags = { dev: 'true', 'web-dir': web.dir, port: String(port), 'data-dir': data.dir, 'example-sessions': 'false', 'collab-flush-ms': '5', 'rate-limit-connections-per-minute': '0' };
    let own = await startTestServer(flags);
    const session = `replay-offline-${Date.now()}`;
    try {
      const ann = await signIn(browser, own.url, 'ann', `#/studio/${session}`);
      await expect.poll(() => ann.getByTestId('status').textContent()).toBe('connected');
      await ann.getByTestId('add-track').click();
      const box = (await ann.getByTestId('piano-roll').boundingBox())!;
      for (const beat of [0, 2, 4]) {
        await ann.mouse.click(box.x + beat * 48 + 10, box.y + (107 - 60) * 12 + 6);
        await ann.waitForTimeout(400);
      }
      await expect.poll(async () => Object.values(await notesIn(ann)).flat().length).toBe(3);
      await ann.waitForTimeout(300);
      await ann.evaluate((h) => ((globalThis as unknown as { location: { hash: string } }).location.hash = h), `#/replay/${session}`);
      await expect.poll(() => ann.getByTestId('replay-play').isDisabled()).toBe(false);
      const at = await ann.evaluate(() => (globalThis as unknown as { veza: { replay: { at(): number } } }).veza.replay.at());
      await own.stop();
      await expect.poll(() => ann.getByTestId('connection').textContent(), { timeout: 15_000 }).toMatch(/^Not connected to the server: the replay paused at .+ and carries on from there when the server is back\.$/);
      expect(await ann.getByTestId('replay-play').isDisabled()).toBe(true);
      await ann.getByTestId('replay-export').click();
      await expect.poll(() => ann.getByTestId('replay-status').textContent()).toBe('export needs the server, which cannot be reached now');
      own = await startTestServer(flags);
      await expect.poll(() => ann.getByTestId('connection').isHidden(), { timeout: 20_000 }).toBe(true);
      await expect.poll(() => ann.getByTestId('replay-play').isDisabled()).toBe(false);
      expect(await ann.evaluate(() => (globalThis as unknown as { veza: { replay: { at(): number } } }).veza.replay.at())).toBe(at);
      // Played on from there, the notes of the session arrive.
      await ann.getByTestId('speed').selectOption('16');
      await ann.getByTestId('replay-play').click();
      await expect.poll(async () => ann.evaluate(() => { const studio = (globalThis as unknown as PageWindow).veza.replay!.studio(); return studio.tracks().flatMap((t) => studio.clips(t.id).flatMap((c) => studio.notes(t.id, c.id))).length; }), { timeout: 20_000 }).toBe(3);
      await ann.context().close();
    } finally {
      await own.stop();
      data.remove();
    }
  });

  it('every screen fits from 1024 px wide up, without sideways scrolling', { timeout: 90_000 }, async () => {
    const screens = ['#/', '#/studio/example-city-blues', '#/replay/example-city-blues', '#/dj/layout-room', '#/discover', '#/progress'];
    for (const width of [1024, 1440]) {
      const page = await (await browser.newContext({ viewport: { width, height: 800 } })).newPage();
      await page.goto(`${server.url}/`);
      await page.getByLabel('user name').fill('lena');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForSelector('[data-testid=sessions]');
      for (const screen of screens) {
        await page.evaluate((h) => ((globalThis as unknown as { location: { hash: string } }).location.hash = h), screen);
        await page.waitForTimeout(800);
        if (screen.startsWith('#/studio/')) {
          // Alone in the session: listed all the same; the tempo is the session's own (its tempo map).
          await expect.poll(() => page.getByTestId('people').textContent()).toContain('lena (you)');
          await expect.poll(() => page.getByLabel('tempo').inputValue()).toBe('124');
        }
        const { scroll, inner } = await page.evaluate(() => {
          const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number } }; innerWidth: number });
          return { scroll: d.document.documentElement.scrollWidth, inner: d.innerWidth };
        });
        expect(scroll, `${screen} at ${width} px`).toBeLessThanOrEqual(inner);
        await page.screenshot({ path: path.join(SHOTS, `screen-${screen.replace(/[^a-z]+/g, '-').replace(/^-|-$/g, '') || 'home'}-${width}.png`) });
      }
      await page.context().close();
    }
  });

  it('two pages edit one session and converge: notes added, moved and deleted in one appear in the other', { timeout: 90_000 }, async () => {
    const session = `song-${Date.now()}`;
    const ann = await signedIn('ann', `#/studio/${session}`);
    const bob = await signedIn('bob', `#/studio/${session}`);
    await expect.poll(() => ann.getByTestId('status').textContent()).toBe('connected');
    await expect.poll(() => bob.getByTestId('status').textContent()).toBe('connected');

    await ann.getByTestId('add-track').click();
    await expect.poll(async () => (await bob.locator('[data-track]').count())).toBe(1);

    // Ann clicks three places on the grid: three notes.
    // The grid's box moves with the roll's scroll position: a pitch's row is at 12 px × (107 − pitch).
    const box = (await ann.getByTestId('piano-roll').boundingBox())!;
    const clickAt = (beat: number, pitch: number) => ann.mouse.click(box.x + beat * 48 + 10, box.y + (107 - pitch) * 12 + 6);
    await clickAt(0, 60);
    await clickAt(2, 64);
    await clickAt(4, 67);
    await expect.poll(async () => Object.values(await notesIn(ann)).flat().length).toBe(3);
    await expect.poll(async () => Object.values(await notesIn(bob)).flat().length).toBe(3);
    await expect.poll(async () => bob.locator('.note').count()).toBe(3);

    // Bob drags the first note two beats right and deletes the last one; Ann sees both.
    const bobNotes = bob.locator('.note');
    const first = (await bobNotes.first().boundingBox())!;
    await bob.mouse.move(first.x + 5, first.y + 5);
    await bob.mouse.down();
    await bob.mouse.move(first.x + 5 + 96, first.y + 5, { steps: 5 });
    await bob.mouse.up();
    const last = bob.locator('.note').nth(2);
    await last.dblclick({ position: { x: 4, y: 4 } });
    await expect.poll(async () => Object.values(await notesIn(ann)).flat().length).toBe(2);
    const annSees = Object.values(await notesIn(ann)).flat();
    const bobSees = Object.values(await notesIn(bob)).flat();
    expect(annSees).toEqual(bobSees);
    expect(annSees.some((n) => n.start === 2 * 480)).toBe(true);

    // Ann points at the grid: Bob sees her cursor. Ann presses play: both transports run, and Bob's
    // page plays the notes on the shared clock.
    await ann.mouse.move(box.x + 200, box.y + (107 - 62) * 12 + 6);
    await expect.poll(() => bob.locator('.peer-cursor').textContent()).toBe('ann');
    await ann.getByTestId('play').click();
    await expect.poll(() => bob.getByTestId('play').textContent()).toBe('Stop');
    await expect.poll(() => bob.evaluate(() => (globalThis as unknown as PageWindow).veza.studio!.player.played), { timeout: 15_000 }).toBeGreaterThan(0);
    await bob.getByTestId('play').click();
    await expect.poll(() => ann.getByTestId('play').textContent()).toBe('Play');

    // Each sees the other in the session, and chat goes both ways.
    await expect.poll(() => ann.getByTestId('people').textContent()).toContain('bob');
    await bob.getByLabel('chat message').fill('nice groove');
    await bob.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => ann.getByTestId('chat').textContent()).toContain('nice groove');
    await ann.screenshot({ path: path.join(SHOTS, 'studio-ann.png') });
    await bob.screenshot({ path: path.join(SHOTS, 'studio-bob.png') });
    await ann.context().close();
    await bob.context().close();
  });

  it.skipIf(!existsSync(MIDI_DIR))('imports a MIDI file through the page into the piano roll, and the replay viewer scrubs to a moment and shows it', { timeout: 120_000 }, async () => {
    const session = `import-${Date.now()}`;
    const page = await signedIn('cy', `#/studio/${session}`);
    await expect.poll(() => page.getByTestId('status').textContent()).toBe('connected');
    // One note first, so the session's timeline starts before the import.
    await page.getByTestId('add-track').click();
    const box = (await page.getByTestId('piano-roll').boundingBox())!;
    await page.mouse.click(box.x + 20, box.y + (107 - 60) * 12 + 6);
    await expect.poll(async () => Object.values(await notesIn(page)).flat().length).toBe(1);
    const beforeImport = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 300));

    const file = path.join(MIDI_DIR, readdirSync(MIDI_DIR).filter((f) => f.endsWith('.mid')).sort()[0]!);
    await page.getByTestId('midi-file').setInputFiles(file);
    await expect.poll(() => page.getByTestId('import-result').textContent(), { timeout: 20_000 }).toMatch(/\d+ notes on \d+ tracks/);
    const imported = Number(/(\d+) notes/.exec((await page.getByTestId('import-result').textContent())!)![1]);
    expect(imported).toBeGreaterThan(100);
    // The piano roll shows the imported track's notes.
    await expect.poll(async () => Number(await page.getByTestId('piano-roll').getAttribute('data-notes'))).toBeGreaterThan(10);
    expect(await page.locator('.note').count()).toBe(Number(await page.getByTestId('piano-roll').getAttribute('data-notes')));
    await page.screenshot({ path: path.join(SHOTS, 'studio-import.png') });
    const total = Object.values(await notesIn(page)).flat().length;
    expect(total).toBe(imported + 1);

    // Wait until the log has it all, then replay: at the end, everything; before the import, one note.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await page.evaluate((h) => ((globalThis as unknown as { location: { hash: string } }).location.hash = h), `#/replay/${session}`);
    // The controls work once the replay socket is open.
    await page.waitForSelector('[data-testid=scrubber]:not([disabled])');
    const replayNotes = () => page.evaluate(() => {
      const studio = (globalThis as unknown as PageWindow).veza.replay!.studio();
      return studio.tracks().reduce((n, t) => n + studio.clips(t.id).reduce((m, c) => m + studio.notes(t.id, c.id).length, 0), 0);
    });
    const seek = async (at: number) => {
      await page.getByTestId('scrubber').evaluate((el, value) => {
        const input = el as unknown as { value: string; dispatchEvent(event: Event): boolean };
        input.value = String(value);
        input.dispatchEvent(new Event('change'));
      }, at);
    };
    const end = Number(await page.getByTestId('scrubber').getAttribute('max'));
    await seek(end);
    await expect.poll(replayNotes, { timeout: 20_000 }).toBe(total);
    await page.screenshot({ path: path.join(SHOTS, 'replay-end.png') });
    await seek(beforeImport);
    await expect.poll(replayNotes, { timeout: 20_000 }).toBe(1);
    expect(await page.locator('.note').count()).toBe(1);
    await page.screenshot({ path: path.join(SHOTS, 'replay-before-import.png') });
    await page.context().close();
  });
});
