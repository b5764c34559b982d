import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent } from '../../src/events/catalog.js';
import { MemoryBus } from '../../src/events/memory-bus.js';
import { DatabaseParkingLot } from '../../src/events/parking.js';
import { RedisBus } from '../../src/events/redis-bus.js';
import { Storage } from '../../src/storage/database.js';
import { createTestDatabase, postgresAvailable, REDIS_URL, redisAvailable, redisPrefix, tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { deleteStreamKeys, liked, silentLogger } from './support.js';

const hasPostgres = await postgresAvailable();
const hasRedis = await redisAvailable();

interface Backend {
  storage: Storage;
  cleanup(): Promise<void>;
}

async function pglite(): Promise<Backend> {
  const data = tempDir('events-parking');
  const storage = await Storage.open({ dataDir: data.dir });
  return {
    storage,
    cleanup: async () => {
      await storage.close();
      data.remove();
    },
  };
}

async function postgres(): Promise<Backend> {
  const db = await createTestDatabase();
  const storage = await Storage.open({ dataDir: '/nonexistent', databaseUrl: db.url });
  return {
    storage,
    cleanup: async () => {
      await storage.close();
      await db.drop();
    },
  };
}

function parkingSuite(name: string, open: () => Promise<Backend>, skip = false) {
  describe.skipIf(skip)(name, () => {
    let backend: Backend | undefined;
    let storage: Storage;

    beforeAll(async () => {
      backend = await open();
      storage = backend.storage;
      await storage.migrate();
      await storage.db.insertInto('tenants').values([{ id: 'acme', name: 'Acme' }, { id: 'globex', name: 'Globex' }]).execute();
    });

    afterAll(async () => {
      await backend?.cleanup();
    });

    const parkedOf = (tenantId: string, group?: string) =>
      storage.withTenant(tenantId, (trx) => {
        let q = trx.selectFrom('parked_events').selectAll();
        if (group) q = q.where('consumer_group', '=', group);
        return q.orderBy('event_id').execute();
      });

    it('parks the event of a handler that keeps failing in its tenant’s table, out of other tenants’ sight', async () => {
      const bus = new MemoryBus({ logger: silentLogger, parking: new DatabaseParkingLot(storage), maxAttempts: 3, retryDelayMs: () => 5 });
      await bus.subscribe('gamification', (e) => {
        throw new Error(`score service down for ${e.tenantId}`);
      });
      const acme = createEvent('track.purchased', { tenantId: 'acme', actor: 'u1', payload: { trackId: 't1', amount: 199, currency: 'USD' } });
      const globex = liked('globex', 'g1');
      await bus.publish(acme);
      await bus.publish(globex);
      await bus.idle();
      await bus.close();

      const acmeRows = await parkedOf('acme', 'gamification');
      expect(acmeRows).toHaveLength(1);
      const row = acmeRows[0]!;
      expect(row).toMatchObject({
        tenant_id: 'acme',
        consumer_group: 'gamification',
        event_id: acme.id,
        type: 'track.purchased',
        error: 'score service down for acme',
        attempts: 3,
      });
      expect(row.event).toEqual(acme); // the whole event, to replay it later
      expect(row.parked_at).toBeInstanceOf(Date);

      // Row-level security: each tenant sees its own parked event and not the other's.
      const globexRows = await parkedOf('globex', 'gamification');
      expect(globexRows.map((r) => [r.tenant_id, r.event_id, r.error])).toEqual([['globex', globex.id, 'score service down for globex']]);
      expect(await storage.withTenant('globex', (trx) => trx.selectFrom('parked_events').selectAll().where('event_id', '=', acme.id).execute())).toEqual([]);
      expect(await storage.withTenant('default', (trx) => trx.selectFrom('parked_events').selectAll().where('event_id', 'in', [acme.id, globex.id]).execute())).toEqual(
        [],
      );
      // Both rows are there (the owner connection is not subject to the tenant setting).
      const all = await storage.db.selectFrom('parked_events').select(['tenant_id', 'event_id']).where('event_id', 'in', [acme.id, globex.id]).execute();
      expect(all).toHaveLength(2);
    });

    it('a tenant cannot park into, or rewrite, another tenant’s parked events', async () => {
      const e = liked('acme', 'rls-write');
      await new DatabaseParkingLot(storage).park({ group: 'insights', event: e, error: 'first', attempts: 1 });
      // Writing acme's row while acting as globex is refused by the policy's WITH CHECK.
      await expect(
        storage.withTenant('globex', (trx) =>
          trx
            .insertInto('parked_events')
            .values({ tenant_id: 'acme', consumer_group: 'insights', event_id: 'forged', type: 'track.liked', event: '{}', error: 'x', attempts: 1 })
            .execute(),
        ),
      ).rejects.toThrow(/row-level security/);
      const updated = await storage.withTenant('globex', (trx) => trx.updateTable('parked_events').set({ error: 'tampered' }).where('event_id', '=', e.id).execute());
      expect(updated.map((r) => Number(r.numUpdatedRows))).toEqual([0]);
      expect((await parkedOf('acme', 'insights')).map((r) => r.error)).toEqual(['first']);
    });

    it('parking the same event for the same group again updates the one row', async () => {
      const lot = new DatabaseParkingLot(storage);
      const e = liked('acme', 'twice');
      await lot.park({ group: 'recommendations', event: e, error: 'first failure', attempts: 2 });
      const [before] = await parkedOf('acme', 'recommendations');
      await lot.park({ group: 'recommendations', event: e, error: 'second failure', attempts: 5 });
      const rows = await parkedOf('acme', 'recommendations');
      expect(rows.map((r) => [r.event_id, r.error, r.attempts])).toEqual([[e.id, 'second failure', 5]]);
      expect(rows[0]!.parked_at.getTime()).toBeGreaterThanOrEqual(before!.parked_at.getTime());
      // Another group parking the same event has its own row.
      await lot.park({ group: 'insights-2', event: e, error: 'other group', attempts: 1 });
      expect((await parkedOf('acme')).filter((r) => r.event_id === e.id).map((r) => r.consumer_group).sort()).toEqual(['insights-2', 'recommendations']);
    });

    it('parks an unreadable entry (no valid tenant) under the default tenant, keeping the raw entry', async () => {
      const lot = new DatabaseParkingLot(storage);
      await lot.park({ group: 'g', event: { raw: 'not json', tenantId: '', id: 'stream:1-0', type: 'invalid' }, error: 'unreadable stream entry: x', attempts: 1 });
      const rows = await parkedOf('default', 'g');
      expect(rows.map((r) => [r.tenant_id, r.event_id, r.type, r.event])).toEqual([
        ['default', 'stream:1-0', 'invalid', { raw: 'not json', tenantId: '', id: 'stream:1-0', type: 'invalid' }],
      ]);
      expect((await parkedOf('acme', 'g')).length).toBe(0);
    });

    it('parks an event of a tenant that does not exist under the default tenant, saying so', async () => {
      const e = liked('ghost-tenant', 'orphan');
      await new DatabaseParkingLot(storage).park({ group: 'orphans', event: e, error: 'boom', attempts: 3 });
      const rows = await parkedOf('default', 'orphans');
      expect(rows.map((r) => [r.event_id, r.error, r.attempts])).toEqual([[e.id, 'tenant ghost-tenant does not exist; boom', 3]]);
      expect(rows[0]!.event).toMatchObject({ tenantId: 'ghost-tenant', payload: e.payload });
    });

    it('truncates very long errors', async () => {
      const e = liked('acme', 'long-error');
      await new DatabaseParkingLot(storage).park({ group: 'long', event: e, error: 'x'.repeat(50_000), attempts: 1 });
      const [row] = await parkedOf('acme', 'long');
      expect(row!.error).toHaveLength(10_000);
    });

    it.skipIf(!hasRedis)('RedisBus parks a poison event and an unreadable entry into the database', async () => {
      const stream = redisPrefix('events-parking');
      const admin = new Redis(REDIS_URL);
      const bus = new RedisBus({ url: REDIS_URL, stream, logger: silentLogger, parking: new DatabaseParkingLot(storage), claimIdleMs: 200, blockMs: 100, maxAttempts: 2 });
      try {
        await bus.connect();
        await bus.subscribe('redis-group', () => {
          throw new Error('always');
        });
        const poison = liked('globex', 'redis-poison');
        await bus.publish(poison);
        const entryId = await admin.xadd(stream, '*', 'event', 'not json');
        await waitFor(async () => (await parkedOf('globex', 'redis-group')).length === 1 && (await parkedOf('default', 'redis-group')).length === 1, 'both parked rows');
        const [poisonRow] = await parkedOf('globex', 'redis-group');
        expect(poisonRow).toMatchObject({ event_id: poison.id, error: 'always', attempts: 2, event: poison });
        const [rawRow] = await parkedOf('default', 'redis-group');
        expect(rawRow).toMatchObject({ event_id: `stream:${entryId}`, type: 'invalid', attempts: 1 });
        expect(rawRow!.error).toMatch(/^unreadable stream entry: /);
        await waitFor(async () => ((await admin.xpending(stream, 'redis-group')) as [number])[0] === 0, 'both entries acknowledged');
      } finally {
        await bus.close();
        await deleteStreamKeys(admin, stream);
        await admin.quit();
      }
    });
  });
}

parkingSuite('DatabaseParkingLot on PGlite', pglite);
parkingSuite('DatabaseParkingLot on PostgreSQL', postgres, !hasPostgres);
