import type { DocumentId, Repo, StorageKey } from '@automerge/automerge-repo';
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
let server: TestServer;
let token: string;
const clients: Repo[] = [];

beforeAll(async () => {
  server = await startTestServer({ ...UNLIMITED });
  token = await server.veza.auth.sign({ sub: 'editor', docs: { '*': 'editor' } });
}, 120_000);

afterEach(() => vi.restoreAllMocks());

afterAll(async () => {
  await Promise.all(clients.map((c) => c.shutdown().catch(() => undefined)));
  await server?.stop();
});

function client(): Repo {
  const repo = clientRepo(automergeUrl(server, token));
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
  const serverRepo = server.veza.modules.api(automergeModule).repo('default');
  const alice = client();
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
  const bob = client();
  await waitFor(() => bob.peers.length > 0, 'bob to join');
  expect(await outcome(bob.find(handle.url))).toBe('unavailable');
}, 60_000);
