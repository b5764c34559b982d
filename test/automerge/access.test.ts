import { setTimeout as sleep } from 'node:timers/promises';
import type { AutomergeUrl, Repo } from '@automerge/automerge-repo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { automergeUrl, clientRepo, UNLIMITED } from './support.js';

interface Doc {
  n: number;
  viewerWrote?: boolean;
}

/**
 * Who may do what on /automerge: the token is checked at the upgrade; each message is checked
 * against the token's role on its document. Real clients on both sides.
 */
let server: TestServer;
let editor: Repo;
const repos: Repo[] = [];

beforeAll(async () => {
  server = await startTestServer(UNLIMITED);
  editor = await connect({ '*': 'editor' });
});
afterAll(async () => {
  await Promise.all(repos.map((r) => r.shutdown()));
  await server?.stop();
});

async function connect(docs: Record<string, 'owner' | 'editor' | 'viewer'>): Promise<Repo> {
  const repo = clientRepo(automergeUrl(server, await server.veza.auth.sign({ sub: `user-${repos.length}`, docs })));
  repos.push(repo);
  return repo;
}

/** A document the server holds (the server answers "unavailable" for what it has not got yet). */
async function storedDocument(initial: Doc) {
  const handle = editor.create<Doc>(initial);
  await waitFor(async () => (await server.veza.storage.db.selectFrom('automerge_chunks' as never).select(['key' as never]).execute()).some((r) => (r as { key: string[] }).key[0] === handle.documentId), 'the document to be stored');
  return handle;
}

async function refused(reason: string): Promise<number> {
  const metric = await server.veza.metrics.registry.getSingleMetric('veza_automerge_refused_messages_total')?.get();
  return metric?.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => undefined);
  });
}

describe('at the upgrade', () => {
  it('refuses a missing or bad token with 401', async () => {
    expect(await upgradeStatus(automergeUrl(server))).toBe(401);
    expect(await upgradeStatus(automergeUrl(server, 'not-a-token'))).toBe(401);
  });

  it('refuses a token that names no document with 403', async () => {
    expect(await upgradeStatus(automergeUrl(server, await server.veza.auth.sign({ sub: 'nobody' })))).toBe(403);
  });
});

describe('per document', () => {
  it('gives a token naming one document that document and no other', async () => {
    const mine = await storedDocument({ n: 1 });
    const other = await storedDocument({ n: 2 });
    const scoped = await connect({ [mine.documentId]: 'editor' });
    expect((await scoped.find<Doc>(mine.url)).doc().n).toBe(1);
    const before = await refused('no-role');
    await expect(scoped.find<Doc>(other.url)).rejects.toThrow(/unavailable/);
    expect(await refused('no-role')).toBeGreaterThan(before);
  });

  it("keeps a viewer's changes out of the document, and the viewer in sync", async () => {
    const handle = await storedDocument({ n: 1 });
    const viewer = await connect({ '*': 'viewer' });
    const seen = await viewer.find<Doc>(handle.url);
    expect(seen.doc().n).toBe(1);
    let fromServer = 0;
    viewer.networkSubsystem.adapters[0]!.on('message', () => fromServer++);

    seen.change((d) => {
      d.viewerWrote = true;
    });
    await waitFor(async () => (await refused('read-only')) > 0, "the server to refuse the viewer's change");
    handle.change((d) => {
      d.n = 2;
    });
    // The viewer keeps receiving what editors write (its refused change stays local to it).
    await waitFor(() => seen.doc().n === 2, "the editor's change to reach the viewer");
    expect(seen.doc().viewerWrote).toBe(true);
    expect(handle.doc().viewerWrote).toBeUndefined();

    const fresh = await connect({ '*': 'editor' });
    const stored = await fresh.find<Doc>(handle.url as AutomergeUrl);
    expect(stored.doc()).toEqual({ n: 2 });
    // Stripped changes alone would leave the viewer's unknown heads in every message: a storm of
    // sync rounds that never ends. Here both sides go quiet.
    const settled = fromServer;
    await sleep(500);
    expect(fromServer).toBe(settled);
    expect(fromServer).toBeLessThan(10);
  });

  it('lets an owner write', async () => {
    const handle = await storedDocument({ n: 1 });
    const owner = await connect({ [handle.documentId]: 'owner' });
    const mine = await owner.find<Doc>(handle.url);
    mine.change((d) => {
      d.n = 5;
    });
    await waitFor(() => handle.doc().n === 5, "the owner's change to reach the editor");
  });
});
