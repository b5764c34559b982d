import { afterAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { DocumentStore } from '../../src/collab/document-store.js';
import { Storage } from '../../src/storage/database.js';
import { freePort } from '../helpers/ports.js';
import { runVeza, spawnServer } from '../helpers/process.js';
import { startTestServer } from '../helpers/server.js';
import { createTestDatabase, postgresAvailable, tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient } from '../helpers/yjs.js';

const hasPostgres = await postgresAvailable();
const dirs: { remove(): void }[] = [];
afterAll(() => dirs.forEach((d) => d.remove()));

async function storedDoc(storage: Storage, tenant: string, docId: string): Promise<Y.Doc> {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, (await new DocumentStore(storage).load(tenant, docId)).state);
  return doc;
}

describe('durability on the embedded default', () => {
  it('keeps every edit across a graceful restart, with a snapshot written at shutdown', async () => {
    const data = tempDir('durable');
    dirs.push(data);
    // A group commit interval far beyond the test: only the shutdown flush can store the updates.
    const first = await startTestServer({ 'data-dir': data.dir, 'collab-flush-ms': '60000' });
    const tok = await first.veza.auth.sign({ sub: 'alice', docs: { tune: 'editor' } });
    const a = await connectClient(first.url, 'tune', tok);
    for (let i = 0; i < 100; i++) a.doc.getArray<number>('notes').push([i]);
    await waitFor(async () => (await (await fetch(`${first.url}/metrics`)).text()).includes('veza_collab_updates_in_total 100'), 'the server to accept 100 updates');
    const storedBefore = await first.veza.storage.withTenant('default', (trx) => trx.selectFrom('document_updates').select('id').execute());
    expect(storedBefore).toHaveLength(0);
    await first.stop();
    a.destroy();

    const second = await startTestServer({ 'data-dir': data.dir });
    try {
      const logged = await second.veza.storage.withTenant('default', (trx) => trx.selectFrom('document_updates').select(['author', 'size']).execute());
      expect(logged).toHaveLength(100);
      expect(logged.every((u) => u.author === 'alice' && u.size > 0)).toBe(true);
      const snapshots = await second.veza.storage.withTenant('default', (trx) => trx.selectFrom('document_snapshots').select(['doc_id', 'updates']).execute());
      expect(snapshots).toEqual([{ doc_id: 'tune', updates: 100 }]);
      const b = await connectClient(second.url, 'tune', await second.veza.auth.sign({ sub: 'bob', docs: { tune: 'viewer' } }));
      expect(b.doc.getArray('notes').toArray()).toEqual(Array.from({ length: 100 }, (_, i) => i));
      b.destroy();
    } finally {
      await second.stop();
    }
  });

  it('refuses a client whose document fails to load, and stores nothing of it until a load succeeds', async () => {
    const server = await startTestServer({ 'collab-unload-delay-ms': '0' });
    try {
      const tok = await server.veza.auth.sign({ sub: 'alice', docs: { fragile: 'owner' } });
      const seed = await connectClient(server.url, 'fragile', tok);
      seed.doc.getText('title').insert(0, 'stored title');
      await waitFor(async () => (await storedDoc(server.veza.storage, 'default', 'fragile')).getText('title').toString() === 'stored title', 'seed stored');
      seed.destroy();
      await waitFor(() => server.veza.collab.loadedRooms === 0, 'unload');

      const store = server.veza.collab.store;
      const realLoad = store.load.bind(store);
      store.load = () => Promise.reject(new Error('database on fire'));
      const offline = new Y.Doc();
      offline.getText('title').insert(0, 'EMPTY OVERWRITE? ');
      const victim = await connectClient(server.url, 'fragile', tok, { doc: offline, waitSync: false });
      const closed = await new Promise<{ code: number; reason: string }>((resolve) => victim.provider.once('connection-close', (event: { code: number; reason: string }) => resolve(event)));
      expect(closed).toMatchObject({ code: 1011, reason: 'document could not be loaded; retry later' });
      expect((await storedDoc(server.veza.storage, 'default', 'fragile')).getText('title').toString()).toBe('stored title');

      store.load = realLoad;
      await waitFor(() => victim.provider.synced, 'reconnect after the store recovers');
      await waitFor(async () => (await storedDoc(server.veza.storage, 'default', 'fragile')).getText('title').toString().includes('EMPTY OVERWRITE? '), 'the offline edit stored');
      const merged = (await storedDoc(server.veza.storage, 'default', 'fragile')).getText('title').toString();
      expect(merged).toContain('stored title');
      victim.destroy();
    } finally {
      await server.stop();
    }
  });
});

