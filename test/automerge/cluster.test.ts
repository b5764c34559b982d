import { type DocHandle, type Repo, type PeerId, type StorageId } from '@automerge/automerge-repo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVeza, spawnServer, type ServerProcess } from '../helpers/process.js';
import { createTestDatabase, postgresAvailable, REDIS_URL, redisAvailable, redisPrefix, tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { clientRepo } from './support.js';

/**
 * Server processes sharing PostgreSQL and Redis, with unmodified automerge-repo clients on the
 * reference WebSocket adapter: clients of different nodes converge, and a node killed with -9 right
 * after acknowledging changes has stored every one of them.
 */
const ready = (await postgresAvailable()) && (await redisAvailable());
const secret = 'automerge-cluster-secret-automerge-cluster';
const SERVER_PEER = 'veza-server:default' as PeerId;

interface Song {
  title: string;
  notes: number[];
}

describe.skipIf(!ready)('Automerge on two nodes', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const data = tempDir('automerge-cluster');
  const nodes: ServerProcess[] = [];
  const repos: Repo[] = [];
  let env: NodeJS.ProcessEnv = {};
  let token = '';

  beforeAll(async () => {
    db = await createTestDatabase();
    env = { DATABASE_URL: db.url, REDIS_URL, VEZA_JWT_SECRET: secret, VEZA_COLLAB_STREAM_PREFIX: `${redisPrefix('automerge-cluster')}:`, VEZA_RATE_LIMIT_CONNECTIONS_PER_MINUTE: '0' };
    token = (await runVeza(['token', '--sub', 'alice', '--doc', '*', '--role', 'editor'], env)).stdout.trim();
    nodes.push(await spawnServer(['--data-dir', data.dir], env));
    nodes.push(await spawnServer(['--data-dir', data.dir], env));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(repos.map((r) => r.shutdown().catch(() => undefined)));
    for (const n of nodes) {
      n.child.kill('SIGTERM');
      await n.exited;
    }
    await db?.drop();
    data.remove();
  });

  const client = (node: ServerProcess) => {
    const repo = clientRepo(`${node.url.replace('http', 'ws')}/automerge?token=${token}`);
    repos.push(repo);
    return repo;
  };

  /** Acknowledged: the server answered with heads that include every change of the handle. */
  const acknowledged = <T,>(repo: Repo, handle: DocHandle<T>) =>
    waitFor(
      () => {
        const storageId = repo.peerMetadataByPeerId[SERVER_PEER]?.storageId as StorageId | undefined;
        const heads = storageId ? handle.getSyncInfo(storageId)?.lastHeads : undefined;
        return heads !== undefined && sameHeads(heads, handle.heads());
      },
      'the server to acknowledge every change',
      60_000,
    );

  it('converges: changes made through either node reach the clients of both', { timeout: 120_000 }, async () => {
    const alice = client(nodes[0]!);
    const bob = client(nodes[1]!);
    const aliceHandle = alice.create<Song>({ title: 'two rooms', notes: [] });
    await acknowledged(alice, aliceHandle);
    // The reference client calls a document unavailable if it has no peer a second after it started.
    await waitFor(() => bob.peers.length > 0, 'bob to join node 1', 60_000);
    const bobHandle = await bob.find<Song>(aliceHandle.url);
    expect(bobHandle.doc().title).toBe('two rooms');

    bobHandle.change((d) => {
      d.title = 'written on node 1';
    });
    await waitFor(() => aliceHandle.doc().title === 'written on node 1', "node 1's change to reach node 0's client", 30_000);

    // Both write at once, many times: each sees everything, in the same order.
    for (let i = 0; i < 20; i++) {
      aliceHandle.change((d) => void d.notes.push(i));
      bobHandle.change((d) => void d.notes.push(100 + i));
    }
    await waitFor(() => aliceHandle.doc().notes.length === 40 && bobHandle.doc().notes.length === 40, 'all changes on both clients', 30_000);
    expect(bobHandle.doc()).toEqual(aliceHandle.doc());

    const metrics = await (await fetch(`${nodes[0]!.url}/metrics`)).text();
    expect(metrics).toMatch(/veza_automerge_cluster_changes_in_total [1-9]/);
  });

  it('a node killed with -9 has stored every change it acknowledged', { timeout: 120_000 }, async () => {
    // Its repo would store the document 10 s after a change: what survives was written before the answer.
    const victim = await spawnServer(['--data-dir', data.dir], { ...env, VEZA_AUTOMERGE_SAVE_DELAY_MS: '10000' });
    try {
      const alice = client(victim);
      const handle = alice.create<Song>({ title: 'before the crash', notes: [] });
      for (let i = 0; i < 15; i++) handle.change((d) => void d.notes.push(i));
      await acknowledged(alice, handle);
      for (let i = 15; i < 30; i++) handle.change((d) => void d.notes.push(i));
      await acknowledged(alice, handle);
      victim.child.kill('SIGKILL');
      await victim.exited;
      repos.splice(repos.indexOf(alice), 1);
      await alice.shutdown();

      // Another node loads it from storage: every acknowledged change is there.
      const carol = client(nodes[1]!);
      await waitFor(() => carol.peers.length > 0, 'carol to join node 1', 60_000);
      const found = await carol.find<Song>(handle.url);
      expect(found.doc().notes).toEqual(Array.from({ length: 30 }, (_, i) => i));
    } finally {
      victim.child.kill('SIGKILL');
    }
  });
});

function sameHeads(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((h) => b.includes(h));
}
