import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthorshipReport } from '../../src/history/report.js';
import type { LoggedUpdateRow } from '../../src/studio/replay-store.js';
import { studioModule } from '../../src/studio/module.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { playScript } from './script.js';

/**
 * Authorship of a scripted three-user session (test/history/script.ts): who created and who last
 * changed every track, clip and note, who removed what, and the shares, exactly, at the end and at
 * an earlier moment, through the HTTP API.
 */
let server: TestServer;
let token: string;
let rows: LoggedUpdateRow[];
const doc = 'authored-song';

/** Step n's (1-based) author and time as the log recorded them. */
const by = (n: number) => ({ by: rows[n - 1]!.author, at: rows[n - 1]!.at });
const authored = (created: number, changed: number) => ({ createdBy: by(created).by, createdAt: by(created).at, lastChangedBy: by(changed).by, lastChangedAt: by(changed).at });
const get = (path: string, auth = token) => fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${auth}` } });
type Body = AuthorshipReport & { sessionId: string; at: number };
const read = async (res: Response) => (await res.json()) as Body;
const detail = async (res: Response) => ((await res.json()) as { detail: string }).detail;

beforeAll(async () => {
  server = await startTestServer({ 'collab-flush-ms': '5' });
  token = await server.veza.auth.sign({ sub: 'a', docs: { [doc]: 'owner', 'never-stored': 'owner' } });
  rows = await playScript(server.veza.collab, server.veza.modules.api(studioModule).replay, doc);
}, 60_000);
afterAll(() => server?.stop());

describe('authorship', () => {
  it('logs one update per step with its author', () => {
    expect(rows.map((r) => r.author).join('')).toBe('aaabbbccaabbcacbcabba');
  });

  it('names who created and last changed every track, clip and note at the end, and who removed what', async () => {
    const res = await get(`/api/v1/sessions/${doc}/authorship`);
    expect(res.status).toBe(200);
    const body = await read(res);
    expect(body.sessionId).toBe(doc);
    expect(body.uptoId).toBe(rows[20]!.id);
    expect(body.updates).toBe(21);
    expect(body.tracks).toEqual([
      {
        id: 't1',
        name: 'Drums',
        ...authored(1, 16),
        clips: [{ id: 'c1', name: 'Beat', ...authored(2, 16), notes: [{ id: 'n1', ...authored(3, 11) }, { id: 'n2', ...authored(3, 13) }] }],
      },
      { id: 't2', name: 'Sub bass', ...authored(4, 15), clips: [{ id: 'c2', name: 'Line', ...authored(5, 14), notes: [{ id: 'n3', ...authored(6, 14) }] }] },
      { id: 't3', name: 'Keys', ...authored(17, 17), clips: [{ id: 'c3', name: 'Chords', ...authored(17, 17), notes: [{ id: 'n5', ...authored(17, 17) }] }] },
    ]);
    expect(body.removed).toEqual([
      { kind: 'note', trackId: 't1', clipId: 'c1', noteId: 'n4', removedBy: 'b', removedAt: by(16).at },
      { kind: 'track', trackId: 't4', removedBy: 'a', removedAt: by(21).at },
    ]);
    expect(body.shares).toEqual([
      { userId: 'a', notes: { count: 2, share: 0.5 }, tracks: { count: 1, share: 0.3333 }, edits: { count: 8, share: 0.381 } },
      { userId: 'b', notes: { count: 1, share: 0.25 }, tracks: { count: 1, share: 0.3333 }, edits: { count: 8, share: 0.381 } },
      { userId: 'c', notes: { count: 1, share: 0.25 }, tracks: { count: 1, share: 0.3333 }, edits: { count: 5, share: 0.2381 } },
    ]);
  });

  it('answers for any earlier moment, as the session was then', async () => {
    const m1 = rows[8]!.at;
    const body = await read(await get(`/api/v1/sessions/${doc}/authorship?at=${m1}`));
    expect(body).toMatchObject({ at: m1, uptoId: rows[8]!.id, updates: 9, removed: [] });
    expect(body.tracks).toEqual([
      {
        id: 't1',
        name: 'Drums',
        ...authored(1, 8),
        clips: [{ id: 'c1', name: 'Beat', ...authored(2, 8), notes: [{ id: 'n1', ...authored(3, 7) }, { id: 'n2', ...authored(3, 3) }, { id: 'n4', ...authored(8, 8) }] }],
      },
      { id: 't2', name: 'Bass', ...authored(4, 6), clips: [{ id: 'c2', name: 'Line', ...authored(5, 6), notes: [{ id: 'n3', ...authored(6, 6) }] }] },
    ]);
    expect(body.shares).toEqual([
      { userId: 'a', notes: { count: 2, share: 0.5 }, tracks: { count: 1, share: 0.5 }, edits: { count: 4, share: 0.4444 } },
      { userId: 'b', notes: { count: 1, share: 0.25 }, tracks: { count: 1, share: 0.5 }, edits: { count: 3, share: 0.3333 } },
      { userId: 'c', notes: { count: 1, share: 0.25 }, tracks: { count: 0, share: 0 }, edits: { count: 2, share: 0.2222 } },
    ]);
    // Back to the end: the kept engine is past M1 and a new one replays; the same answer as before.
    const end = await read(await get(`/api/v1/sessions/${doc}/authorship?at=${rows[20]!.at}`));
    expect(end.updates).toBe(21);
    expect(end.tracks.map((t) => t.id)).toEqual(['t1', 't2', 't3']);
  });

  it('is empty before the first update', async () => {
    const body = await read(await get(`/api/v1/sessions/${doc}/authorship?at=${rows[0]!.at - 1}`));
    expect(body).toEqual({ sessionId: doc, at: rows[0]!.at - 1, uptoId: null, updates: 0, tracks: [], removed: [], shares: [] });
  });

  it('answers 400 for a bad moment, 404 for a session never stored, 403 without a role, 401 without a token', async () => {
    const bad = await get(`/api/v1/sessions/${doc}/authorship?at=yesterday`);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/problem\+json/);
    expect(await detail(bad)).toMatch(/at must be a time in Unix milliseconds/);
    expect((await get(`/api/v1/sessions/${doc}/authorship?at=-5`)).status).toBe(400);
    expect((await get(`/api/v1/sessions/${doc}/authorship?at=8640000000000000`)).status).toBe(400);
    const missing = await get('/api/v1/sessions/never-stored/authorship');
    expect(missing.status).toBe(404);
    expect(await detail(missing)).toMatch(/never-stored has no recording/);
    expect((await get('/api/v1/sessions/secret/authorship')).status).toBe(403);
    expect((await fetch(`${server.url}/api/v1/sessions/${doc}/authorship`)).status).toBe(401);
  });
});
