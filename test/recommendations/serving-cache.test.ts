// The serving path's memory: per-user histories kept between requests and dropped when the bus says
// the user (or a session they co-edit) changed, and concurrent requests' rows scored in one ONNX call
// that returns the best tracks and samples of each row.
import { describe, expect, it } from 'vitest';
import { HistoryCache } from '../../src/recommendations/history-cache.js';
import { RecommendationError } from '../../src/recommendations/errors.js';
import { maskFor } from '../../src/recommendations/onnx-model.js';
import { ServingScorer } from '../../src/recommendations/serving-scorer.js';
import { topKByScore } from '../../src/recommendations/topk.js';
import type { UserHistory } from '../../src/recommendations/store.js';
import { seededRandom } from '../../src/shared/random.js';

function history(items: string[], sessions: string[] = []): UserHistory {
  return { items: items.map((itemId) => ({ itemId, weight: 1 })), follows: [], coeditors: [], sessions };
}

/** A fake store: counts reads, answers what `data` holds now. */
function source(data: Map<string, UserHistory>) {
  const reads: string[] = [];
  return {
    reads,
    read: (user: string) => async () => {
      reads.push(user);
      return data.get(user) ?? history([]);
    },
  };
}

describe('history cache', () => {
  it('answers a second request from memory, and reads again once the user\'s signals are stored', async () => {
    const cache = new HistoryCache();
    const data = new Map([['u1', history(['a'])]]);
    const db = source(data);
    expect((await cache.get('t', 'u1', db.read('u1'))).items[0]!.itemId).toBe('a');
    await cache.get('t', 'u1', db.read('u1'));
    expect(db.reads).toEqual(['u1']);
    expect(cache.hits).toBe(1);

    // The signals writer commits a play, then announces it: the next answer reads it, and keeps it.
    data.set('u1', history(['a', 'b']));
    cache.invalidate('t', ['u1']);
    expect((await cache.get('t', 'u1', db.read('u1'))).items).toHaveLength(2);
    expect((await cache.get('t', 'u1', db.read('u1'))).items).toHaveLength(2);
    expect(db.reads).toEqual(['u1', 'u1']);
  });

  it('a read under way when its user\'s signals are stored is answered but not kept, however slow the write was', async () => {
    const cache = new HistoryCache();
    const data = new Map([['u1', history(['a'])]]);
    let finishRead!: () => void;
    const slowRead = () =>
      new Promise<UserHistory>((resolve) => {
        const before = data.get('u1')!; // what the database held when the read ran
        finishRead = () => resolve(before);
      });
    const pending = cache.get('t', 'u1', slowRead);
    // The write commits and is announced while that read is still on its way back.
    data.set('u1', history(['a', 'b']));
    cache.invalidate('t', ['u1']);
    finishRead();
    expect((await pending).items).toHaveLength(1);
    const db = source(data);
    expect((await cache.get('t', 'u1', db.read('u1'))).items).toHaveLength(2);
    expect(db.reads).toEqual(['u1']);
    // Another user's announcement leaves a read of this one alone.
    data.set('u1', history(['a', 'b', 'c']));
    cache.invalidate('t', ['u1']);
    const kept = cache.get('t', 'u1', slowRead);
    cache.invalidate('t', ['u2']);
    finishRead();
    expect((await kept).items).toHaveLength(3);
    expect((await cache.get('t', 'u1', db.read('u1'))).items).toHaveLength(3);
    expect(db.reads).toEqual(['u1']);
  });

  it('a co-edit drops every cached member of the session, not the others; tenants are apart', async () => {
    const cache = new HistoryCache();
    const data = new Map([
      ['a', history(['x'], ['song'])],
      ['b', history(['y'], ['song'])],
      ['c', history(['z'], ['other'])],
    ]);
    const db = source(data);
    for (const user of ['a', 'b', 'c']) await cache.get('t', user, db.read(user));
    await cache.get('t2', 'a', db.read('a'));
    cache.invalidate('t', ['newcomer'], ['song']);
    for (const user of ['a', 'b', 'c']) await cache.get('t', user, db.read(user));
    await cache.get('t2', 'a', db.read('a'));
    expect(db.reads).toEqual(['a', 'b', 'c', 'a', 'a', 'b']);
  });

  it('expires entries after the TTL and keeps at most maxUsers, least recently used out first', async () => {
    let now = 0;
    const cache = new HistoryCache({ ttlMs: 1000, maxUsers: 2, now: () => now });
    const db = source(new Map());
    await cache.get('t', 'a', db.read('a'));
    await cache.get('t', 'b', db.read('b'));
    await cache.get('t', 'a', db.read('a')); // a is now the most recent
    await cache.get('t', 'c', db.read('c')); // b goes
    expect(cache.size).toBe(2);
    await cache.get('t', 'a', db.read('a'));
    await cache.get('t', 'b', db.read('b'));
    now = 5000;
    await cache.get('t', 'c', db.read('c'));
    expect(db.reads).toEqual(['a', 'b', 'c', 'b', 'c']);
  });

  it('reads again after the TTL, and keeps the object it had (and what hangs off it) while the database says the same', async () => {
    let now = 0;
    const cache = new HistoryCache({ ttlMs: 1000, now: () => now });
    const data = new Map([['u', history(['a', 'b'])]]);
    const db = source(data);
    const first = await cache.get('t', 'u', db.read('u'));
    now = 1500;
    data.set('u', history(['a', 'b'])); // a new object, the same history
    expect(await cache.get('t', 'u', db.read('u'))).toBe(first);
    now = 3000;
    data.set('u', { ...history(['a', 'b']), items: [{ itemId: 'a', weight: 1 }, { itemId: 'b', weight: 0.9 }] });
    const changed = await cache.get('t', 'u', db.read('u'));
    expect(changed).not.toBe(first);
    expect(changed.items[1]!.weight).toBe(0.9);
    expect(db.reads).toEqual(['u', 'u', 'u']);
  });

  it('primes many users from one read: not those cached already, nor those dropped while it ran, and no more than room allows', async () => {
    const cache = new HistoryCache({ maxUsers: 3 });
    const data = new Map([['a', history(['x'])], ['b', history(['y'])], ['c', history(['z'])], ['d', history(['w'])]]);
    const db = source(data);
    const cachedA = await cache.get('t', 'a', db.read('a'));
    const kept = await cache.prime('t', ['a', 'b', 'c', 'd'], async () => {
      cache.invalidate('t', ['b']); // b's signals were stored while the bulk read ran
      return ['a', 'b', 'c', 'd'].map((user) => ({ ...data.get(user)! }));
    });
    expect(kept).toBe(2); // c and d; a was cached, b dropped
    expect(cache.peek('t', 'a')).toBe(cachedA);
    expect(cache.peek('t', 'b')).toBeUndefined();
    expect(cache.peek('t', 'c')!.items[0]!.itemId).toBe('z');
    const full = new HistoryCache({ maxUsers: 1 });
    expect(await full.prime('t', ['a', 'b'], async () => [history(['x']), history(['y'])])).toBe(1);
    expect(full.size).toBe(1);
  });

  it('a failed read is not cached and fails the request', async () => {
    const cache = new HistoryCache();
    await expect(cache.get('t', 'u', () => Promise.reject(new Error('database down')))).rejects.toThrow('database down');
    expect(cache.size).toBe(0);
  });
});

