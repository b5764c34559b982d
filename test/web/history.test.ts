// Session history in the web client (Chromium, a real dev-mode server): a session edited by three
// people at known moments through the server's own collaboration service; the studio's Versions
// panel lists, names, opens, renames, deletes and restores versions (as a branch, or into the open
// session with an Undo); the replay viewer draws what changed between two moments on the piano roll
// and says it per author, shows each person's share and who made a note; a viewer sees no button
// that changes anything; the new states pass axe-core and fit from 1024 px.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { VersionStore } from '../../src/history/versions.js';
import { StudioDoc } from '../../src/studio/model.js';
import { ReplayStore } from '../../src/studio/replay-store.js';
import { chromiumPath, launchChromium } from '../helpers/browser.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { accessibilityViolations, buildWebClient, sessionToken, SHOTS, signedIn, type PageWindow, tokenLeaks } from '../helpers/web-client.js';

const browserPath = chromiumPath();
const T = 'default';
const S = 'history-song';

/** The notes of each track as a page's document holds them: track name → sorted "pitch@start". */
const shape = (studio: StudioDoc) => Object.fromEntries(studio.tracks().map((t) => [t.name, studio.clips(t.id).flatMap((c) => studio.notes(t.id, c.id).map((n) => `${n.pitch}@${n.start}`)).sort()]));
const AT_A = { Bass: ['40@0', '43@480', '45@960'], Drums: ['36@0', '38@480'] };
const AT_B = { Bass: ['40@240', '45@960', '47@1440', '48@1920', '50@2400'], Drums: ['36@0', '38@480'], Keys: [] };

