// Leaderboard updates per second and query latency, side by side in one run:
//   (a) the anchor pattern: ZINCRBY on the four period keys in a pipeline (no redelivery check, no
//       tie-break: equal scores fall back to member order);
//   (b) our Redis store: one Lua script per update (redelivery check, tie-break encoded in the
//       score, expiries), pipelined;
//   (c) our in-memory store (the default without Redis).
// Each gets the same updates (100k members, skewed), in batches of 100 and one at a time.
// Usage: node --import tsx bench/leaderboards.ts [--updates 200000] [--members 100000]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createLeaderboards, periodKey, PERIODS, type BoardRef, type LeaderboardStore, type LeaderboardUpdate } from '../src/gamification/leaderboards.js';
import { seededRandom } from '../src/recommendations/random.js';
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

interface Target {
  name: string;
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
  const ours = await createLeaderboards({ redisUrl: REDIS, keyPrefix: prefix });
  const memory = await createLeaderboards({ redisUrl: null });
  const store = (name: string, s: LeaderboardStore): Target => ({
    name,
    apply: (batch) => s.apply(batch),
    top: () => s.top(BOARD, 'all', { limit: 10 }),
    around: (member) => s.around(BOARD, 'all', member, 5),
  });
  const rows = ['| store | updates/s, batches of 100 | updates/s, one at a time | top 10 p50 / p95 ms | rank ± 5 p50 / p95 ms |', '|---|---|---|---|---|'];
  try {
    for (const target of [naive, store('ours on Redis: Lua per update (dedupe, tie-break, expiries)', ours), store('ours in memory', memory)]) {
      const batched = await rate(target, updates(1, UPDATES, `${target.name}-b`), 100);
      const single = await rate(target, updates(2, Number(values.single), `${target.name}-s`), 1);
      const top = await latency(() => target.top());
      const random = seededRandom(3);
      const around = await latency(() => target.around(`u${Math.floor(random() ** 2 * MEMBERS)}`));
      rows.push(`| ${target.name} | ${Math.round(batched).toLocaleString('en')} | ${Math.round(single).toLocaleString('en')} | ${ms(top.p50)} / ${ms(top.p95)} | ${ms(around.p50)} / ${ms(around.p95)} |`);
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