describe('serving scorer', () => {
  const items = 500;
  const factors = 8;
  const random = seededRandom(3);
  const matrix = Float32Array.from({ length: items * factors }, () => random() - 0.5);
  const kinds = Array.from({ length: items }, (_, i) => (i % 6 === 0 ? 1 : 0));
  const best = (vector: Float32Array, kind: number, count: number, mask: Float32Array | null) =>
    topKByScore(items, (i) => Array.from(vector).reduce((sum, v, d) => sum + v * matrix[i * factors + d]!, 0), kinds.flatMap((k, i) => (k !== kind || (mask && mask[i] !== 0) ? [i] : [])), count).map((s) => s.item);

  it('scores the rows asked for in one turn in one call per kind of row, each getting the best tracks and samples', async () => {
    const scorer = await ServingScorer.create(matrix, kinds, factors, { maxRows: 4 });
    try {
      const rows = Array.from({ length: 6 }, (_, r) => ({
        vector: Float32Array.from({ length: factors }, () => random() - 0.5),
        tracks: 3 + r,
        samples: r % 3,
        mask: r === 5 ? maskFor(items, [], (i) => i % 4 === 1) : null,
      }));
      const batched = await Promise.all(rows.map((row) => scorer.score(row)));
      // 5 plain rows in calls of at most 4, and the filtered row in a call of its own.
      expect(scorer.calls).toBe(3);
      expect(scorer.rowsScored).toBe(6);
      for (const [r, row] of rows.entries()) {
        expect(Array.from(batched[r]!.tracks)).toEqual(best(row.vector, 0, row.tracks, row.mask));
        expect(Array.from(batched[r]!.samples)).toEqual(best(row.vector, 1, row.samples, row.mask));
        const alone = await scorer.score(row);
        expect(Array.from(alone.tracks)).toEqual(Array.from(batched[r]!.tracks));
        expect(Array.from(alone.trackScores)).toEqual(Array.from(batched[r]!.trackScores));
      }
      // A mask that leaves fewer items than asked: only those come back.
      const few = await scorer.score({ vector: rows[0]!.vector, tracks: 50, samples: 50, mask: maskFor(items, [], (i) => i < 12) });
      expect([...few.tracks].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10, 11]);
      expect([...few.samples].sort((a, b) => a - b)).toEqual([0, 6]);
      await expect(scorer.score({ vector: new Float32Array(3), tracks: 1, samples: 1, mask: null })).rejects.toThrow(RecommendationError);
    } finally {
      await scorer.release();
    }
  });

  it('a failing call rejects every request of its batch', async () => {
    const scorer = await ServingScorer.create(new Float32Array(8), [0, 1], 4);
    await scorer.release();
    const results = await Promise.allSettled([0, 1].map(() => scorer.score({ vector: new Float32Array(4), tracks: 1, samples: 1, mask: null })));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
  });
});
