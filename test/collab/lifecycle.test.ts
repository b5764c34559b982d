import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { syncStep1, updateMessage } from '../../src/collab/protocol.js';
import type { VezaEvent } from '../../src/events/catalog.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient } from '../helpers/yjs.js';

let server: TestServer;
const events: VezaEvent[] = [];
beforeAll(async () => {
  server = await startTestServer({
    'collab-unload-delay-ms': '0',
    'collab-max-backpressure-bytes': '262144',
    'ws-messages-per-second': '0',
    'rate-limit-connections-per-minute': '0',
    'max-connections-per-ip': '0',
    // One user opens a thousand documents one after the other: no pace on loads here.
    'collab-max-loads-per-second': '0',
    'collab-max-loads-per-user-per-second': '0',
  });
  await server.veza.bus.subscribe('lifecycle-test', (e) => {
    events.push(e);
  });
});
afterAll(() => server?.stop());

const token = (doc: string, sub = 'alice') => server.veza.auth.sign({ sub, docs: { [doc]: 'editor' } });
const rawUrl = async (doc: string) => `${server.url.replace('http', 'ws')}/collab/${doc}?token=${await token(doc)}`;
const metric = async (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? NaN);

function openRaw(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}
const closeOf = (ws: WebSocket) => new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));

describe('events', () => {
  it('reports opened, presence, batched updates with what changed, and closed', async () => {
    const a = await connectClient(server.url, 'evented', await token('evented', 'alice'));
    a.doc.getArray('notes').push([60]);
    a.doc.getArray('notes').push([62]);
    a.doc.getMap('transport').set('bpm', 128);
    const updated = await waitFor(() => events.find((e) => e.type === 'session.updated' && e.payload.sessionId === 'evented'), 'session.updated');
    expect(updated).toMatchObject({ actor: 'alice', payload: { author: 'alice', changed: expect.arrayContaining(['notes', 'transport']) } });
    expect(updated.type === 'session.updated' && updated.payload.bytes).toBeGreaterThan(0);
    a.destroy();
    await waitFor(() => events.find((e) => e.type === 'session.closed' && e.payload.sessionId === 'evented'), 'session.closed');
    const types = events.filter((e) => 'payload' in e && (e.payload as { sessionId?: string }).sessionId === 'evented').map((e) => e.type);
    expect(types[0]).toBe('session.opened');
    expect(types).toEqual(expect.arrayContaining(['presence.joined', 'presence.left']));
    expect(types.filter((t) => t === 'session.updated')).toHaveLength(1);
  });

  it('reports every room edited in the same second, and a shared type with a long name', async () => {
    const docs = Array.from({ length: 20 }, (_, i) => `many-${i}`);
    const clients = await Promise.all(docs.map(async (doc) => connectClient(server.url, doc, await token(doc, 'bob'))));
    const longName = `n${'x'.repeat(300)}`;
    clients.forEach((c, i) => (i === 0 ? c.doc.getMap(longName).set('k', 1) : c.doc.getArray('notes').push([i])));
    const reported = () => new Set(events.filter((e) => e.type === 'session.updated' && e.actor === 'bob').map((e) => (e.payload as { sessionId: string }).sessionId));
    await waitFor(() => reported().size === docs.length || undefined, 'a session.updated for each of 20 rooms');
    expect([...reported()].sort()).toEqual([...docs].sort());
    const first = events.find((e) => e.type === 'session.updated' && e.payload.sessionId === 'many-0');
    expect(first?.type === 'session.updated' && first.payload.changed).toEqual([longName.slice(0, 200)]);
    for (const c of clients) c.destroy();
  });
});

describe('limits', () => {
  it('closes with 1009 when an update would take the document past its size limit, keeping what it had', async () => {
    const small = await startTestServer({ 'collab-max-doc-bytes': '65536' });
    try {
      const tok = await small.veza.auth.sign({ sub: 'alice', docs: { bounded: 'editor' } });
      const ws = await openRaw(`${small.url.replace('http', 'ws')}/collab/bounded?token=${tok}`);
      const big = new Y.Doc();
      big.getText('t').insert(0, 'x'.repeat(100_000));
      const closed = closeOf(ws);
      ws.send(updateMessage(Y.encodeStateAsUpdate(big)));
      expect(await closed).toEqual({ code: 1009, reason: 'document would exceed 65536 bytes' });
      const reader = await connectClient(small.url, 'bounded', tok);
      expect(reader.doc.getText('t').length).toBe(0);
      reader.destroy();
    } finally {
      await small.stop();
    }
  });

  it('closes a client that does not read with 1013 instead of buffering without bound', { timeout: 60_000 }, async () => {
    const slow = await openRaw(await rawUrl('firehose'));
    const closed = closeOf(slow);
    // Stop reading: the server's send buffer for this socket can only grow.
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();
    const writer = await openRaw(await rawUrl('firehose'));
    const source = new Y.Doc();
    source.on('update', (u: Uint8Array) => writer.readyState === WebSocket.OPEN && writer.send(updateMessage(u)));
    let i = 0;
    const pump = setInterval(() => {
      source.getArray('blobs').push([Buffer.alloc(20_000, i++ % 256).toString('base64').slice(0, 20_000)]);
      source.getArray('blobs').delete(0, 1);
    }, 20);
    try {
      await waitFor(async () => (await metric('veza_collab_connections{role="editor"}')) <= 1 || undefined, 'the slow socket to be closed', 50_000);
    } finally {
      clearInterval(pump);
    }
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toEqual({ code: 1013, reason: 'client too slow to keep up; reconnect' });
    writer.close();
  });
});

describe('idle documents', () => {
  it('are unloaded, and memory returns to its baseline after 1,000 open/close cycles', { timeout: 120_000 }, async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const cycle = async (i: number) => {
      const ws = await openRaw(await rawUrl(`cycle-${i % 50}`));
      const synced = new Promise<void>((resolve) => ws.on('message', (d: Buffer) => d[0] === 0 && d[1] === 1 && resolve()));
      ws.send(syncStep1(Y.encodeStateVector(new Y.Doc())));
      ws.send(updateMessage(Y.encodeStateAsUpdate(((d) => (d.getMap('m').set(`k${i}`, i), d))(new Y.Doc()))));
      await synced;
      const closed = closeOf(ws);
      ws.close();
      await closed;
    };
    for (let i = 0; i < 100; i++) await cycle(i);
    await waitFor(() => server.veza.collab.loadedRooms === 0, 'rooms to unload');
    gc();
    const baseline = process.memoryUsage().heapUsed;
    for (let i = 100; i < 1100; i++) await cycle(i);
    await waitFor(() => server.veza.collab.loadedRooms === 0, 'rooms to unload');
    await new Promise((r) => setTimeout(r, 200));
    gc();
    const after = process.memoryUsage().heapUsed;
    expect(after - baseline).toBeLessThan(8 * 1024 * 1024);
    expect(await metric('veza_collab_documents_loaded')).toBe(0);
  });
});
