import { encodeSyncMessage, init, loadIncremental } from '@automerge/automerge';
import { cbor, generateAutomergeUrl, parseAutomergeUrl, type AutomergeUrl } from '@automerge/automerge-repo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { DatabaseStorageAdapter } from '../../src/automerge/storage-adapter.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { automergeUrl, clientRepo, closeOf, join, nextMessage, rawSocket, UNLIMITED } from './support.js';

/**
 * Hostile and broken clients over real sockets: each bad frame closes its sender with a code from
 * the server's table and a reason; the process and everyone else carry on.
 */
let server: TestServer;
let url: string;
const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId;

beforeAll(async () => {
  server = await startTestServer({ ...UNLIMITED, 'max-ws-message-bytes': '4096' });
  url = automergeUrl(server, await server.veza.auth.sign({ sub: 'fuzzer', docs: { '*': 'editor' } }));
});
afterAll(() => server?.stop());

async function closedBy(send: (ws: WebSocket, serverPeer: string) => void, joined = true): Promise<{ code: number; reason: string }> {
  const ws = await rawSocket(url);
  const serverPeer = joined ? await join(ws, 'fuzzer-peer') : '';
  const closed = closeOf(ws);
  send(ws, serverPeer);
  return closed;
}

const sync = (serverPeer: string, fields: Record<string, unknown> = {}) =>
  cbor.encode({ type: 'sync', senderId: 'fuzzer-peer', targetId: serverPeer, documentId, data: encodeSyncMessage({ heads: [], need: [], have: [], changes: [] }), ...fields });

describe('a bad frame closes its sender with 1002 and a reason', () => {
  it.each([
    ['a text frame', (ws: WebSocket) => ws.send('{"type":"join"}'), /^text frames/],
    ['bytes that are not CBOR', (ws: WebSocket) => ws.send(Buffer.from([0xff, 0xff, 0xff])), /^malformed message: not CBOR/],
    ['CBOR that is not a map', (ws: WebSocket) => ws.send(cbor.encode(42)), /^malformed message: expected a CBOR map/],
    ['an unknown message type', (ws: WebSocket) => ws.send(cbor.encode({ type: 'launch', senderId: 'x' })), /^unknown message type "launch"/],
  ])('%s', async (_name, send, reason) => {
    const closed = await closedBy((ws) => send(ws), false);
    expect(closed.code).toBe(1002);
    expect(closed.reason).toMatch(reason);
  });

  it.each([
    ['a repo message before join', false, (ws: WebSocket) => ws.send(sync('veza-server:default')), /^sync before join/],
    ['a second join', true, (ws: WebSocket) => ws.send(cbor.encode({ type: 'join', senderId: 'fuzzer-peer' })), /^join on a connection that already joined/],
    ['a message from another peer id', true, (ws: WebSocket, peer: string) => ws.send(sync(peer, { senderId: 'someone-else' })), /^senderId is not the peer/],
    ['a message for another peer', true, (ws: WebSocket) => ws.send(sync('some-other-peer')), /^targetId is not this server/],
    ['a document id that is not one', true, (ws: WebSocket, peer: string) => ws.send(sync(peer, { documentId: '../etc/passwd' })), /^malformed sync message: documentId/],
    ['sync data that is not a sync message', true, (ws: WebSocket, peer: string) => ws.send(sync(peer, { data: new Uint8Array([1, 2, 3]) })), /^malformed sync message: data/],
    ['ephemeral data that is not CBOR', true, (ws: WebSocket, peer: string) => ws.send(cbor.encode({ type: 'ephemeral', senderId: 'fuzzer-peer', targetId: peer, documentId, count: 1, sessionId: 's', data: new Uint8Array([0xff]) })), /^malformed ephemeral/],
  ])('%s', async (_name, joined, send, reason) => {
    const closed = await closedBy(send, joined);
    expect(closed.code).toBe(1002);
    expect(closed.reason).toMatch(reason);
  });

  it('tells a joined client why, in the protocol, before closing', async () => {
    const ws = await rawSocket(url);
    const serverPeer = await join(ws, 'fuzzer-peer');
    const error = nextMessage(ws);
    ws.send(cbor.encode({ type: 'launch', senderId: 'fuzzer-peer' }));
    expect(await error).toEqual({ type: 'error', senderId: serverPeer, message: 'unknown message type "launch"', targetId: 'fuzzer-peer' });
  });
});

it('answers an unsupported protocol version with an error message, then closes 1002', async () => {
  const ws = await rawSocket(url);
  const closed = closeOf(ws);
  const error = nextMessage(ws);
  ws.send(cbor.encode({ type: 'join', senderId: 'future-peer', peerMetadata: {}, supportedProtocolVersions: ['2'] }));
  expect(await error).toMatchObject({ type: 'error', message: 'unsupported protocol version', targetId: 'future-peer' });
  expect(await closed).toEqual({ code: 1002, reason: 'unsupported protocol version' });
});

it('closes a sender of an oversized message with 1009', async () => {
  const closed = await closedBy((ws, peer) => ws.send(sync(peer, { padding: new Uint8Array(5000) })));
  expect(closed.code).toBe(1009);
  expect(closed.reason).toMatch(/exceeds the limit of 4096/);
});

it('keeps serving everyone else, and what it stored still loads', async () => {
  // An editor's sync message whose change is garbage: automerge refuses it; nothing is stored from it.
  const ws = await rawSocket(url);
  const serverPeer = await join(ws, 'junk-writer');
  const junk = encodeSyncMessage({ heads: [], need: [], have: [], changes: [new Uint8Array([0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 5, 6, 7])] });
  ws.send(cbor.encode({ type: 'sync', senderId: 'junk-writer', targetId: serverPeer, documentId, data: junk }));

  const alice = clientRepo(url);
  const bob = clientRepo(url);
  try {
    const handle = alice.create<{ ok: boolean }>({ ok: true });
    const adapter = new DatabaseStorageAdapter(server.veza.storage, 'default');
    await waitFor(async () => (await adapter.loadRange([handle.documentId])).length > 0, 'the document to be stored');
    expect((await bob.find<{ ok: boolean }>(handle.url as AutomergeUrl)).doc()).toEqual({ ok: true });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const junkDocument = (await adapter.loadRange([documentId])).filter((c) => c.key[1] === 'snapshot' || c.key[1] === 'incremental');
    for (const chunk of junkDocument) expect(() => loadIncremental(init(), chunk.data!)).not.toThrow();
  } finally {
    await Promise.all([alice.shutdown(), bob.shutdown()]);
    ws.close();
  }
});
