// The update journal on the embedded database: frames that survive a torn write, group commits in
// the file and bulk moves to the log, and a restart that moves what was left without writing any
// update twice, also when a crash came between a move and the deletion of its segment.
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as zlib from 'node:zlib';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { DocumentStore } from '../../src/collab/document-store.js';
import { CollabMetrics } from '../../src/collab/metrics.js';
import { crc32, decodeSegment, encodeFrame, UpdateJournal, type JournalGroup, type JournalRecord } from '../../src/collab/update-journal.js';
import { UpdateWriter } from '../../src/collab/update-writer.js';
import { Storage } from '../../src/storage/database.js';
import { StudioDoc } from '../../src/studio/model.js';
import { runVeza, spawnServer } from '../helpers/process.js';
import { startTestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient } from '../helpers/yjs.js';

const dirs: { remove(): void }[] = [];
afterAll(() => dirs.forEach((d) => d.remove()));

const record = (i: number, docId = 'tune', tenantId = 'default'): JournalRecord => ({
  tenantId,
  docId,
  author: i % 2 ? 'ana' : 'zoë',
  at: 1_760_000_000_000 + i,
  update: new Uint8Array([i & 0xff, (i >> 8) & 0xff, 7]),
});

/** The records as a frame groups them: consecutive records of one document together. */
const groups = (...records: JournalRecord[]): JournalGroup[] => {
  const out: JournalGroup[] = [];
  for (const r of records) {
    const last = out.at(-1);
    const update = { author: r.author, at: r.at, update: r.update };
    if (last && last.tenantId === r.tenantId && last.docId === r.docId) (last.updates as (typeof update)[]).push(update);
    else out.push({ tenantId: r.tenantId, docId: r.docId, updates: [update] });
  }
  return out;
};

describe('journal frames', () => {
  it('compute the CRC-32 that zlib computes', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    const data = new Uint8Array(4096).map((_, i) => (i * 31) & 0xff);
    // zlib has its own from Node 22 on.
    const zlibCrc32 = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
    if (zlibCrc32) expect(crc32(data)).toBe(zlibCrc32(data));
    expect(crc32(new Uint8Array())).toBe(0);
  });

  it('read back what was written, and stop at a frame a crash cut short or a flipped byte', () => {
    const firstRecords = [record(1), record(2), record(5, 'другой документ'), record(6, 'tune', 'label-7')];
    const first = encodeFrame(groups(...firstRecords));
    const second = encodeFrame(groups({ ...record(3), update: new Uint8Array() }));
    const whole = Buffer.concat([first, second]);
    expect(decodeSegment(whole)).toEqual({ records: [...firstRecords, { ...record(3), update: new Uint8Array() }], tornBytes: 0 });

    const torn = Buffer.concat([whole, encodeFrame(groups(record(4))).subarray(0, 15)]);
    expect(decodeSegment(torn)).toEqual({ records: decodeSegment(whole).records, tornBytes: 15 });

    const flipped = Buffer.from(whole);
    const at = first.byteLength + 12;
    flipped.writeUInt8(flipped.readUInt8(at) ^ 0x40, at);
    expect(decodeSegment(flipped)).toEqual({ records: decodeSegment(first).records, tornBytes: second.byteLength });
  });

  it('refuse a field longer than a frame can hold', () => {
    expect(() => encodeFrame(groups({ ...record(1), docId: 'x'.repeat(70_000) }))).toThrow(/longer than 65535/);
  });
});

async function openStore(dir: string): Promise<{ storage: Storage; store: DocumentStore }> {
  const storage = await Storage.open({ dataDir: dir, thread: false });
  await storage.migrate();
  return { storage, store: new DocumentStore(storage) };
}

const segmentFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.journal')).sort();
const logged = (storage: Storage, docId: string) =>
  storage.withTenant('default', (trx) => trx.selectFrom('document_updates').select(['author', 'update']).where('doc_id', '=', docId).orderBy('id').execute());

