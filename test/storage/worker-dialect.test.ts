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

  it('shares PGlite between threads through ports: concurrent transactions take turns, a port that closes gives its transaction back', async () => {
    const dir = tempDir('worker-dialect-ports');
    const dialect = new WorkerDialect({ database: { kind: 'pglite', pgliteDir: dir.dir, poolSize: 1 } });
    const owner = new Kysely<unknown>({ dialect });
    await sql`CREATE TABLE turns (who text, n int)`.execute(owner);
    // Another thread's view of the same database (a port, as the consumers thread gets one).
    const other = new Kysely<unknown>({ dialect: new WorkerDialect({ kind: 'pglite', port: () => dialect.attachPort() }) });
    const writer = (db: Kysely<unknown>, who: string) =>
      db.transaction().execute(async (trx) => {
        for (let n = 0; n < 5; n++) {
          await sql`INSERT INTO turns VALUES (${who}, ${n})`.execute(trx);
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      });
    await Promise.all([writer(owner, 'main'), writer(other, 'consumers'), writer(owner, 'main2'), writer(other, 'consumers2')]);
    const { rows } = await sql<{ who: string; n: number }>`SELECT who, n FROM turns`.execute(owner);
    expect(rows).toHaveLength(20);
    // One transaction at a time: each writer's rows are contiguous.
    const order = rows.map((r) => r.who).filter((who, i, all) => i === 0 || all[i - 1] !== who);
    expect(order.sort()).toEqual(['consumers', 'consumers2', 'main', 'main2']);

    // A thread that goes away in the middle of a transaction: its rows are rolled back and the others carry on.
    const port = await dialect.attachPort();
    const leaving = new Kysely<unknown>({ dialect: new WorkerDialect({ kind: 'pglite', port: async () => port }) });
    const begun = leaving.transaction().execute(async (trx) => {
      await sql`INSERT INTO turns VALUES ('gone', 1)`.execute(trx);
      port.close();
      await sql`INSERT INTO turns VALUES ('gone', 2)`.execute(trx);
    });
    await expect(begun).rejects.toThrow(/storage port closed|connection was lost/);
    await writer(owner, 'after');
    const { rows: after } = await sql<{ who: string; count: string }>`SELECT who, count(*)::text AS count FROM turns GROUP BY who ORDER BY who`.execute(owner);
    expect(after.map((r) => [r.who, Number(r.count)])).toEqual([['after', 5], ['consumers', 5], ['consumers2', 5], ['main', 5], ['main2', 5]]);
    await other.destroy();
    await owner.destroy();
    dir.remove();
  });
});

describe('Storage on the calling thread (VEZA_STORAGE_THREAD=false)', () => {
  it('runs the same migrations and tenant transactions without a worker', async () => {
    const dir = tempDir('in-thread');
    const storage = await Storage.open({ dataDir: dir.dir, thread: false });
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
