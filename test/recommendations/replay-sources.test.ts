import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { popularityRecommender, replay } from '../../src/recommendations/replay.js';
import { recordedReplayInput } from '../../src/recommendations/replay-sources.js';
import { SIGNAL_WEIGHTS } from '../../src/recommendations/signals.js';
import { Storage } from '../../src/storage/database.js';
import { createTestDatabase, postgresAvailable, tempDir } from '../helpers/services.js';

const hasPostgres = await postgresAvailable();

describe.skipIf(!hasPostgres)('replay input from what a server recorded (PostgreSQL)', () => {
  let db: { url: string; drop: () => Promise<void> };
  let storage: Storage;
  const dir = tempDir('replay-sources');
  const at = (minute: number) => new Date(Date.UTC(2026, 10, 2, 12, minute));

  beforeAll(async () => {
    db = await createTestDatabase();
    storage = await Storage.open({ dataDir: dir.dir, databaseUrl: db.url, thread: false });
    await storage.migrate();
    await storage.db.insertInto('tenants').values([{ id: 'label-a', name: 'Label A' }, { id: 'label-b', name: 'Label B' }]).execute();
    const update = (tenant_id: string, doc_id: string, author: string, minute: number) => ({ tenant_id, doc_id, author, at: at(minute), size: 1, update: new Uint8Array([0]) });
    await storage.db
      .insertInto('document_updates')
      .values([update('label-a', 'jam', 'ana', 1), update('label-a', 'jam', 'ana', 2), update('label-a', 'jam', 'ben', 5), update('label-a', 'jam', 'ben', 3), update('label-b', 'other', 'zoe', 1)])
      .execute();
    const track = (tenant_id: string, user_id: string, track_id: string, firsts: Partial<Record<'first_play_at' | 'first_like_at' | 'first_share_at' | 'first_purchase_at', Date>>) => ({
      tenant_id,
      user_id,
      track_id,
      segment: 'listener',
      first_play_at: null,
      first_like_at: null,
      first_share_at: null,
      first_purchase_at: null,
      ...firsts,
    });
    await storage.db
      .insertInto('ins_user_tracks')
      .values([
        track('label-a', 'ana', 'kick', { first_play_at: at(10), first_like_at: at(12), first_purchase_at: at(20) }),
        track('label-a', 'ben', 'kick', { first_play_at: at(30), first_share_at: at(31) }),
        track('label-a', 'ben', 'song', { first_play_at: at(11) }),
        track('label-b', 'zoe', 'kick', { first_play_at: at(10) }),
      ])
      .execute();
    await storage.db
      .insertInto('rec_items')
      .values([
        { tenant_id: 'label-a', item_id: 'kick', kind: 'sample', tags: '[]' },
        { tenant_id: 'label-a', item_id: 'song', kind: 'track', tags: '[]' },
        { tenant_id: 'label-b', item_id: 'other-kick', kind: 'sample', tags: '[]' },
      ])
      .execute();
  }, 60_000);
  afterAll(async () => {
    await storage?.close();
    await db?.drop();
    dir.remove();
  });

  it('reads each author\'s first edit of a session, each first play, like, share and purchase with its weight, and the samples, of one tenant only', async () => {
    const recorded = await recordedReplayInput(storage, 'label-a');
    expect(recorded.counts).toEqual({ sessions: 1, coedits: 2, interactions: 6, samples: 1 });
    expect([...recorded.kinds]).toEqual([['kick', 'sample']]);
    const sorted = [...recorded.events].sort((a, b) => a.at - b.at || JSON.stringify(a).localeCompare(JSON.stringify(b)));
    expect(sorted).toEqual([
      { at: at(1).getTime(), type: 'coedit', userId: 'ana', sessionId: 'jam' },
      { at: at(3).getTime(), type: 'coedit', userId: 'ben', sessionId: 'jam' },
      { at: at(10).getTime(), type: 'interaction', userId: 'ana', itemId: 'kick', weight: SIGNAL_WEIGHTS.play },
      { at: at(11).getTime(), type: 'interaction', userId: 'ben', itemId: 'song', weight: SIGNAL_WEIGHTS.play },
      { at: at(12).getTime(), type: 'interaction', userId: 'ana', itemId: 'kick', weight: SIGNAL_WEIGHTS.like },
      { at: at(20).getTime(), type: 'interaction', userId: 'ana', itemId: 'kick', weight: SIGNAL_WEIGHTS.purchase },
      { at: at(30).getTime(), type: 'interaction', userId: 'ben', itemId: 'kick', weight: SIGNAL_WEIGHTS.play },
      { at: at(31).getTime(), type: 'interaction', userId: 'ben', itemId: 'kick', weight: SIGNAL_WEIGHTS.share },
    ]);
    // Replayed: ben joins ana's session (a collaboration trial, ana suggested by popularity), and
    // takes up the sample ana had (a samples trial, hit); ana's own first take-up had nothing before it.
    const result = replay(recorded.events, recorded.kinds, [popularityRecommender], 10);
    expect(result.summary.collaboration.popularity).toEqual({ hits: 1, trials: 1 });
    expect(result.summary.samples.popularity).toEqual({ hits: 1, trials: 2 });
  });

  it('reads nothing of another tenant, and nothing for a tenant with no records', async () => {
    const other = await recordedReplayInput(storage, 'label-b');
    expect(other.counts).toEqual({ sessions: 1, coedits: 1, interactions: 1, samples: 1 });
    expect(new Set(other.events.map((e) => e.userId))).toEqual(new Set(['zoe']));
    expect((await recordedReplayInput(storage, 'nobody')).counts).toEqual({ sessions: 0, coedits: 0, interactions: 0, samples: 0 });
  });
});