describe('the update writer with a journal (embedded database)', () => {
  it('makes each group commit durable in the file, moves the updates in bulk, and deletes what was moved', async () => {
    const data = tempDir('journal-writer');
    dirs.push(data);
    const { storage, store } = await openStore(data.dir);
    const metrics = new CollabMetrics(new Registry());
    const writer = new UpdateWriter(store, { flushMs: 20, storeMs: 60_000, maxPendingBytes: 1 << 20, logger: pino({ level: 'silent' }), metrics });
    const journalDir = path.join(data.dir, 'update-journal');
    expect(await writer.useJournal(await UpdateJournal.open(journalDir))).toEqual({ recovered: 0, tornBytes: 0 });
    const persisted: string[] = [];
    try {
      for (let i = 0; i < 30; i++) writer.append('default/tune', 'default', 'tune', { update: new Uint8Array([i]), author: 'ana', at: new Date() }, (id) => persisted.push(id));
      await waitFor(async () => (await metrics.journaledUpdates.get()).values[0]?.value === 30, 'the group commit in the journal');
      const files = segmentFiles(journalDir);
      expect(files).toHaveLength(1);
      expect(decodeSegment(readFileSync(path.join(journalDir, files[0]!))).records.map((r) => r.update[0])).toEqual([...Array(30).keys()]);
      // In the file, not yet in the database: the move is due after storeMs.
      expect(await logged(storage, 'tune')).toHaveLength(0);
      expect(writer.isPending('default/tune')).toBe(true);

      await writer.flush();
      expect((await logged(storage, 'tune')).map((r) => r.update[0])).toEqual([...Array(30).keys()]);
      expect(persisted).toHaveLength(1);
      expect(segmentFiles(journalDir)).toEqual([]);
      expect(writer.isPending('default/tune')).toBe(false);

      // A journal that cannot be written: the updates go to the database directly.
      for (let i = 30; i < 35; i++) writer.append('default/tune', 'default', 'tune', { update: new Uint8Array([i]), author: 'ana', at: new Date() }, (id) => persisted.push(id));
      rmSync(journalDir, { recursive: true });
      writeFileSync(journalDir, 'not a directory');
      await waitFor(async () => (await logged(storage, 'tune')).length === 35, 'the updates in the database without the journal');
      expect((await metrics.storeFailures.get()).values[0]!.value).toBeGreaterThan(0);
    } finally {
      await writer.drain(Date.now() + 2000);
      await storage.close();
    }
  });

  it('moves what a crash left in the journal once: not the segments already moved, and all of a later one', async () => {
    const data = tempDir('journal-recovery');
    dirs.push(data);
    const journalDir = path.join(data.dir, 'update-journal');
    let { storage, store } = await openStore(data.dir);
    const silent = { flushMs: 10, storeMs: 60_000, maxPendingBytes: 1 << 20, logger: pino({ level: 'silent' }) };
    let metrics = new CollabMetrics(new Registry());
    let writer = new UpdateWriter(store, { ...silent, metrics });
    await writer.useJournal(await UpdateJournal.open(journalDir));
    const push = (w: UpdateWriter, i: number, docId = 'tune') => w.append(`default/${docId}`, 'default', docId, { update: new Uint8Array([i]), author: 'ana', at: new Date() }, () => undefined);

    // 1. Ten updates journaled; keep a copy of the segment, as a crash between the move and the
    // deletion would leave it.
    for (let i = 0; i < 10; i++) push(writer, i);
    await waitFor(async () => (await metrics.journaledUpdates.get()).values[0]?.value === 10, 'the first segment');
    const [moved] = segmentFiles(journalDir);
    const kept = path.join(data.dir, 'kept');
    copyFileSync(path.join(journalDir, moved!), kept);
    await writer.flush();
    expect(existsSync(path.join(journalDir, moved!))).toBe(false);
    copyFileSync(kept, path.join(journalDir, moved!));

    // 2. Five more, journaled in a new segment and never moved: the process dies here.
    for (let i = 10; i < 15; i++) push(writer, i, 'other');
    await waitFor(async () => (await metrics.journaledUpdates.get()).values[0]?.value === 15, 'the second segment');
    const files = segmentFiles(journalDir);
    expect(files).toHaveLength(2);
    // A torn last frame, as a crash during a write leaves it.
    writeFileSync(path.join(journalDir, files[1]!), Buffer.concat([readFileSync(path.join(journalDir, files[1]!)), encodeFrame(groups(record(99))).subarray(0, 9)]));
    await storage.close();

    ({ storage, store } = await openStore(data.dir));
    metrics = new CollabMetrics(new Registry());
    writer = new UpdateWriter(store, { ...silent, metrics });
    try {
      expect(await writer.useJournal(await UpdateJournal.open(journalDir))).toEqual({ recovered: 5, tornBytes: 9 });
      expect((await logged(storage, 'tune')).map((r) => r.update[0])).toEqual([...Array(10).keys()]);
      expect((await logged(storage, 'other')).map((r) => r.update[0])).toEqual([10, 11, 12, 13, 14]);
      expect(segmentFiles(journalDir)).toEqual([]);
      // The journal starts afresh and keeps working.
      push(writer, 15);
      await writer.flush();
      expect(await logged(storage, 'tune')).toHaveLength(11);
    } finally {
      await writer.drain(Date.now() + 2000);
      await storage.close();
    }
  });
});

