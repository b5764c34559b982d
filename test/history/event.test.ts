import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type VezaEventOf } from '../../src/events/catalog.js';
import { authorshipBalance, authorshipTotals, collaborationScore } from '../../src/insights/authorship.js';
import type { LoggedUpdateRow } from '../../src/studio/replay-store.js';
import { studioModule } from '../../src/studio/module.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { playScript } from './script.js';

/**
 * When a session closes, its authorship is replayed off the realtime path and published as
 * `session.authorship`; insights stores it and weighs the creator's collaboration score by it.
 */
let server: TestServer;
let admin: string;
let rows: LoggedUpdateRow[];
const doc = 'closed-song';
const heard: VezaEventOf<'session.authorship'>[] = [];

interface Collaboration {
  sessions: number;
  collaborators: number;
  score: number;
  authorship: { sessions: number; sharedSessions: number; balance: number | null };
}
const collaborationOf = async (creator: string) => {
  const res = await fetch(`${server.url}/api/v1/insights?creator_id=${creator}`, { headers: { authorization: `Bearer ${admin}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { collaboration: Collaboration }).collaboration;
};

beforeAll(async () => {
  server = await startTestServer({ 'collab-flush-ms': '5', 'collab-unload-delay-ms': '300', 'recs-train-interval-s': '0', 'rate-limit-requests-per-minute': '0' });
  admin = await server.veza.auth.sign({ sub: 'ops', admin: true });
  await server.veza.bus.subscribe('test-authorship', (event) => void (event.type === 'session.authorship' && heard.push(event)), { types: ['session.authorship'] });
  // The catalogue names a and b as creators (insights reads the creators it knows).
  const load = await fetch(`${server.url}/api/v1/interactions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/x-ndjson' },
    body: ['a', 'b'].map((artistId) => JSON.stringify({ type: 'item', itemId: `song-${artistId}`, kind: 'track', artistId, title: `${artistId}'s song`, tags: [] })).join('\n'),
  });
  expect(load.status).toBe(200);
  rows = await playScript(server.veza.collab, server.veza.modules.api(studioModule).replay, doc);
}, 60_000);
afterAll(() => server?.stop());

describe('session.authorship', () => {
  it('is published once the session closes, with each user’s counts as it was then', async () => {
    await waitFor(() => heard.some((e) => e.payload.sessionId === doc), 'the authorship event', 20_000);
    const [event] = heard.filter((e) => e.payload.sessionId === doc);
    expect(event!.tenantId).toBe('default');
    expect(event!.payload).toEqual({
      sessionId: doc,
      uptoId: rows[20]!.id,
      shares: [
        { userId: 'a', notes: 2, tracks: 1, edits: 8 },
        { userId: 'b', notes: 1, tracks: 1, edits: 8 },
        { userId: 'c', notes: 1, tracks: 1, edits: 5 },
      ],
      omitted: 0,
    });
  });

  it('weighs the creator’s collaboration score by the balance of shares; an older report changes nothing', async () => {
    // a: 3 (2 notes, 1 track), b: 2, c: 2. Balance: the normalised entropy, 0.982.
    await waitFor(async () => {
      const c = await collaborationOf('a');
      return c.authorship.sessions === 1 && c.collaborators === 2;
    }, 'insights to store the report and the co-edits', 20_000);
    const a = await collaborationOf('a');
    expect(a).toEqual({ sessions: 1, collaborators: 2, score: 48, authorship: { sessions: 1, sharedSessions: 1, balance: 0.982 } });
    // Without the report the score would be 36 (two collaborators, one session).
    expect(collaborationScore({ collaborators: 2, sessions: 1, weightedShared: 0 })).toBe(36);

    const older = createEvent('session.authorship', { tenantId: 'default', payload: { sessionId: doc, uptoId: rows[5]!.id, shares: [{ userId: 'a', notes: 2, tracks: 1, edits: 3 }], omitted: 0 } });
    await server.veza.bus.publish(older);
    const marker = createEvent('session.authorship', { tenantId: 'default', payload: { sessionId: 'solo-song', uptoId: '1', shares: [{ userId: 'a', notes: 4, tracks: 1, edits: 5 }], omitted: 0 } });
    await server.veza.bus.publish(marker);
    // A session a made alone counts as a session, not as a shared one.
    await waitFor(async () => (await collaborationOf('a')).authorship.sessions === 2, 'the solo session to be stored', 20_000);
    expect((await collaborationOf('a')).authorship).toEqual({ sessions: 2, sharedSessions: 1, balance: 0.982 });
    expect((await collaborationOf('a')).score).toBe(48);
  });
});

describe('the balance of shares', () => {
  it('is 1 when everyone gave the same, 0 for one person, in between otherwise', () => {
    expect(authorshipBalance([3, 3, 3])).toBeCloseTo(1, 12);
    expect(authorshipBalance([5])).toBe(0);
    expect(authorshipBalance([5, 0, 0])).toBe(0);
    expect(authorshipBalance([])).toBe(0);
    expect(authorshipBalance([9, 1])).toBeCloseTo(0.469, 3);
  });

  it('totals a creator’s sessions: shared ones need the creator and someone else to have made notes or tracks', () => {
    const rows = [
      { session_id: 's1', user_id: 'me', notes: 9, tracks: 0 },
      { session_id: 's1', user_id: 'you', notes: 1, tracks: 0 },
      { session_id: 's2', user_id: 'me', notes: 0, tracks: 0 },
      { session_id: 's2', user_id: 'you', notes: 4, tracks: 1 },
      { session_id: 's3', user_id: 'me', notes: 2, tracks: 1 },
      { session_id: 's3', user_id: 'them', notes: 2, tracks: 1 },
    ];
    expect(authorshipTotals('me', rows)).toEqual({ sessions: 3, sharedSessions: 2, balance: 0.734, weightedShared: 1.469 });
    expect(collaborationScore({ collaborators: 2, sessions: 3, weightedShared: 1.469 })).toBe(57);
  });
});
