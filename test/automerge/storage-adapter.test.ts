import { runStorageAdapterTests } from '@automerge/automerge-repo/helpers/tests/storage-adapter-tests.js';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseStorageAdapter } from '../../src/automerge/storage-adapter.js';
import { Storage } from '../../src/storage/database.js';
import { createTestDatabase, postgresAvailable, tempDir } from '../helpers/services.js';

/**
 * automerge-repo's own acceptance suite against our adapter, on PGlite and on PostgreSQL, plus what
 * the suite does not check: whole-element prefixes and tenant isolation.
 */
const hasPostgres = await postgresAvailable();

interface Backend {
  name: string;
  open(): Promise<{ storage: Storage; cleanup(): Promise<void> }>;
}

const pglite: Backend = {
  name: 'PGlite',
  open: async () => {
    const data = tempDir('automerge-storage');
    const storage = await Storage.open({ dataDir: data.dir });
    return { storage, cleanup: async () => data.remove() };
  },
};

const postgres: Backend = {
  name: 'PostgreSQL',
  open: async () => {
    const db = await createTestDatabase();
    const storage = await Storage.open({ dataDir: '/nonexistent', databaseUrl: db.url });
    return { storage, cleanup: () => db.drop() };
  },
};

function adapterSuite(backend: Backend) {
  describe(backend.name, () => {
    let storage: Storage;
    let cleanup: () => Promise<void>;
    let tenants = 0;

    beforeAll(async () => {
      ({ storage, cleanup } = await backend.open());
      await storage.migrate();
      await storage.db.insertInto('tenants').values([{ id: 'acme', name: 'Acme' }, { id: 'globex', name: 'Globex' }]).execute();
    });
    afterAll(async () => {
      await storage?.close();
      await cleanup?.();
    });

    // The suite expects an empty store for each test: each gets a tenant of its own.
    runStorageAdapterTests(async () => {
      const tenantId = `suite-${++tenants}`;
      await storage.db.insertInto('tenants').values({ id: tenantId, name: tenantId }).execute();
      return { adapter: new DatabaseStorageAdapter(storage, tenantId) };
    }, backend.name);

    it('matches prefixes element by element, never as text', async () => {
      const adapter = new DatabaseStorageAdapter(storage, 'acme');
      await adapter.save(['a', 'b', 'x'], new Uint8Array([1]));
      await adapter.save(['a', 'bc', 'x'], new Uint8Array([2]));
      await adapter.save(['a', 'b'], new Uint8Array([3]));
      await adapter.save(['a%', 'b'], new Uint8Array([4]));
      expect((await adapter.loadRange(['a', 'b'])).map((c) => c.key)).toEqual([['a', 'b', 'x'], ['a', 'b']]);
      expect((await adapter.loadRange(['a'])).map((c) => c.key)).toEqual([['a', 'b', 'x'], ['a', 'bc', 'x'], ['a', 'b']]);
      await adapter.removeRange(['a', 'b']);
      expect((await adapter.loadRange([])).map((c) => c.key)).toEqual([['a', 'bc', 'x'], ['a%', 'b']]);
    });

    it('keeps each tenant to its own chunks', async () => {
      const acme = new DatabaseStorageAdapter(storage, 'acme');
      const globex = new DatabaseStorageAdapter(storage, 'globex');
      await acme.save(['doc', 'snapshot', 'h'], new Uint8Array([7]));
      expect(await globex.load(['doc', 'snapshot', 'h'])).toBeUndefined();
      expect(await globex.loadRange(['doc'])).toEqual([]);
      await globex.removeRange(['doc']);
      await globex.save(['doc', 'snapshot', 'h'], new Uint8Array([8]));
      expect(await acme.load(['doc', 'snapshot', 'h'])).toEqual(new Uint8Array([7]));
      expect(await globex.load(['doc', 'snapshot', 'h'])).toEqual(new Uint8Array([8]));
    });

    it('forces row-level security on the table, as on every tenant-owned table', async () => {
      const forced = await sql<{ force: boolean; policies: string[] }>`
        SELECT relforcerowsecurity AS force, (SELECT array_agg(policyname::text ORDER BY policyname) FROM pg_policies WHERE tablename = 'automerge_chunks') AS policies
        FROM pg_class WHERE relname = 'automerge_chunks'`.execute(storage.db);
      // The tenant's policy, and the platform's, which applies only to the owner role (not the application's).
      expect(forced.rows).toEqual([{ force: true, policies: ['automerge_chunks_platform', 'automerge_chunks_tenant_isolation'] }]);
      // Even a query naming another tenant's id sees nothing of it.
      await new DatabaseStorageAdapter(storage, 'acme').save(['secret'], new Uint8Array([1]));
      const leaked = await storage.withTenant('globex', (trx) => sql<{ n: number }>`SELECT count(*)::int AS n FROM automerge_chunks WHERE tenant_id = 'acme'`.execute(trx));
      expect(leaked.rows[0]?.n).toBe(0);
    });

    it('refuses keys PostgreSQL cannot store instead of corrupting them', async () => {
      const adapter = new DatabaseStorageAdapter(storage, 'acme');
      await expect(adapter.save([], new Uint8Array([1]))).rejects.toThrow(/non-empty/);
      await expect(adapter.save(['a\0b'], new Uint8Array([1]))).rejects.toThrow(/invalid storage key/);
    });
  });
}

adapterSuite(pglite);
describe.skipIf(!hasPostgres)('on PostgreSQL', () => adapterSuite(postgres));
