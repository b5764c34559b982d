// Tenants write apart: one tenant whose update log writes fail (here: a tenant the database does not
// hold, refused by its foreign key) is retried with its own backoff while the others are written
// every group, and its backlog fills its own memory budget, not everyone's.
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DocumentStore } from '../../src/collab/document-store.js';
import { CollabMetrics } from '../../src/collab/metrics.js';
import { UpdateJournal } from '../../src/collab/update-journal.js';
import { UpdateWriter } from '../../src/collab/update-writer.js';
import { Storage } from '../../src/storage/database.js';
import { tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const data = tempDir('tenant-writes');
let storage: Storage;
beforeAll(async () => {
  storage = await Storage.open({ dataDir: data.dir, thread: false });
  await storage.migrate();
});
afterAll(async () => {
  await storage?.close();
  data.remove();
});

const update = (i: number, bytes = 1) => ({ update: new Uint8Array(bytes).fill(i & 0xff), author: 'ana', at: new Date() });
const failuresOf = async (metrics: CollabMetrics, tenant: string) => (await metrics.tenantStoreFailures.get()).values.find((v) => v.labels.tenant === tenant)?.value ?? 0;

describe('the update writer, tenant by tenant', () => {
  it('writes a healthy tenant every group while another fails, retries the failing one on its own backoff, and stores it once it can', async () => {
    const metrics = new CollabMetrics(new Registry());
    const writer = new UpdateWriter(new DocumentStore(storage), { flushMs: 20, maxPendingBytes: 1 << 20, logger: pino({ level: 'silent' }), metrics });
    const persisted: Record<string, number> = {};
    const onPersisted = (tenant: string) => (_id: string, n: number) => void (persisted[tenant] = (persisted[tenant] ?? 0) + n);
    writer.append('label-x/song', 'label-x', 'song', update(1), onPersisted('label-x'));
    // The backoff grows with the failures: 200, 400, 800, 1600 ms.
    await waitFor(async () => (await failuresOf(metrics, 'label-x')) >= 4, 'four failed writes of the missing tenant', 10_000);
    const failures = await failuresOf(metrics, 'label-x');
    writer.append('default/song', 'default', 'song', update(2), onPersisted('default'));
    await waitFor(() => persisted.default === 1, 'the default tenant stored');
    // Stored by the next group, not at the failing tenant's next retry.
    expect(await failuresOf(metrics, 'label-x')).toBe(failures);
    expect(writer.failingTenants()).toEqual([{ tenantId: 'label-x', failures, lastError: expect.stringMatching(/foreign key|violates/), retryInMs: expect.any(Number), pendingBytes: 1 }]);
    expect(persisted['label-x']).toBeUndefined();
    // A reader of the healthy tenant is never refused for the other's failure; a reader of the failing one is.
    await writer.flush('default');
    await expect(writer.flush('label-x')).rejects.toThrow(/foreign key|violates/);

    // The tenant comes to exist: its update is stored at its next retry, and it is failing no more.
    await storage.db.insertInto('tenants').values({ id: 'label-x', name: 'Label X' }).execute();
    await waitFor(() => persisted['label-x'] === 1, 'the tenant stored once it exists', 10_000);
    expect(writer.failingTenants()).toEqual([]);
    expect(await writer.drain(Date.now() + 2000)).toBe(true);
  });

  it('bounds each tenant by its own budget: a failing tenant full of updates leaves the others room', async () => {
    const metrics = new CollabMetrics(new Registry());
    const writer = new UpdateWriter(new DocumentStore(storage), { flushMs: 20, maxPendingBytes: 10_000, logger: pino({ level: 'silent' }), metrics });
    for (let i = 0; i < 9; i++) writer.append(`label-y/song`, 'label-y', 'song', update(i, 1000), () => undefined);
    expect(writer.hasRoom('label-y', 1000)).toBe(true);
    writer.append(`label-y/song`, 'label-y', 'song', update(9, 1000), () => undefined);
    await waitFor(() => writer.failingTenants().length === 1, 'the missing tenant failing');
    expect(writer.hasRoom('label-y', 1)).toBe(false);
    expect(writer.hasRoom('default', 9_000)).toBe(true);
    const text = await metrics.tenantStoreFailures.get();
    expect(text.values.some((v) => v.labels.tenant === 'label-y' && v.value >= 1)).toBe(true);
    expect(await writer.drain(Date.now() + 300)).toBe(false);
  });

  it('starts although a tenant left in the journal cannot be written: the others are moved, its updates wait in memory', async () => {
    const dir = `${data.dir}/journal-${Date.now()}`;
    const crashed = await UpdateJournal.open(dir);
    const at = Date.now();
    await crashed.journal.append([
      { tenantId: 'default', docId: 'left', updates: [{ author: 'ana', at, update: new Uint8Array([1, 2, 3]) }] },
      { tenantId: 'label-w', docId: 'left', updates: [{ author: 'wes', at, update: new Uint8Array([4, 5]) }] },
    ]);
    await crashed.journal.rotate();
    const metrics = new CollabMetrics(new Registry());
    const writer = new UpdateWriter(new DocumentStore(storage), { flushMs: 20, storeMs: 60_000, maxPendingBytes: 1 << 20, logger: pino({ level: 'silent' }), metrics });
    expect(await writer.useJournal(await UpdateJournal.open(dir))).toEqual({ recovered: 1, tornBytes: 0 });
    const logged = await storage.withTenant('default', (trx) => trx.selectFrom('document_updates').select('update').where('doc_id', '=', 'left').execute());
    expect(logged.map((r) => [...r.update])).toEqual([[1, 2, 3]]);
    expect(writer.isPending('label-w/left')).toBe(true);
    await storage.db.insertInto('tenants').values({ id: 'label-w', name: 'Label W' }).execute();
    expect(await writer.drain(Date.now() + 5000)).toBe(true);
    const kept = await storage.withTenant('label-w', (trx) => trx.selectFrom('document_updates').select('update').where('doc_id', '=', 'left').execute());
    expect(kept.map((r) => [...r.update])).toEqual([[4, 5]]);
  });
});
