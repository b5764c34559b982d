import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { DocumentStore } from '../../src/collab/document-store.js';
import { updateMessage } from '../../src/collab/protocol.js';
import { OwnPostgres } from '../helpers/own-postgres.js';
import { freePort } from '../helpers/ports.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient } from '../helpers/yjs.js';

/**
 * PostgreSQL goes away mid-session and comes back: accepted updates wait in memory (bounded) and
 * are all stored once it returns. The test runs its own PostgreSQL so the shared one is untouched.
 */
const found = OwnPostgres.find(await freePort());
const required = process.env.REQUIRE_SERVICES === '1';
if (typeof found === 'string') {
  if (required) throw new Error(`cannot run our own PostgreSQL: ${found} (REQUIRE_SERVICES=1)`);
  console.warn(`SKIP: cannot run our own PostgreSQL: ${found}`);
}
const pg = typeof found === 'string' ? null : found;

let server: TestServer;
beforeAll(async () => {
  if (!pg) return;
  pg.init();
  pg.start();
  server = await startTestServer({ 'database-url': pg.url, 'collab-flush-ms': '20', 'collab-max-pending-bytes': '200000' });
}, 120_000);
afterAll(async () => {
  await server?.stop();
  pg?.remove();
});

const metric = async (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? NaN);

describe.skipIf(!pg)('storage outage', () => {
  it('keeps serving, keeps every accepted update in memory, and stores them all when PostgreSQL returns', { timeout: 90_000 }, async () => {
    const tok = await server.veza.auth.sign({ sub: 'alice', docs: { outage: 'editor' } });
    const a = await connectClient(server.url, 'outage', tok);
    const b = await connectClient(server.url, 'outage', tok);
    a.doc.getArray<string>('log').push(['before']);
    await waitFor(async () => (await metric('veza_collab_pending_bytes')) === 0 && (await metric('veza_collab_updates_stored_total')) >= 1, 'the first update stored');

    pg!.stop();
    for (let i = 0; i < 20; i++) a.doc.getArray<string>('log').push([`during-${i}`]);
    await waitFor(() => b.doc.getArray('log').length === 21, 'b to receive edits while storage is down');
    await waitFor(async () => (await metric('veza_collab_store_failures_total')) >= 1, 'a failed write');
    expect(await metric('veza_collab_pending_bytes')).toBeGreaterThan(0);

    pg!.start();
    await waitFor(async () => (await metric('veza_collab_pending_bytes')) === 0, 'the backlog to be written', 30_000);
    const stored = new Y.Doc();
    Y.applyUpdate(stored, (await new DocumentStore(server.veza.storage).load('default', 'outage')).state);
    expect(stored.getArray('log').toArray()).toEqual(['before', ...Array.from({ length: 20 }, (_, i) => `during-${i}`)]);
    a.destroy();
    b.destroy();
  });

  it('closes writers with 1013 once the memory bound is reached, and loses nothing it accepted', { timeout: 90_000 }, async () => {
    const tok = await server.veza.auth.sign({ sub: 'bob', docs: { bounded: 'editor' } });
    const url = `${server.url.replace('http', 'ws')}/collab/bounded?token=${tok}`;
    const source = new Y.Doc();
    const ws = await new Promise<WebSocket>((resolve, reject) => {
      const s = new WebSocket(url);
      // Loaded once the server's sync step 1 arrives; a document cannot load while storage is down.
      s.once('message', () => resolve(s));
      s.once('error', reject);
    });
    pg!.stop();
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    let open = true;
    void closed.then(() => (open = false));
    const sent: string[] = [];
    source.on('update', (u: Uint8Array) => open && ws.send(updateMessage(u)));
    for (let i = 0; i < 100 && open; i++) {
      source.getArray<string>('chunks').push([`${i}:${'y'.repeat(10_000)}`]);
      sent.push(String(i));
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await closed).toEqual({ code: 1013, reason: 'storage unavailable; update not accepted, retry later' });
    const accepted = await metric('veza_collab_updates_in_total');
    pg!.start();
    await waitFor(async () => (await metric('veza_collab_pending_bytes')) === 0, 'the backlog to be written', 30_000);
    const stored = new Y.Doc();
    Y.applyUpdate(stored, (await new DocumentStore(server.veza.storage).load('default', 'bounded')).state);
    const kept = stored.getArray<string>('chunks').toArray().map((c) => c.split(':')[0]);
    expect(kept.length).toBeGreaterThan(5);
    expect(kept).toEqual(sent.slice(0, kept.length));
    expect(accepted).toBeGreaterThan(0);
  });
});
