// A tenant's export and purge at size: a tenant with `--docs` documents of `--updates` logged Yjs
// updates each and `--signals` recommendation signals, beside a second tenant of the same size that
// must be left intact. Measures the export (rows/s, archive bytes, the process's peak RSS) and the
// purge, on PostgreSQL when --database-url is given, else on the embedded PGlite.
// Usage: node --import tsx bench/tenant-export.ts [--docs 200] [--updates 100] [--signals 50000] [--database-url URL]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import * as Y from 'yjs';
import { Storage } from '../src/storage/database.js';
import { exportTenant } from '../src/tenants/export.js';
import { TenantLifecycle } from '../src/tenants/lifecycle.js';
import { TenantRegistry } from '../src/tenants/registry.js';
import { gitDescribe } from './lib/servers.js';

const { values } = parseArgs({ options: { docs: { type: 'string', default: '200' }, updates: { type: 'string', default: '100' }, signals: { type: 'string', default: '50000' }, 'database-url': { type: 'string' } } });
const docs = Number(values.docs);
const updatesPerDoc = Number(values.updates);
const signals = Number(values.signals);
const dataDir = mkdtempSync(path.join(tmpdir(), 'veza-bench-export-'));
const storage = await Storage.open({ dataDir, ...(values['database-url'] ? { databaseUrl: values['database-url'] } : {}) });
let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
try {
  await storage.migrate();
  const registry = new TenantRegistry(storage);
  for (const id of ['bench-a', 'bench-b']) {
    await registry.create({ id, name: id }).catch(() => undefined);
    for (let d = 0; d < docs; d++) {
      const doc = new Y.Doc();
      const rows: { tenant_id: string; doc_id: string; at: Date; author: string; size: number; update: Uint8Array }[] = [];
      doc.on('update', (update: Uint8Array) => rows.push({ tenant_id: id, doc_id: `doc-${d}`, at: new Date(), author: 'ann', size: update.byteLength, update }));
      for (let u = 0; u < updatesPerDoc; u++) doc.getText('t').insert(0, `edit ${u} `);
      await storage.withTenant(id, async (trx) => {
        await trx.insertInto('documents').values({ tenant_id: id, id: `doc-${d}` }).execute();
        for (let i = 0; i < rows.length; i += 500) await trx.insertInto('document_updates').values(rows.slice(i, i + 500)).execute();
      });
    }
    for (let i = 0; i < signals; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, signals - i) }, (_, k) => ({ tenant_id: id, user_id: `u${(i + k) % 997}`, item_id: `item-${i + k}`, strength: 1, events: 1, last_at: new Date() }));
      await storage.withTenant(id, (trx) => trx.insertInto('rec_interactions').values(batch).execute());
    }
  }
  const rows = docs + docs * updatesPerDoc + signals;
  const baseline = process.memoryUsage.rss();
  peak = baseline;
  let started = performance.now();
  const result = await exportTenant(storage, dataDir, 'bench-a');
  const exportMs = performance.now() - started;
  const lifecycle = new TenantLifecycle({ storage, dataDir, registry, logger: pino({ level: 'silent' }), changed: async () => undefined });
  started = performance.now();
  const { exported } = await lifecycle.request('bench-a', { by: 'bench', graceSeconds: 0 });
  const deletion = await exported;
  const deleteMs = performance.now() - started;
  const left = await storage.db.selectFrom('document_updates').select((eb) => eb.fn.countAll<string>().as('n')).where('tenant_id', '=', 'bench-b').executeTakeFirstOrThrow();
  console.log(
    JSON.stringify({
      commit: gitDescribe(),
      storage: storage.kind,
      docs,
      updatesPerDoc,
      signals,
      rows,
      exportMs: Math.round(exportMs),
      rowsPerSecond: Math.round(rows / (exportMs / 1000)),
      archiveBytes: result.bytes,
      rssBeforeMiB: Math.round(baseline / 2 ** 20),
      rssPeakMiB: Math.round(peak / 2 ** 20),
      exportAndPurgeMs: Math.round(deleteMs),
      state: deletion.state,
      otherTenantUpdates: Number(left.n),
    }),
  );
} finally {
  clearInterval(sampler);
  await storage.close();
  rmSync(dataDir, { recursive: true, force: true });
}
