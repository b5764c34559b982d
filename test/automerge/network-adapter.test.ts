import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { encodeSyncMessage } from '@automerge/automerge';
import { cbor, generateAutomergeUrl, parseAutomergeUrl, Repo, type Message, type NetworkAdapter, type PeerId, type StorageId } from '@automerge/automerge-repo';
import { runNetworkAdapterTests } from '@automerge/automerge-repo/helpers/tests/network-adapter-tests.js';
import { WebSocketClientAdapter, WebSocketServerAdapter } from '@automerge/automerge-repo-network-websocket';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { automergeRoute, UwsServerAdapter } from '../../src/automerge/network-adapter.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { rawSocket } from './support.js';

/**
 * automerge-repo's own network acceptance suite: three peers, the middle one our adapter on a real
 * Veza server (real uWS sockets, JWT at upgrade), the outer two the reference WebSocket client
 * adapter, as in the reference package's own test. The suite builds its own repos on the adapters
 * it is given, so each setup gets a fresh adapter on a route of its own rather than the service's
 * per-tenant repos (routes may be added after listen: uWS matches by specificity, not order).
 */
let server: TestServer;
let token: string;
let routes = 0;

beforeAll(async () => {
  server = await startTestServer({ 'rate-limit-connections-per-minute': '0', 'ws-messages-per-second': '0', 'max-connections-per-ip': '0' });
  token = await server.veza.auth.sign({ sub: 'suite', docs: { '*': 'editor' } });
});
afterAll(() => server?.stop());

/** How many times the acceptance suite runs in a row (AUTOMERGE_SUITE_REPEATS=100 to hunt races). */
const repeats = Math.max(1, Number(process.env.AUTOMERGE_SUITE_REPEATS ?? 1));

describe.each(Array.from({ length: repeats }, (_, i) => i + 1))('UwsServerAdapter (run %i)', () => {
  runNetworkAdapterTests(async () => {
    const path = `/automerge-suite-${++routes}`;
    const serverAdapter = new UwsServerAdapter({ logger: server.veza.logger, maxBackpressureBytes: 4 << 20 });
    server.veza.server.ws.route(path, automergeRoute(() => serverAdapter));
    const url = `${server.url.replace('http', 'ws')}${path}?token=${token}`;
    const clients = [new WebSocketClientAdapter(url), new WebSocketClientAdapter(url)] as const;
    const teardown = () => {
      // The suite leaves its repos running: stop the clients' reconnect timers, then their sockets.
      for (const client of clients) {
        try {
          client.disconnect();
        } catch {
          // this test never connected it
        }
      }
      serverAdapter.disconnect();
    };
    return { adapters: [clients[0], serverAdapter, clients[1]], teardown };
  }, 'uWS server adapter, reference WebSocket clients');
});

/**
 * A repo on the server side that looks for a document before any client has joined: the clients
 * may be connecting still, so "nobody has it" cannot be concluded yet. The acceptance suite above
 * does exactly this after a fixed 50 ms pause, which a loaded machine does not keep.
 */
describe('readiness', () => {
  it('waits for its first peer before it decides a document is unavailable', async () => {
    const path = '/automerge-readiness';
    const serverAdapter = new UwsServerAdapter({ logger: server.veza.logger, maxBackpressureBytes: 4 << 20 });
    server.veza.server.ws.route(path, automergeRoute(() => serverAdapter));
    const serverRepo = new Repo({ network: [serverAdapter], peerId: 'readiness-server' as PeerId });
    const clientAdapter = new WebSocketClientAdapter(`${server.url.replace('http', 'ws')}${path}?token=${token}`);
    // The client repo exists and holds the document, but its socket opens only after the server's find began.
    const clientRepo = new Repo({ network: [], peerId: 'readiness-client' as PeerId });
    const created = clientRepo.create<{ title?: string }>();
    created.change((d) => (d.title = 'first take'));
    try {
      expect(serverAdapter.isReady()).toBe(false);
      const found = serverRepo.find<{ title?: string }>(created.url);
      // Let the server's repo run as far as it can with nobody connected.
      await new Promise((resolve) => setTimeout(resolve, 100));
      clientRepo.networkSubsystem.addNetworkAdapter(clientAdapter);
      const handle = await found;
      expect(handle.doc().title).toBe('first take');
      expect(serverAdapter.isReady()).toBe(true);
    } finally {
      clientAdapter.disconnect();
      serverAdapter.disconnect();
    }
  });

  it('still finds nothing quickly once a peer has joined and nobody has the document', async () => {
    const path = '/automerge-readiness-none';
    const serverAdapter = new UwsServerAdapter({ logger: server.veza.logger, maxBackpressureBytes: 4 << 20 });
    server.veza.server.ws.route(path, automergeRoute(() => serverAdapter));
    const serverRepo = new Repo({ network: [serverAdapter], peerId: 'readiness-server-2' as PeerId });
    const clientAdapter = new WebSocketClientAdapter(`${server.url.replace('http', 'ws')}${path}?token=${token}`);
    new Repo({ network: [clientAdapter], peerId: 'readiness-client-2' as PeerId });
    try {
      await serverAdapter.whenReady();
      await expect(serverRepo.find(generateAutomergeUrl())).rejects.toThrow(/unavailable/);
    } finally {
      clientAdapter.disconnect();
      serverAdapter.disconnect();
    }
  });
});

