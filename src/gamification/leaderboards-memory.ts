// The leaderboards without Redis (one node, lost on restart): each board instance keeps its
// members in rank order, in blocks found by binary search, so an update moves a few hundred entries
// and a rank or a page costs a search, not a sort (one flat array measured 8k updates/s at 100k
// members, the blocks 71k). Period boards expire as their Redis keys would. Redeliveries are
// recognised among the last 500,000 to 1,000,000 applied updates (Redis: the last 8 days).
import { boardKey, ChangeListeners, checkBoard, checkCount, compareEntries, LeaderboardError, MAX_PAGE, minuteOf, periodKey, PERIODS, validateUpdates, VALUE_LIMIT, type BoardRef, type Entry, type LeaderboardStore, type LeaderboardUpdate, type Period } from './leaderboard-core.js';

interface Row {
  member: string;
  value: number;
  minute: number;
}

/** How long a period's board outlives now (as the Redis keys' EXPIRE), in ms. */
export const RETENTION_MS: Record<Exclude<Period, 'all'>, number> = { day: 8 * 86_400_000, week: 35 * 86_400_000, month: 397 * 86_400_000 };
/** Applied (eventId, board, member) triples remembered: two generations of this many. */
const REMEMBERED = 500_000;

/** Rows in rank order, in blocks of at most 2·BLOCK: an update moves one block's entries, not all of them. */
const BLOCK = 256;

class Board {
  readonly rows = new Map<string, Row>();
  private blocks: Row[][] = [];
  expiresAt = Number.POSITIVE_INFINITY;

  get size(): number {
    return this.rows.size;
  }

  /** The block where `row` is or would go (the first whose last row does not rank before it), and the place in it. */
  private locate(row: Row): { b: number; i: number } {
    let lo = 0;
    let hi = this.blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareEntries(this.blocks[mid]!.at(-1)!, row) < 0) lo = mid + 1;
      else hi = mid;
    }
    const block = this.blocks[lo]!;
    let i = 0;
    let j = block.length;
    while (i < j) {
      const mid = (i + j) >> 1;
      if (compareEntries(block[mid]!, row) < 0) i = mid + 1;
      else j = mid;
    }
    return { b: lo, i };
  }

  set(next: Row): void {
    const current = this.rows.get(next.member);
    if (current) {
      const { b, i } = this.locate(current);
      this.blocks[b]!.splice(i, 1);
      if (this.blocks[b]!.length === 0) this.blocks.splice(b, 1);
    }
    this.rows.set(next.member, next);
    if (this.blocks.length === 0) {
      this.blocks.push([next]);
      return;
    }
    const { b, i } = this.locate(next);
    const block = this.blocks[b]!;
    block.splice(i, 0, next);
    if (block.length > 2 * BLOCK) this.blocks.splice(b, 1, block.slice(0, BLOCK), block.slice(BLOCK));
  }

  /** 0-based rank, or null when absent. */
  rank(member: string): number | null {
    const row = this.rows.get(member);
    if (!row) return null;
    const { b, i } = this.locate(row);
    let rank = i;
    for (let k = 0; k < b; k++) rank += this.blocks[k]!.length;
    return rank;
  }

  /** Rows from 0-based `offset`, at most `limit`. */
  slice(offset: number, limit: number): Row[] {
    const out: Row[] = [];
    let skip = offset;
    for (const block of this.blocks) {
      if (out.length >= limit) break;
      if (skip >= block.length) {
        skip -= block.length;
        continue;
      }
      out.push(...block.slice(skip, skip + limit - out.length));
      skip = 0;
    }
    return out;
  }
}

export class MemoryLeaderboards implements LeaderboardStore {
  readonly kind = 'memory' as const;
  private readonly boards = new Map<string, Board>();
  private seen = new Set<string>();
  private older = new Set<string>();
  private readonly listeners = new ChangeListeners();
  private prunedAt = 0;

