import { generateAutomergeUrl, type AutomergeUrl } from '@automerge/automerge-repo';
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import type { Storage } from '../../src/storage/database.js';
import { startTestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { automergeUrl, clientRepo, UNLIMITED } from './support.js';

interface Song {
  title: string;
  tracks: string[];
}

/**
 * Two unmodified automerge-repo clients (Node, reference WebSocket adapter) collaborate through the
 * server; the document is in the database afterwards, so a restarted server serves it to a third.
 */
it('shares a document between two repos, live, and serves it again after a restart', async () => {
  const data = tempDir('automerge-sync');
  let server = await startTestServer({ 'data-dir': data.dir, ...UNLIMITED });
  try {
    const aliceToken = await server.veza.auth.sign({ sub: 'alice', docs: { '*': 'editor' } });
    const bobToken = await server.veza.auth.sign({ sub: 'bob', docs: { '*': 'editor' } });
    const alice = clientRepo(automergeUrl(server, aliceToken));
    const bob = clientRepo(automergeUrl(server, bobToken));

    const aliceHandle = alice.create<Song>({ title: 'untitled', tracks: [] });
    aliceHandle.change((d) => {
      d.title = 'Night drive';
    });
    // The server announces nothing and says "unavailable" for what it lacks: Bob asks once it holds it.
    await waitFor(async () => (await storedChunks(server.veza.storage, aliceHandle.documentId)) > 0, 'the server to store the document');

    const bobHandle = await bob.find<Song>(aliceHandle.url);
    expect(bobHandle.doc().title).toBe('Night drive');
    bobHandle.change((d) => {
      d.tracks.push('drums');
    });
    await waitFor(() => aliceHandle.doc().tracks.length === 1, "Bob's change to reach Alice");
    aliceHandle.change((d) => {
      d.tracks.push('bass');
    });
    await waitFor(() => bobHandle.doc().tracks.length === 2, "Alice's change to reach Bob");
    // A document nobody has leaves an unavailable handle in the server's repo; shutdown must cope.
    await expect(bob.find(generateAutomergeUrl())).rejects.toThrow(/unavailable/);
    await Promise.all([alice.shutdown(), bob.shutdown()]);

    // A clean stop writes what the server's repo has not stored yet; the restart reads it back.
    expect(await server.veza.shutdown()).toBe(true);
    server = await startTestServer({ 'data-dir': data.dir, ...UNLIMITED });
    const carol = clientRepo(automergeUrl(server, await server.veza.auth.sign({ sub: 'carol', docs: { '*': 'viewer' } })));
    const carolHandle = await carol.find<Song>(aliceHandle.url as AutomergeUrl);
    expect(carolHandle.doc()).toEqual({ title: 'Night drive', tracks: ['drums', 'bass'] });
    await carol.shutdown();
  } finally {
    await server.stop();
    data.remove();
  }
});

async function storedChunks(storage: Storage, documentId: string): Promise<number> {
  const result = await sql<{ n: number }>`SELECT count(*)::int AS n FROM automerge_chunks WHERE key[1] = ${documentId}`.execute(storage.db);
  return result.rows[0]?.n ?? 0;
}
