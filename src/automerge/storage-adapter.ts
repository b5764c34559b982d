import type { Chunk, StorageAdapterInterface, StorageKey } from '@automerge/automerge-repo/slim';
import { sql, type GeneratedAlways, type Transaction } from 'kysely';
import { bytes, type Storage } from '../storage/database.js';
import type { Database } from '../storage/schema.js';

/** The table of migration 0003, seen only from here. */
type AutomergeTables = {
  automerge_chunks: {
    tenant_id: string;
    key: string[];
    seq: GeneratedAlways<string>;
    data: Uint8Array;
  };
};

/** What the service learns from the adapter's writes. */
export interface StorageEvents {
  /** A write failed; it is retried (`retrying` counts the writes that failed and are not stored yet). */
  onWriteFailed?: (error: unknown) => void;
  /** A chunk is stored (the service clears journal entries a snapshot covers). */
  onSaved?: (key: StorageKey) => void;
}

/** First pause before a failed write is tried again; it doubles up to the longest. */
const RETRY_FIRST_MS = 100;
const RETRY_LONGEST_MS = 5_000;

/**
 * automerge-repo's key/value storage on our database, one adapter per tenant: every call is one
 * `withTenant` transaction, so row-level security scopes it to the tenant whatever the key says.
 * A failed write is tried again with backoff until it succeeds (or the adapter closes): the repo
 * waits for a save before it starts the next one of the same document, so nothing is skipped.
 */
export class DatabaseStorageAdapter implements StorageAdapterInterface {
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  /** Writes waiting to be tried again after a failure. */
  retrying = 0;

  constructor(
    private readonly storage: Storage,
    private readonly tenantId: string,
    private readonly events: StorageEvents = {},
  ) {}

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    checkKey(key, false);
    const row = await this.run((db) => db.selectFrom('automerge_chunks').select('data').where('tenant_id', '=', this.tenantId).where('key', '=', asArray(key)).executeTakeFirst());
    return row ? copy(row.data) : undefined;
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    checkKey(key, false);
    await this.write((db) => upsert(db, this.tenantId, key, data));
    if (!this.closed) this.events.onSaved?.(key);
  }

  /** One attempt, no retry: the caller (a client waiting for its change to be durable) handles a failure. */
  async saveOnce(key: StorageKey, data: Uint8Array): Promise<void> {
    checkKey(key, false);
    await this.run((db) => upsert(db, this.tenantId, key, data));
  }

  async remove(key: StorageKey): Promise<void> {
    checkKey(key, false);
    await this.write((db) => db.deleteFrom('automerge_chunks').where('tenant_id', '=', this.tenantId).where('key', '=', asArray(key)).execute());
  }

  async loadRange(prefix: StorageKey): Promise<Chunk[]> {
    checkKey(prefix, true);
    const rows = await this.run((db) =>
      db.selectFrom('automerge_chunks').select(['key', 'data']).where('tenant_id', '=', this.tenantId).where(startsWith(prefix)).orderBy('seq').execute(),
    );
    return rows.map((row) => ({ key: row.key, data: copy(row.data) }));
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    checkKey(prefix, true);
    await this.write((db) => db.deleteFrom('automerge_chunks').where('tenant_id', '=', this.tenantId).where(startsWith(prefix)).execute());
  }

  /**
   * Shutdown, after the repo flushed every document: waits for what is in flight, since the repo
   * does not (its throttled saves run on their own), so nothing reaches storage once it is closed.
   * A write after this (a peer's sync state, say) is dropped, never a rejection the repo leaves unhandled.
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
  }

  private run<T>(fn: (db: Transaction<Database & AutomergeTables>) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('automerge storage is closed'));
    const work = this.storage.withTenant(this.tenantId, (trx: Transaction<Database>) => fn(trx.withTables<AutomergeTables>()));
    this.inFlight.add(work);
    const done = () => this.inFlight.delete(work);
    work.then(done, done);
    return work;
  }

  private async write(fn: (db: Transaction<Database & AutomergeTables>) => Promise<unknown>): Promise<void> {
    let pause = RETRY_FIRST_MS;
    // A write counts as retrying from its first failure until it is stored or given up,
    // including while a retry is in flight (not only while it waits).
    let failing = false;
    try {
      for (;;) {
        if (this.closed) return;
        try {
          await this.run(fn);
          return;
        } catch (error) {
          if (this.closed) return;
          this.events.onWriteFailed?.(error);
        }
        if (!failing) {
          failing = true;
          this.retrying++;
        }
        await this.pause(pause);
        pause = Math.min(pause * 2, RETRY_LONGEST_MS);
      }
    } finally {
      if (failing) this.retrying--;
    }
  }

  /** A wait that shutdown cuts short (it is then given up, as a write after close is). */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const check = setInterval(() => this.closed && done(), 50);
      function done() {
        clearTimeout(timer);
        clearInterval(check);
        resolve();
      }
    });
  }
}

function upsert(db: Transaction<Database & AutomergeTables>, tenantId: string, key: StorageKey, data: Uint8Array) {
  return db
    .insertInto('automerge_chunks')
    .values({ tenant_id: tenantId, key: asArray(key), data })
    .onConflict((c) => c.columns(['tenant_id', 'key']).doUpdateSet({ data }))
    .execute();
}

/**
 * Whole-element prefix match: `key[1:n] = prefix` compares arrays, so ["a","b"] never matches
 * ["a","bc"]. The `key[1]` term lets the (tenant_id, key[1]) index narrow it to one document.
 */
function startsWith(prefix: StorageKey) {
  if (prefix.length === 0) return sql<boolean>`true`;
  return sql<boolean>`key[1] = ${prefix[0]} AND key[1:${prefix.length}] = ${asArray(prefix)}`;
}

/** The cast pins the parameter to text[] instead of leaving it to inference: the drivers send JS arrays differently. */
function asArray(key: StorageKey) {
  return sql<string[]>`${key}::text[]`;
}

/** PostgreSQL text cannot hold NUL, and a key of something else is a bug in the caller. */
function checkKey(key: StorageKey, emptyAllowed: boolean): void {
  if (!Array.isArray(key) || (!emptyAllowed && key.length === 0)) throw new Error('storage key must be a non-empty array of strings');
  for (const part of key) {
    if (typeof part !== 'string' || part.includes('\0')) throw new Error(`invalid storage key element ${JSON.stringify(part)}`);
  }
}

/**
 * bytea arrives as a Buffer view (pg) or Uint8Array (PGlite); automerge-repo keeps what it loads, so
 * it gets its own plain Uint8Array, never a window on a pooled buffer.
 */
function copy(data: Uint8Array): Uint8Array {
  return new Uint8Array(bytes(data));
}
