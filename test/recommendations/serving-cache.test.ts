// The serving path's memory: per-user histories kept between requests and dropped when the bus says
// the user (or a session they co-edit) changed, and concurrent requests' rows scored in one ONNX call.
import { describe, expect, it } from 'vitest';
import { HistoryCache } from '../../src/recommendations/history-cache.js';
import { buildScoringModel, maskFor, OnnxScorer } from '../../src/recommendations/onnx-model.js';
import { ScoringBatcher } from '../../src/recommendations/scoring-batch.js';
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
  it('answers a second request from memory, and reads again once the user changed and settled', async () => {
    let now = 1000;
    const cache = new HistoryCache({ settleMs: 100, ttlMs: 60_000, now: () => now });
    const data = new Map([['u1', history(['a'])]]);
    const db = source(data);
    expect((await cache.get('t', 'u1', db.read('u1'))).items[0]!.itemId).toBe('a');
    await cache.get('t', 'u1', db.read('u1'));
    expect(db.reads).toEqual(['u1']);
    expect(cache.hits).toBe(1);

    // A play arrives on the bus; the writer stores it a moment later.
    cache.invalidate('t', 'u1');
    await cache.get('t', 'u1', db.read('u1')); // before the write: read, not kept
    data.set('u1', history(['a', 'b']));
    now += 50;
    expect((await cache.get('t', 'u1', db.read('u1'))).items).toHaveLength(2); // still unsettled: read again
    now += 100;
    await cache.get('t', 'u1', db.read('u1')); // settled: this read is kept
    await cache.get('t', 'u1', db.read('u1'));
    expect(db.reads).toEqual(['u1', 'u1', 'u1', 'u1']);
  });

  it('a co-edit drops every cached member of the session, not the others; tenants are apart', async () => {
    const cache = new HistoryCache({ settleMs: 0 });
    const data = new Map([
      ['a', history(['x'], ['song'])],
      ['b', history(['y'], ['song'])],
      ['c', history(['z'], ['other'])],
    ]);
    const db = source(data);
    for (const user of ['a', 'b', 'c']) await cache.get('t', user, db.read(user));
    await cache.get('t2', 'a', db.read('a'));
    cache.invalidate('t', 'newcomer', 'song');
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

  it('a failed read is not cached and fails the request', async () => {
    const cache = new HistoryCache();
    await expect(cache.get('t', 'u', () => Promise.reject(new Error('database down')))).rejects.toThrow('database down');
    expect(cache.size).toBe(0);
  });
});

describe('scoring batcher', () => {
  it('scores the rows of concurrent requests in one call, each getting what a call of its own gives', async () => {
    const items = 500;
    const factors = 8;
    const random = seededRandom(3);
    const matrix = Float32Array.from({ length: items * factors }, () => random() - 0.5);
    const scorer = await OnnxScorer.load(buildScoringModel(matrix, items, factors));
    try {
      const batcher = new ScoringBatcher(scorer, 8);
      const requests = Array.from({ length: 5 }, (_, r) => ({
        users: Float32Array.from({ length: 2 * factors }, () => random() - 0.5),
        masks: new Float32Array([...maskFor(items, [r, r + 1]), ...maskFor(items, [r * 7])]),
        k: 3 + r,
      }));
      const batched = await Promise.all(
        requests.map((request) => {
          const rows = batcher.open(2);
          rows.users.set(request.users);
          rows.masks.set(request.masks);
          return rows.score(request.k);
        }),
      );
      // 5 requests × 2 rows in batches of at most 8 rows: two calls.
      expect(batcher.calls).toBe(2);
      expect(batcher.rowsScored).toBe(10);
      for (const [r, request] of requests.entries()) {
        const alone = await scorer.score(request.users, request.masks, request.k);
        expect(batched[r]!.items.map((row) => Array.from(row))).toEqual(alone.items.map((row) => Array.from(row)));
        expect(batched[r]!.items[0]).toHaveLength(request.k);
      }
      // More rows than a batch holds: a call of their own.
      const big = batcher.open(9);
      big.users.set(Float32Array.from({ length: 9 * factors }, () => random()));
      expect((await big.score(2)).items).toHaveLength(9);
    } finally {
      await scorer.release();
    }
  });

  it('a failing call rejects every request of its batch', async () => {
    const scorer = await OnnxScorer.load(buildScoringModel(new Float32Array(8), 2, 4));
    const batcher = new ScoringBatcher(scorer, 4);
    await scorer.release();
    const rows = [batcher.open(1), batcher.open(1)];
    const results = await Promise.allSettled(rows.map((r) => r.score(1)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
  });
});
