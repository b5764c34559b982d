// Per-user state for serving (items, follows, co-editors), kept in memory so that a request does not
// query the database for what an earlier one already read. The signals writer says when it changes:
// once a batch of signals is committed, it announces whose signals (and which co-edited sessions) it
// stored (`recommendations.signals.stored`, consumer.ts), and every node drops those users, and the
// cached members of those sessions, here. Dropping only then, not when the event is seen, means a read
// made before the write cannot outlive it: a read under way when its user is dropped is answered but
// not kept. Entries also expire after `ttlMs` (a lost announcement costs at most that) and the least
// recently used go first past `maxUsers`.
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
    this.ttlMs = options.ttlMs ?? 60_000;
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
    const mine: Read = { stale: false };
    const reads = this.reading.get(key) ?? this.reading.set(key, new Set()).get(key)!;
    reads.add(mine);
    let history: UserHistory;
    try {
      history = await read();
    } finally {
      reads.delete(mine);
      if (reads.size === 0 && this.reading.get(key) === reads) this.reading.delete(key);
    }
    if (mine.stale) return history;
    this.remove(key);
    this.entries.set(key, { history, at: now });
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
