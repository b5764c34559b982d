import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { HocuspocusProvider as HocuspocusProviderV2, HocuspocusProviderWebsocket as HocuspocusProviderWebsocketV2 } from 'hocuspocus-provider-v2';
import * as encoding from 'lib0/encoding';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { DocumentStore } from '../../src/collab/document-store.js';
import type { DocumentRole } from '../../src/server/auth.js';
import { CloseCode } from '../../src/server/errors.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, postgresAvailable, tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient } from '../helpers/yjs.js';

const hasPostgres = await postgresAvailable();
const data = tempDir('hocuspocus');
let server: TestServer;
const cleanups: (() => void)[] = [];
let users = 0;

/** A token of a user of its own (the per-user connection rate is not what these tests are about). */
const token = (docs: Record<string, DocumentRole>, sub = `user-${++users}`) => server.veza.auth.sign({ sub, docs });
const hpUrl = () => `${server.url.replace('http', 'ws')}/hocuspocus`;

interface Opened {
  doc: Y.Doc;
  provider: HocuspocusProvider | HocuspocusProviderV2;
  synced: Promise<void>;
  failed: Promise<string>;
  scope: Promise<string>;
  stateless: string[];
}

function track(doc: Y.Doc, provider: HocuspocusProvider | HocuspocusProviderV2, stateless: string[]): Opened {
  const synced = new Promise<void>((resolve) => provider.on('synced', () => resolve()));
  const failed = new Promise<string>((resolve) => provider.on('authenticationFailed', ({ reason }: { reason: string }) => resolve(reason)));
  // 2.x emits 'authenticated' without a payload; both majors keep the scope on the provider.
  const scope = new Promise<string>((resolve) => provider.on('authenticated', () => resolve(provider.authorizedScope ?? '')));
  provider.on('stateless', ({ payload }: { payload: string }) => stateless.push(payload));
  return { doc, provider, synced, failed, scope, stateless };
}

function socketV3(): HocuspocusProviderWebsocket {
  const socket = new HocuspocusProviderWebsocket({ url: hpUrl(), WebSocketPolyfill: WebSocket });
  cleanups.push(() => socket.destroy());
  return socket;
}

function socketV2(): HocuspocusProviderWebsocketV2 {
  const socket = new HocuspocusProviderWebsocketV2({ url: hpUrl(), WebSocketPolyfill: WebSocket });
  cleanups.push(() => socket.destroy());
  return socket;
}

/** A 3.x provider's options for a socket of its own (its options pass the WebSocket implementation on; its types leave it out). */
function ownSocket(url: string, name: string, document: Y.Doc, tok: string | undefined): ConstructorParameters<typeof HocuspocusProvider>[0] {
  const options = { url, WebSocketPolyfill: WebSocket, name, document, ...(tok === undefined ? {} : { token: tok }) };
  return options;
}

/** A 3.x provider: on its own socket, or attached to a shared one. */
function openV3(name: string, tok: string | undefined, socket?: HocuspocusProviderWebsocket): Opened {
  const doc = new Y.Doc();
  const stateless: string[] = [];
  const provider = socket
    ? new HocuspocusProvider({ websocketProvider: socket, name, document: doc, ...(tok === undefined ? {} : { token: tok }) })
    : new HocuspocusProvider(ownSocket(hpUrl(), name, doc, tok));
  const opened = track(doc, provider, stateless);
  if (socket) provider.attach();
  cleanups.push(() => provider.destroy());
  return opened;
}

/** A 2.x provider, on the given shared socket (2.x takes its WebSocket implementation only there). */
function openV2(name: string, tok: string | undefined, socket = socketV2()): Opened {
  const doc = new Y.Doc();
  const stateless: string[] = [];
  const provider = new HocuspocusProviderV2({ websocketProvider: socket, name, document: doc, ...(tok === undefined ? {} : { token: tok }) });
  const opened = track(doc, provider, stateless);
  cleanups.push(() => provider.destroy());
  return opened;
}

