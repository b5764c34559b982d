import type { DocumentId, Repo, StorageKey } from '@automerge/automerge-repo';
import type { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import type WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { automergeModule } from '../../src/automerge/module.js';
import { DatabaseStorageAdapter } from '../../src/automerge/storage-adapter.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { automergeUrl, clientRepo, UNLIMITED } from './support.js';

/**
 * A find must end with the document or with "unavailable", never with silence. automerge-repo's
 * server answers "unavailable" only once every peer that asked about a document has said it lacks
 * it; a peer that claims the document and then leaves must stop counting, or the server waits for
 * it forever and so does every client that asks after it.
 */
/** How long the server lets a finder wait on a peer that claims the document (short here). */
const ANSWER_MS = 1000;

/** A server with the bound set out of reach: what answers its finders is the protocol alone. */
let patient: TestServer;
let server: TestServer;
const clients: Repo[] = [];

beforeAll(async () => {
  [patient, server] = await Promise.all([
    startTestServer({ ...UNLIMITED, 'automerge-find-answer-ms': '600000' }),
    startTestServer({ ...UNLIMITED, 'automerge-find-answer-ms': String(ANSWER_MS) }),
  ]);
}, 180_000);

afterEach(() => vi.restoreAllMocks());

afterAll(async () => {
  await Promise.all(clients.map((c) => c.shutdown().catch(() => undefined)));
  await Promise.all([patient?.stop(), server?.stop()]);
});

async function client(on: TestServer): Promise<Repo> {
  const token = await on.veza.auth.sign({ sub: 'editor', docs: { '*': 'editor' } });
  const repo = clientRepo(automergeUrl(on, token));
  clients.push(repo);
  return repo;
}

/** The find's outcome, or "no answer" when neither the document nor "unavailable" came in 10 s. */
function outcome(find: Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('no answer'), 10_000)));
  const answer = find.then(
    () => 'found',
    (error: unknown) => (/unavailable/.test(String(error)) ? 'unavailable' : `failed: ${String(error)}`),
  );
  return Promise.race([answer, silence]).finally(() => clearTimeout(timer));
}

/**
 * Holds back the server's storage reads of one document until released, as a busy database would:
 * what happens meanwhile is then fixed, not left to the scheduler.
 */
function holdStorageReads(documentId: DocumentId): { reached: Promise<void>; release(): void } {
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
  const loadRange = DatabaseStorageAdapter.prototype.loadRange;
  vi.spyOn(DatabaseStorageAdapter.prototype, 'loadRange').mockImplementation(async function (this: DatabaseStorageAdapter, prefix: StorageKey) {
    if (prefix[0] === documentId) {
      reached();
      await released;
    }
    return loadRange.call(this, prefix);
  });
  return { reached: reachedPromise, release };
}

it('answers the next finder when the creator left while the server was still looking its document up', async () => {
  const serverRepo = patient.veza.modules.api(automergeModule).repo('default');
  const alice = await client(patient);
  await waitFor(() => alice.peers.length > 0, 'alice to join');
  const handle = alice.create<{ title: string }>({ title: 'left early' });
  const documentId = handle.documentId as DocumentId;
  const reads = holdStorageReads(documentId);

  // Alice's first message names the document's heads (its changes come in her next one); the
  // server looks the document up in storage before answering, and Alice leaves meanwhile.
  await reads.reached;
  await alice.shutdown();
  clients.splice(clients.indexOf(alice), 1);
  await waitFor(() => !serverRepo.peers.includes(alice.peerId), 'the server to see alice leave');
  reads.release();
  await waitFor(() => serverRepo.handles[documentId]?.inState(['requesting', 'unavailable']), 'the server to finish its lookup');

  // The server never received the document's changes: the honest answer is "unavailable", at once.
  const bob = await client(patient);
  await waitFor(() => bob.peers.length > 0, 'bob to join');
  expect(await outcome(bob.find(handle.url))).toBe('unavailable');
}, 60_000);

/** The client's TCP socket: pausing it stops it reading, as a frozen tab or a dead link would. */
function tcpOf(repo: Repo): { pause(): void; resume(): void } {
  const adapter = repo.networkSubsystem.adapters[0] as WebSocketClientAdapter;
  return (adapter.socket as unknown as { _socket: { pause(): void; resume(): void } } & WebSocket)._socket;
}

it('answers a finder within the bound while the creator, still connected, has gone quiet', async () => {
  const serverRepo = server.veza.modules.api(automergeModule).repo('default');
  const alice = await client(server);
  await waitFor(() => alice.peers.length > 0, 'alice to join');
  const handle = alice.create<{ title: string }>({ title: 'stalled' });
  const documentId = handle.documentId as DocumentId;
  const reads = holdStorageReads(documentId);

  // Alice names the document, then stops reading before the server's answer reaches her: she
  // never sends its changes, yet stays connected, so the server keeps waiting for her.
  await reads.reached;
  const aliceLink = tcpOf(alice);
  aliceLink.pause();
  reads.release();
  await waitFor(() => serverRepo.handles[documentId]?.inState(['requesting']), 'the server to wait for alice');

  const bob = await client(server);
  await waitFor(() => bob.peers.length > 0, 'bob to join');
  expect(await outcome(bob.find(handle.url))).toBe('unavailable');

  // The answer does not close the door: once Alice's changes arrive, Bob receives the document.
  aliceLink.resume();
  await waitFor(() => bob.handles[documentId]?.isReady(), 'the document to reach bob once alice sends it');
  expect(bob.handles[documentId]!.doc()).toEqual({ title: 'stalled' });
}, 60_000);