describe('readers of the log on a live session', () => {
  it('see every update the server accepted, before its move to the database was due', { timeout: 30_000 }, async () => {
    const server = await startTestServer({ 'collab-store-ms': '60000' });
    try {
      const tok = await server.veza.auth.sign({ sub: 'ana', docs: { live: 'owner' } });
      const client = await connectClient(server.url, 'live', tok);
      const studio = new StudioDoc(client.doc);
      for (const name of ['drums', 'bass', 'keys']) studio.addTrack({ name });
      await waitFor(async () => /veza_collab_updates_journaled_total 3\b/.test(await (await fetch(`${server.url}/metrics`)).text()), 'the journal to hold the 3 edits');
      const api = (p: string) => fetch(`${server.url}${p}`, { headers: { authorization: `Bearer ${tok}` } });
      const history = (await (await api('/api/v1/sessions/live/history')).json()) as { updates: number; authors: { userId: string }[] };
      expect(history.updates).toBe(3);
      expect(history.authors.map((a) => a.userId)).toEqual(['ana']);
      studio.addTrack({ name: 'lead' });
      await waitFor(() => server.veza.collab.writer.isPending('default/live'), 'the fourth edit accepted');
      const bundle = (await (await api('/api/v1/sessions/live/bundle')).json()) as { updates: unknown[] };
      expect(bundle.updates).toHaveLength(4);
      client.destroy();
    } finally {
      await server.stop();
    }
  });
});

describe('kill -9 on the embedded default', () => {
  it('keeps every update acknowledged by the journal, with no client left to send it again', { timeout: 60_000 }, async () => {
    const data = tempDir('journal-kill9');
    dirs.push(data);
    const env = { VEZA_JWT_SECRET: 'journal-kill-test-secret-journal-kill-test' };
    // Moves to the database far beyond the test: the updates are only in the journal when it dies.
    const args = ['--data-dir', data.dir, '--collab-store-ms', '60000'];
    const tok = (await runVeza(['token', '--sub', 'ana', '--doc', 'jam', '--role', 'editor'], env)).stdout.trim();
    const server = await spawnServer(args, env);
    const client = await connectClient(server.url, 'jam', tok);
    for (let i = 0; i < 200; i++) client.doc.getArray<number>('notes').push([i]);
    await waitFor(async () => /veza_collab_updates_journaled_total 200\b/.test(await (await fetch(`${server.url}/metrics`)).text()), 'the journal to hold 200 updates');
    server.child.kill('SIGKILL');
    await server.exited;
    client.destroy();

    const again = await spawnServer(args, env);
    try {
      const reader = await connectClient(again.url, 'jam', tok);
      expect(reader.doc.getArray('notes').toArray()).toEqual([...Array(200).keys()]);
      reader.destroy();
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
    const storage = await Storage.open({ dataDir: data.dir, thread: false });
    try {
      const rows = await logged(storage, 'jam');
      expect(rows).toHaveLength(200);
      const doc = new Y.Doc();
      for (const r of rows) Y.applyUpdate(doc, r.update);
      expect(doc.getArray('notes').toArray()).toEqual([...Array(200).keys()]);
    } finally {
      await storage.close();
    }
  });
});
