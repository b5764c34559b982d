// Both leaderboard stores against a plain reference computation (filter, sum, sort) over seeded
// random event streams with ties, refunds, redeliveries, concurrent batches and member ids whose
// UTF-8 byte order differs from JavaScript's string order.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareMembers, createLeaderboards, periodKey, PERIODS, type BoardRef, type LeaderboardStore, type LeaderboardUpdate, type Period } from '../../src/gamification/leaderboards.js';
import { seededRandom } from '../../src/shared/random.js';
import { redisAvailable, REDIS_URL } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const hasRedis = await redisAvailable();

const BOARD: BoardRef = { tenantId: 'acme', scope: 'room:a:b', metric: 'tips:EUR' };
const OTHER: BoardRef = { tenantId: 'acme', scope: 'room:a', metric: 'b:tips:EUR' };

/** 'm0', 'm\uFFFD1', 'm😀2', 'mé3', …: U+FFFD sorts before U+1F600 in bytes, after it in UTF-16 units. */
const memberName = (k: number) => `${['m', 'm\uFFFD', 'm😀', 'mé'][k % 4]}${k}`;

/** Updates over ~70 days (several weeks and months), few members and small deltas: many ties. */
function stream(seed: number, n: number, members = 25): LeaderboardUpdate[] {
  const random = seededRandom(seed);
  const start = Date.UTC(2026, 9, 20);
  return Array.from({ length: n }, (_, i) => ({
    board: random() < 0.8 ? BOARD : OTHER,
    member: memberName(Math.floor(random() * members)),
    delta: random() < 0.1 ? -Math.ceil(random() * 3) : Math.ceil(random() * 5),
    // Three minutes a day, at any second: equal values often share their latest minute too.
    at: new Date(start + Math.floor(random() * 70) * 86_400_000 + Math.floor(random() * 3) * 60_000 + Math.floor(random() * 60_000)),
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
    .sort((a, b) => b.value - a.value || a.minute - b.minute || Buffer.compare(Buffer.from(a.member), Buffer.from(b.member)))
    .map((r, i) => ({ rank: i + 1, member: r.member, value: r.value, minute: r.minute }));
}

const entries = (rows: { rank: number; member: string; value: number }[]) => rows.map(({ rank, member, value }) => ({ rank, member, value }));

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
      // The stream must exercise both tie-breaks: equal values, and equal values with equal minutes.
      const ties = { value: 0, minute: 0 };
      for (const period of PERIODS) {
        const rows = reference(updates, BOARD, period, new Date(Date.UTC(2026, 10, 3)));
        for (const [i, e] of rows.entries()) {
          const next = rows[i + 1];
          if (next?.value !== e.value) continue;
          ties.value++;
          if (next.minute === e.minute) ties.minute++;
        }
      }
      expect(ties.value).toBeGreaterThan(10);
      expect(ties.minute).toBeGreaterThan(3);
      const instants = [new Date(Date.UTC(2026, 9, 25, 12)), new Date(Date.UTC(2026, 10, 3)), new Date(Date.UTC(2026, 11, 24))];
      for (const board of [BOARD, OTHER]) {
        for (const period of PERIODS) {
          for (const at of instants) {
            const expected = entries(reference(updates, board, period, at));
            const what = `${board.scope}/${board.metric} ${periodKey(period, at)}`;
            expect(await store.top(board, period, { limit: 100, at }), what).toEqual(expected);
            expect(await store.top(board, period, { offset: 3, limit: 4, at }), what).toEqual(expected.slice(3, 7));
            for (const member of [memberName(0), memberName(7), memberName(22), memberName(24), 'nobody']) {
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
      const expected = entries(reference(updates, board, 'all', at));
      expect(expected.length).toBeGreaterThan(2000);
      expect(await store.top(board, 'all', { limit: 100, at })).toEqual(expected.slice(0, 100));
      expect(await store.top(board, 'all', { offset: 1700, limit: 100, at })).toEqual(expected.slice(1700, 1800));
      for (const i of [0, 511, 512, 1234, expected.length - 1]) {
        expect((await store.around(board, 'all', expected[i]!.member, 3, at)).entry).toEqual(expected[i]);
      }
    });

    it('refuses a batch with bad input or a value out of range whole, and applies it once fixed', async () => {
      const board: BoardRef = { tenantId: 'acme', scope: 'tenant', metric: 'points' };
      const at = new Date();
      const good = { board, member: 'ok', delta: 5, at, eventId: 'g1' };
      await expect(store.apply([good, { ...good, member: 'bad', delta: 1.5, eventId: 'g2' }])).rejects.toThrow(/update 1 \(member "bad"\): delta must be a safe integer, got 1.5/);
      await expect(store.apply([good, { ...good, at: new Date(Number.NaN), eventId: 'g2' }])).rejects.toThrow(/at must be a time/);
      await expect(store.apply([good, { ...good, member: 'x\ud800', eventId: 'g2' }])).rejects.toThrow(/well-formed/);
      await expect(store.apply([good, { ...good, board: { ...board, metric: '' }, eventId: 'g2' }])).rejects.toThrow(/needs a tenant, a scope and a metric/);
      expect(await store.top(board, 'all')).toEqual([]);

      // 2^31 − 1 is the largest value; one more is refused, and so is the whole batch around it.
      const max = 2 ** 31 - 1;
      const batch = [good, { ...good, member: 'big', delta: max, eventId: 'g3' }, { ...good, member: 'big', delta: 1, eventId: 'g4' }, { ...good, member: 'next', delta: 1, eventId: 'g5' }];
      await expect(store.apply(batch)).rejects.toThrow(/nothing applied: member big would reach 2147483648 on .*day:/);
      await expect(store.apply([{ ...good, member: 'low', delta: -max, eventId: 'g6' }, { ...good, member: 'low', delta: -1, eventId: 'g7' }])).rejects.toThrow(/member low would reach -2147483648/);
      for (const period of PERIODS) expect(await store.top(board, period), period).toEqual([]);
      // Nothing was marked as seen either: the batch without the bad update applies in full.
      expect(await store.apply(batch.filter((u) => u.eventId !== 'g4'))).toBe(3);
      expect(await store.apply([{ ...good, member: 'low', delta: -max, eventId: 'g6' }, { ...good, member: 'zero', delta: 0, eventId: 'g8' }])).toBe(2);
      for (const period of PERIODS) {
        expect(await store.top(board, period, { limit: 10 }), period).toEqual([
          { rank: 1, member: 'big', value: max },
          { rank: 2, member: 'ok', value: 5 },
          { rank: 3, member: 'next', value: 1 },
          { rank: 4, member: 'zero', value: 0 }, // a member at 0 stays on the board
          { rank: 5, member: 'low', value: -max },
        ]);
      }
      // Later updates still see the exact extremes.
      expect(await store.apply([{ ...good, member: 'big', delta: -1, eventId: 'g9' }, { ...good, member: 'low', delta: 1, eventId: 'g10' }])).toBe(2);
      expect((await store.around(board, 'all', 'big', 0)).entry).toEqual({ rank: 1, member: 'big', value: max - 1 });
      expect((await store.around(board, 'all', 'low', 0)).entry).toEqual({ rank: 5, member: 'low', value: -max + 1 });

      await expect(store.top(board, 'all', { limit: -1 })).rejects.toThrow(/limit must be an integer from 0 to 1000/);
      await expect(store.top(board, 'all', { offset: 1.5 })).rejects.toThrow(/offset must be an integer/);
      await expect(store.around(board, 'all', 'ok', -2)).rejects.toThrow(/neighbours must be an integer/);
      expect(await store.top(board, 'all', { limit: 0 })).toEqual([]);
    });

    it('applies a repeat inside one batch once, and counts only what it applied', async () => {
      const board: BoardRef = { tenantId: 'acme', scope: 'tenant', metric: 'repeats' };
      const at = new Date(Date.UTC(2026, 10, 24, 10));
      const u = { board, member: 'a', delta: 2, at, eventId: 'r1' };
      // Same event for another member or board is a different update; same triple is a repeat.
      expect(await store.apply([u, u, { ...u, member: 'b' }, { ...u, board: { ...board, scope: 'room:r' } }])).toBe(3);
      expect(await store.apply([u, { ...u, member: 'b' }])).toBe(0);
      expect(await store.apply([u, { ...u, eventId: 'r2' }])).toBe(1);
      expect(await store.top(board, 'day', { at })).toEqual([
        { rank: 1, member: 'a', value: 4 },
        { rank: 2, member: 'b', value: 2 },
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

  it('orders member ids by UTF-8 bytes, as Redis does', () => {
    const ids = ['a', 'Z', 'é', '\uFFFD', '😀', '\uE000', 'a\u0000', 'ab', '', '𝄞x', '\u07FF', '\u0800'];
    const bytes = [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect([...ids].sort(compareMembers)).toEqual(bytes);
    expect(bytes.indexOf('\uFFFD')).toBeLessThan(bytes.indexOf('😀')); // where JavaScript's `<` disagrees
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
      const heardByA: string[] = [];
      b.onChange((board, periodKeys) => heard.push(`${board.scope} ${periodKeys.at(-1)}`));
      a.onChange((board) => heardByA.push(board.scope));
      await a.apply([{ board: { tenantId: 't', scope: 'room:x', metric: 'tips:EUR' }, member: 'u', delta: 3, at: new Date(), eventId: 'n1' }]);
      await waitFor(() => heard.includes('room:x all'), 'the other node to hear of the change', 5000);
      // A change from b reaches a after a's own (Redis delivers in publish order): a heard its own once.
      await b.apply([{ board: { tenantId: 'u', scope: 'room:y', metric: 'points' }, member: 'u', delta: 1, at: new Date(), eventId: 'n2' }]);
      await waitFor(() => heardByA.includes('room:y'), 'a to hear of b\'s change', 5000);
      expect(heardByA).toEqual(['room:x', 'room:y']);
      expect(heard).toEqual(['room:x all', 'room:y all']);
      expect(await b.top({ tenantId: 't', scope: 'room:x', metric: 'tips:EUR' }, 'day')).toEqual([{ rank: 1, member: 'u', value: 3 }]);
      // A sorted set and a hash per period instance; all time never expires, the others do.
      const keys = (await redis.keys(`${prefix}t:*`)).sort();
      expect(keys).toHaveLength(8);
      for (const p of ['day', 'week', 'month']) expect(keys.filter((k) => k.includes(`:${p}:`)), p).toHaveLength(2);
      for (const k of keys) {
        const ttl = await redis.ttl(k);
        if (k.endsWith(':all') || k.endsWith(':all|last')) expect(ttl, k).toBe(-1);
        else if (k.includes(':day:')) expect(ttl, k).toBe(8 * 86_400);
        else expect(ttl, k).toBeGreaterThan(8 * 86_400);
      }
      expect(await redis.ttl(keys.find((k) => k.includes(':week:'))!)).toBe(35 * 86_400);
    } finally {
      await Promise.all([a.close(), b.close()]);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });
});
