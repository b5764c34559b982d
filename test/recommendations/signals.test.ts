import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersModule } from '../../src/consumers/module.js';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import { announceStored, SignalWriter } from '../../src/recommendations/consumer.js';
import { recommendationsModule } from '../../src/recommendations/module.js';
import { RecommendationStore } from '../../src/recommendations/store.js';
import type { Interaction } from '../../src/recommendations/signals.js';
import { decayed, HALF_LIFE_DAYS, parseHistoryLine, playWeight, strengthAt } from '../../src/recommendations/signals.js';
import { startModules, type TestNode } from '../helpers/modules.js';
import { waitFor } from '../helpers/wait.js';

describe('signal weights and time decay', () => {
  it('halves a weight every half-life, and sums events at different times exactly', () => {
    const now = new Date('2026-11-24T00:00:00Z');
    const halfLifeAgo = new Date(now.getTime() - HALF_LIFE_DAYS * 86_400_000);
    expect(decayed(strengthAt(4, now), now)).toBeCloseTo(4, 12);
    expect(decayed(strengthAt(4, halfLifeAgo), now)).toBeCloseTo(2, 12);
    expect(decayed(strengthAt(1, halfLifeAgo) + strengthAt(1, now), now)).toBeCloseTo(1.5, 12);
    // Decayed totals keep decaying as time passes, with nothing rewritten.
    const later = new Date(now.getTime() + 2 * HALF_LIFE_DAYS * 86_400_000);
    expect(decayed(strengthAt(8, now), later)).toBeCloseTo(2, 12);
  });

  it('weighs a play by how much of the track was heard', () => {
    expect(playWeight({})).toBe(1);
    expect(playWeight({ startMs: 0, endMs: 180_000, durationMs: 180_000 })).toBe(1);
    expect(playWeight({ startMs: 0, endMs: 9_000, durationMs: 180_000 })).toBeCloseTo(0.24, 10);
    expect(playWeight({ startMs: 60_000, endMs: 120_000, durationMs: 180_000 })).toBeCloseTo(0.2 + 0.8 / 3, 10);
    expect(playWeight({ endMs: 5, durationMs: 0 })).toBe(1);
  });

  it('names what is wrong with a history row', () => {
    const now = new Date('2026-11-24T00:00:00Z');
    expect(parseHistoryLine('{"type":"follow","userId":"a","artistId":"b","at":"2026-01-01T00:00:00Z"}', now).ok).toBe(true);
    expect(parseHistoryLine('{"type":"item","itemId":"x","kind":"video"}', now)).toMatchObject({ ok: false, error: expect.stringMatching(/^kind:/) });
    expect(parseHistoryLine('{"type":"coedit","userId":"a","at":"2026-01-01T00:00:00Z"}', now)).toMatchObject({ ok: false, error: expect.stringMatching(/^sessionId:/) });
    expect(parseHistoryLine('[]', now)).toMatchObject({ ok: false });
  });
});

