// The engine's batches against the same events applied one at a time: a tenant fed one event per
// transaction and a tenant fed batches (with redeliveries inside a batch and across batches) must end
// with the same progress, awards, points, levels and derived events.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import { gamificationModule } from '../../src/gamification/module.js';
import type { GamificationService } from '../../src/gamification/service.js';
import { startModules, type TestNode } from '../helpers/modules.js';

const RULES = {
  // Every counting kind, a sliding window, a filter and a subject other than the actor.
  plays: { title: 'Listener', category: 'listener', event: 'track.played', criteria: { kind: 'count', atLeast: 6 }, points: 120 },
  binge: { title: 'Binge', category: 'listener', event: 'track.played', criteria: { kind: 'count', atLeast: 3, withinSeconds: 1800 }, points: 40 },
  hours: { title: 'Hours in', category: 'listener', event: 'track.played', criteria: { kind: 'sum', field: 'durationMs', atLeast: 900_000 }, points: 200 },
  long: { title: 'Long one', category: 'listener', event: 'track.played', criteria: { kind: 'threshold', field: 'durationMs', atLeast: 290_000 }, points: 10 },
  daily: { title: 'Every day', category: 'listener', event: 'track.liked', criteria: { kind: 'streak', days: 3 }, points: 300 },
  fan: { title: 'Fan of one', category: 'listener', event: 'track.played', criteria: { kind: 'count', atLeast: 3 }, where: { trackId: 'song-7' }, points: 70 },
  tipped: { title: 'Tipped', category: 'creator', event: 'tip.sent', subject: 'toUserId', criteria: { kind: 'count', atLeast: 2 }, points: 90 },
} as const;

/** A seeded random stream of plays, likes and tips by six users over about six days, in time order. */
function stream(tenantId: string, seed: number): VezaEvent[] {
  let x = seed;
  const random = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const users = ['ann', 'bo', 'cy', 'di', 'ed', 'fay'];
  const t0 = Date.parse('2026-11-02T10:00:00Z');
  const events: VezaEvent[] = [];
  let t = t0;
  for (let i = 0; i < 240; i++) {
    // Bursts a minute apart, with two-hour pauses between them: about six days in all.
    t += random() < 0.7 ? 60_000 : 2 * 3_600_000;
    const at = new Date(t);
    const actor = users[Math.floor(random() * users.length)]!;
    const pick = random();
    if (pick < 0.7) {
      events.push(createEvent('track.played', { tenantId, actor, at, id: `${tenantId}-e${i}`, payload: { trackId: `song-${Math.floor(random() * 9)}`, durationMs: Math.floor(random() * 300_000) } }));
    } else if (pick < 0.9) {
      events.push(createEvent('track.liked', { tenantId, actor, at, id: `${tenantId}-e${i}`, payload: { trackId: 'song-1' } }));
    } else {
      const to = users[Math.floor(random() * users.length)]!;
      events.push(createEvent('tip.sent', { tenantId, actor, at, id: `${tenantId}-e${i}`, payload: { roomId: 'set-1', fromUserId: actor, toUserId: to, amount: 100, currency: 'EUR' } }));
    }
  }
  return events;
}

