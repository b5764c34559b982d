import type { Worker } from 'node:worker_threads';
import { Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Storage } from '../../src/storage/database.js';
import { WorkerDialect } from '../../src/storage/worker-dialect.js';
import { tempDir } from '../helpers/services.js';

/** The database client on a worker thread: what crosses the thread, and what happens when it dies. */
const data = tempDir('worker-dialect');
const workers: Worker[] = [];
let db: Kysely<unknown>;

beforeAll(async () => {
  db = new Kysely({ dialect: new WorkerDialect({ database: { kind: 'pglite', pgliteDir: data.dir, poolSize: 1, onWorker: (w) => workers.push(w) } }) });
  await sql`CREATE TABLE items (id int PRIMARY KEY, body bytea NOT NULL, at timestamptz NOT NULL)`.execute(db);
});
afterAll(async () => {
  await db.destroy();
  data.remove();
});

describe('WorkerDialect (PGlite on a worker thread)', () => {
  it('carries bytes, dates, arrays and bigints both ways, and transactions commit or roll back', async () => {
    const at = new Date('2026-11-24T10:00:00.123Z');
    await db.transaction().execute(async (trx) => {
      await sql`INSERT INTO items SELECT unnest(${[1, 2]}::int[]), ${Buffer.from([0, 1, 255])}, ${at}`.execute(trx);
    });
    await expect(
      db.transaction().execute(async (trx) => {
        await sql`INSERT INTO items VALUES (3, '\\x00', now())`.execute(trx);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    const { rows } = await sql<{ id: number; body: Uint8Array; at: Date; big: string }>`SELECT id, body, at, (id::bigint * 10000000000) AS big FROM items ORDER BY id`.execute(db);
    expect(rows.map((r) => r.id)).toEqual([1, 2]);
    expect([...rows[0]!.body]).toEqual([0, 1, 255]);
    expect(rows[0]!.at.toISOString()).toBe(at.toISOString());
    expect(String(rows[1]!.big)).toBe('20000000000');
  });

  it('keeps PostgreSQL error fields (code, constraint) across the thread', async () => {
    const error = (await sql`INSERT INTO items VALUES (1, '\\x00', now())`.execute(db).catch((e: unknown) => e)) as { code?: string; constraint?: string; message: string };
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('23505');
    expect(error.constraint).toBe('items_pkey');
    expect(error.message).toMatch(/duplicate key/);
  });

  it('fails what a dead worker owed and starts a new one for the next query, data intact', async () => {
    const first = workers.at(-1)!;
    const slow = sql`SELECT pg_sleep(2)`.execute(db);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await first.terminate();
    await expect(slow).rejects.toThrow(/storage worker (exited|restarted)/);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM items`.execute(db);
    expect(rows[0]!.n).toBe(2);
    expect(workers.length).toBe(2);
  });
});

describe('Storage on the calling thread (VEZA_STORAGE_THREAD=false)', () => {
  it('runs the same migrations and tenant transactions without a worker', async () => {
    const dir = tempDir('in-thread');
    const storage = await Storage.open({ dataDir: dir.dir, storageThread: false });
    try {
      expect(await storage.migrate()).toContain('0002_documents');
      const tenant = await storage.withTenant('default', async (trx) => (await sql<{ t: string }>`SELECT current_setting('veza.tenant_id') AS t`.execute(trx)).rows[0]!.t);
      expect(tenant).toBe('default');
    } finally {
      await storage.close();
      dir.remove();
    }
  });
});
