// The leaderboards on Redis. Per board and period instance, a sorted set and a hash:
//   sorted set  member = minute tag (8 hex digits) + member id, score = −value
//   hash        member id → its minute tag (to find the sorted-set member by id)
// ZRANGE ascending is then best first: lower score = higher value; on equal scores Redis orders by
// the member bytes, i.e. earlier latest minute, then member id. The score is an integer below 2^31:
// exact. (Value and minute in one double would not fit past 2027: see leaderboard-core.ts.)
//
// One Lua script per batch applies it atomically and whole: it skips updates seen before (a key per
// event, board and member, kept 8 days), adds every delta to the four period boards in a plan, and
// refuses the batch if a value would leave ±2^31; only then writes, renewing the expiries of the day
// (8 days), week (5 weeks) and month (13 months) boards. All time never expires.
//
// No ZUNIONSTORE roll-ups (days into weeks): a union sums scores and cannot merge the minute tags in
// the members; with the minute in the score it would add the minutes together. Each update writes
// its four period boards directly instead.
//
// Assumes one Redis (not Cluster: a batch touches keys of many boards) that does not evict keys.
import { createHash, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { boardKey, ChangeListeners, checkBoard, checkCount, LeaderboardError, MAX_PAGE, minuteOf, minuteTag, periodKey, PERIODS, validateUpdates, VALUE_LIMIT, type BoardRef, type Entry, type LeaderboardStore, type LeaderboardUpdate, type Period } from './leaderboard-core.js';

const SEEN_TTL_S = 8 * 86_400;
const EXPIRE_S: Record<Exclude<Period, 'all'>, number> = { day: 8 * 86_400, week: 35 * 86_400, month: 397 * 86_400 };
const TAG = 8; // minuteTag's width
const KEYS_PER_UPDATE = 9;

// KEYS per update: seen, 4 sorted sets (day, week, month, all), their 4 hashes.
// ARGV: limit, seen ttl, day/week/month ttl, then per update: member, delta, minute tag.
// Returns the 0-based indexes of the updates applied, or an error naming the member out of range.
const APPLY = `
local limit = tonumber(ARGV[1])
local boards, order, fresh, seen = {}, {}, {}, {}
for u = 0, #KEYS / ${KEYS_PER_UPDATE} - 1 do
  local k, a = u * ${KEYS_PER_UPDATE}, 6 + u * 3
  local member, delta, minute = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  if not seen[KEYS[k + 1]] and redis.call('EXISTS', KEYS[k + 1]) == 0 then
    seen[KEYS[k + 1]] = true
    fresh[#fresh + 1] = u
    for p = 1, 4 do
      local z = KEYS[k + 1 + p]
      boards[z] = boards[z] or {}
      local row = boards[z][member]
      if not row then
        local old = redis.call('HGET', KEYS[k + 5 + p], member)
        local value = 0
        if old then value = 0 - tonumber(redis.call('ZSCORE', z, old .. member)) end
        row = { z = z, h = KEYS[k + 5 + p], p = p, member = member, value = value, old = old, minute = old or '' }
        boards[z][member] = row
        order[#order + 1] = row
      end
      row.value = row.value + delta
      if row.value >= limit or row.value <= -limit then
        return redis.error_reply('VALUE_RANGE member ' .. member .. ' would reach ' .. string.format('%d', row.value) .. ' on ' .. z)
      end
      if minute > row.minute then row.minute = minute end
    end
  end
end
for _, u in ipairs(fresh) do redis.call('SET', KEYS[u * ${KEYS_PER_UPDATE} + 1], '1', 'EX', ARGV[2]) end
local expired = {}
for _, row in ipairs(order) do
  if row.old and row.old ~= row.minute then redis.call('ZREM', row.z, row.old .. row.member) end
  redis.call('ZADD', row.z, 0 - row.value, row.minute .. row.member)
  if row.old ~= row.minute then redis.call('HSET', row.h, row.member, row.minute) end
  if row.p <= 3 and not expired[row.z] then
    expired[row.z] = true
    redis.call('EXPIRE', row.z, ARGV[2 + row.p])
    redis.call('EXPIRE', row.h, ARGV[2 + row.p])
  end
end
return fresh
`;

// KEYS: sorted set, hash. ARGV: member, neighbours. Returns {size, rank (−1: absent), from, flat range}.
const AROUND = `
local size = redis.call('ZCARD', KEYS[1])
local minute = redis.call('HGET', KEYS[2], ARGV[1])
if not minute then return { size, -1 } end
local rank = redis.call('ZRANK', KEYS[1], minute .. ARGV[1])
if not rank then return { size, -1 } end
local from = math.max(0, rank - tonumber(ARGV[2]))
return { size, rank, from, redis.call('ZRANGE', KEYS[1], from, rank + tonumber(ARGV[2]), 'WITHSCORES') }
`;

type Scripts = {
  vezaLeaderboardApply(...args: (string | number)[]): Promise<number[]>;
  vezaLeaderboardAround(...args: (string | number)[]): Promise<[number, number, number?, string[]?]>;
};

interface ChangeMessage {
  origin: string;
  board: BoardRef;
  keys: string[];
}

export class RedisLeaderboards implements LeaderboardStore {
  readonly kind = 'redis' as const;
  private readonly listeners = new ChangeListeners();
  /** Tags this store's announcements: it tells its own listeners directly, not through Redis. */
  private readonly origin = randomUUID();

  private constructor(
    private readonly redis: Redis & Scripts,
    private readonly subscriber: Redis,
    private readonly prefix: string,
  ) {}

  static async connect(url: string, prefix: string): Promise<RedisLeaderboards> {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 }) as Redis & Scripts;
    redis.defineCommand('vezaLeaderboardApply', { lua: APPLY });
    redis.defineCommand('vezaLeaderboardAround', { numberOfKeys: 2, lua: AROUND });
    // A subscribed connection can issue nothing else, hence the second one.
    const subscriber = new Redis(url, { lazyConnect: true });
    await Promise.all([redis.connect(), subscriber.connect()]);
    const store = new RedisLeaderboards(redis, subscriber, prefix);
    subscriber.on('message', (channel: string, message: string) => store.heard(channel, message));
    await subscriber.subscribe(store.channel);
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
    const keys: string[] = [];
    const args: (string | number)[] = [VALUE_LIMIT, SEEN_TTL_S, EXPIRE_S.day, EXPIRE_S.week, EXPIRE_S.month];
    for (const u of updates) {
      const once = createHash('sha256').update(JSON.stringify([u.eventId, u.board.tenantId, u.board.scope, u.board.metric, u.member])).digest('hex').slice(0, 32);
      const sets = PERIODS.map((p) => this.key(u.board, periodKey(p, u.at)));
      keys.push(`${this.prefix}seen:${once}`, ...sets, ...sets.map((s) => `${s}|last`));
      args.push(u.member, u.delta, minuteTag(minuteOf(u.at)));
    }
    let applied: number[];
    try {
      // Numbered keys: ioredis takes the key count as the first argument when numberOfKeys is unset.
      applied = await this.redis.vezaLeaderboardApply(keys.length, ...keys, ...args);
    } catch (error) {
      const message = (error as Error).message;
      if (!message.includes('VALUE_RANGE')) throw error;
      throw new LeaderboardError(`batch refused, nothing applied: ${message.replace(/^.*VALUE_RANGE /, '').replace(this.prefix, '')} (values stay below ${VALUE_LIMIT} in size)`);
    }
    const changed = new Map<string, { board: BoardRef; keys: Set<string> }>();
    for (const i of applied) {
      const u = updates[i]!;
      const name = boardKey(u.board, '');
      const entry = changed.get(name) ?? changed.set(name, { board: u.board, keys: new Set() }).get(name)!;
      for (const p of PERIODS) entry.keys.add(periodKey(p, u.at));
    }
    for (const { board, keys: periodKeys } of changed.values()) {
      this.listeners.tell(board, [...periodKeys]);
      const message: ChangeMessage = { origin: this.origin, board, keys: [...periodKeys] };
      // Not awaited: the update is applied; other nodes hear of it a moment later either way, and the
      // connection keeps order (close() sends it before QUIT). Saves a round trip per call.
      this.redis.publish(this.channel, JSON.stringify(message)).catch((error: Error) => process.emitWarning(`a leaderboard change could not be announced: ${error.message}`));
    }
    return applied.length;
  }

  async top(board: BoardRef, period: Period, options: { offset?: number; limit?: number; at?: Date } = {}): Promise<Entry[]> {
    checkBoard(board);
    const offset = checkCount('offset', options.offset ?? 0, Number.MAX_SAFE_INTEGER);
    const limit = checkCount('limit', options.limit ?? 10, MAX_PAGE);
    if (limit === 0) return [];
    const flat = await this.redis.zrange(this.key(board, periodKey(period, options.at ?? new Date())), offset, offset + limit - 1, 'WITHSCORES');
    return entries(flat, offset);
  }

  async around(board: BoardRef, period: Period, member: string, neighbours: number, at = new Date()): Promise<{ entry: Entry | null; above: Entry[]; below: Entry[]; size: number }> {
    checkBoard(board);
    checkCount('neighbours', neighbours, MAX_PAGE);
    const key = this.key(board, periodKey(period, at));
    const [size, rank, from = 0, flat = []] = await this.redis.vezaLeaderboardAround(key, `${key}|last`, member, neighbours);
    if (rank < 0) return { entry: null, above: [], below: [], size };
    const list = entries(flat, from);
    const at0 = rank - from;
    return { entry: list[at0] ?? null, above: list.slice(0, at0), below: list.slice(at0 + 1), size };
  }

  onChange(listener: (board: BoardRef, periodKeys: string[]) => void): () => void {
    return this.listeners.add(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await Promise.allSettled([this.subscriber.quit(), this.redis.quit()]);
  }

  private heard(channel: string, raw: string): void {
    if (channel !== this.channel) return;
    let message: ChangeMessage;
    try {
      message = JSON.parse(raw) as ChangeMessage;
    } catch {
      return; // not ours: nothing to announce
    }
    if (message.origin !== this.origin && message.board && Array.isArray(message.keys)) this.listeners.tell(message.board, message.keys);
  }

}

function entries(flat: string[], offset: number): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push({ rank: offset + i / 2 + 1, member: flat[i]!.slice(TAG), value: 0 - Number(flat[i + 1]) });
  return out;
}