  async apply(updates: LeaderboardUpdate[]): Promise<number> {
    validateUpdates(updates);
    this.prune();
    // A plan first, written only when every value stays in range: the batch applies whole or not at all.
    const plan = new Map<string, { ref: BoardRef; period: Period; key: string; rows: Map<string, Row> }>();
    const fresh: { update: LeaderboardUpdate; once: string }[] = [];
    const inBatch = new Set<string>();
    for (const u of updates) {
      const once = JSON.stringify([u.eventId, u.board.tenantId, u.board.scope, u.board.metric, u.member]);
      if (this.seen.has(once) || this.older.has(once) || inBatch.has(once)) continue;
      inBatch.add(once);
      fresh.push({ update: u, once });
      const minute = minuteOf(u.at);
      for (const period of PERIODS) {
        const key = periodKey(period, u.at);
        const name = boardKey(u.board, key);
        const planned = plan.get(name) ?? plan.set(name, { ref: u.board, period, key, rows: new Map() }).get(name)!;
        const current = planned.rows.get(u.member) ?? this.board(u.board, period, key, false)?.rows.get(u.member);
        const row = { member: u.member, value: (current?.value ?? 0) + u.delta, minute: Math.max(current?.minute ?? 0, minute) };
        if (Math.abs(row.value) >= VALUE_LIMIT) {
          throw new LeaderboardError(`batch refused, nothing applied: member ${u.member} would reach ${row.value} on ${name} (values stay below ${VALUE_LIMIT} in size)`);
        }
        planned.rows.set(u.member, row);
      }
    }
    for (const { ref, period, key, rows } of plan.values()) {
      const board = this.board(ref, period, key, true)!;
      for (const row of rows.values()) board.set(row);
    }
    const changed = new Map<string, { board: BoardRef; keys: Set<string> }>();
    for (const { update: u, once } of fresh) {
      this.remember(once);
      const name = boardKey(u.board, '');
      const entry = changed.get(name) ?? changed.set(name, { board: u.board, keys: new Set() }).get(name)!;
      for (const period of PERIODS) entry.keys.add(periodKey(period, u.at));
    }
    for (const { board, keys } of changed.values()) this.listeners.tell(board, [...keys]);
    return fresh.length;
  }

  async top(board: BoardRef, period: Period, options: { offset?: number; limit?: number; at?: Date } = {}): Promise<Entry[]> {
    checkBoard(board);
    const offset = checkCount('offset', options.offset ?? 0, Number.MAX_SAFE_INTEGER);
    const limit = checkCount('limit', options.limit ?? 10, MAX_PAGE);
    const found = this.board(board, period, periodKey(period, options.at ?? new Date()), false);
    if (!found) return [];
    return found.slice(offset, limit).map((row, i) => ({ rank: offset + i + 1, member: row.member, value: row.value }));
  }

  async around(board: BoardRef, period: Period, member: string, neighbours: number, at = new Date()): Promise<{ entry: Entry | null; above: Entry[]; below: Entry[]; size: number }> {
    checkBoard(board);
    checkCount('neighbours', neighbours, MAX_PAGE);
    const found = this.board(board, period, periodKey(period, at), false);
    const rank = found?.rank(member) ?? null;
    if (!found || rank === null) return { entry: null, above: [], below: [], size: found?.size ?? 0 };
    const from = Math.max(0, rank - neighbours);
    const list = found.slice(from, rank - from + neighbours + 1).map((row, i) => ({ rank: from + i + 1, member: row.member, value: row.value }));
    return { entry: list[rank - from]!, above: list.slice(0, rank - from), below: list.slice(rank - from + 1), size: found.size };
  }

  onChange(listener: (board: BoardRef, periodKeys: string[]) => void): () => void {
    return this.listeners.add(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }


  private board(ref: BoardRef, period: Period, key: string, create: boolean): Board | null {
    const name = boardKey(ref, key);
    let board = this.boards.get(name);
    if (board && board.expiresAt <= Date.now()) {
      this.boards.delete(name);
      board = undefined;
    }
    if (!board && create) {
      board = new Board();
      this.boards.set(name, board);
    }
    if (board && create && period !== 'all') board.expiresAt = Date.now() + RETENTION_MS[period];
    return board ?? null;
  }

  private remember(once: string): void {
    this.seen.add(once);
    if (this.seen.size >= REMEMBERED) {
      this.older = this.seen;
      this.seen = new Set();
    }
  }

  private prune(): void {
    const now = Date.now();
    if (now - this.prunedAt < 60_000) return;
    this.prunedAt = now;
    for (const [name, board] of this.boards) if (board.expiresAt <= now) this.boards.delete(name);
  }
}
