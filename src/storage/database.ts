import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { MessagePort } from 'node:worker_threads';
import { Kysely, PGliteDialect, PostgresDialect, sql, type Dialect, type Transaction } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { lockDirectory } from './directory-lock.js';
import { migrationProvider } from './migrations/index.js';
import { openPGlite, pgliteStartParams } from './pglite-open.mjs';
import type { Database } from './schema.js';
import type { StorageSettings } from './settings.js';
import { TENANT_ID_PATTERN } from './schema.js';
import { APP_ROLE, TENANT_SETTING } from './tenancy.js';
import { WorkerDialect, type StorageThreadMemory } from './worker-dialect.js';

export type StorageKind = 'pglite' | 'postgres';

/**
 * The storage settings (the data directory at least): without `databaseUrl`, PGlite in `dataDir`;
 * `thread` (default true) runs the database client on a worker thread, false keeps it on the
 * calling one.
 */
export interface StorageOptions extends Partial<StorageSettings> {
  dataDir: string;
  /** Pool size for PostgreSQL. */
  poolSize?: number;
}

/**
 * The one way into the database. `db` is the owner connection (migrations, cross-tenant
 * maintenance); application queries go through `withTenant`, which runs them as the non-owner
 * application role with the tenant set for that transaction only, so RLS decides what they see.
 */
export class Storage {
  private constructor(
    readonly kind: StorageKind,
    readonly db: Kysely<Database>,
    /** Set when the database client runs on the storage worker (the default). */
    private readonly worker: WorkerDialect | null = null,
    /** Gives the embedded database's directory back to other processes. */
    private readonly unlock: () => void = () => undefined,
  ) {}

  /**
   * The same database from another thread of this process (the event consumers), through a port of
   * the storage worker (see `attachPort`); a port that closes is asked for again.
   */
  static overPort(kind: StorageKind, port: () => Promise<MessagePort>): Storage {
    const dialect = new WorkerDialect({ kind, port });
    return new Storage(kind, new Kysely<Database>({ dialect }), dialect);
  }

  static async open(options: StorageOptions): Promise<Storage> {
    const kind: StorageKind = options.databaseUrl ? 'postgres' : 'pglite';
    const pgliteDir = path.join(options.dataDir, 'pglite');
    if (kind === 'pglite') mkdirSync(pgliteDir, { recursive: true });
    const unlock = kind === 'pglite' ? lockDirectory(pgliteDir) : () => undefined;
    try {
      return await Storage.connect(kind, options, pgliteDir, unlock);
    } catch (error) {
      unlock();
      throw error;
    }
  }

  private static async connect(kind: StorageKind, options: StorageOptions, pgliteDir: string, unlock: () => void): Promise<Storage> {
    let dialect: Dialect;
    let worker: WorkerDialect | null = null;
    const pgliteParams = pgliteStartParams({ sharedBuffersMb: options.pgliteSharedBuffersMb ?? 16 });
    if (options.thread ?? true) {
      dialect = worker = new WorkerDialect({ database: { kind, databaseUrl: options.databaseUrl, pgliteDir, pgliteParams, poolSize: options.poolSize ?? 10 } });
    } else if (options.databaseUrl) {
      const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 10 });
      // An idle client losing its server must not crash the process; the next query reconnects.
      pool.on('error', () => undefined);
      dialect = new PostgresDialect({ pool });
    } else {
      const pglite = await openPGlite(pgliteDir, pgliteParams);
      dialect = new PGliteDialect({ pglite });
    }
    const storage = new Storage(kind, new Kysely<Database>({ dialect }), worker, unlock);
    // The embedded database opens now, so that a bad data directory fails here; PostgreSQL connects on first use.
    if (kind === 'pglite') await storage.ping().catch(async (error: unknown) => {
      await storage.close().catch(() => undefined);
      throw error;
    });
    return storage;
  }

  /** Brings the schema up to date. Safe to run from several nodes at once (PostgreSQL advisory lock). */
  async migrate(): Promise<string[]> {
    // A restart finds every migration applied: one read instead of the migrator's lock and checks.
    const known = Object.keys(await migrationProvider.getMigrations());
    const applied = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(this.db).then(
      (r) => new Set(r.rows.map((row) => row.name)),
      () => new Set<string>(),
    );
    if (known.every((name) => applied.has(name))) return [];
    const migrator = new Migrator({ db: this.db, provider: migrationProvider, allowUnorderedMigrations: true });
    const { error, results } = await migrator.migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
      throw new Error(`migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  }

  /** Runs `fn` in one transaction as the application role, seeing only `tenantId`'s rows. */
  async withTenant<T>(tenantId: string, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    if (!TENANT_ID_PATTERN.test(tenantId)) throw new Error(`invalid tenant id ${JSON.stringify(tenantId)}`);
    return this.db.transaction().execute(async (trx) => {
      await sql`SELECT set_config('role', ${APP_ROLE}, true), set_config(${TENANT_SETTING}, ${tenantId}, true)`.execute(trx);
      return fn(trx);
    });
  }

  /** Whether the database client runs on the storage worker (other threads can then share it). */
  get threaded(): boolean {
    return this.worker !== null;
  }

  /** A port of the storage worker for another thread of this process; null when the client runs on this thread. */
  attachPort(): Promise<MessagePort> | null {
    return this.worker?.attachPort() ?? null;
  }

  /** The storage thread's heap and the embedded database's WASM memory; null when the client runs on the calling thread. */
  async memory(): Promise<StorageThreadMemory | null> {
    return this.worker ? this.worker.memory() : null;
  }

  async ping(): Promise<void> {
    await sql`SELECT 1`.execute(this.db);
  }

  async close(): Promise<void> {
    try {
      await this.db.destroy();
    } finally {
      this.unlock();
    }
  }
}

/** bytea arrives as Buffer from pg and as Uint8Array from PGlite; callers get a plain Uint8Array. */
export function bytes(value: Uint8Array): Uint8Array {
  return Buffer.isBuffer(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : value;
}
