import { randomBytes } from 'node:crypto';
import type { DocHandle, DocumentId, PeerId, Repo, StorageId } from '@automerge/automerge-repo';
import type { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { automergeModule } from '../../src/automerge/module.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { automergeUrl, clientRepo, closeOf, join, rawSocket, UNLIMITED } from './support.js';

/**
 * The server's limits on Automerge documents, with the reference client: idle documents are stored
 * and freed, a change past the size limit is refused with 1009, a socket is closed when its token
 * expires, and a failing save is retried and reported until it succeeds.
 */
const SERVER_PEER = 'veza-server:default' as PeerId;
const MAX_DOC_BYTES = 4096;

let server: TestServer;
let editorToken: string;
const repos: Repo[] = [];

beforeAll(async () => {
  server = await startTestServer({ ...UNLIMITED, 'automerge-unload-delay-ms': '200', 'automerge-max-doc-bytes': String(MAX_DOC_BYTES) });
  editorToken = await server.veza.auth.sign({ sub: 'alice', docs: { '*': 'editor' } });
});

afterAll(async () => {
  await Promise.all(repos.map((r) => r.shutdown().catch(() => undefined)));
  await server?.stop();
});

const client = (token = editorToken) => {
  const repo = clientRepo(automergeUrl(server, token));
  repos.push(repo);
  return repo;
};

const automerge = () => server.veza.modules.api(automergeModule);

/** The server answered with heads that include every change of the handle. */
const acknowledged = <T,>(repo: Repo, handle: DocHandle<T>) =>
  waitFor(() => {
    const storageId = repo.peerMetadataByPeerId[SERVER_PEER]?.storageId as StorageId | undefined;
    const heads = storageId ? handle.getSyncInfo(storageId)?.lastHeads : undefined;
    return heads !== undefined && heads.length === handle.heads().length && heads.every((h) => handle.heads().includes(h));
  }, 'the server to acknowledge every change');

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : 0;
}

it('stores and frees a document once no connected client uses it, and loads it again when asked', async () => {
  const alice = client();
  const handle = alice.create<{ title: string }>({ title: 'idle soon' });
  await acknowledged(alice, handle);
  const documentId = handle.documentId as DocumentId;
  expect(automerge().repo('default').handles[documentId]?.isReady()).toBe(true);
  const unloadsBefore = await metric('veza_automerge_unloads_total');

  repos.splice(repos.indexOf(alice), 1);
  await alice.shutdown();
  await waitFor(() => automerge().repo('default').handles[documentId] === undefined, 'the idle document to be freed');
  expect(await metric('veza_automerge_unloads_total')).toBeGreaterThan(unloadsBefore);

  const bob = client();
  // The reference client calls a document unavailable if it has no peer a second after it started.
  await waitFor(() => bob.peers.length > 0, 'bob to join');
  const found = await bob.find<{ title: string }>(handle.url);
  expect(found.doc().title).toBe('idle soon');
  expect(automerge().repo('default').handles[documentId]?.isReady()).toBe(true);
});

it('refuses a change that takes a document past its size limit with 1009, and keeps what it had', async () => {
  const alice = client();
  const handle = alice.create<{ text: string }>({ text: 'small' });
  await acknowledged(alice, handle);
  const socket = (alice.networkSubsystem.adapters[0] as WebSocketClientAdapter).socket!;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })));
  // Random text: Automerge compresses a change, and a repeated letter would shrink to nothing.
  handle.change((d) => {
    d.text = randomBytes(2 * MAX_DOC_BYTES).toString('base64');
  });
  const { code, reason } = await closed;
  expect(code).toBe(1009);
  expect(reason).toMatch(/past its limit of 4096 bytes/);
  const serverDoc = automerge().repo('default').handles[handle.documentId]!.doc() as { text: string };
  expect(serverDoc.text).toBe('small');
  expect(await metric('veza_automerge_refused_messages_total{reason="too-big"}')).toBeGreaterThan(0);
  repos.splice(repos.indexOf(alice), 1);
  await alice.shutdown();
});

it('closes a socket with 4401 when its token expires', async () => {
  const token = await server.veza.auth.sign({ sub: 'carol', docs: { '*': 'editor' }, ttlSeconds: 2 });
  const ws = await rawSocket(automergeUrl(server, token));
  const closed = closeOf(ws);
  await join(ws, 'carol-peer');
  const { code, reason } = await closed;
  expect(code).toBe(4401);
  expect(reason).toMatch(/token expired/);
});

it('retries a failing save with backoff, reports it in metrics and /healthz, and stores it once writes work again', async () => {
  const db = server.veza.storage.db;
  // Snapshots (the repo's own saves) fail; the changes a client sends are still stored before they are acknowledged.
  await sql`CREATE OR REPLACE FUNCTION refuse_snapshots() RETURNS trigger AS $$ BEGIN IF NEW.key[2] = 'snapshot' THEN RAISE EXCEPTION 'snapshots refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`.execute(db);
  await sql`CREATE TRIGGER refuse_snapshots BEFORE INSERT OR UPDATE ON automerge_chunks FOR EACH ROW EXECUTE FUNCTION refuse_snapshots()`.execute(db);
  const failuresBefore = await metric('veza_automerge_store_failures_total');
  const alice = client();
  const handle = alice.create<{ title: string }>({ title: 'saved later' });
  await acknowledged(alice, handle);
  // The repo stores the document after a change; this one is stored before it is acknowledged, and its save fails.
  handle.change((d) => {
    d.title = 'saved later, really';
  });
  await acknowledged(alice, handle);
  await waitFor(async () => (await metric('veza_automerge_store_retrying')) > 0, 'a save waiting to be retried');
  expect(await metric('veza_automerge_store_failures_total')).toBeGreaterThan(failuresBefore);
  const health = (await (await fetch(`${server.url}/healthz`)).json()) as { automerge: { retryingWrites: number; lastStoreFailure: { message: string } | null } };
  expect(health.automerge.retryingWrites).toBeGreaterThan(0);
  expect(health.automerge.lastStoreFailure?.message).toMatch(/snapshots refused/);

  await sql`DROP TRIGGER refuse_snapshots ON automerge_chunks`.execute(db);
  await waitFor(async () => (await metric('veza_automerge_store_retrying')) === 0, 'the retried save to succeed');
  const snapshots = await sql<{ n: number }>`SELECT count(*)::int AS n FROM automerge_chunks WHERE key[1] = ${handle.documentId} AND key[2] = 'snapshot'`.execute(db);
  expect(snapshots.rows[0]?.n).toBe(1);
}, 60_000);
