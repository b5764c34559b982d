// Per-user state for serving (items, follows, co-editors), kept in memory so that a request does not
// query the database for what an earlier one already read. The bus says when it changes: every
// signal names its user, and a co-edit also changes what the session's other members see. An event
// reaches this cache before the signals writer has stored it (the writer batches for a second), so
// an invalidated user is not cached again until `settleMs` after their last event: reads in between
// go to the database, then one is kept. Entries also expire after `ttlMs` (a missed event costs at
// most that) and the least recently used go first past `maxUsers`.
import type { UserHistory } from './store.js';

export interface HistoryCacheOptions {
  maxUsers?: number;
  ttlMs?: number;
  settleMs?: number;
  now?: () => number;
}

interface Entry {
  history: UserHistory;
  at: number;
}

export class HistoryCache {
  private readonly entries = new Map<string, Entry>();
  /** tenant\0session → cached users in it, so a co-edit reaches the session's other members. */
  private readonly members = new Map<string, Set<string>>();
  /** Users whose latest event may not be stored yet: key → time until which they are not cached. */
  private readonly unsettled = new Map<string, number>();
  private readonly maxUsers: number;
  private readonly ttlMs: number;
  private readonly settleMs: number;
  private readonly now: () => number;
  hits = 0;
  misses = 0;

  constructor(options: HistoryCacheOptions = {}) {
    this.maxUsers = options.maxUsers ?? 50_000;
    this.ttlMs = options.ttlMs ?? 60_000;
    this.settleMs = options.settleMs ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  /** The cached history, or what `read` returns (kept unless the user changed moments ago). */
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
    const readAt = now;
    const history = await read();
    const until = this.unsettled.get(key);
    if (until !== undefined && (readAt < until || this.now() < until)) return history;
    this.unsettled.delete(key);
    this.remove(key);
    this.entries.set(key, { history, at: readAt });
    for (const session of history.sessions ?? []) {
      const id = `${tenantId}\0${session}`;
      (this.members.get(id) ?? this.members.set(id, new Set()).get(id)!).add(key);
    }
    while (this.entries.size > this.maxUsers) this.remove(this.entries.keys().next().value!);
    return history;
  }

  /** Something of the user's changed (an event, an import): drop them, and hold off caching a moment. */
  invalidate(tenantId: string, userId: string, sessionId?: string): void {
    const key = `${tenantId}\0${userId}`;
    this.unsettled.set(key, this.now() + this.settleMs);
    this.remove(key);
    if (sessionId === undefined) return;
    for (const member of this.members.get(`${tenantId}\0${sessionId}`) ?? []) {
      this.unsettled.set(member, this.now() + this.settleMs);
      this.remove(member);
    }
    if (this.unsettled.size > this.maxUsers) this.sweep();
  }

  get size(): number {
    return this.entries.size;
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

  private sweep(): void {
    const now = this.now();
    for (const [key, until] of this.unsettled) if (until <= now) this.unsettled.delete(key);
  }
}
