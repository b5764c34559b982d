import type { DocHandle, PeerId, Repo, StorageId } from '@automerge/automerge-repo';
import type { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { automergeModule } from '../../src/automerge/module.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { automergeUrl, clientRepo, UNLIMITED } from './support.js';

/**
 * The memory budget the Automerge documents share with the Yjs ones: counted in both kinds'
 * figures, a new document refused (1013) while none can be freed, and an idle one freed to make room.
 */
const SERVER_PEER = 'veza-server:default' as PeerId;

let server: TestServer;
let token: string;

beforeAll(async () => {
  // One byte: the first document is always taken, every other needs an idle one freed first.
  server = await startTestServer({ ...UNLIMITED, 'collab-memory-budget-bytes': '1', 'automerge-unload-delay-ms': '600000' });
  token = await server.veza.auth.sign({ sub: 'alice', docs: { '*': 'editor' } });
});

afterAll(() => server?.stop());

const acknowledged = <T,>(repo: Repo, handle: DocHandle<T>) =>
  waitFor(() => {
    const storageId = repo.peerMetadataByPeerId[SERVER_PEER]?.storageId as StorageId | undefined;
    const heads = storageId ? handle.getSyncInfo(storageId)?.lastHeads : undefined;
    return heads !== undefined && heads.length === handle.heads().length && heads.every((h) => handle.heads().includes(h));
  }, 'the server to acknowledge every change');

it('counts Automerge documents in the shared budget, refuses a new one while none is idle, and frees an idle one for it', async () => {
  const alice = clientRepo(automergeUrl(server, token));
  const first = alice.create<{ title: string }>({ title: 'first' });
  await acknowledged(alice, first);
  const automerge = server.veza.modules.api(automergeModule);
  await waitFor(() => automerge.memoryBytes() > 0, 'the document to be measured');
  const health = (await (await fetch(`${server.url}/healthz`)).json()) as { automerge: { memoryBytes: number; documentsLoaded: number }; collab: { memoryBytes: number } };
  expect(health.automerge.documentsLoaded).toBe(1);
  expect(health.collab.memoryBytes).toBeGreaterThanOrEqual(health.automerge.memoryBytes);

  // The first document is in use: a second cannot be loaded.
  const socket = (alice.networkSubsystem.adapters[0] as WebSocketClientAdapter).socket!;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })));
  alice.create<{ title: string }>({ title: 'second' });
  const { code, reason } = await closed;
  expect(code).toBe(1013);
  expect(reason).toMatch(/memory budget/);
  // The reference client reconnects after a close, with a timer its shutdown does not clear, and
  // throws if that connection is cut while it opens: let any pending one settle, and none follow.
  const adapter = alice.networkSubsystem.adapters[0] as WebSocketClientAdapter;
  (adapter as { retryInterval: number }).retryInterval = 2 ** 31 - 1;
  await new Promise((resolve) => setTimeout(resolve, 500));
  await alice.shutdown();

  // Nobody uses the first any more: it is stored and freed for the next one, which is taken.
  const bob = clientRepo(automergeUrl(server, token));
  const third = bob.create<{ title: string }>({ title: 'third' });
  await acknowledged(bob, third);
  expect(automerge.repo('default').handles[first.documentId]).toBeUndefined();
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  expect(metrics).toMatch(/veza_automerge_unloads_total\{reason="memory-budget"\} [1-9]/);
  const found = await bob.find<{ title: string }>(first.url).catch(() => null);
  // Loading the first again needs the third freed, which bob still uses: refused, never emptied.
  expect(found === null || found.doc().title === 'first').toBe(true);
  await bob.shutdown();
}, 60_000);
