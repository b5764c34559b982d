// Both leaderboard stores against a plain reference computation (filter, sum, sort) over seeded
// random event streams with ties, refunds, redeliveries and concurrent batches.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLeaderboards, decodeScore, encodeScore, periodKey, PERIODS, type BoardRef, type LeaderboardStore, type LeaderboardUpdate, type Period } from '../../src/gamification/leaderboards.js';
import { seededRandom } from '../../src/recommendations/random.js';
import { redisAvailable, REDIS_URL } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const hasRedis = await redisAvailable();

const BOARD: BoardRef = { tenantId: 'acme', scope: 'room:a:b', metric: 'tips:EUR' };
const OTHER: BoardRef = { tenantId: 'acme', scope: 'room:a', metric: 'b:tips:EUR' };

/** Updates over ~70 days (several weeks and months), few members and small deltas: many ties. */
function stream(seed: number, n: number, members = 25): LeaderboardUpdate[] {
  const random = seededRandom(seed);
  const start = Date.UTC(2026, 9, 20);
  return Array.from({ length: n }, (_, i) => ({
    board: random() < 0.8 ? BOARD : OTHER,
    member: `m${Math.floor(random() * members)}`,
    delta: random() < 0.1 ? -Math.ceil(random() * 3) : Math.ceil(random() * 5),
    // A few minutes apart at most within a burst, so equal minutes happen.
    at: new Date(start + Math.floor(random() * 70 * 24 * 60) * 60_000),
    eventId: `e${i}`,
  }));
}

/** The expected ranking, written plainly. */
function reference(updates: LeaderboardUpdate[], board: BoardRef, period: Period, at: Date) {
  const key = periodKey(period, at);
  const rows = new Map<string, { member: string; value: number; minute: number }>();
  const seen = new Set<string>();
  for (const u of updates) {
    const id = `${u.eventId}|${u.member}|${JSON.stringify(u.board)}`;
    if (seen.has(id)) continue;
    seen.add(id);
    if (JSON.stringify(u.board) !== JSON.stringify(board) || periodKey(period, u.at) !== key) continue;
    const row = rows.get(u.member) ?? { member: u.member, value: 0, minute: 0 };
    row.value += u.delta;
    row.minute = Math.max(row.minute, Math.floor((u.at.getTime() - Date.UTC(2020, 0, 1)) / 60_000));
    rows.set(u.member, row);
  }
  return [...rows.values()]
    .sort((a, b) => b.value - a.value || a.minute - b.minute || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0))
    .map((r, i) => ({ rank: i + 1, member: r.member, value: r.value }));
}

function suite(name: string, open: (prefix: string) => Promise<LeaderboardStore>, cleanup: (prefix: string) => Promise<void>) {
  describe(name, () => {
    let store: LeaderboardStore;
    const prefix = `veza:test:lb:${randomBytes(4).toString('hex')}:`;
    beforeAll(async () => {
      store = await open(prefix);
    });
    afterAll(async () => {
      await store?.close();
      await cleanup(prefix);
    });

    it('matches the reference for every period, page and neighbourhood after a random stream with redeliveries', async () => {
      const updates = stream(11, 3000);
      // Batches of 50, several at once; then a third of the stream delivered again.
      const batches = Array.from({ length: Math.ceil(updates.length / 50) }, (_, i) => updates.slice(i * 50, (i + 1) * 50));
      let applied = 0;
      for (let i = 0; i < batches.length; i += 6) applied += (await Promise.all(batches.slice(i, i + 6).map((b) => store.apply(b)))).reduce((s, n) => s + n, 0);
      expect(applied).toBe(3000);
      const again = updates.filter((_, i) => i % 3 === 0);
      expect(await store.apply(again)).toBe(0);
      const instants = [new Date(Date.UTC(2026, 9, 25, 12)), new Date(Date.UTC(2026, 10, 3)), new Date(Date.UTC(2026, 11, 24))];
      for (const board of [BOARD, OTHER]) {
        for (const period of PERIODS) {
          for (const at of instants) {
            const expected = reference(updates, board, period, at);
            const what = `${board.scope}/${board.metric} ${periodKey(period, at)}`;
            expect(await store.top(board, period, { limit: 100, at }), what).toEqual(expected);
            expect(await store.top(board, period, { offset: 3, limit: 4, at }), what).toEqual(expected.slice(3, 7));
            for (const member of ['m0', 'm7', 'm24', 'nobody']) {
              const i = expected.findIndex((e) => e.member === member);
              const around = await store.around(board, period, member, 2, at);
              expect(around, `${what} around ${member}`).toEqual(
                i < 0 ? { entry: null, above: [], below: [], size: expected.length } : { entry: expected[i], above: expected.slice(Math.max(0, i - 2), i), below: expected.slice(i + 1, i + 3), size: expected.length },
              );
            }
          }
        }
      }
    });

    it('keeps thousands of members in order as they move (ranks across many blocks)', async () => {
      const updates = stream(23, 40_000, 3000).map((u) => ({ ...u, eventId: `many-${u.eventId}`, board: { ...u.board, metric: 'many' } }));
      for (let i = 0; i < updates.length; i += 500) await store.apply(updates.slice(i, i + 500));
      const at = new Date(Date.UTC(2026, 11, 24));
      const board = { ...BOARD, metric: 'many' };
      const expected = reference(updates, board, 'all', at);
      expect(expected.length).toBeGreaterThan(2000);
      expect(await store.top(board, 'all', { limit: 100, at })).toEqual(expected.slice(0, 100));
      expect(await store.top(board, 'all', { offset: 1700, limit: 100, at })).toEqual(expected.slice(1700, 1800));
      for (const i of [0, 511, 512, 1234, expected.length - 1]) {
        expect((await store.around(board, 'all', expected[i]!.member, 3, at)).entry).toEqual(expected[i]);
      }
    });

    it('refuses a bad batch whole, and a value out of range without losing the others', async () => {
      const board: BoardRef = { tenantId: 'acme', scope: 'tenant', metric: 'points' };
      const at = new Date();
      const good = { board, member: 'ok', delta: 5, at, eventId: 'g1' };
      await expect(store.apply([good, { ...good, member: 'bad', delta: 1.5, eventId: 'g2' }])).rejects.toThrow(/delta must be an integer/);
      await expect(store.apply([{ ...good, at: new Date(Number.NaN) }])).rejects.toThrow(/at must be a time/);
      expect(await store.top(board, 'all')).toEqual([]);
      expect(await store.apply([good])).toBe(1);
      await expect(store.apply([{ ...good, member: 'big', delta: 2 ** 26 - 1, eventId: 'g3' }, { ...good, member: 'big', delta: 1, eventId: 'g4' }, { ...good, member: 'next', delta: 1, eventId: 'g5' }])).rejects.toThrow(
        /big.*range|range.*big/,
      );
      expect(await store.top(board, 'all')).toEqual([
        { rank: 1, member: 'big', value: 2 ** 26 - 1 },
        { rank: 2, member: 'ok', value: 5 },
        { rank: 3, member: 'next', value: 1 },
      ]);
    });

    it('announces which boards and periods changed', async () => {
      const heard: string[][] = [];
      const stop = store.onChange((board, keys) => heard.push([board.metric, ...keys]));
      const at = new Date(Date.UTC(2026, 11, 31, 23, 59));
      await store.apply([{ board: { tenantId: 't', scope: 'tenant', metric: 'points' }, member: 'x', delta: 1, at, eventId: 'c1' }]);
      await waitFor(() => heard.length === 1, 'the change', 5000);
      expect(heard[0]).toEqual(['points', 'day:2026-12-31', 'week:2026-W53', 'month:2026-12', 'all']);
      stop();
    });
  });
}

