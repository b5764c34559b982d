// Leaderboard updates per second and query latency, side by side in one run:
//   (a) the anchor pattern: ZINCRBY on the four period keys in a pipeline (no redelivery check, no
//       tie-break: equal scores fall back to member order);
//   (b) our Redis store: one Lua script per batch (redelivery check, tie-break by the minute tag in
//       front of the member, range check before writing anything, expiries);
//   (c) our in-memory store (the default without Redis);
//   (d) for comparison, the previous design: value and minute in one score (−value·2^26 + minute),
//       which limits values to 2^26, one Lua script per update, pipelined.
// Also the Redis memory per member of the all-time board (MEMORY USAGE of its keys / members).
// Each gets the same updates (100k members, skewed), in batches of 100 and one at a time.
// Usage: node --import tsx bench/leaderboards.ts [--updates 200000] [--members 100000]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createLeaderboards, periodKey, PERIODS, type BoardRef, type LeaderboardStore, type LeaderboardUpdate } from '../src/gamification/leaderboards.js';
import { seededRandom } from '../src/shared/random.js';
import { gitDescribe } from './lib/servers.js';
import { percentile } from './lib/stats.js';

const { values } = parseArgs({ options: { updates: { type: 'string', default: '200000' }, members: { type: 'string', default: '100000' }, single: { type: 'string', default: '20000' } } });
const UPDATES = Number(values.updates);
const MEMBERS = Number(values.members);
const REDIS = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const BOARD: BoardRef = { tenantId: 'bench', scope: 'tenant', metric: 'points' };
const log = (line: string) => process.stderr.write(`${line}\n`);
const ms = (x: number) => x.toFixed(x < 10 ? 3 : 1);

function updates(seed: number, n: number, prefix: string): LeaderboardUpdate[] {
  const random = seededRandom(seed);
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    board: BOARD,
    member: `u${Math.floor(random() ** 2 * MEMBERS)}`,
    delta: 1 + Math.floor(random() * 50),
    at: new Date(now - Math.floor(random() * 3_600_000)),
    eventId: `${prefix}${i}`,
  }));
}

// (d)'s script, per update. KEYS: seen, day, week, month, all. ARGV: member, delta, minute.
const SCORE_ENCODED = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', 691200) then return 0 end
local scale, delta, minute = 67108864, tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 2, 5 do
  local value, last = 0, 0
  local current = redis.call('ZSCORE', KEYS[i], ARGV[1])
  if current then
    local s = tonumber(current)
    value = -math.floor(s / scale)
    last = s + value * scale
  end
  value = value + delta
  if minute > last then last = minute end
  redis.call('ZADD', KEYS[i], -value * scale + last, ARGV[1])
