// Live leaderboards: per board (tenant, scope, metric) and period instance (a UTC day, an ISO week,
// a month, all time). Redis sorted sets when Redis is configured (`leaderboards-redis.ts`), and an
// in-memory equivalent with the same order otherwise.
//
// The order, the same in both: higher value first; on equal values, the member whose latest update
// on that board happened earlier (to the minute) first, since it got there first; then member id.
// Both parts live in one number, so Redis orders by it alone:
//   score = −value · 2^26 + minutes since 2020-01-01   (ascending = best first)
// |value| < 2^26 and minutes < 2^26 (127 years) keep the score an exact double (< 2^53).

export type Period = 'day' | 'week' | 'month' | 'all';
export const PERIODS: readonly Period[] = ['day', 'week', 'month', 'all'];
/** A board: which tenant, which scope ('global', 'tenant' or 'room:<id>'), which metric ('points', 'tips:EUR', …). */
export interface BoardRef {
  tenantId: string;
  scope: string;
  metric: string;
}
export interface LeaderboardUpdate {
  board: BoardRef;
  member: string;
  /** A safe integer; negative for refunds. */
  delta: number;
  /** When it happened: decides the day, week and month boards, and the tie-break. */
  at: Date;
  /** The same (eventId, board, member) is applied at most once. */
  eventId: string;
}
export interface Entry {
  /** 1-based. */
  rank: number;
  member: string;
  value: number;
}
export interface LeaderboardStore {
  readonly kind: 'memory' | 'redis';
  /** Applies each update to the day, week, month and all-time boards of its `at`; returns how many were new. */
  apply(updates: LeaderboardUpdate[]): Promise<number>;
  top(board: BoardRef, period: Period, options?: { offset?: number; limit?: number; at?: Date }): Promise<Entry[]>;
  around(board: BoardRef, period: Period, member: string, neighbours: number, at?: Date): Promise<{ entry: Entry | null; above: Entry[]; below: Entry[]; size: number }>;
  /** After updates change a board (on any node, for Redis): the board and its period instances that changed. */
  onChange(listener: (board: BoardRef, periodKeys: string[]) => void): () => void;
  close(): Promise<void>;
}

export const VALUE_LIMIT = 2 ** 26;
export const MINUTE_SCALE = 2 ** 26;
const EPOCH_MS = Date.UTC(2020, 0, 1);
const DAY_MS = 86_400_000;

export class LeaderboardError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaderboardError';
  }
}

export function minuteOf(at: Date): number {
  return Math.max(0, Math.floor((at.getTime() - EPOCH_MS) / 60_000));
}

export function encodeScore(value: number, minute: number): number {
  return -value * MINUTE_SCALE + minute;
}

export function decodeScore(score: number): { value: number; minute: number } {
  const value = -Math.floor(score / MINUTE_SCALE) || 0; // never -0
  return { value, minute: score + value * MINUTE_SCALE };
}

/** 'day:2026-11-24' | 'week:2026-W48' (ISO 8601, UTC) | 'month:2026-11' | 'all'. */
export function periodKey(period: Period, at: Date): string {
  const iso = at.toISOString();
  if (period === 'all') return 'all';
  if (period === 'day') return `day:${iso.slice(0, 10)}`;
  if (period === 'month') return `month:${iso.slice(0, 7)}`;
  // The ISO week is the one holding this week's Thursday; its year is the Thursday's.
  const day = Math.floor(at.getTime() / DAY_MS);
  const weekday = (new Date(day * DAY_MS).getUTCDay() + 6) % 7;
  const thursday = new Date((day - weekday + 3) * DAY_MS);
  const year = thursday.getUTCFullYear();
  const week = 1 + Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * DAY_MS));
  return `week:${year}-W${String(week).padStart(2, '0')}`;
}

export function periodKeys(at: Date): string[] {
  return PERIODS.map((p) => periodKey(p, at));
}

/** Checks a whole batch before any of it is applied. */
export function validateUpdates(updates: LeaderboardUpdate[]): void {
  for (const [i, u] of updates.entries()) {
    const where = `update ${i} (member ${JSON.stringify(u.member)})`;
    if (typeof u.member !== 'string' || u.member.length === 0 || u.member.length > 400) throw new LeaderboardError(`${where}: member must be 1-400 characters`);
    if (!Number.isSafeInteger(u.delta) || Math.abs(u.delta) >= VALUE_LIMIT) throw new LeaderboardError(`${where}: delta must be an integer below ${VALUE_LIMIT} in size, got ${u.delta}`);
    if (!(u.at instanceof Date) || Number.isNaN(u.at.getTime()) || u.at.getTime() < EPOCH_MS) throw new LeaderboardError(`${where}: at must be a time after 2020-01-01`);
    if (typeof u.eventId !== 'string' || u.eventId.length === 0) throw new LeaderboardError(`${where}: eventId is required`);
    for (const part of [u.board.tenantId, u.board.scope, u.board.metric]) if (typeof part !== 'string' || part.length === 0) throw new LeaderboardError(`${where}: the board needs a tenant, a scope and a metric`);
  }
}

/** A board key safe for Redis and maps: each part URI-encoded, so ':' in an id cannot collide. */
export function boardKey(board: BoardRef, key: string): string {
  return [board.tenantId, board.scope, board.metric].map(encodeURIComponent).join(':') + `:${key}`;
}

export function compareEntries(a: { member: string; value: number; minute: number }, b: { member: string; value: number; minute: number }): number {
  return b.value - a.value || a.minute - b.minute || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0);
}

/** Redis when a URL is given, memory otherwise. */
export async function createLeaderboards(options: { redisUrl?: string | null; keyPrefix?: string }): Promise<LeaderboardStore> {
  if (options.redisUrl) {
    const { RedisLeaderboards } = await import('./leaderboards-redis.js');
    return RedisLeaderboards.connect(options.redisUrl, options.keyPrefix ?? 'veza:lb:');
  }
  const { MemoryLeaderboards } = await import('./leaderboards-memory.js');
  return new MemoryLeaderboards();
}
