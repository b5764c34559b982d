import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionDiff } from '../../src/history/diff.js';
import { historyModule } from '../../src/history/module.js';
import type { Moment } from '../../src/history/service.js';
import type { LoggedUpdateRow } from '../../src/studio/replay-store.js';
import { studioModule } from '../../src/studio/module.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { playScript } from './script.js';

/**
 * Diffs of a scripted three-user session (test/history/script.ts) between moments: every entry with
 * the user whose update made that change (the latest when several did), through the HTTP API.
 */
let server: TestServer;
let token: string;
let rows: LoggedUpdateRow[];
const doc = 'diffed-song';

const by = (n: number) => ({ by: rows[n - 1]!.author, at: rows[n - 1]!.at });
const at = (n: number) => rows[n - 1]!.at;
const moment = (n: number) => ({ at: at(n), uptoId: rows[n - 1]!.id });
const get = (path: string, auth = token) => fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${auth}` } });
const diff = async (query: string) => {
  const res = await get(`/api/v1/sessions/${doc}/diff?${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as SessionDiff & { sessionId: string; from: Moment; to: Moment };
};
const n = (id: string, pitch: number, start: number, duration: number, velocity: number) => ({ id, pitch, start, duration, velocity, channel: 0 });

beforeAll(async () => {
  server = await startTestServer({ 'collab-flush-ms': '5' });
  token = await server.veza.auth.sign({ sub: 'a', docs: { [doc]: 'viewer', 'never-stored': 'owner' } });
  rows = await playScript(server.veza.collab, server.veza.modules.api(studioModule).replay, doc);
}, 60_000);
afterAll(() => server?.stop());