const metrics = async () => (await fetch(`${server.url}/metrics`)).text();
const counter = async (name: string) => Number(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\d+)`, 'm').exec(await metrics())?.[1] ?? 0);

async function stored(tenant: string, docId: string): Promise<Y.Doc> {
  await server.veza.collab.persisted(tenant, docId);
  const doc = new Y.Doc();
  Y.applyUpdate(doc, (await new DocumentStore(server.veza.storage).load(tenant, docId)).state);
  return doc;
}

/** A raw socket on /hocuspocus, for what no provider sends. */
async function rawSocket(): Promise<{ ws: WebSocket; messages: Uint8Array[]; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(hpUrl());
  const messages: Uint8Array[] = [];
  ws.on('message', (m: Buffer) => messages.push(new Uint8Array(m)));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  cleanups.push(() => ws.close());
  return { ws, messages, closed };
}

function hpMessage(name: string, write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarString(e, name);
  write(e);
  return encoding.toUint8Array(e);
}

beforeAll(async () => {
  // Many sockets from one address: the connection rate is tested on a server of its own below.
  server = await startTestServer({ 'data-dir': data.dir, 'collab-unload-delay-ms': '50', 'collab-max-doc-bytes': '200000', 'rate-limit-connections-per-minute': '0' });
});
afterAll(async () => {
  cleanups.reverse().forEach((cleanup) => cleanup());
  await server?.stop();
  data.remove();
});

describe.each([
  ['3.x', (name: string, tok: string | undefined) => openV3(name, tok)],
  ['2.x', (name: string, tok: string | undefined) => openV2(name, tok)],
] as const)('@hocuspocus/provider %s', (major, open) => {
  const doc = (name: string) => `${name}-${major.replace('.x', '')}`;

  it('authenticates with a token, syncs both ways and is told its scope', async () => {
    const name = doc('hp-sync');
    const a = open(name, await token({ [name]: 'editor' }));
    const b = open(name, await token({ [name]: 'owner' }));
    expect(await a.scope).toBe('read-write');
    await Promise.all([a.synced, b.synced]);
    a.doc.getText('title').insert(0, 'Night drive');
    b.doc.getMap('tracks').set('t1', { name: 'drums', gain: 0.8 });
    await waitFor(() => b.doc.getText('title').toString() === 'Night drive', 'b to see a\'s text');
    await waitFor(() => (a.doc.getMap('tracks').get('t1') as { name?: string } | undefined)?.name === 'drums', 'a to see b\'s map');
    // Every update acknowledged: the provider holds nothing unsynced.
    await waitFor(() => !a.provider.hasUnsyncedChanges && !b.provider.hasUnsyncedChanges, 'acknowledgements');
    expect(a.provider.unsyncedChanges).toBe(0);
    const late = open(name, await token({ [name]: 'viewer' }));
    await late.synced;
    expect(late.doc.getText('title').toString()).toBe('Night drive');
    expect(late.doc.getMap('tracks').toJSON()).toEqual({ t1: { name: 'drums', gain: 0.8 } });
  });

  it('refuses a bad or missing token with the reason, and a token without a role on the document', async () => {
    const name = doc('hp-denied');
    expect(await open(name, 'not-a-token').failed).toBe('token is malformed');
    expect(await open(name, undefined).failed).toMatch(/^missing token/);
    expect(await open(name, await token({ 'some-other-doc': 'owner' })).failed).toBe(`no role on document ${name}`);
    // A well-signed token that expired.
    const expired = await server.veza.auth.sign({ sub: 'late', docs: { [name]: 'editor' }, ttlSeconds: -10 });
    expect(await open(name, expired).failed).toBe('token expired');
  });

  it('treats a viewer as read-only: its edits reach neither the others nor storage', async () => {
    const name = doc('hp-viewer');
    const editor = open(name, await token({ [name]: 'editor' }));
    const viewer = open(name, await token({ [name]: 'viewer' }));
    expect(await viewer.scope).toBe('readonly');
    await Promise.all([editor.synced, viewer.synced]);
    const refusedBefore = await counter('veza_collab_rejected_writes_total{reason="read-only"}');
    viewer.doc.getMap('m').set('hacked', true);
    editor.doc.getMap('m').set('fine', true);
    await waitFor(() => viewer.doc.getMap('m').get('fine') === true, 'the viewer to receive the editor\'s edit');
    await waitFor(async () => (await counter('veza_collab_rejected_writes_total{reason="read-only"}')) > refusedBefore, 'the refusal to be counted');
    // Refused updates are never acknowledged.
    expect(viewer.provider.hasUnsyncedChanges).toBe(true);
    const late = open(name, await token({ [name]: 'editor' }));
    await late.synced;
    expect(late.doc.getMap('m').toJSON()).toEqual({ fine: true });
    expect((await stored('default', name)).getMap('m').toJSON()).toEqual({ fine: true });
  });

  it('shares awareness both ways and removes a client\'s state when it leaves', async () => {
    const name = doc('hp-awareness');
    const a = open(name, await token({ [name]: 'editor' }));
    const b = open(name, await token({ [name]: 'viewer' }));
    await Promise.all([a.synced, b.synced]);
    a.provider.setAwarenessField('cursor', { tick: 480 });
    b.provider.setAwarenessField('user', { name: 'bob' });
    const cursor = (o: Opened, id: number) => o.provider.awareness!.getStates().get(id) as { cursor?: { tick: number }; user?: { name: string } } | undefined;
    await waitFor(() => cursor(b, a.doc.clientID)?.cursor?.tick === 480, 'b to see a\'s cursor');
    await waitFor(() => cursor(a, b.doc.clientID)?.user?.name === 'bob', 'a to see b\'s user');
    a.provider.destroy();
    await waitFor(() => !b.provider.awareness!.getStates().has(a.doc.clientID), 'a\'s state to be removed');
  });

  it('delivers a writer\'s stateless messages to the other clients of the document, never a viewer\'s', async () => {
    const name = doc('hp-stateless');
    const a = open(name, await token({ [name]: 'editor' }));
    const b = open(name, await token({ [name]: 'owner' }));
    const viewer = open(name, await token({ [name]: 'viewer' }));
    const elsewhere = open(doc('hp-stateless-other'), await token({ [doc('hp-stateless-other')]: 'editor' }));
    await Promise.all([a.synced, b.synced, viewer.synced, elsewhere.synced]);
    viewer.provider.sendStateless('from the viewer');
    a.provider.sendStateless(JSON.stringify({ transport: 'play', bar: 17 }));
    await waitFor(() => b.stateless.length === 1 && viewer.stateless.length === 1, 'b and the viewer to receive');
    expect(b.stateless).toEqual(['{"transport":"play","bar":17}']);
    expect(viewer.stateless).toEqual(['{"transport":"play","bar":17}']);
    b.provider.sendStateless('ack');
    await waitFor(() => a.stateless.length === 1, 'a to receive b\'s');
    expect(a.stateless).toEqual(['ack']);
    // The sender hears nothing of its own, the viewer's went nowhere, other documents see none.
    expect(b.stateless).toEqual(['{"transport":"play","bar":17}']);
    expect(elsewhere.stateless).toEqual([]);
  });
});

describe('several documents over one socket', () => {
  it('3.x: providers attached to one HocuspocusProviderWebsocket each sync their document', async () => {
    const socket = socketV3();
    const names = ['multi-a', 'multi-b', 'multi-c'];
    const tok = await token({ 'multi-a': 'editor', 'multi-b': 'editor', 'multi-c': 'viewer' });
    const opened = names.map((name) => openV3(name, tok, socket));
    await Promise.all(opened.map((o) => o.synced));
    expect(await Promise.all(opened.map((o) => o.scope))).toEqual(['read-write', 'read-write', 'readonly']);
    opened[0]!.doc.getText('t').insert(0, 'A');
    opened[1]!.doc.getText('t').insert(0, 'B');
    // The same documents from y-websocket: each saw only its own document's edit.
    const readers = await Promise.all(names.map(async (name) => connectClient(server.url, name, await token({ [name]: 'viewer' }))));
    readers.forEach((r) => cleanups.push(() => r.destroy()));
    await waitFor(() => readers[0]!.doc.getText('t').toString() === 'A' && readers[1]!.doc.getText('t').toString() === 'B', 'both edits');
    expect(readers[2]!.doc.getText('t').toString()).toBe('');
    expect(server.veza.server.ws.connections).toBeGreaterThan(0);
  });

  it('2.x: providers sharing one websocketProvider each sync their document', async () => {
    const socket = socketV2();
    const tok = await token({ 'multi2-a': 'editor', 'multi2-b': 'editor' });
    const a = openV2('multi2-a', tok, socket);
    const b = openV2('multi2-b', tok, socket);
    await Promise.all([a.synced, b.synced]);
    a.doc.getArray('notes').push([60]);
    b.doc.getArray('notes').push([72]);
    const readerA = await connectClient(server.url, 'multi2-a', await token({ 'multi2-a': 'viewer' }));
    const readerB = await connectClient(server.url, 'multi2-b', await token({ 'multi2-b': 'viewer' }));
    cleanups.push(() => readerA.destroy(), () => readerB.destroy());
    await waitFor(() => readerA.doc.getArray('notes').length === 1 && readerB.doc.getArray('notes').length === 1, 'both edits');
    expect(readerA.doc.getArray('notes').toArray()).toEqual([60]);
    expect(readerB.doc.getArray('notes').toArray()).toEqual([72]);
  });

  it('refusing one document leaves the others on the socket working', async () => {
    const socket = socketV3();
    const good = openV3('shared-good', await token({ 'shared-good': 'editor' }), socket);
    const bad = openV3('shared-bad', 'garbage', socket);
    expect(await bad.failed).toBe('token is malformed');
    await good.synced;
    good.doc.getText('t').insert(0, 'still here');
    await waitFor(async () => (await stored('default', 'shared-good')).getText('t').toString() === 'still here', 'the edit stored');
  });
});

describe('y-websocket and Hocuspocus clients on one document', () => {
  it('converge: text and map edits and awareness, in every direction', async () => {
    const name = 'interop';
    const y = await connectClient(server.url, name, await token({ [name]: 'editor' }));
    cleanups.push(() => y.destroy());
    const v3 = openV3(name, await token({ [name]: 'editor' }));
    const v2 = openV2(name, await token({ [name]: 'editor' }));
    await Promise.all([v3.synced, v2.synced]);
    y.doc.getText('lyrics').insert(0, 'la ');
    v3.doc.getText('lyrics').insert(0, 'da ');
    v2.doc.getText('lyrics').insert(0, 'dum ');
    y.doc.getMap('tempo').set('bpm', 120);
    v3.doc.getMap('tracks').set('bass', 'synth');
    v2.doc.getMap('tracks').set('keys', 'rhodes');
    const all = [y.doc, v3.doc, v2.doc];
    const same = () => {
      // Map keys in a fixed order: each replica lists them in the order it received them.
      const sorted = (m: Y.Map<unknown>) => Object.fromEntries([...m.entries()].sort(([x], [y]) => x.localeCompare(y)));
      const [first, ...rest] = all.map((d) => JSON.stringify({ lyrics: d.getText('lyrics').toString(), tempo: sorted(d.getMap('tempo')), tracks: sorted(d.getMap('tracks')) }));
      return rest.every((s) => s === first) && first;
    };
    const converged = await waitFor(same, 'the three documents to converge');
    const state = JSON.parse(converged) as { lyrics: string; tempo: unknown; tracks: unknown };
    expect(state.lyrics.split(' ').filter(Boolean).sort()).toEqual(['da', 'dum', 'la']);
    expect(state.tempo).toEqual({ bpm: 120 });
    expect(state.tracks).toEqual({ bass: 'synth', keys: 'rhodes' });

    y.provider.awareness.setLocalStateField('who', 'y');
    v3.provider.setAwarenessField('who', 'v3');
    v2.provider.setAwarenessField('who', 'v2');
    const sees = (awareness: { getStates(): Map<number, Record<string, unknown>> }, id: number, who: string) => awareness.getStates().get(id)?.who === who;
    await waitFor(
      () =>
        sees(y.provider.awareness, v3.doc.clientID, 'v3') &&
        sees(y.provider.awareness, v2.doc.clientID, 'v2') &&
        sees(v3.provider.awareness!, y.doc.clientID, 'y') &&
        sees(v3.provider.awareness!, v2.doc.clientID, 'v2') &&
        sees(v2.provider.awareness!, y.doc.clientID, 'y') &&
        sees(v2.provider.awareness!, v3.doc.clientID, 'v3'),
      'everyone to see everyone',
    );
  });
});

describe('limits and bad input', () => {
  it('refuses an update that would pass the document size limit, with the reason, and keeps what was accepted', async () => {
    const name = 'too-big';
    const a = openV3(name, await token({ [name]: 'editor' }));
    await a.synced;
    a.doc.getText('t').insert(0, 'kept');
    await waitFor(() => !a.provider.hasUnsyncedChanges, 'the first edit acknowledged');
    a.doc.getText('t').insert(4, 'x'.repeat(250_000));
    expect(await a.failed).toBe('document would exceed 200000 bytes; update not accepted');
    expect((await stored('default', name)).getText('t').toString()).toBe('kept');
    expect(await counter('veza_collab_rejected_writes_total{reason="document-too-big"}')).toBeGreaterThan(0);
  });

  it('closes a socket whose messages cannot be read, answers garbage for a document, and keeps other sockets working', async () => {
    const name = 'survivor';
    const other = openV3(name, await token({ [name]: 'editor' }));
    await other.synced;

    // Not even a document name: the socket itself is bad.
    const broken = await rawSocket();
    broken.ws.send(Uint8Array.of(0xff, 0xff, 0xff));
    expect(await broken.closed).toEqual({ code: CloseCode.protocolError, reason: 'malformed message: it does not start with a document name and a type' });

    // A document's garbage, an unknown type: that document is answered, the socket stays.
    const raw = await rawSocket();
    const tok = await token({ [name]: 'editor' });
    raw.ws.send(hpMessage(name, (e) => (encoding.writeVarUint(e, 2), encoding.writeVarUint(e, 0), encoding.writeVarString(e, tok))));
    raw.ws.send(hpMessage(name, (e) => encoding.writeVarUint(e, 42)));
    // A sync message whose update is garbage.
    raw.ws.send(hpMessage(name, (e) => (encoding.writeVarUint(e, 0), encoding.writeVarUint(e, 2), encoding.writeVarUint8Array(e, Uint8Array.of(9, 9, 9, 9, 9)))));
    raw.ws.send(hpMessage('unopened', (e) => encoding.writeVarUint(e, 0)));
    await waitFor(() => raw.messages.length >= 3, 'answers');
    const text = raw.messages.map((m) => Buffer.from(m).toString('latin1'));
    expect(text[0]).toContain('read-write');
    expect(text.some((t) => t.includes('malformed update'))).toBe(true);
    expect(text.some((t) => t.startsWith('\x08unopened') && t.includes('missing token'))).toBe(true);
    expect(raw.ws.readyState).toBe(WebSocket.OPEN);

    other.doc.getText('t').insert(0, 'alive');
    await waitFor(async () => (await stored('default', name)).getText('t').toString() === 'alive', 'the other socket\'s edit stored');
  });

  it('closes a socket that holds no document for a while: one that never opened one, and one whose last document left', async () => {
    const own = await startTestServer({ 'collab-hocuspocus-unused-ms': '1000', 'rate-limit-connections-per-minute': '0' });
    try {
      const url = `${own.url.replace('http', 'ws')}/hocuspocus`;
      const opened = async () => {
        const ws = new WebSocket(url);
        const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
        await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
        return { ws, closed };
      };
      const silent = await opened();
      expect(await silent.closed).toEqual({ code: 1008, reason: 'no document opened for 1000 ms; authenticate a document with a token' });
      // A socket with a document stays past the delay; once the document is refused, the delay starts again.
      const used = await opened();
      const tok = await own.veza.auth.sign({ sub: 'ana', docs: { solo: 'editor' } });
      used.ws.send(hpMessage('solo', (e) => (encoding.writeVarUint(e, 2), encoding.writeVarUint(e, 0), encoding.writeVarString(e, tok))));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(used.ws.readyState).toBe(WebSocket.OPEN);
      used.ws.send(hpMessage('solo', (e) => (encoding.writeVarUint(e, 0), encoding.writeVarUint(e, 2), encoding.writeVarUint8Array(e, Uint8Array.of(9, 9, 9, 9, 9)))));
      expect((await used.closed).code).toBe(1008);
    } finally {
      await own.stop();
    }
  });

  it('counts each document opened as a connection of its user: past the rate, a document is refused with the reason', async () => {
    // Bursts of two (a quarter of the rate per minute).
    const own = await startTestServer({ 'rate-limit-connections-per-minute': '8' });
    try {
      const socket = new HocuspocusProviderWebsocket({ url: `${own.url.replace('http', 'ws')}/hocuspocus`, WebSocketPolyfill: WebSocket });
      const tok = await own.veza.auth.sign({ sub: 'busy', docs: { '*': 'editor' } });
      const opened = ['r1', 'r2', 'r3'].map((name) => {
        const doc = new Y.Doc();
        const provider = new HocuspocusProvider({ websocketProvider: socket, name, document: doc, token: tok });
        provider.attach();
        return track(doc, provider, []);
      });
      await Promise.all([opened[0]!.synced, opened[1]!.synced]);
      expect(await opened[2]!.failed).toBe('too many connections for this user');
      opened.forEach((o) => o.provider.destroy());
      socket.destroy();
    } finally {
      await own.stop();
    }
  });

  it('refuses the documents of a revoked credential and keeps the socket\'s others', async () => {
    const socket = socketV3();
    const keep = openV3('revoke-keep', await token({ 'revoke-keep': 'editor' }, 'keeper'), socket);
    const lose = openV3('revoke-lose', await token({ 'revoke-lose': 'editor' }, 'mallory'), socket);
    await Promise.all([keep.synced, lose.synced]);
    const closed = server.veza.server.ws.closeWhere((p) => p.userId === 'mallory', CloseCode.credentialRevoked, 'the API key was revoked or its secret rotated');
    expect(closed).toBe(1);
    expect(await lose.failed).toBe('the API key was revoked or its secret rotated');
    lose.doc.getText('t').insert(0, 'after revocation');
    keep.doc.getText('t').insert(0, 'kept');
    await waitFor(async () => (await stored('default', 'revoke-keep')).getText('t').toString() === 'kept', 'the kept document stored');
    expect((await stored('default', 'revoke-lose')).getText('t').toString()).toBe('');
  });
});

describe('durability', () => {
  it('keeps edits made through Hocuspocus across a restart (embedded database)', async () => {
    const dir = tempDir('hocuspocus-restart');
    const first = await startTestServer({ 'data-dir': dir.dir, 'collab-flush-ms': '60000' });
    const url = `${first.url.replace('http', 'ws')}/hocuspocus`;
    const doc = new Y.Doc();
    const provider = new HocuspocusProvider(ownSocket(url, 'kept', doc, await first.veza.auth.sign({ sub: 'alice', docs: { kept: 'editor' } })));
    await new Promise((resolve) => provider.on('synced', resolve));
    for (let i = 0; i < 20; i++) doc.getArray<number>('notes').push([i]);
    await waitFor(() => !provider.hasUnsyncedChanges, 'every edit acknowledged');
    provider.destroy();
    await first.stop();

    const second = await startTestServer({ 'data-dir': dir.dir });
    try {
      const loaded = new Y.Doc();
      Y.applyUpdate(loaded, (await new DocumentStore(second.veza.storage).load('default', 'kept')).state);
      expect(loaded.getArray('notes').toArray()).toEqual(Array.from({ length: 20 }, (_, i) => i));
    } finally {
      await second.stop();
      dir.remove();
    }
  });

  it.skipIf(!hasPostgres)('keeps edits made through Hocuspocus across a restart (PostgreSQL)', async () => {
    const db = await createTestDatabase();
    const secret = 'hocuspocus-restart-secret-hocuspocus-restart';
    const start = () => startTestServer({ 'database-url': db.url }, { env: { VEZA_JWT_SECRET: secret } });
    try {
      const first = await start();
      const doc = new Y.Doc();
      const provider = new HocuspocusProviderV2({
        websocketProvider: new HocuspocusProviderWebsocketV2({ url: `${first.url.replace('http', 'ws')}/hocuspocus`, WebSocketPolyfill: WebSocket }),
        name: 'kept-pg',
        document: doc,
        token: await first.veza.auth.sign({ sub: 'alice', docs: { 'kept-pg': 'editor' } }),
      });
      await new Promise((resolve) => provider.on('synced', resolve));
      doc.getText('title').insert(0, 'from 2.x');
      await waitFor(() => !provider.hasUnsyncedChanges, 'the edit acknowledged');
      provider.configuration.websocketProvider.destroy();
      provider.destroy();
      await first.stop();
      const second = await start();
      try {
        const loaded = new Y.Doc();
        Y.applyUpdate(loaded, (await new DocumentStore(second.veza.storage).load('default', 'kept-pg')).state);
        expect(loaded.getText('title').toString()).toBe('from 2.x');
      } finally {
        await second.stop();
      }
    } finally {
      await db.drop();
    }
  });
});
