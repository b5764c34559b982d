// The gamification consumer applies events in batches; a batch that fails is applied one event at
// a time, so only the event that cannot be applied fails (and is retried, then parked, by the bus).
import { describe, expect, it } from 'vitest';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import { EngineBatcher } from '../../src/gamification/consumer.js';
import type { GamificationEngine } from '../../src/gamification/engine.js';
import type { LeaderboardUpdate } from '../../src/gamification/leaderboards.js';

const play = (user: string) => createEvent('track.played', { tenantId: 'default', actor: user, payload: { trackId: 'song' } }) as VezaEvent;
const move = (e: VezaEvent): LeaderboardUpdate => ({ board: { tenantId: 'default', scope: 'tenant', metric: 'points' }, member: e.actor!, delta: 1, at: new Date(e.at), eventId: e.id });

describe('EngineBatcher', () => {
  it('applies events of a moment in one batch, with their leaderboard moves together', async () => {
    const batches: string[][] = [];
    const engine = { handleBatch: async (_t: string, events: VezaEvent[]) => (batches.push(events.map((e) => e.actor!)), new Map(events.map((e) => [e.id, [move(e)]]))) } as unknown as GamificationEngine;
    const applied: LeaderboardUpdate[][] = [];
    const batcher = new EngineBatcher(engine, async (updates) => void applied.push(updates));
    await Promise.all(['ann', 'bo', 'cy'].map((u) => batcher.handle(play(u))));
    expect(batches).toEqual([['ann', 'bo', 'cy']]);
    expect(applied.map((list) => list.map((u) => u.member))).toEqual([['ann', 'bo', 'cy']]);
  });

  it('falls back to one event at a time when the batch fails: only the bad event fails', async () => {
    const bad = play('bad');
    const engine = {
      handleBatch: async () => {
        throw new Error('batch failed');
      },
      handle: async (e: VezaEvent) => {
        if (e.id === bad.id) throw new Error('this event cannot be applied');
        return [move(e)];
      },
    } as unknown as GamificationEngine;
    const applied: string[] = [];
    const batcher = new EngineBatcher(engine, async (updates) => void applied.push(...updates.map((u) => u.member)));
    const results = await Promise.allSettled([batcher.handle(play('ann')), batcher.handle(bad), batcher.handle(play('cy'))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe('this event cannot be applied');
    expect(applied).toEqual(['ann', 'cy']);
  });
});
