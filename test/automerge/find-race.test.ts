import type { DocumentId } from '@automerge/automerge-repo';
import { automergeModule } from '../../src/automerge/module.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { automergeUrl, clientRepo, UNLIMITED } from './support.js';
import { waitFor } from '../helpers/wait.js';
import type { Repo } from '@automerge/automerge-repo';

const ITERATIONS = 300;

let server: TestServer;
let alice: Repo;
let bob: Repo;

beforeAll(async () => {
  server = await startTestServer({ ...UNLIMITED });
  alice = clientRepo(automergeUrl(server, await server.veza.auth.sign({ sub: 'alice', docs: { '*': 'editor' } })));
  bob = clientRepo(automergeUrl(server, await server.veza.auth.sign({ sub: 'bob', docs: { '*': 'editor' } })));
});

afterAll(async () => {
  await Promise.all([alice?.shutdown(), bob?.shutdown()]);
  await server?.stop();
});

/**
 * One client creates a document, the server takes it in, and a second client finds it at once:
 * a few hundred times on the same server and clients, each find answered.
 */
it('answers a find of a document another client just created, every time', async () => {
  const serverRepo = server.veza.modules.api(automergeModule).repo('default');
  for (let i = 0; i < ITERATIONS; i++) {
    const created = alice.create<{ n: number }>({ n: i });
    await waitFor(() => serverRepo.handles[created.documentId as DocumentId]?.isReady() === true, 'the server to hold the document');
    const found = await Promise.race([
      bob.find<{ n: number }>(created.url),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`find of document ${i} never answered`)), 10_000)),
    ]);
    expect(found.doc().n).toBe(i);
  }
}, 120_000);
