// The leaderboards on Redis: one sorted set per board and period instance, the score encoding value
// and tie-break (see leaderboards.ts). One Lua script applies an update atomically: it skips an
// update seen before (a SET NX key per event, board and member, kept 8 days), reads the member's
// scores, adds the delta, keeps the latest minute, writes the four period sets and renews their
// expiries. Changes are announced on a pub/sub channel that every node's store listens to.
//
// No ZUNIONSTORE roll-ups (days into a week): a union sums scores, and summing encoded scores would
// add their tie-break minutes together. Each update writes its four period sets directly instead.
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { boardKey, decodeScore, LeaderboardError, minuteOf, periodKey, PERIODS, validateUpdates, VALUE_LIMIT, MINUTE_SCALE, type BoardRef, type Entry, type LeaderboardStore, type LeaderboardUpdate, type Period } from './leaderboards.js';

const SEEN_TTL_S = 8 * 86_400;
const EXPIRE_S: Record<Exclude<Period, 'all'>, number> = { day: 8 * 86_400, week: 35 * 86_400, month: 397 * 86_400 };

// KEYS: seen, day, week, month, all. ARGV: member, delta, minute, seen ttl, day/week/month ttl.
// Returns 1 (applied), 0 (seen before), or an error when a value would leave its range.
const APPLY = `
local scale = ${MINUTE_SCALE}
local limit = ${VALUE_LIMIT}
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[4]) then return 0 end
local delta = tonumber(ARGV[2])
local minute = tonumber(ARGV[3])
local scores = {}
for i = 2, 5 do
  local value, last = 0, 0
  local current = redis.call('ZSCORE', KEYS[i], ARGV[1])
  if current then
    local s = tonumber(current)
    value = -math.floor(s / scale)
    last = s + value * scale
  end
  value = value + delta
  if value >= limit or value <= -limit then
    redis.call('DEL', KEYS[1])
    return redis.error_reply('VALUE_RANGE ' .. ARGV[1] .. ' would reach ' .. value .. ' on ' .. KEYS[i])
  end
  if minute > last then last = minute end
  scores[i] = -value * scale + last
end
for i = 2, 5 do redis.call('ZADD', KEYS[i], scores[i], ARGV[1]) end
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('EXPIRE', KEYS[3], ARGV[6])
redis.call('EXPIRE', KEYS[4], ARGV[7])
return 1
`;

type LeaderboardRedis = Redis & { vezaLeaderboardApply(...args: (string | number)[]): Promise<number> };

export class RedisLeaderboards implements LeaderboardStore {
  readonly kind = 'redis' as const;
  private readonly listeners = new Set<(board: BoardRef, keys: string[]) => void>();

  private constructor(
    private readonly redis: LeaderboardRedis,
    private readonly subscriber: Redis,
    private readonly prefix: string,
  ) {}

  static async connect(url: string, prefix: string): Promise<RedisLeaderboards> {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 }) as LeaderboardRedis;
    redis.defineCommand('vezaLeaderboardApply', { numberOfKeys: 5, lua: APPLY });
    const subscriber = new Redis(url, { lazyConnect: true });
    await Promise.all([redis.connect(), subscriber.connect()]);
    const store = new RedisLeaderboards(redis, subscriber, prefix);
    await subscriber.subscribe(store.channel);
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== store.channel) return;
      try {
        const { board, keys } = JSON.parse(message) as { board: BoardRef; keys: string[] };
        for (const listener of store.listeners) listener(board, keys);
      } catch {
        // Not ours (or corrupt): nothing to announce.
      }
    });
    return store;
  }

  private get channel(): string {
    return `${this.prefix}changes`;
  }

  private key(board: BoardRef, period: string): string {
    return `${this.prefix}${boardKey(board, period)}`;
  }

  async apply(updates: LeaderboardUpdate[]): Promise<number> {
    validateUpdates(updates);
    if (updates.length === 0) return 0;
    const pipeline = this.redis.pipeline() as ReturnType<Redis['pipeline']> & { vezaLeaderboardApply(...args: (string | number)[]): unknown };
    for (const u of updates) {
      const seen = `${this.prefix}seen:${createHash('sha256').update(JSON.stringify([u.eventId, u.board.tenantId, u.board.scope, u.board.metric, u.member])).digest('hex').slice(0, 32)}`;
      const keys = PERIODS.map((p) => this.key(u.board, periodKey(p, u.at)));
      pipeline.vezaLeaderboardApply(seen, ...keys, u.member, u.delta, minuteOf(u.at), SEEN_TTL_S, EXPIRE_S.day, EXPIRE_S.week, EXPIRE_S.month);
    }
    const results = (await pipeline.exec()) ?? [];
    let applied = 0;
    const changed = new Map<string, { board: BoardRef; keys: Set<string> }>();
    let failure: Error | null = null;
    results.forEach(([error, result], i) => {
      if (error) {
        failure ??= new LeaderboardError(error.message.replace(/^.*VALUE_RANGE /, 'value out of range: '));
        return;
      }
      if (result !== 1) return;
      applied++;
      const u = updates[i]!;
      const name = boardKey(u.board, '');
      const entry = changed.get(name) ?? changed.set(name, { board: u.board, keys: new Set() }).get(name)!;
      for (const p of PERIODS) entry.keys.add(periodKey(p, u.at));
    });
    for (const { board, keys } of changed.values()) await this.redis.publish(this.channel, JSON.stringify({ board, keys: [...keys] }));
    if (failure) throw failure;
    return applied;
  }

  async top(board: BoardRef, period: Period, options: { offset?: number; limit?: number; at?: Date } = {}): Promise<Entry[]> {
    const offset = options.offset ?? 0;
    const limit = options.limit ?? 10;
    const flat = await this.redis.zrange(this.key(board, periodKey(period, options.at ?? new Date())), offset, offset + limit - 1, 'WITHSCORES');
    return entries(flat, offset);
  }

  async around(board: BoardRef, period: Period, member: string, neighbours: number, at = new Date()): Promise<{ entry: Entry | null; above: Entry[]; below: Entry[]; size: number }> {
    const key = this.key(board, periodKey(period, at));
    const [rank, size] = await Promise.all([this.redis.zrank(key, member), this.redis.zcard(key)]);
    if (rank === null) return { entry: null, above: [], below: [], size };
    const from = Math.max(0, rank - neighbours);
    const list = entries(await this.redis.zrange(key, from, rank + neighbours, 'WITHSCORES'), from);
    const at0 = rank - from;
    return { entry: list[at0] ?? null, above: list.slice(0, at0), below: list.slice(at0 + 1), size };
  }

  onChange(listener: (board: BoardRef, periodKeys: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await Promise.allSettled([this.subscriber.quit(), this.redis.quit()]);
  }
}

function entries(flat: string[], offset: number): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push({ rank: offset + i / 2 + 1, member: flat[i]!, value: decodeScore(Number(flat[i + 1])).value });
  return out;
}
