// The leaderboards without Redis (one node, lost on restart): each board instance keeps its
// members in rank order, in blocks found by binary search, so an update moves a few hundred entries
// and a rank or a page costs a search, not a sort (one flat array measured 8k updates/s at 100k
// members, the blocks 71k). Period boards expire as their Redis keys would.
import { boardKey, compareEntries, LeaderboardError, minuteOf, periodKey, PERIODS, validateUpdates, VALUE_LIMIT, type BoardRef, type Entry, type LeaderboardStore, type LeaderboardUpdate, type Period } from './leaderboards.js';

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
  private readonly listeners = new Set<(board: BoardRef, keys: string[]) => void>();
  private prunedAt = 0;

  async apply(updates: LeaderboardUpdate[]): Promise<number> {
    validateUpdates(updates);
    this.prune();
    let applied = 0;
    const changed = new Map<string, { board: BoardRef; keys: Set<string> }>();
    // An update that would leave the value range is refused alone: the rest of the batch applies.
    let failure: LeaderboardError | null = null;
    for (const u of updates) {
      const once = JSON.stringify([u.eventId, u.board.tenantId, u.board.scope, u.board.metric, u.member]);
      if (this.seen.has(once) || this.older.has(once)) continue;
      const minute = minuteOf(u.at);
      const targets = PERIODS.map((period) => ({ period, key: periodKey(period, u.at) }));
      const next = targets.map(({ period, key }) => {
        const board = this.board(u.board, period, key, true)!;
        const row = board.rows.get(u.member);
        return { board, key, row: { member: u.member, value: (row?.value ?? 0) + u.delta, minute: Math.max(row?.minute ?? 0, minute) } };
      });
      const over = next.find((n) => Math.abs(n.row.value) >= VALUE_LIMIT);
      if (over) {
        failure ??= new LeaderboardError(`value out of range: ${u.member} would reach ${over.row.value} on ${over.key} (values stay below ${VALUE_LIMIT} in size)`);
        continue;
      }
      for (const { board, row } of next) board.set(row);
      this.remember(once);
      applied++;
      const entry = changed.get(boardKey(u.board, '')) ?? changed.set(boardKey(u.board, ''), { board: u.board, keys: new Set() }).get(boardKey(u.board, ''))!;
      targets.forEach(({ key }) => entry.keys.add(key));
    }
    for (const { board, keys } of changed.values()) for (const listener of this.listeners) listener(board, [...keys]);
    if (failure) throw failure;
    return applied;
  }

  async top(board: BoardRef, period: Period, options: { offset?: number; limit?: number; at?: Date } = {}): Promise<Entry[]> {
    const found = this.board(board, period, periodKey(period, options.at ?? new Date()), false);
    if (!found) return [];
    const offset = options.offset ?? 0;
    return found.slice(offset, options.limit ?? 10).map((row, i) => ({ rank: offset + i + 1, member: row.member, value: row.value }));
  }

  async around(board: BoardRef, period: Period, member: string, neighbours: number, at = new Date()): Promise<{ entry: Entry | null; above: Entry[]; below: Entry[]; size: number }> {
    const found = this.board(board, period, periodKey(period, at), false);
    const rank = found?.rank(member) ?? null;
    if (!found || rank === null) return { entry: null, above: [], below: [], size: found?.size ?? 0 };
    const from = Math.max(0, rank - neighbours);
    const list = found.slice(from, rank - from + neighbours + 1).map((row, i) => ({ rank: from + i + 1, member: row.member, value: row.value }));
    return { entry: list[rank - from]!, above: list.slice(0, rank - from), below: list.slice(rank - from + 1), size: found.size };
  }

  onChange(listener: (board: BoardRef, periodKeys: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
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