describe('the rules engine in batches', () => {
  let server: TestNode;
  let gamification: GamificationService;

  beforeAll(async () => {
    // The engine is fed directly: no consumer runs.
    server = await startModules(() => [gamificationModule], { 'recs-train-interval-s': '0', 'rate-limit-requests-per-minute': '0', consumers: 'none' });
    gamification = server.node.modules.api(gamificationModule);
    await server.node.storage.db.insertInto('tenants').values([{ id: 'single', name: 'single' }, { id: 'batched', name: 'batched' }]).execute();
    for (const tenant of ['single', 'batched']) {
      const admin = await server.node.auth.sign({ sub: 'ops', admin: true, tenant });
      for (const [id, rule] of Object.entries(RULES)) {
        const res = await fetch(`${server.url}/api/v1/gamification/rules/${id}`, { method: 'PUT', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(rule) });
        expect(res.status, await res.text()).toBe(201);
      }
    }
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  /** What the engine left in a tenant's tables, with the tenant's name taken out of the event ids. */
  const outcome = async (tenantId: string) => {
    const plain = (id: string) => id.replace(`${tenantId}-`, '');
    return server.node.storage.withTenant(tenantId, async (trx) => ({
      progress: (await trx.selectFrom('gam_progress').select(['user_id', 'rule_id', 'counter', 'state']).orderBy('user_id').orderBy('rule_id').execute()).map((r) => ({ ...r, state: typeof r.state === 'string' ? JSON.parse(r.state) : r.state })),
      awards: (await trx.selectFrom('gam_awards').select(['user_id', 'achievement_id', 'points', 'awarded_at', 'event_id']).orderBy('user_id').orderBy('achievement_id').execute()).map((a) => ({ ...a, awarded_at: new Date(a.awarded_at).toISOString(), event_id: plain(a.event_id) })),
      users: await trx.selectFrom('gam_users').select(['user_id', 'points', 'level']).orderBy('user_id').execute(),
      processed: Number((await trx.selectFrom('gam_processed').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n),
      outbox: (await trx.selectFrom('gam_outbox').select(['source_event_id', 'event']).execute())
        .map((o) => ({ source: plain(o.source_event_id), type: (typeof o.event === 'string' ? JSON.parse(o.event) : o.event).type as string }))
        .sort((x, y) => `${x.source} ${x.type}`.localeCompare(`${y.source} ${y.type}`)),
    }));
  };

  it('leaves what applying the events one at a time leaves, redeliveries included', async () => {
    const { engine } = gamification;
    const single = stream('single', 42);
    const batched = stream('batched', 42);
    // Leaderboard moves per event id (a redelivery answers the same moves again: counted once).
    const moves = { single: new Map<string, number>(), batched: new Map<string, number>() };
    for (const event of single) moves.single.set(event.id.replace('single-', ''), (await engine.handle(event)).length);
    // Batches of 1 to 12 events; every fifth batch carries a copy of one of its own events, and every
    // seventh one of an earlier batch's.
    let round = 0;
    for (let i = 0; i < batched.length; round++) {
      const size = 1 + ((round * 5) % 12);
      const batch = batched.slice(i, i + size);
      if (round % 5 === 4) batch.push(batch[0]!);
      if (round % 7 === 6 && i > 0) batch.unshift(batched[i - 1]!);
      const updates = await engine.handleBatch('batched', batch);
      expect(new Set(updates.keys())).toEqual(new Set(batch.map((e) => e.id)));
      for (const [id, list] of updates) {
        const plain = id.replace('batched-', '');
        if (moves.batched.has(plain)) expect(list.length).toBe(moves.batched.get(plain));
        else moves.batched.set(plain, list.length);
      }
      i += size;
    }
    const [a, b] = await Promise.all([outcome('single'), outcome('batched')]);
    expect(a.awards.length).toBeGreaterThan(10);
    expect(new Set(a.awards.map((w) => w.achievement_id))).toEqual(new Set(Object.keys(RULES)));
    expect(b.progress).toEqual(a.progress);
    expect(b.awards).toEqual(a.awards);
    expect(b.users).toEqual(a.users);
    expect(b.processed).toBe(single.length);
    expect(b.outbox).toEqual(a.outbox);
    expect(moves.batched).toEqual(moves.single);
  }, 120_000);

  it('refuses a batch holding another tenant\'s event, and writes nothing of it', async () => {
    const { engine } = gamification;
    const before = await outcome('batched');
    const mine = createEvent('track.played', { tenantId: 'batched', actor: 'gus', payload: { trackId: 'song-7', durationMs: 1000 } });
    const theirs = createEvent('track.played', { tenantId: 'single', actor: 'gus', payload: { trackId: 'song-7', durationMs: 1000 } });
    await expect(engine.handleBatch('batched', [mine, theirs])).rejects.toThrow(/is not of tenant batched/);
    expect(await outcome('batched')).toEqual(before);
  });
});