describe('signals from the events bus', () => {
  let server: TestNode;
  beforeAll(async () => {
    server = await startModules((config) => [recommendationsModule, consumersModule({ config })], { 'recs-train-interval-s': '0', consumers: 'recommendations' });
  });
  afterAll(async () => server?.stop());

  it('stores plays, likes, purchases, follows and co-editing as they are published', async () => {
    const { bus } = server.node;
    const recommendations = server.node.modules.api(recommendationsModule);
    const tenantId = 'default';
    const at = new Date();
    const publish = (type: Parameters<typeof createEvent>[0], payload: object, actor = 'dana') =>
      bus.publish(createEvent(type, { tenantId, actor, at, payload } as never) as VezaEvent);
    await publish('track.played', { trackId: 't1', startMs: 0, endMs: 18_000, durationMs: 180_000 });
    await publish('track.played', { trackId: 't1' });
    await publish('track.liked', { trackId: 't2' });
    await publish('track.purchased', { trackId: 't3', amount: 199, currency: 'EUR' });
    await publish('user.followed', { userId: 'artist-9' });
    await publish('session.updated', { sessionId: 'song-1', author: 'dana', bytes: 10, changed: ['notes'] });
    await publish('session.updated', { sessionId: 'song-1', author: 'eli', bytes: 10, changed: ['notes'] }, 'eli');
    // A redelivered event (same id) counts once.
    const again = createEvent('track.liked', { tenantId, actor: 'dana', at, payload: { trackId: 't4' } });
    await bus.publish(again);
    await bus.publish(again);

    const history = await waitFor(async () => {
      const h = await recommendations.store.history(tenantId, 'dana');
      return h.items.length === 4 && h.coeditors.length === 1 ? h : undefined;
    }, 'the signals to be stored');
    // Four decimals: the weights decay (half-life 90 days), by about 1e-7 in the second the signals wait for their batch.
    const weights = Object.fromEntries(history.items.map((i) => [i.itemId, Number(i.weight.toFixed(4))]));
    expect(weights).toEqual({ t1: 1.28, t2: 4, t3: 10, t4: 4 });
    expect(history.items.map((i) => i.itemId)).toEqual(['t3', 't2', 't4', 't1']);
    expect(history.follows).toEqual(['artist-9']);
    expect(history.coeditors).toEqual(['eli']);
    // Read in bulk (serving prepares a model's users so), each history is the one read alone.
    const now = new Date();
    const bulk = await recommendations.store.histories(tenantId, ['dana', 'eli', 'nobody'], now);
    for (const user of ['dana', 'eli', 'nobody']) expect(bulk.get(user)).toEqual(await recommendations.store.history(tenantId, user, now));
    expect(bulk.get('eli')!.coeditors).toEqual(['dana']);
  });

  it('serving reads a history again once its signals are stored, however long the write took', async () => {
    const { bus, storage } = server.node;
    const { histories, store } = server.node.modules.api(recommendationsModule);
    const tenantId = 'default';
    const read = () => histories.get(tenantId, 'fay', () => store.history(tenantId, 'fay'));
    expect((await read()).items).toEqual([]);
    // A store whose writes wait until the test lets them go: far past any settle window.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    class SlowStore extends RecommendationStore {
      override async addInteractions(tenant: string, interactions: Interaction[]): Promise<void> {
        await released;
        await super.addInteractions(tenant, interactions);
      }
    }
    const writer = new SignalWriter(new SlowStore(storage), { flushMs: 1, onStored: (tenant, stored) => announceStored(bus, tenant, stored) });
    const stored = writer.handle(createEvent('track.played', { tenantId, actor: 'fay', payload: { trackId: 'slow-1' } }));
    // Until the write commits, the database and the cache agree: nothing yet.
    for (let i = 0; i < 3; i++) expect((await read()).items).toEqual([]);
    release();
    await stored;
    await waitFor(async () => ((await read()).items.map((i) => i.itemId).join() === 'slow-1' ? true : undefined), 'the stored play in the served history');
    // And it is kept from then on.
    const hits = histories.hits;
    expect((await read()).items.map((i) => i.itemId)).toEqual(['slow-1']);
    expect(histories.hits).toBe(hits + 1);
  });

  it('an announcement that cannot be published leaves the signals stored', async () => {
    const { storage } = server.node;
    const { store } = server.node.modules.api(recommendationsModule);
    const writer = new SignalWriter(new RecommendationStore(storage), { flushMs: 1, onStored: () => Promise.reject(new Error('bus down')) });
    // The event is done with (the bus would otherwise deliver it again, and it would count twice).
    await writer.handle(createEvent('track.liked', { tenantId: 'default', actor: 'gus', payload: { trackId: 'kept-1' } }));
    expect((await store.history('default', 'gus')).items.map((i) => i.itemId)).toEqual(['kept-1']);
  });
});
