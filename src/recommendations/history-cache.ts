// Per-user state for serving (items, follows, co-editors), kept in memory so that a request does not
// query the database for what an earlier one already read. The signals writer says when it changes:
// once a batch of signals is committed, it announces whose signals (and which co-edited sessions) it
// stored (`recommendations.signals.stored`, consumer.ts), and every node drops those users, and the
// cached members of those sessions, here. Dropping only then, not when the event is seen, means a read
// made before the write cannot outlive it: a read under way when its user is dropped is answered but
// not kept. Entries are read again after `ttlMs` (a lost announcement costs at most that); when the
// database says the same, the cached object stays, and so does what serving keeps on it (user-state.ts).
// The least recently used go first past `maxUsers`. When a model version loads, its users' histories
// are read in bulk and put here (`prime`, prewarm.ts).
import type { UserHistory } from './store.js';

export interface HistoryCacheOptions {
  maxUsers?: number;
  ttlMs?: number;
  now?: () => number;
}

interface Entry {
  history: UserHistory;
  at: number;
}

/** A read under way; `stale` once its user was dropped while it ran. */
interface Read {
  stale: boolean;
}

/** Weights decay by this share in some 3 hours (half-life 90 days): a kept history drifts no further. */
const WEIGHT_TOLERANCE = 1e-3;

/** The same items in the same order (weights within the tolerance), follows, co-editors and sessions. */
function sameHistory(a: UserHistory, b: UserHistory): boolean {
  if (a.items.length !== b.items.length) return false;
  for (let j = 0; j < a.items.length; j++) {
    const x = a.items[j]!;
    const y = b.items[j]!;
    if (x.itemId !== y.itemId || Math.abs(x.weight - y.weight) > WEIGHT_TOLERANCE * Math.abs(y.weight)) return false;
  }
  const same = (p: string[] = [], q: string[] = []) => p.length === q.length && p.every((v, j) => v === q[j]);
  return same(a.follows, b.follows) && same(a.coeditors, b.coeditors) && same(a.sessions, b.sessions);
}

export class HistoryCache {
  private readonly entries = new Map<string, Entry>();
  /** tenant\0session → cached users in it, so a co-edit reaches the session's other members. */
  private readonly members = new Map<string, Set<string>>();
  /** Reads under way per user, so that a drop during one keeps its result out of the cache. */
  private readonly reading = new Map<string, Set<Read>>();
  private readonly maxUsers: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  hits = 0;
  misses = 0;

  constructor(options: HistoryCacheOptions = {}) {
    this.maxUsers = options.maxUsers ?? 50_000;
    this.ttlMs = options.ttlMs ?? 600_000;
    this.now = options.now ?? Date.now;
  }

  /** The cached history, or what `read` returns (kept unless the user was dropped while it ran). */
  async get(tenantId: string, userId: string, read: () => Promise<UserHistory>): Promise<UserHistory> {
    const key = `${tenantId}\0${userId}`;
    const now = this.now();
    const entry = this.entries.get(key);
    if (entry && now - entry.at < this.ttlMs) {
      // Most recently used last: Map keeps insertion order.
      this.entries.delete(key);
      this.entries.set(key, entry);
      this.hits++;
      return entry.history;
    }
    this.misses++;
    const { histories, stale } = await this.track([key], async () => [await read()]);
    const history = histories[0]!;
    if (stale[0]) return history;
    return this.keep(tenantId, key, history, now, entry?.history);
  }

  /** The cached history, if there is one still fresh; no read, not counted. */
  peek(tenantId: string, userId: string): UserHistory | undefined {
    const entry = this.entries.get(`${tenantId}\0${userId}`);
    return entry && this.now() - entry.at < this.ttlMs ? entry.history : undefined;
  }

  /**
   * Reads many users' histories in one go (`read` answers them in `userIds` order) and keeps those not
   * cached already, as far as room allows; returns how many it kept.
   */
  async prime(tenantId: string, userIds: string[], read: () => Promise<UserHistory[]>): Promise<number> {
    const now = this.now();
    const keys = userIds.map((userId) => `${tenantId}\0${userId}`);
    const { histories, stale } = await this.track(keys, read);
    let kept = 0;
    for (const [j, history] of histories.entries()) {
      if (stale[j] || this.entries.has(keys[j]!)) continue;
      if (this.entries.size >= this.maxUsers) break;
      this.keep(tenantId, keys[j]!, history, now, undefined);
      kept++;
    }
    return kept;
  }

  /** Runs a read of these users' histories, noting which of them were dropped while it ran. */
  private async track(keys: string[], read: () => Promise<UserHistory[]>): Promise<{ histories: UserHistory[]; stale: boolean[] }> {
    const mine = keys.map(() => ({ stale: false }));
    keys.forEach((key, j) => (this.reading.get(key) ?? this.reading.set(key, new Set()).get(key)!).add(mine[j]!));
    try {
      return { histories: await read(), stale: mine.map((m) => m.stale) };
    } finally {
      keys.forEach((key, j) => {
        const reads = this.reading.get(key)!;
        reads.delete(mine[j]!);
        if (reads.size === 0) this.reading.delete(key);
      });
    }
  }

  /** Caches a history read at `at`; the expired one before it stays instead when the read says the same. */
  private keep(tenantId: string, key: string, read: UserHistory, at: number, expired: UserHistory | undefined): UserHistory {
    const history = expired && sameHistory(expired, read) ? expired : read;
    this.remove(key);
    this.entries.set(key, { history, at });
    for (const session of history.sessions ?? []) {
      const id = `${tenantId}\0${session}`;
      (this.members.get(id) ?? this.members.set(id, new Set()).get(id)!).add(key);
    }
    while (this.entries.size > this.maxUsers) this.remove(this.entries.keys().next().value!);
    return history;
  }

  /**
   * These users' signals are stored (and so are co-edits of these sessions): drop them and the cached
   * members of the sessions; reads of theirs under way are not kept.
   */
  invalidate(tenantId: string, users: Iterable<string>, sessions: Iterable<string> = []): void {
    for (const user of users) this.drop(`${tenantId}\0${user}`);
    for (const session of sessions) {
      const members = this.members.get(`${tenantId}\0${session}`);
      if (members) for (const member of [...members]) this.drop(member);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  private drop(key: string): void {
    this.remove(key);
    for (const read of this.reading.get(key) ?? []) read.stale = true;
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    const tenant = key.slice(0, key.indexOf('\0'));
    for (const session of entry.history.sessions ?? []) {
      const id = `${tenant}\0${session}`;
      const set = this.members.get(id);
      set?.delete(key);
      if (set?.size === 0) this.members.delete(id);
    }
  }
}