describe('leaderboard periods and scores', () => {
  it('names ISO weeks across year ends, days and months in UTC', () => {
    expect(periodKey('week', new Date('2026-12-31T12:00:00Z'))).toBe('week:2026-W53');
    expect(periodKey('week', new Date('2027-01-01T00:00:00Z'))).toBe('week:2026-W53');
    expect(periodKey('week', new Date('2027-01-04T00:00:00Z'))).toBe('week:2027-W01');
    expect(periodKey('week', new Date('2024-12-30T00:00:00Z'))).toBe('week:2025-W01');
    expect(periodKey('week', new Date('2026-11-24T23:59:59Z'))).toBe('week:2026-W48');
    expect(periodKey('day', new Date('2026-11-24T23:59:59.999Z'))).toBe('day:2026-11-24');
    expect(periodKey('month', new Date('2026-02-28T23:00:00-05:00'))).toBe('month:2026-03');
  });

  it('encodes value and minute in one exact double, ordered best first', () => {
    for (const [value, minute] of [
      [0, 0],
      [2 ** 26 - 1, 2 ** 26 - 1],
      [-(2 ** 26 - 1), 12345],
      [42, 3_600_000],
    ] as const) {
      expect(decodeScore(encodeScore(value, minute))).toEqual({ value, minute });
    }
    expect(encodeScore(10, 5)).toBeLessThan(encodeScore(9, 0));
    expect(encodeScore(10, 5)).toBeLessThan(encodeScore(10, 6));
  });
});

suite(
  'in-memory leaderboards',
  () => createLeaderboards({ redisUrl: null }),
  async () => undefined,
);

describe.skipIf(!hasRedis)('Redis leaderboards', () => {
  suite(
    'on Redis',
    (prefix) => createLeaderboards({ redisUrl: REDIS_URL, keyPrefix: prefix }),
    async (prefix) => {
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    },
  );

  it('tells every node of a change, and lets period boards expire while all time stays', async () => {
    const prefix = `veza:test:lb:${randomBytes(4).toString('hex')}:`;
    const [a, b] = await Promise.all([createLeaderboards({ redisUrl: REDIS_URL, keyPrefix: prefix }), createLeaderboards({ redisUrl: REDIS_URL, keyPrefix: prefix })]);
    const redis = new Redis(REDIS_URL);
    try {
      const heard: string[] = [];
      b.onChange((board) => heard.push(board.scope));
      await a.apply([{ board: { tenantId: 't', scope: 'room:x', metric: 'tips:EUR' }, member: 'u', delta: 3, at: new Date(), eventId: 'n1' }]);
      await waitFor(() => heard.includes('room:x'), 'the other node to hear of the change', 5000);
      expect(await b.top({ tenantId: 't', scope: 'room:x', metric: 'tips:EUR' }, 'day')).toEqual([{ rank: 1, member: 'u', value: 3 }]);
      const keys = (await redis.keys(`${prefix}t:*`)).sort();
      expect(keys).toHaveLength(4);
      for (const p of ['day', 'week', 'month']) expect(keys.some((k) => k.includes(`:${p}:`)), p).toBe(true);
      for (const k of keys) {
        if (k.endsWith(':all')) expect(await redis.ttl(k), k).toBe(-1);
        else expect(await redis.ttl(k), k).toBeGreaterThan(0);
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });
});