describe('snapshots', () => {
  it('are written one document at a time when many fill up together, and each covers its log', { timeout: 30_000 }, async () => {
    const server = await startTestServer({ 'collab-snapshot-every': '10' });
    try {
      const store = server.veza.collab.store;
      const realSnapshot = store.snapshot.bind(store);
      let running = 0;
      let most = 0;
      const written: string[] = [];
      store.snapshot = async (tenantId, docId, uptoId, state, updates) => {
        most = Math.max(most, ++running);
        try {
          await realSnapshot(tenantId, docId, uptoId, state, updates);
          written.push(docId);
        } finally {
          running--;
        }
      };
      const docs = Array.from({ length: 12 }, (_, i) => `band-${i}`);
      const tok = await server.veza.auth.sign({ sub: 'alice', docs: Object.fromEntries(docs.map((d) => [d, 'editor'])) });
      const clients = await Promise.all(docs.map((d) => connectClient(server.url, d, tok)));
      // Every document reaches the snapshot threshold in the same group commit.
      for (const c of clients) for (let i = 0; i < 10; i++) c.doc.getArray<number>('notes').push([i]);
      await waitFor(() => written.length === docs.length, 'a snapshot of every document', 20_000);
      expect(most).toBe(1);
      expect([...written].sort()).toEqual([...docs].sort());
      const stored = await server.veza.storage.withTenant('default', (trx) => trx.selectFrom('document_snapshots').select(['doc_id', 'updates']).execute());
      expect(stored).toHaveLength(docs.length);
      expect(stored.every((s) => s.updates === 10)).toBe(true);
      clients.forEach((c) => c.destroy());
    } finally {
      await server.stop();
    }
  });
});

describe.skipIf(!hasPostgres)('kill -9 on PostgreSQL', () => {
  it('ends with every edit any client made in storage after a restart and reconnect', { timeout: 90_000 }, async () => {
    const db = await createTestDatabase();
    const data = tempDir('kill9');
    dirs.push(data);
    const port = String(await freePort());
    const env = { DATABASE_URL: db.url, VEZA_JWT_SECRET: 'kill-nine-test-secret-kill-nine-test-secret' };
    const args = ['--port', port, '--data-dir', data.dir];
    const tok = (await runVeza(['token', '--sub', 'writer', '--doc', 'jam', '--role', 'editor'], env)).stdout.trim();
    let server = await spawnServer(args, env);
    const writers = await Promise.all([0, 1, 2].map(() => connectClient(server.url, 'jam', tok)));
    let counter = 0;
    const typing = setInterval(() => writers.forEach((w, i) => w.doc.getArray<string>('edits').push([`w${i}-${counter++}`])), 5);
    try {
      await waitFor(() => counter > 300, 'some editing');
      server.child.kill('SIGKILL');
      await server.exited;
      await waitFor(() => counter > 600, 'editing while the server is down');
      server = await spawnServer(args, env);
      await waitFor(() => writers.every((w) => w.provider.synced && w.provider.wsconnected), 'clients to reconnect');
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      clearInterval(typing);
    }
    const storage = await Storage.open({ dataDir: data.dir, databaseUrl: db.url });
    try {
      const everything = new Set(writers.flatMap((w) => w.doc.getArray<string>('edits').toArray()));
      expect(everything.size).toBeGreaterThan(600);
      await waitFor(async () => {
        const stored = new Set((await storedDoc(storage, 'default', 'jam')).getArray<string>('edits').toArray());
        return [...everything].every((e) => stored.has(e));
      }, 'every edit to be stored', 15_000);
    } finally {
      writers.forEach((w) => w.destroy());
      server.child.kill('SIGTERM');
      await server.exited;
      await storage.close();
      await db.drop();
    }
  });
});
