// Live leaderboards: per board (tenant, scope, metric) and period instance (a UTC day, an ISO week,
// a UTC month, all time). Redis sorted sets when Redis is configured (`leaderboards-redis.ts`), and
// an in-memory equivalent with the same order otherwise (`leaderboards-memory.ts`); this file holds
// what both share, and `leaderboards.ts` picks one.
//
// The order, the same in both: higher value first; on equal values, the member whose latest update
// on that board happened earlier (to the minute) first, since it got there first; then member id in
// UTF-8 byte order (Redis's order for equal scores). Members whose value returns to 0 stay listed.
//
// Values are integers with |value| < 2^31. Value and minute do not both fit in one exact double:
// −value·2^22 + minute would need minutes since 2020 below 2^22, which runs out on 2027-12-22. So
// Redis keeps the value alone in the score and the minute in front of the member (see the Redis file).

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
  /** A user id (for scope 'global', `${tenantId}/${userId}`). */
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
  /**
   * Applies each update to the day, week (ISO, UTC), month (UTC) boards of its `at`, and all time;
   * returns how many were applied (not skipped as repeats). A batch is applied whole or not at all:
   * bad input, or an update that would take a value out of range, rejects the batch before anything
   * of it is written, so a redelivery after fixing it loses nothing.
   */
  apply(updates: LeaderboardUpdate[]): Promise<number>;
  /** Members ranked, best first. `at` picks the period instance (default now). */
  top(board: BoardRef, period: Period, options?: { offset?: number; limit?: number; at?: Date }): Promise<Entry[]>;
  /** A member's entry and up to `neighbours` entries above and below it; entry null when absent. */
  around(board: BoardRef, period: Period, member: string, neighbours: number, at?: Date): Promise<{ entry: Entry | null; above: Entry[]; below: Entry[]; size: number }>;
  /** After updates change a board (on any node, for Redis): the board and its period instances that changed. */
  onChange(listener: (board: BoardRef, periodKeys: string[]) => void): () => void;
  close(): Promise<void>;
}

/** Who hears of changed boards; shared by both stores. A listener's failure is its own. */
export class ChangeListeners {
  private readonly listeners = new Set<(board: BoardRef, keys: string[]) => void>();

  add(listener: (board: BoardRef, keys: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  tell(board: BoardRef, keys: string[]): void {
    for (const listener of this.listeners) {
      try {
        listener(board, keys);
      } catch (error) {
        // The update is applied, and the other listeners still hear.
        process.emitWarning(`a leaderboard change listener failed: ${(error as Error).message}`);
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}

/** Values stay strictly inside ±VALUE_LIMIT. */
export const VALUE_LIMIT = 2 ** 31;
/** Most entries one `top` call returns, and most neighbours on each side in `around`. */
export const MAX_PAGE = 1000;
const EPOCH_MS = Date.UTC(2020, 0, 1);
const DAY_MS = 86_400_000;

export class LeaderboardError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaderboardError';
  }
}

/** Minutes since 2020-01-01 UTC: the tie-break's resolution. */
export function minuteOf(at: Date): number {
  return Math.floor((at.getTime() - EPOCH_MS) / 60_000);
}

/** The minute as 8 lowercase hex digits: fixed width, so byte order is numeric order (to year 10186). */
export function minuteTag(minute: number): string {
  return minute.toString(16).padStart(8, '0');
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

/** Checks a whole batch's input before any of it is applied. */
export function validateUpdates(updates: LeaderboardUpdate[]): void {
  if (!Array.isArray(updates)) throw new LeaderboardError('updates must be an array');
  for (const [i, u] of updates.entries()) {
    const where = `update ${i} (member ${JSON.stringify(u?.member)})`;
    if (typeof u?.member !== 'string' || u.member.length === 0 || u.member.length > 400) throw new LeaderboardError(`${where}: member must be 1-400 characters`);
    // A lone surrogate has no UTF-8 form: Redis and memory would disagree on its order.
    if (/\p{Cs}/u.test(u.member)) throw new LeaderboardError(`${where}: member is not well-formed Unicode`);
    if (!Number.isSafeInteger(u.delta)) throw new LeaderboardError(`${where}: delta must be a safe integer, got ${String(u.delta)}`);
    if (!(u.at instanceof Date) || Number.isNaN(u.at.getTime()) || u.at.getTime() < EPOCH_MS || u.at.getUTCFullYear() > 9999) throw new LeaderboardError(`${where}: at must be a time from 2020 to 9999`);
    if (typeof u.eventId !== 'string' || u.eventId.length === 0) throw new LeaderboardError(`${where}: eventId is required`);
    checkBoard(u.board, where);
  }
}

export function checkBoard(board: BoardRef, where = 'board'): void {
  for (const part of [board?.tenantId, board?.scope, board?.metric]) if (typeof part !== 'string' || part.length === 0) throw new LeaderboardError(`${where}: the board needs a tenant, a scope and a metric`);
}

/** Offset, limit or neighbours: a non-negative integer, bounded so one call cannot read a whole board. */
export function checkCount(name: string, n: number, max: number): number {
  if (!Number.isInteger(n) || n < 0 || n > max) throw new LeaderboardError(`${name} must be an integer from 0 to ${max}, got ${String(n)}`);
  return n;
}

/** A board key safe for Redis and maps: each part URI-encoded, so ':' or '|' in an id cannot collide. */
export function boardKey(board: BoardRef, key: string): string {
  return [board.tenantId, board.scope, board.metric].map(encodeURIComponent).join(':') + `:${key}`;
}

/**
 * UTF-8 byte order (the order of code points), which is Redis's order: JavaScript's `<` compares
 * UTF-16 units and puts U+10000 and above before U+E000–U+FFFF.
 */
export function compareMembers(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return utf8Weight(x) - utf8Weight(y);
  }
  return a.length - b.length;
}

function utf8Weight(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800; // surrogates (astral) after U+E000–U+FFFF
}

export function compareEntries(a: { member: string; value: number; minute: number }, b: { member: string; value: number; minute: number }): number {
  return b.value - a.value || a.minute - b.minute || compareMembers(a.member, b.member);
}