describe.skipIf(!browserPath)('session history in the web client', () => {
  let server: TestServer;
  let browser: Browser;
  let web: Awaited<ReturnType<typeof buildWebClient>>;
  /** The moment after the first phase of edits (version “Groove”), and after the second. */
  let tA = 0;
  let tB = 0;
  let grooveId = '';
  let ownerToken = '';

  const edit = async (user: string, change: (s: StudioDoc) => void) => {
    await server.veza.collab.edit(T, S, user, (doc) => change(new StudioDoc(doc)));
    await server.veza.collab.persisted(T, S);
  };
  const call = async (method: string, url: string, token: string, body?: unknown) => {
    const response = await fetch(`${server.url}${url}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: response.status, body: (response.status === 204 ? null : await response.json()) as Record<string, unknown> };
  };
  const go = (page: Page, hash: string) => page.evaluate((h) => ((globalThis as unknown as { location: { hash: string } }).location.hash = h), hash);
  const hashOf = (page: Page) => page.evaluate(() => (globalThis as unknown as { location: { hash: string } }).location.hash);
  const studioShape = (page: Page) =>
    page.evaluate(() => {
      const studio = (globalThis as unknown as PageWindow).veza.studio?.studio;
      if (!studio) return null;
      return Object.fromEntries(studio.tracks().map((t) => [t.name, studio.clips(t.id).flatMap((c) => studio.notes(t.id, c.id).map((n) => `${n.pitch}@${n.start}`)).sort()]));
    });
  const replayShape = (page: Page) =>
    page.evaluate(() => {
      const studio = (globalThis as unknown as PageWindow).veza.replay?.studio();
      if (!studio) return null;
      return Object.fromEntries(studio.tracks().map((t) => [t.name, studio.clips(t.id).flatMap((c) => studio.notes(t.id, c.id).map((n) => `${n.pitch}@${n.start}`)).sort()]));
    });
  /** The studio of `session` open in a page, its Versions panel open and listed. */
  const studioWithVersions = async (user: string, role = 'owner', session = S) => {
    const page = await signedIn(browser, server.url, user, `#/studio/${session}`, role);
    await expect.poll(() => page.getByTestId('status').textContent(), { timeout: 20_000 }).toBe('connected');
    await page.getByTestId('versions-panel').locator('summary').click();
    await page.getByTestId('version-list').locator('li[data-version]').first().waitFor();
    return page;
  };
  const versionRow = (page: Page, label: string) => page.getByTestId('version-list').locator('li[data-version]').filter({ has: page.getByTestId('version-name').getByText(label, { exact: true }) });
  const listed = (page: Page) => page.getByTestId('version-list').locator('li[data-version]').evaluateAll((items) => items.map((li) => [li.querySelector('[data-testid=version-name]')!.textContent, li.getAttribute('data-kind'), li.querySelector('[data-testid=version-reason]')?.textContent ?? null]));
  /** Marks drawn on the replay's roll, by kind. */
  const marks = (page: Page) =>
    page.getByTestId('roll-marks').evaluate((layer) => {
      const counts: Record<string, number> = {};
      for (const mark of layer.querySelectorAll('.roll-mark')) counts[mark.getAttribute('data-testid')!] = (counts[mark.getAttribute('data-testid')!] ?? 0) + 1;
      return counts;
    });
  const authorLines = (page: Page) => page.getByTestId('changes-by-author').locator('li').allTextContents();
  const seek = (page: Page, at: number) =>
    page.getByTestId('scrubber').evaluate((el, value) => {
      const input = el as unknown as { value: string; dispatchEvent(event: Event): boolean };
      input.value = String(value);
      input.dispatchEvent(new Event('change'));
    }, at);
  const openReplayAt = async (page: Page, at: number) => {
    await go(page, `#/replay/${S}?at=${at}`);
    await expect.poll(() => page.getByTestId('replay-play').isDisabled(), { timeout: 20_000 }).toBe(false);
  };

  beforeAll(async () => {
    web = await buildWebClient();
    server = await startTestServer({ dev: 'true', 'web-dir': web.dir, 'example-sessions': 'false', 'rate-limit-connections-per-minute': '0', 'rate-limit-requests-per-minute': '0', 'collab-flush-ms': '5' });
    browser = await launchChromium(browserPath!);
    ownerToken = await server.veza.auth.sign({ sub: 'ann', docs: { '*': 'owner' } });

    // First phase: ann's bass line, ben's drums, cleo's tempo.
    await edit('ann', (s) => {
      s.addTrack({ id: 'bass', name: 'Bass' });
      s.addClip('bass', { id: 'riff', name: 'Riff', start: 0, length: 3840 });
      s.addNotes('bass', 'riff', [
        { id: 'a1', pitch: 40, start: 0, duration: 480, velocity: 100 },
        { id: 'a2', pitch: 43, start: 480, duration: 480, velocity: 100 },
        { id: 'a3', pitch: 45, start: 960, duration: 480, velocity: 100 },
      ]);
    });
    await edit('ben', (s) => {
      s.addTrack({ id: 'drums', name: 'Drums' });
      s.addClip('drums', { id: 'beat', name: 'Beat', start: 0, length: 1920 });
      s.addNotes('drums', 'beat', [
        { id: 'kick', pitch: 36, start: 0, duration: 240, velocity: 110 },
        { id: 'snare', pitch: 38, start: 480, duration: 240, velocity: 90 },
      ]);
    });
    await edit('cleo', (s) => s.setTempo([{ tick: 0, bpm: 96 }]));
    tA = Date.now();
    const groove = await call('POST', `/api/v1/sessions/${S}/versions`, ownerToken, { label: 'Groove', description: 'bass and drums' });
    expect(groove.status).toBe(201);
    grooveId = String(groove.body.id);
    await sleep(20);

    // Second phase: ben adds three notes, cleo moves one and resizes another and adds a track,
    // ann removes a note, softens the kick and speeds up.
    await edit('ben', (s) =>
      s.addNotes('bass', 'riff', [
        { id: 'b1', pitch: 47, start: 1440, duration: 480, velocity: 100 },
        { id: 'b2', pitch: 48, start: 1920, duration: 480, velocity: 100 },
        { id: 'b3', pitch: 50, start: 2400, duration: 480, velocity: 100 },
      ]),
    );
    await edit('cleo', (s) => {
      s.updateNote('bass', 'riff', 'a1', { start: 240 });
      s.updateNote('bass', 'riff', 'a3', { duration: 960 });
    });
    await edit('ann', (s) => {
      s.removeNote('bass', 'riff', 'a2');
      s.updateNote('drums', 'beat', 'kick', { velocity: 64 });
    });
    await edit('ann', (s) => s.setTempo([{ tick: 0, bpm: 120 }]));
    await edit('cleo', (s) => s.addTrack({ id: 'keys', name: 'Keys' }));
    tB = Date.now();
    // An automatic version of the session as it is now (the autosave).
    const auto = await new VersionStore(server.veza.storage, new ReplayStore(server.veza.storage)).auto(T, S, 'interval');
    expect(auto.created).toBe(true);
    await sleep(20);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    web?.remove();
    // No page's console held a sign-in, in any test of this file.
    expect(tokenLeaks()).toEqual([]);
  });

  it('the replay draws the changes between two moments on the piano roll and says them per author', { timeout: 90_000 }, async () => {
    const page = await signedIn(browser, server.url, 'ann', '#/');
    await openReplayAt(page, tA);
    await expect.poll(() => replayShape(page)).toEqual(AT_A);
    await page.getByLabel('track', { exact: true }).selectOption({ label: 'Bass' });
    await page.getByTestId('compare-from-here').click();
    await seek(page, tB);
    await expect.poll(() => replayShape(page), { timeout: 20_000 }).toEqual(AT_B);

    // On Bass: ben's three notes added, ann's removed one as a ghost, cleo's moved one (its ghost
    // before, the note after) and resized one; nothing re-velocitied there.
    await expect.poll(() => marks(page), { timeout: 20_000 }).toEqual({ 'diff-added': 3, 'diff-removed': 1, 'diff-moved-from': 1, 'diff-moved': 1, 'diff-resized': 1 });
    const ghost = page.getByTestId('diff-removed');
    expect([await ghost.getAttribute('data-pitch'), await ghost.getAttribute('data-start'), await ghost.getAttribute('title')]).toEqual(['43', '480', expect.stringMatching(/^G2 removed by ann at /)]);
    expect(await page.getByTestId('diff-moved-from').getAttribute('data-start')).toBe('0');
    expect(await page.getByTestId('diff-moved').getAttribute('data-start')).toBe('240');
    expect((await page.getByTestId('changes-range').textContent())!).toMatch(/^From this moment \(.+\) to this moment \(.+\)$/);
    expect(await page.getByTestId('changes-summary').textContent()).toBe('3 notes added, 1 removed, 1 moved, 1 resized, 1 velocity changed; 1 track added; 1 tempo change.');
    expect(await page.getByTestId('changes-legend').isVisible()).toBe(true);
    expect((await authorLines(page)).sort()).toEqual(
      [
        'ann: 1 note removed on Bass',
        'ann: 1 note velocity changed on Drums',
        'ann: tempo 96 → 120 BPM at beat 1',
        'ben: 3 notes added on Bass',
        'cleo: 1 note moved, 1 resized on Bass',
        'cleo: added track Keys',
      ].sort(),
    );
    // Grouped by author: each author's lines together.
    const authors = await page.getByTestId('changes-by-author').locator('li').evaluateAll((items) => items.map((li) => li.getAttribute('data-author')));
    expect(authors).toEqual([...authors].sort((a, b) => authors.indexOf(a) - authors.indexOf(b)));
    expect(new Set(authors).size).toBe(3);

    // The other track: the kick re-velocitied.
    await page.getByLabel('track', { exact: true }).selectOption({ label: 'Drums' });
    await expect.poll(() => marks(page)).toEqual({ 'diff-revelocitied': 1 });
    expect(await page.getByTestId('diff-revelocitied').getAttribute('title')).toMatch(/^C2 velocity changed \(was 110\) by ann at /);

    // From a version instead: the same changes, from “Groove”.
    await page.getByLabel('track', { exact: true }).selectOption({ label: 'Bass' });
    await page.getByTestId('compare-clear').click();
    await expect.poll(() => marks(page)).toEqual({});
    await page.getByTestId('compare-from-version').selectOption({ label: `Groove (${await page.evaluate((t) => new Date(t).toLocaleTimeString(), (await call('GET', `/api/v1/sessions/${S}/versions/${grooveId}`, ownerToken)).body.at as number)})` });
    await expect.poll(() => marks(page), { timeout: 20_000 }).toEqual({ 'diff-added': 3, 'diff-removed': 1, 'diff-moved-from': 1, 'diff-moved': 1, 'diff-resized': 1 });
    expect(await page.getByTestId('changes-range').textContent()).toMatch(/^From “Groove” to this moment/);
    // To another version: the replay moves to it, and the changes are those between the two versions.
    await page.getByTestId('compare-to').selectOption({ index: 1 });
    expect(await page.getByTestId('compare-to').locator('option:checked').textContent()).toMatch(/^Autosave \(/);
    await expect.poll(() => page.getByTestId('changes-range').textContent()).toBe('From “Groove” to “Autosave”');
    const autosaveAt = ((await call('GET', `/api/v1/sessions/${S}/versions`, ownerToken)).body.versions as { label: string; at: number }[]).find((v) => v.label === 'Autosave')!.at;
    await expect.poll(() => page.evaluate(() => (globalThis as unknown as { veza: { replay: { at(): number } } }).veza.replay.at()), { timeout: 20_000 }).toBe(autosaveAt);
    await expect.poll(() => marks(page), { timeout: 20_000 }).toEqual({ 'diff-added': 3, 'diff-removed': 1, 'diff-moved-from': 1, 'diff-moved': 1, 'diff-resized': 1 });
    await page.getByTestId('compare-to').selectOption({ index: 0 });

    // Moving before the compared moment says so instead of drawing.
    await seek(page, tA - 5_000);
    await expect.poll(() => page.getByTestId('changes-error').textContent(), { timeout: 20_000 }).toBe('The replay is before the moment compared from: move it later to see what changed.');
    expect(await marks(page)).toEqual({});
    await page.screenshot({ path: path.join(SHOTS, 'history-changes.png') });
    await page.context().close();
  });

  it('the shares chart shows each person’s notes, tracks and edits at the replay’s moment, and a note says who made it', { timeout: 90_000 }, async () => {
    const page = await signedIn(browser, server.url, 'ben', '#/');
    await openReplayAt(page, tB);
    const token = await sessionToken(page);
    const { body } = await call('GET', `/api/v1/sessions/${S}/authorship?at=${tB}`, token);
    const shares = body.shares as { userId: string; notes: { count: number }; tracks: { count: number }; edits: { count: number } }[];
    // ann's two live notes (a1, a3), ben's five; one track each; one logged update per edit.
    expect(shares.map((s) => [s.userId, s.notes.count, s.tracks.count, s.edits.count])).toEqual([
      ['ann', 2, 1, 3],
      ['ben', 5, 1, 2],
      ['cleo', 0, 1, 3],
    ]);
    const chart = () =>
      page.getByTestId('shares').locator('li[data-user]').evaluateAll((items) => items.map((li) => [li.getAttribute('data-user'), ...['notes', 'tracks', 'edits'].map((k) => li.querySelector(`[data-kind=${k}]`)!.textContent)]));
    await expect.poll(chart, { timeout: 20_000 }).toEqual([
      ['ann', '2 (29 %)', '1 (33 %)', '3 (38 %)'],
      ['ben', '5 (71 %)', '1 (33 %)', '2 (25 %)'],
      ['cleo', '0 (0 %)', '1 (33 %)', '3 (38 %)'],
    ]);
    // Earlier, the shares were those of the first phase.
    await seek(page, tA);
    await expect.poll(chart, { timeout: 20_000 }).toEqual([
      ['ann', '3 (60 %)', '1 (50 %)', '1 (33 %)'],
      ['ben', '2 (40 %)', '1 (50 %)', '1 (33 %)'],
      ['cleo', '0 (0 %)', '0 (0 %)', '1 (33 %)'],
    ]);
    await seek(page, tB);
    await expect.poll(chart, { timeout: 20_000 }).toEqual([
      ['ann', '2 (29 %)', '1 (33 %)', '3 (38 %)'],
      ['ben', '5 (71 %)', '1 (33 %)', '2 (25 %)'],
      ['cleo', '0 (0 %)', '1 (33 %)', '3 (38 %)'],
    ]);

    // Pointing at a note: ann made a1, cleo moved it.
    await page.getByLabel('track', { exact: true }).selectOption({ label: 'Bass' });
    await page.locator('.note[data-id=a1]').hover();
    await expect.poll(() => page.getByTestId('note-author').textContent()).toMatch(/^E2 at beat 1\.5: created by ann at .+; last changed by cleo at .+\.$/);
    // With the keyboard: the roll's arrow keys pick the notes in time order; b1 was never changed.
    await page.mouse.move(0, 0);
    await page.locator('.replay-roll .roll').focus();
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.getByTestId('note-author').textContent()).toMatch(/^B2 at beat 4: created by ben at .+; not changed since\.$/);
    expect(await page.locator('.note.inspected').getAttribute('data-id')).toBe('b1');
    // The replay's roll is read-only: a click picks a note, it adds none.
    await page.locator('.note[data-id=a3]').click();
    await expect.poll(() => page.getByTestId('note-author').textContent()).toMatch(/^A2 at beat 3: created by ann at .+; last changed by cleo at .+\.$/);
    expect((await replayShape(page))!.Bass).toEqual(AT_B.Bass);
    await page.context().close();
  });

  it('the studio’s Versions panel lists named and automatic versions, names one, opens one in the replay, and renames and deletes with clear errors', { timeout: 90_000 }, async () => {
    const page = await studioWithVersions('ann');
    expect(await listed(page)).toEqual([
      ['Autosave', 'auto', 'automatic: autosave while editing'],
      ['Groove', 'named', null],
    ]);
    expect(await versionRow(page, 'Groove').textContent()).toContain('bass and drums');
    expect(await versionRow(page, 'Groove').locator('.version-head .muted').textContent()).toMatch(/^ann, /);

    // Naming one adds it, with its description, first.
    await page.getByTestId('version-label').fill('Bridge idea');
    await page.getByTestId('version-description').fill('keys come in');
    await page.getByTestId('name-version').click();
    await expect.poll(() => listed(page)).toEqual([
      ['Bridge idea', 'named', null],
      ['Autosave', 'auto', 'automatic: autosave while editing'],
      ['Groove', 'named', null],
    ]);
    expect(await page.getByTestId('versions-status').textContent()).toBe('Named “Bridge idea”.');
    const token = await sessionToken(page);
    const api = await call('GET', `/api/v1/sessions/${S}/versions`, token);
    expect((api.body.versions as { label: string; author: string; description: string }[])[0]).toMatchObject({ label: 'Bridge idea', author: 'ann', description: 'keys come in' });

    // Renaming to nothing is refused with the server's reason; then renamed, then deleted.
    await versionRow(page, 'Bridge idea').getByTestId('version-rename').click();
    await page.getByTestId('rename-label').fill('   ');
    await page.getByTestId('rename-save').click();
    await expect.poll(() => page.getByTestId('versions-error').textContent()).toBe('the version was not renamed: a label is 1 to 100 characters');
    await versionRow(page, 'Bridge idea').getByTestId('version-rename').click();
    await page.getByTestId('rename-label').fill('Bridge');
    await page.getByTestId('rename-save').click();
    await expect.poll(() => listed(page)).toEqual([
      ['Bridge', 'named', null],
      ['Autosave', 'auto', 'automatic: autosave while editing'],
      ['Groove', 'named', null],
    ]);
    expect(await page.getByTestId('versions-error').textContent()).toBe('');
    await versionRow(page, 'Bridge').getByTestId('version-delete').click();
    expect(await page.getByTestId('confirm-yes').evaluate((b) => b === (globalThis as unknown as { document: { activeElement: unknown } }).document.activeElement)).toBe(true);
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.screenshot({ path: path.join(SHOTS, 'history-versions.png') });
    await page.keyboard.press('Enter');
    await expect.poll(() => listed(page)).toEqual([
      ['Autosave', 'auto', 'automatic: autosave while editing'],
      ['Groove', 'named', null],
    ]);

    // Opening a version: the replay viewer at its moment, holding the version.
    await versionRow(page, 'Groove').getByTestId('version-open').click();
    const groove = (await call('GET', `/api/v1/sessions/${S}/versions/${grooveId}`, token)).body;
    await expect.poll(() => hashOf(page)).toBe(`#/replay/${S}?at=${groove.at}`);
    await expect.poll(() => replayShape(page), { timeout: 20_000 }).toEqual(AT_A);
    expect(Number(await page.getByTestId('scrubber').inputValue())).toBe(groove.at);
    expect(await page.locator('body').innerText()).not.toContain(token);
    await page.context().close();
  });

  it('an editor renames and deletes only their own versions; a viewer sees the list and no button that changes anything', { timeout: 90_000 }, async () => {
    const ben = await studioWithVersions('ben', 'editor');
    const groove = versionRow(ben, 'Groove');
    expect(await groove.getByRole('button').evaluateAll((bs) => bs.map((b) => b.getAttribute('data-testid')))).toEqual(['version-open', 'version-branch', 'version-restore']);
    expect(await ben.getByTestId('name-version').isVisible()).toBe(true);
    await ben.context().close();

    const vic = await studioWithVersions('vic', 'viewer');
    expect((await listed(vic)).map(([label]) => label)).toEqual(['Autosave', 'Groove']);
    expect(await vic.getByTestId('versions').getByRole('button').evaluateAll((bs) => bs.map((b) => b.getAttribute('data-testid')))).toEqual(['version-open', 'version-open']);
    expect(await vic.getByTestId('name-version').isVisible()).toBe(false);
    // In the replay viewer: opening and comparing only.
    await openReplayAt(vic, tB);
    await vic.getByTestId('version-list').locator('li[data-version]').first().waitFor();
    expect(await vic.getByTestId('versions').getByRole('button').evaluateAll((bs) => bs.map((b) => b.getAttribute('data-testid')))).toEqual(['version-open', 'version-compare', 'version-open', 'version-compare']);
    await vic.context().close();
  });

  it('says the server’s reason when a comparison is refused: a version deleted meanwhile', { timeout: 60_000 }, async () => {
    const scratch = await call('POST', `/api/v1/sessions/${S}/versions`, ownerToken, { label: 'Scratch' });
    const page = await signedIn(browser, server.url, 'ben', '#/', 'editor');
    await openReplayAt(page, tB);
    await versionRow(page, 'Scratch').waitFor();
    expect((await call('DELETE', `/api/v1/sessions/${S}/versions/${scratch.body.id}`, ownerToken)).status).toBe(204);
    await page.getByTestId('compare-from-version').selectOption(String(scratch.body.id));
    await expect.poll(() => page.getByTestId('changes-error').textContent(), { timeout: 20_000 }).toBe(`the changes could not be read: version ${scratch.body.id} of session ${S} not found`);
    expect(await marks(page)).toEqual({});
    expect(await page.locator('body').innerText()).not.toContain(await sessionToken(page));
    await page.context().close();
  });

  it('restores a version as a branch session, opened in the studio, with the original untouched', { timeout: 90_000 }, async () => {
    const page = await studioWithVersions('ann');
    await expect.poll(() => studioShape(page), { timeout: 20_000 }).toEqual(AT_B);
    await versionRow(page, 'Groove').getByTestId('version-branch').click();
    const branch = `${S}.v${grooveId}`;
    await expect.poll(() => hashOf(page), { timeout: 20_000 }).toBe(`#/studio/${branch}`);
    await expect.poll(() => page.getByTestId('status').textContent(), { timeout: 20_000 }).toBe('connected');
    await expect.poll(() => studioShape(page), { timeout: 20_000 }).toEqual(AT_A);
    expect(new StudioDoc(docOf(await server.veza.collab.state(T, S))).tracks().map((t) => t.name)).toEqual(['Bass', 'Drums', 'Keys']);
    expect(shape(new StudioDoc(docOf(await server.veza.collab.state(T, branch))))).toEqual(AT_A);
    await page.context().close();
  });

  it('restores a version into the open session after a confirmation, and Undo brings the session back', { timeout: 90_000 }, async () => {
    const page = await studioWithVersions('ann');
    await expect.poll(() => studioShape(page), { timeout: 20_000 }).toEqual(AT_B);
    await versionRow(page, 'Groove').getByTestId('version-restore').click();
    expect(await versionRow(page, 'Groove').locator('.confirm').textContent()).toContain(`Replace the music of ${S} with “Groove” for everyone in it?`);
    // Cancel leaves everything as it was.
    await page.getByTestId('confirm-no').click();
    expect(await page.locator('.confirm').count()).toBe(0);
    await versionRow(page, 'Groove').getByTestId('version-restore').click();
    await page.getByTestId('confirm-yes').click();
    await expect.poll(() => studioShape(page), { timeout: 20_000 }).toEqual(AT_A);
    await expect.poll(() => page.getByTestId('versions-status').textContent()).toBe('Restored “Groove” — Undo');
    // Nothing changed since the autosave: that version is the one the Undo restores.
    expect(await listed(page)).toEqual([
      ['Autosave', 'auto', 'automatic: autosave while editing'],
      ['Groove', 'named', null],
    ]);
    await page.getByTestId('restore-undo').click();
    await expect.poll(() => studioShape(page), { timeout: 20_000 }).toEqual(AT_B);
    await expect.poll(() => page.getByTestId('versions-status').textContent()).toBe('Undone: the session is back as it was before the restore.');
    // Undoing is a restore too: the restored state it replaced is kept as an automatic version.
    await expect.poll(() => listed(page)).toEqual([
      ['Before restore', 'auto', 'automatic: before a restore'],
      ['Autosave', 'auto', 'automatic: autosave while editing'],
      ['Groove', 'named', null],
    ]);
    expect(shape(new StudioDoc(docOf(await server.veza.collab.state(T, S))))).toEqual(AT_B);
    await page.context().close();
  });

  it('the replay with its history panels passes axe-core, is reached by keyboard, and fits from 1024 px', { timeout: 90_000 }, async () => {
    const page = await signedIn(browser, server.url, 'cleo', '#/', 'editor');
    await openReplayAt(page, tA);
    await page.getByLabel('track', { exact: true }).selectOption({ label: 'Bass' });
    await page.getByTestId('compare-from-here').click();
    await seek(page, tB);
    await expect.poll(() => marks(page), { timeout: 20_000 }).toEqual({ 'diff-added': 3, 'diff-removed': 1, 'diff-moved-from': 1, 'diff-moved': 1, 'diff-resized': 1 });
    await page.getByTestId('shares').locator('li[data-user]').first().waitFor();
    await page.locator('.note[data-id=a1]').hover();
    expect(await accessibilityViolations(page)).toEqual([]);

    // The panels' controls are reached with the Tab key.
    await page.getByTestId('replay-export').focus();
    const reached = new Set<string>();
    for (let i = 0; i < 25; i++) {
      await page.keyboard.press('Tab');
      reached.add(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { getAttribute(n: string): string | null } | null } }).document.activeElement?.getAttribute('data-testid') ?? ''));
    }
    expect([...reached]).toEqual(expect.arrayContaining(['compare-from-here', 'compare-from-version', 'compare-to', 'compare-clear', 'version-open', 'version-compare', 'version-branch']));

    for (const width of [1024, 1440]) {
      await page.setViewportSize({ width, height: 800 });
      const { scroll, inner } = await page.evaluate(() => {
        const d = globalThis as unknown as { document: { documentElement: { scrollWidth: number } }; innerWidth: number };
        return { scroll: d.document.documentElement.scrollWidth, inner: d.innerWidth };
      });
      expect(scroll, `${width} px`).toBeLessThanOrEqual(inner);
      await page.screenshot({ path: path.join(SHOTS, `history-replay-${width}.png`) });
    }
    await page.context().close();
  });
});

/** A Y.Doc holding `state`. */
function docOf(state: Uint8Array): Y.Doc {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, state);
  return doc;
}
