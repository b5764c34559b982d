// Sessions' titles and track lists, kept between requests: decoding 20 documents for the home screen
// was nearly all of its cost. An entry is dropped when its document changes, heard off the realtime
// path: the update writer announces the documents whose updates became durable (within the group
// commit interval, on this node), and `session.updated` from the bus covers edits made on other
// nodes (within their report interval). Entries are keyed by tenant and document; a read that was
// under way when its document changed does not fill the cache with what it read.
import type { EventBus, Subscription } from '../events/bus.js';
import type { Track } from '../studio/model-types.js';

/** What the resolvers read from a session's document. */
export interface SessionContent {
  title: string;
  tracks: Track[];
}

/** What the cache hears changes from: the update writer's durable notification. */
export interface DurableSource {
  onDurable(listener: (tenantId: string, docId: string) => void): () => void;
}

export class SessionContentCache {
  /** Least recently used first. */
  private readonly entries = new Map<string, SessionContent>();
  /** Reads under way, by key: a change marks them stale, so they do not fill. */
  private readonly reading = new Map<string, Set<{ stale: boolean }>>();
  private stopDurable: (() => void) | null = null;
  private subscription: Subscription | null = null;
  hits = 0;
  misses = 0;

  /** `max` entries at most (0: nothing is kept). */
  constructor(private readonly max: number) {}

  /** Drops the document's entry: it changed. */
  changed(tenantId: string, docId: string): void {
    const key = `${tenantId}/${docId}`;
    this.entries.delete(key);
    const readers = this.reading.get(key);
    if (readers) for (const reader of readers) reader.stale = true;
  }

  /** Starts hearing changes: this node's durable updates, and other nodes' `session.updated`. */
  async follow(writer: DurableSource, bus: EventBus, group = 'graphql.content-cache'): Promise<this> {
    this.stopDurable = writer.onDurable((tenantId, docId) => this.changed(tenantId, docId));
    this.subscription = await bus.subscribe(group, (event) => {
      if (event.type === 'session.updated') this.changed(event.tenantId, event.payload.sessionId);
    }, { types: ['session.updated'], ephemeral: true });
    return this;
  }

  /**
   * The content of each of `docIds` in the tenant: cached ones as kept, the others from `read` (one
   * call for all of them), kept unless their document changed while they were read.
   */
  async load(tenantId: string, docIds: readonly string[], read: (missing: string[]) => Promise<Map<string, SessionContent>>): Promise<Map<string, SessionContent>> {
    const found = new Map<string, SessionContent>();
    const missing: string[] = [];
    for (const id of docIds) {
      const key = `${tenantId}/${id}`;
      const entry = this.entries.get(key);
      if (entry) {
        this.entries.delete(key);
        this.entries.set(key, entry);
        found.set(id, entry);
      } else missing.push(id);
    }
    this.hits += found.size;
    this.misses += missing.length;
    if (missing.length === 0) return found;
    const tokens = missing.map((id) => this.startReading(`${tenantId}/${id}`));
    try {
      const read$ = await read(missing);
      missing.forEach((id, i) => {
        const content = read$.get(id);
        if (content === undefined) return;
        found.set(id, content);
        if (!tokens[i]!.stale) this.keep(`${tenantId}/${id}`, content);
      });
    } finally {
      missing.forEach((id, i) => this.stopReading(`${tenantId}/${id}`, tokens[i]!));
    }
    return found;
  }

  get size(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {
    this.stopDurable?.();
    this.stopDurable = null;
    await this.subscription?.close();
    this.subscription = null;
    this.entries.clear();
  }

  private keep(key: string, content: SessionContent): void {
    if (this.max === 0) return;
    this.entries.delete(key);
    this.entries.set(key, content);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  private startReading(key: string): { stale: boolean } {
    const token = { stale: false };
    let readers = this.reading.get(key);
    if (!readers) this.reading.set(key, (readers = new Set()));
    readers.add(token);
    return token;
  }

  private stopReading(key: string, token: { stale: boolean }): void {
    const readers = this.reading.get(key);
    if (!readers) return;
    readers.delete(token);
    if (readers.size === 0) this.reading.delete(key);
  }
}
