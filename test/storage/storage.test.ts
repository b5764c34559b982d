import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Storage } from '../../src/storage/database.js';
import { migrationProvider } from '../../src/storage/migrations/index.js';
import { createTestDatabase, postgresAvailable, tempDir } from '../helpers/services.js';

const hasPostgres = await postgresAvailable();

interface Backend {
  open(): Promise<Storage>;
  cleanup(): Promise<void>;
}

function pgliteBackend(): Backend {
  const data = tempDir('storage');
  return { open: () => Storage.open({ dataDir: data.dir }), cleanup: async () => data.remove() };
}

function postgresBackend(): Backend {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | null = null;
  return {
    open: async () => {
      db ??= await createTestDatabase();
      return Storage.open({ dataDir: '/nonexistent', databaseUrl: db.url });
    },
    cleanup: async () => db?.drop(),
  };
}

const parked = (tenantId: string, eventId: string) => ({
  tenant_id: tenantId,
  consumer_group: 'g',
  event_id: eventId,
  type: 'track.liked',
  event: JSON.stringify({ id: eventId }),
  error: 'boom',
  attempts: 1,
});

function storageSuite(name: string, backend: () => Backend) {
  describe(name, () => {
    let b: Backend;
    let storage: Storage;

    beforeAll(async () => {
      b = backend();
      storage = await b.open();
      await storage.migrate();
      await storage.db.insertInto('tenants').values([{ id: 'acme', name: 'Acme' }, { id: 'globex', name: 'Globex' }]).execute();
    });
    afterAll(async () => {
      await storage?.close();
      await b?.cleanup();
    });

    it('has applied every migration and a second run applies none', async () => {
      expect(await storage.migrate()).toEqual([]);
      const tables = await sql<{ table_name: string }>`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`.execute(storage.db);
      expect(tables.rows.map((r) => r.table_name)).toEqual(expect.arrayContaining(['tenants', 'parked_events']));
    });

    it('creates the default tenant', async () => {
      const rows = await storage.db.selectFrom('tenants').select('id').where('id', '=', 'default').execute();
      expect(rows).toHaveLength(1);
    });

    it('runs tenant transactions as a non-owner role without BYPASSRLS', async () => {
      const who = await storage.withTenant('acme', async (trx) => {
        const r = await sql<{ user: string; tenant: string; bypass: boolean; superuser: boolean }>`
          SELECT current_user AS user, current_setting('veza.tenant_id') AS tenant,
                 rolbypassrls AS bypass, rolsuper AS superuser
          FROM pg_roles WHERE rolname = current_user`.execute(trx);
        return r.rows[0];
      });
      expect(who).toEqual({ user: 'veza_app', tenant: 'acme', bypass: false, superuser: false });
      const forced = await sql<{ relname: string; relforcerowsecurity: boolean }>`
        SELECT relname, relforcerowsecurity FROM pg_class WHERE relname IN ('tenants', 'parked_events', 'documents', 'document_updates', 'document_snapshots')`.execute(storage.db);
      expect(forced.rows.every((r) => r.relforcerowsecurity)).toBe(true);
    });

    it('keeps one tenant from reading or writing another tenant\'s rows', async () => {
      await storage.withTenant('acme', (trx) => trx.insertInto('parked_events').values(parked('acme', 'a-1')).execute());
      await storage.withTenant('globex', (trx) => trx.insertInto('parked_events').values(parked('globex', 'g-1')).execute());

      const seenByAcme = await storage.withTenant('acme', (trx) => trx.selectFrom('parked_events').select(['tenant_id', 'event_id']).execute());
      expect(seenByAcme).toEqual([{ tenant_id: 'acme', event_id: 'a-1' }]);

      // Writing a row for another tenant is refused by the policy's WITH CHECK.
      await expect(storage.withTenant('acme', (trx) => trx.insertInto('parked_events').values(parked('globex', 'sneaky')).execute())).rejects.toThrow(
        /row-level security/,
      );
      // Updating or deleting another tenant's rows touches nothing.
      const updated = await storage.withTenant('acme', (trx) => trx.updateTable('parked_events').set({ error: 'hijacked' }).where('event_id', '=', 'g-1').executeTakeFirst());
      expect(updated.numUpdatedRows).toBe(0n);
      const deleted = await storage.withTenant('acme', (trx) => trx.deleteFrom('parked_events').where('tenant_id', '=', 'globex').executeTakeFirst());
      expect(deleted.numDeletedRows).toBe(0n);
      // Moving one's own row to another tenant is refused too.
      await expect(storage.withTenant('acme', (trx) => trx.updateTable('parked_events').set({ tenant_id: 'globex' }).where('event_id', '=', 'a-1').execute())).rejects.toThrow(
        /row-level security/,
      );

      const globexRow = await storage.db.selectFrom('parked_events').select('error').where('event_id', '=', 'g-1').executeTakeFirstOrThrow();
      expect(globexRow.error).toBe('boom');
      const tenantsSeen = await storage.withTenant('globex', (trx) => trx.selectFrom('tenants').select('id').execute());
      expect(tenantsSeen).toEqual([{ id: 'globex' }]);
    });

    it('scopes the tenant to the transaction', async () => {
      await storage.withTenant('acme', async () => undefined);
      const after = await sql<{ role: string; tenant: string | null }>`SELECT current_user AS role, current_setting('veza.tenant_id', true) AS tenant`.execute(storage.db);
      expect(after.rows[0]?.role).not.toBe('veza_app');
      expect(after.rows[0]?.tenant ?? '').toBe('');
    });

    it('sees nothing as the application role when no tenant is set', async () => {
      const rows = await storage.db.transaction().execute(async (trx) => {
        await sql`SET LOCAL ROLE veza_app`.execute(trx);
        return trx.selectFrom('parked_events').selectAll().execute();
      });
      expect(rows).toEqual([]);
    });

    it('refuses a malformed tenant id before touching the database', async () => {
      await expect(storage.withTenant("acme'; DROP TABLE tenants; --", async () => 1)).rejects.toThrow(/invalid tenant id/);
    });
  });
}

storageSuite('storage on PGlite', pgliteBackend);
describe.skipIf(!hasPostgres)('PostgreSQL only', () => {
  storageSuite('storage on PostgreSQL', postgresBackend);

  it('lets several nodes migrate the same database at once', async () => {
    const db = await createTestDatabase();
    const nodes = await Promise.all([1, 2, 3].map(() => Storage.open({ dataDir: '/nonexistent', databaseUrl: db.url })));
    try {
      const applied = await Promise.all(nodes.map((n) => n.migrate()));
      // Each migration ran exactly once across the three nodes.
      expect(applied.flat().sort()).toEqual(Object.keys(await migrationProvider.getMigrations()).sort());
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
      await db.drop();
    }
  });
});
