// The tenant's newest sessions (ids, creation time, edit count, last edit), kept between GraphQL
// requests. Reading them is one cheap statement, but on the embedded database every statement of a
// tenant transaction (begin, the tenant setting, the read, commit) is a round trip to the storage
// thread: about 4 ms of CPU for the home screen, most of what it cost once documents were cached.
//
// The rows are the tenant's, not a caller's: who may see which session is decided per request by
// the resolver from the caller's own token (`roleFor`), after the cache, so a caller whose role on a
// session was taken away (a new token without it) never sees it, cached rows or not. A tenant's
// lists are dropped when any of its sessions changes: the update writer's durable notification (an
// edit, and the first edit that creates a session), and from the bus `session.updated` (edits on
// other nodes) and `session.branched` (a session created from a version). Writes that announce
// nothing (an imported bundle) show within `maxAgeMs`. A read under way when its tenant changed
// does not fill the cache with what it read.
import type { EventBus, Subscription } from '../events/bus.js';
import type { DurableSource } from './content-cache.js';

/** A session as lists show it. */
export interface SessionRow {
  id: string;
  createdAt: string;
  updates: number;
  lastUpdateAt: string | null;
}

interface TenantLists {
  /** Bumped on every change: a read that started under another generation does not fill. */
  generation: number;
  /** By limit: the rows and when they were read (ms). */
  lists: Map<number, { rows: readonly SessionRow[]; at: number }>;
}

export class SessionListCache {
  /** Least recently used tenant first. */
  private readonly tenants = new Map<string, TenantLists>();
  private stopDurable: (() => void) | null = null;
  private subscription: Subscription | null = null;
  hits = 0;
  misses = 0;

  /**
   * `maxTenants` tenants' lists at most (0: nothing is kept); a list is read again after `maxAgeMs`.
   * `now` is the clock (tests).
   */
  constructor(
    private readonly maxTenants: number,
    private readonly maxAgeMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Drops the tenant's lists: one of its sessions changed (or was created). */
  changed(tenantId: string): void {
    const entry = this.tenants.get(tenantId);
    if (!entry) return;
    entry.generation++;
    entry.lists.clear();
  }

  /** Starts hearing changes: this node's durable updates, other nodes' edits and branches. */
  async follow(writer: DurableSource, bus: EventBus, group = 'graphql.session-lists'): Promise<this> {
    this.stopDurable = writer.onDurable((tenantId) => this.changed(tenantId));
    this.subscription = await bus.subscribe(group, (event) => this.changed(event.tenantId), { types: ['session.updated', 'session.branched'], ephemeral: true });
    return this;
  }

  /** The tenant's newest `limit` sessions: as kept, or from `read` (kept unless the tenant changed meanwhile). */
  async load(tenantId: string, limit: number, read: () => Promise<SessionRow[]>): Promise<readonly SessionRow[]> {
    const entry = this.entryOf(tenantId);
    const kept = entry.lists.get(limit);
    if (kept && this.now() - kept.at < this.maxAgeMs) {
      this.hits++;
      return kept.rows;
    }
    this.misses++;
    const generation = entry.generation;
    const at = this.now();
    const rows = await read();
    // The entry may have been evicted meanwhile: then nothing is kept (a later read fills it).
    if (this.maxTenants > 0 && this.tenants.get(tenantId) === entry && entry.generation === generation) entry.lists.set(limit, { rows: Object.freeze(rows.map((r) => Object.freeze({ ...r }))), at });
    return rows;
  }

  /** How many tenants have lists kept. */
  get size(): number {
    let n = 0;
    for (const entry of this.tenants.values()) if (entry.lists.size > 0) n++;
    return n;
  }

  async close(): Promise<void> {
    this.stopDurable?.();
    this.stopDurable = null;
    await this.subscription?.close();
    this.subscription = null;
    this.tenants.clear();
  }

  private entryOf(tenantId: string): TenantLists {
    let entry = this.tenants.get(tenantId);
    if (entry) {
      this.tenants.delete(tenantId);
    } else {
      entry = { generation: 0, lists: new Map() };
    }
    this.tenants.set(tenantId, entry);
    if (this.tenants.size > Math.max(1, this.maxTenants)) this.tenants.delete(this.tenants.keys().next().value!);
    return entry;
  }
}