end
redis.call('EXPIRE', KEYS[2], 691200)
redis.call('EXPIRE', KEYS[3], 3024000)
redis.call('EXPIRE', KEYS[4], 34300800)
return 1
`;

interface Target {
  name: string;
  /** The all-time board's keys, for its memory. */
  allKeys?: string[];
  apply(batch: LeaderboardUpdate[]): Promise<unknown>;
  top(): Promise<unknown>;
  around(member: string): Promise<unknown>;
}

async function rate(target: Target, list: LeaderboardUpdate[], batch: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < list.length; i += batch) await target.apply(list.slice(i, i + batch));
  return list.length / ((performance.now() - started) / 1000);
}

async function latency(run: () => Promise<unknown>, n = 2000): Promise<{ p50: number; p95: number }> {
  for (let i = 0; i < 100; i++) await run();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await run();
    samples.push(performance.now() - t);
  }
  const sorted = Float64Array.from(samples).sort();
  return { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95) };
}

async function main(): Promise<void> {
  log(`leaderboards bench on ${gitDescribe()}, node ${process.version}: ${UPDATES} updates in batches of 100, ${values.single} one at a time, ${MEMBERS} members`);
  const prefix = `veza:bench:lb:${randomBytes(4).toString('hex')}:`;
  const redis = new Redis(REDIS);
  const naiveKeys = (at: Date) => PERIODS.map((p) => `${prefix}naive:${periodKey(p, at)}`);
  const naive: Target = {
    name: 'anchor: ZINCRBY × 4 periods, pipelined (no dedupe, no tie-break)',
    allKeys: [naiveKeys(new Date())[3]!],
    apply: async (batch) => {
      const pipeline = redis.pipeline();
      for (const u of batch) for (const key of naiveKeys(u.at)) pipeline.zincrby(key, u.delta, u.member);
      await pipeline.exec();
    },
    top: () => redis.zrevrange(naiveKeys(new Date())[3]!, 0, 9, 'WITHSCORES'),
    around: async (member) => {
      const key = naiveKeys(new Date())[3]!;
      const rank = await redis.zrevrank(key, member);
      return rank === null ? [] : redis.zrevrange(key, Math.max(0, rank - 5), rank + 5, 'WITHSCORES');
    },
  };
  const encodedKeys = (at: Date) => PERIODS.map((p) => `${prefix}enc:${periodKey(p, at)}`);
  const encoded: Target = {
    name: 'previous design: tie-break in the score (values below 2^26), Lua per update, pipelined',
    allKeys: [encodedKeys(new Date())[3]!],
    apply: async (batch) => {
      const pipeline = redis.pipeline();
      for (const u of batch) pipeline.eval(SCORE_ENCODED, 5, `${prefix}encseen:${u.eventId}`, ...encodedKeys(u.at), u.member, u.delta, Math.floor((u.at.getTime() - Date.UTC(2020, 0, 1)) / 60_000));
      await pipeline.exec();
    },
    top: () => redis.zrange(encodedKeys(new Date())[3]!, 0, 9, 'WITHSCORES'),
    around: async (member) => {
      const key = encodedKeys(new Date())[3]!;
      const rank = await redis.zrank(key, member);
      return rank === null ? [] : redis.zrange(key, Math.max(0, rank - 5), rank + 5, 'WITHSCORES');
    },
  };
  const ours = await createLeaderboards({ redisUrl: REDIS, keyPrefix: prefix });
  const memory = await createLeaderboards({ redisUrl: null });
  const store = (name: string, s: LeaderboardStore, allKeys?: string[]): Target => ({
    name,
    ...(allKeys ? { allKeys } : {}),
    apply: (batch) => s.apply(batch),
    top: () => s.top(BOARD, 'all', { limit: 10 }),
    around: (member) => s.around(BOARD, 'all', member, 5),
  });
  const ourAll = `${prefix}${encodeURIComponent(BOARD.tenantId)}:${encodeURIComponent(BOARD.scope)}:${encodeURIComponent(BOARD.metric)}:all`;
  const rows = ['| store | updates/s, batches of 100 | updates/s, one at a time | top 10 p50 / p95 ms | rank ± 5 p50 / p95 ms | Redis bytes per member, all-time board |', '|---|---|---|---|---|---|'];
  try {
    for (const target of [naive, store('ours on Redis: one Lua script per batch (dedupe, tie-break, all-or-nothing, expiries)', ours, [ourAll, `${ourAll}|last`]), store('ours in memory', memory), encoded]) {
      const batched = await rate(target, updates(1, UPDATES, `${target.name}-b`), 100);
      const single = await rate(target, updates(2, Number(values.single), `${target.name}-s`), 1);
      const top = await latency(() => target.top());
      const random = seededRandom(3);
      const around = await latency(() => target.around(`u${Math.floor(random() ** 2 * MEMBERS)}`));
      let perMember = 'n/a';
      if (target.allKeys) {
        const bytes = await Promise.all(target.allKeys.map(async (k) => Number(await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0'))));
        perMember = (bytes.reduce((a, b) => a + b, 0) / (await redis.zcard(target.allKeys[0]!))).toFixed(0);
      }
      rows.push(`| ${target.name} | ${Math.round(batched).toLocaleString('en')} | ${Math.round(single).toLocaleString('en')} | ${ms(top.p50)} / ${ms(top.p95)} | ${ms(around.p50)} / ${ms(around.p95)} | ${perMember} |`);
      log(rows.at(-1)!);
    }
    console.log(`\n${rows.join('\n')}`);
  } finally {
    await Promise.all([ours.close(), memory.close()]);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    redis.disconnect();
  }
}

await main();