describe('diff', () => {
  it('lists every change from M1 to the end, each with its author', async () => {
    const body = await diff(`from=${at(9)}&to=${at(21)}`);
    expect(body.sessionId).toBe(doc);
    expect(body.from).toEqual(moment(9));
    expect(body.to).toEqual(moment(21));
    expect(body.tracks).toEqual([
      {
        trackId: 't1',
        name: 'Drums',
        change: null,
        by: null,
        at: null,
        clips: [],
        notes: [
          // Moved and resized: one entry each, each with its own author.
          { noteId: 'n1', clipId: 'c1', change: 'moved', before: n('n1', 36, 240, 120, 100), after: n('n1', 37, 240, 200, 100), ...by(10) },
          { noteId: 'n1', clipId: 'c1', change: 'resized', before: n('n1', 36, 240, 120, 100), after: n('n1', 37, 240, 200, 100), ...by(11) },
          // Resized by b, then by c: the latest is credited.
          { noteId: 'n2', clipId: 'c1', change: 'resized', before: n('n2', 38, 480, 120, 90), after: n('n2', 38, 480, 360, 60), ...by(13) },
          { noteId: 'n2', clipId: 'c1', change: 'revelocitied', before: n('n2', 38, 480, 120, 90), after: n('n2', 38, 480, 360, 60), ...by(13) },
          { noteId: 'n4', clipId: 'c1', change: 'removed', before: n('n4', 42, 960, 60, 70), ...by(16) },
        ],
      },
      {
        trackId: 't2',
        name: 'Sub bass',
        change: 'renamed',
        ...by(15),
        clips: [],
        notes: [{ noteId: 'n3', clipId: 'c2', change: 'moved', before: n('n3', 40, 0, 240, 80), after: n('n3', 41, 0, 240, 80), ...by(14) }],
      },
      {
        trackId: 't3',
        name: 'Keys',
        change: 'added',
        ...by(17),
        clips: [{ clipId: 'c3', name: 'Chords', change: 'added', ...by(17) }],
        notes: [{ noteId: 'n5', clipId: 'c3', change: 'added', after: n('n5', 60, 0, 480, 100), ...by(17) }],
      },
    ]);
    expect(body.tempo).toEqual([{ change: 'changed', tick: 1920, before: 140, after: 150, ...by(18) }]);
    expect(body.timeSignatures).toEqual([
      { change: 'added', tick: 0, after: { numerator: 4, denominator: 4 }, ...by(19) },
      { change: 'added', tick: 3840, after: { numerator: 3, denominator: 4 }, ...by(19) },
    ]);
    expect(body.summary).toEqual({
      notesAdded: 1,
      notesRemoved: 1,
      notesMoved: 2,
      notesResized: 2,
      notesRevelocitied: 1,
      tracksAdded: 1,
      tracksRemoved: 0,
      clipsAdded: 1,
      clipsRemoved: 0,
      tempoChanges: 1,
      timeSignatureChanges: 2,
    });
    expect(body.authors).toEqual([
      { userId: 'c', changes: 6 },
      { userId: 'b', changes: 4 },
      { userId: 'a', changes: 3 },
    ]);
  });

  it('lists what the first moments added, from before the session began', async () => {
    const body = await diff(`from=${at(1) - 1}&to=${at(9)}`);
    expect(body.from).toEqual({ at: at(1) - 1, uptoId: null });
    expect(body.tracks).toEqual([
      {
        trackId: 't1',
        name: 'Drums',
        change: 'added',
        ...by(1),
        clips: [{ clipId: 'c1', name: 'Beat', change: 'added', ...by(2) }],
        notes: [
          { noteId: 'n1', clipId: 'c1', change: 'added', after: n('n1', 36, 240, 120, 100), ...by(3) },
          { noteId: 'n2', clipId: 'c1', change: 'added', after: n('n2', 38, 480, 120, 90), ...by(3) },
          { noteId: 'n4', clipId: 'c1', change: 'added', after: n('n4', 42, 960, 60, 70), ...by(8) },
        ],
      },
      {
        trackId: 't2',
        name: 'Bass',
        change: 'added',
        ...by(4),
        clips: [{ clipId: 'c2', name: 'Line', change: 'added', ...by(5) }],
        notes: [{ noteId: 'n3', clipId: 'c2', change: 'added', after: n('n3', 40, 0, 240, 80), ...by(6) }],
      },
    ]);
    expect(body.tempo).toEqual([
      { change: 'added', tick: 0, after: 120, ...by(9) },
      { change: 'added', tick: 1920, after: 140, ...by(9) },
    ]);
    expect(body.timeSignatures).toEqual([]);
    expect(body.authors).toEqual([
      { userId: 'a', changes: 6 },
      { userId: 'b', changes: 3 },
      { userId: 'c', changes: 1 },
    ]);
  });

  it('names who removed a track, and leaves out what came and went between the moments', async () => {
    expect((await diff(`from=${at(19)}&to=${at(21)}`)).tracks).toEqual([]);
    const removed = await diff(`from=${at(20)}&to=${at(21)}`);
    expect(removed.tracks).toEqual([{ trackId: 't4', name: 'Temp', change: 'removed', ...by(21), clips: [], notes: [] }]);
    expect(removed.summary.tracksRemoved).toBe(1);
    expect(removed.authors).toEqual([{ userId: 'a', changes: 1 }]);
  });

  it('is empty between a moment and itself, and `to` defaults to now', async () => {
    const same = await diff(`from=${at(12)}&to=${at(12)}`);
    expect(same).toMatchObject({ tracks: [], tempo: [], timeSignatures: [], authors: [] });
    const now = await diff(`from=${at(20)}`);
    expect(now.to.uptoId).toBe(rows[20]!.id);
    expect(now.tracks.map((t) => t.trackId)).toEqual(['t4']);
  });

  it('takes saved versions as moments: the log id each ends at', async () => {
    const { versions } = server.veza.modules.api(historyModule);
    const m1 = await versions.create('default', doc, { label: 'M1', author: 'a', kind: 'named', at: at(9) });
    const end = await versions.create('default', doc, { label: 'End', author: 'a', kind: 'named' });
    const byVersion = await diff(`fromVersion=${m1.id}&toVersion=${end.id}`);
    expect(byVersion.from).toEqual(moment(9));
    expect(byVersion.to).toEqual(moment(21));
    const byTime = await diff(`from=${at(9)}&to=${at(21)}`);
    expect(byVersion.tracks).toEqual(byTime.tracks);
    expect(byVersion.authors).toEqual(byTime.authors);
    // A version and a time together; a version after the time is refused.
    expect((await diff(`fromVersion=${m1.id}&to=${at(21)}`)).summary).toEqual(byTime.summary);
    const reversed = await get(`/api/v1/sessions/${doc}/diff?fromVersion=${end.id}&to=${at(9)}`);
    expect(reversed.status).toBe(400);
    expect(((await reversed.json()) as { detail: string }).detail).toMatch(/must not come after/);
  });

  it('answers 400 for bad or reversed moments, 404 for an unknown session or version, 403 without a role', async () => {
    const cases: [string, number, RegExp][] = [
      [`from=${at(21)}&to=${at(9)}`, 400, /must not be after/],
      ['from=soon', 400, /from must be a time in Unix milliseconds/],
      [`from=${at(9)}&to=`, 400, /to must be a time/],
      ['', 400, /from \(Unix milliseconds\) or fromVersion is required/],
      [`from=${at(9)}&fromVersion=v1`, 400, /not both/],
      ['fromVersion=bad%20id', 400, /fromVersion must be a version id/],
      ['fromVersion=v1', 404, /version v1 of session diffed-song not found/],
      ['fromVersion=999999', 404, /version 999999 of session diffed-song not found/],
    ];
    for (const [query, status, detail] of cases) {
      const res = await get(`/api/v1/sessions/${doc}/diff?${query}`);
      expect(res.status, query).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
      expect(((await res.json()) as { detail: string }).detail, query).toMatch(detail);
    }
    expect((await get(`/api/v1/sessions/never-stored/diff?from=0`)).status).toBe(404);
    expect((await get(`/api/v1/sessions/other/diff?from=0`)).status).toBe(403);
  });
});