/**
 * The same frames sent to the reference server adapter (NodeWSServerAdapter on `ws`) and to ours:
 * the same bytes come back, and the repo is handed the same messages.
 */
describe('the wire, against the reference server adapter', () => {
  let wss: WebSocketServer;
  let reference: WebSocketServerAdapter;
  let ours: UwsServerAdapter;
  const endpoints: { name: string; adapter: NetworkAdapter; url: () => string }[] = [];
  const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId;
  const serverPeer = 'server' as PeerId;

  beforeAll(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    // The reference package types `ws` through its own import; same class at runtime.
    reference = new WebSocketServerAdapter(wss as unknown as ConstructorParameters<typeof WebSocketServerAdapter>[0]);
    ours = new UwsServerAdapter({ logger: server.veza.logger, maxBackpressureBytes: 4 << 20 });
    server.veza.server.ws.route('/automerge-wire', automergeRoute(() => ours));
    const metadata = { storageId: 'store-1' as StorageId, isEphemeral: false };
    reference.connect(serverPeer, metadata);
    ours.connect(serverPeer, metadata);
    const { port } = wss.address() as AddressInfo;
    endpoints.push({ name: 'reference', adapter: reference, url: () => `ws://127.0.0.1:${port}` });
    endpoints.push({ name: 'ours', adapter: ours, url: () => `${server.url.replace('http', 'ws')}/automerge-wire?token=${token}` });
  });
  afterAll(() => {
    reference?.disconnect();
    wss?.close();
  });

  /** Sends `frames` on a new connection to each server; returns, per server, every frame received. */
  async function exchange(frames: Uint8Array[], expected: number, then?: (adapter: NetworkAdapter) => void): Promise<Buffer[][]> {
    return Promise.all(
      endpoints.map(async ({ adapter, url }) => {
        const ws = await rawSocket(url());
        const received: Buffer[] = [];
        ws.on('message', (data: Buffer) => received.push(data));
        for (const frame of frames) ws.send(frame);
        await waitFor(() => received.length >= 1, 'an answer');
        then?.(adapter);
        await waitFor(() => received.length >= expected, `${expected} answers`);
        if (ws.readyState === WebSocket.OPEN) ws.close();
        return received;
      }),
    );
  }

  const join = (senderId: string, versions?: string[]) =>
    cbor.encode({ type: 'join', senderId, peerMetadata: { storageId: 'client-store', isEphemeral: false }, ...(versions ? { supportedProtocolVersions: versions } : {}) });

  it('answers a join with the same peer message', async () => {
    const [fromReference, fromOurs] = await exchange([join('wire-1', ['1'])], 1);
    expect(fromOurs![0]!.equals(fromReference![0]!)).toBe(true);
    expect(cbor.decode(fromOurs![0]!)).toEqual({ type: 'peer', senderId: 'server', peerMetadata: { storageId: 'store-1', isEphemeral: false }, selectedProtocolVersion: '1', targetId: 'wire-1' });
  });

  it('takes a join without versions as version 1, as the reference does', async () => {
    const [fromReference, fromOurs] = await exchange([join('wire-2')], 1);
    expect(fromOurs![0]!.equals(fromReference![0]!)).toBe(true);
  });

  it('refuses an unsupported version with the same error message', async () => {
    const [fromReference, fromOurs] = await exchange([join('wire-3', ['2'])], 1);
    expect(fromOurs![0]!.equals(fromReference![0]!)).toBe(true);
  });

  it("encodes the repo's messages to a client identically", async () => {
    const message: Message = { type: 'sync', senderId: serverPeer, targetId: 'wire-4' as PeerId, documentId, data: encodeSyncMessage({ heads: [], need: [], have: [], changes: [] }) };
    const [fromReference, fromOurs] = await exchange([join('wire-4', ['1'])], 2, (adapter) => adapter.send(message));
    expect(fromOurs![1]!.equals(fromReference![1]!)).toBe(true);
  });

  it("hands the repo the same message for a client's frame", async () => {
    const emitted = endpoints.map(({ adapter }) => new Promise<Message>((resolve) => adapter.once('message', resolve)));
    const frame = cbor.encode({ type: 'sync', senderId: 'wire-5', targetId: serverPeer, documentId, data: encodeSyncMessage({ heads: [], need: [], have: [], changes: [] }) });
    await exchange([join('wire-5', ['1']), frame], 1);
    const [byReference, byOurs] = await Promise.all(emitted);
    // The reference hands over a Buffer where we hand a plain Uint8Array: the same bytes.
    const plain = (m: Message | undefined) => ({ ...m, data: new Uint8Array(m?.data ?? []) });
    expect(plain(byOurs)).toEqual(plain(byReference));
  });
});
