import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVeza, spawnServer, type ServerProcess } from '../helpers/process.js';
import { createTestDatabase, postgresAvailable, REDIS_URL, redisAvailable, redisPrefix, tempDir } from '../helpers/services.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient, type Client } from '../helpers/yjs.js';

/** Several server processes sharing PostgreSQL and Redis serve the same documents. */
const ready = (await postgresAvailable()) && (await redisAvailable());
const secret = 'cluster-test-secret-cluster-test-secret';

describe.skipIf(!ready)('two nodes', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const data = tempDir('cluster');
  const proxy = new TcpProxy('127.0.0.1', Number(new URL(REDIS_URL).port || 6379));
  const nodes: ServerProcess[] = [];
  const clients: Client[] = [];
  let token = '';

  beforeAll(async () => {
    db = await createTestDatabase();
    const env = { DATABASE_URL: db.url, VEZA_JWT_SECRET: secret, VEZA_COLLAB_STREAM_PREFIX: `${redisPrefix('cluster')}:` };
    token = (await runVeza(['token', '--sub', 'alice', '--doc', '*', '--role', 'editor'], env)).stdout.trim();
    const proxyPort = await proxy.start();
    // Node 0 reaches Redis directly; node 1 through a proxy the test can cut.
    nodes.push(await spawnServer(['--data-dir', data.dir], { ...env, REDIS_URL }));
    nodes.push(await spawnServer(['--data-dir', data.dir], { ...env, REDIS_URL: `redis://127.0.0.1:${proxyPort}` }));
  }, 120_000);

  afterAll(async () => {
    clients.forEach((c) => c.destroy());
    for (const n of nodes) {
      n.child.kill('SIGTERM');
      await n.exited;
    }
    await proxy.cut();
    await db?.drop();
    data.remove();
  });

  const client = async (node: number, doc: string) => {
    const c = await connectClient(nodes[node]!.url, doc, token);
    clients.push(c);
    return c;
  };

  it('report Redis and PostgreSQL', async () => {
    for (const n of nodes) expect(await (await fetch(`${n.url}/healthz`)).json()).toMatchObject({ storage: 'postgres', bus: 'redis' });
  });

  it('converge: clients on different nodes see each other\'s edits', async () => {
    const a = await client(0, 'shared');
    const b = await client(1, 'shared');
    a.doc.getArray<string>('notes').push(['from-node-0']);
    b.doc.getArray<string>('notes').push(['from-node-1']);
    await waitFor(() => a.doc.getArray('notes').length === 2 && b.doc.getArray('notes').length === 2, 'both edits on both nodes');
    expect(new Set(a.doc.getArray<string>('notes').toArray())).toEqual(new Set(['from-node-0', 'from-node-1']));
    expect(a.doc.getArray('notes').toArray()).toEqual(b.doc.getArray('notes').toArray());
    const late = await client(1, 'shared');
    expect(late.doc.getArray('notes').toArray()).toEqual(a.doc.getArray('notes').toArray());
  });

  it('a node that loses Redis keeps serving its clients and catches up when Redis returns', { timeout: 60_000 }, async () => {
    const a = await client(0, 'partitioned');
    const b1 = await client(1, 'partitioned');
    const b2 = await client(1, 'partitioned');
    a.doc.getMap('m').set('before', 1);
    await waitFor(() => b1.doc.getMap('m').get('before') === 1, 'sync before the cut');

    await proxy.cut();
    a.doc.getMap('m').set('node0-during', 1);
    b1.doc.getMap('m').set('node1-during', 1);
    // Node 1 still serves its own clients.
    await waitFor(() => b2.doc.getMap('m').get('node1-during') === 1, 'node 1 to keep serving locally');
    expect(b1.doc.getMap('m').get('node0-during')).toBeUndefined();

    await proxy.start(proxy.port);
    const everything = { before: 1, 'node0-during': 1, 'node1-during': 1 };
    await waitFor(() => [a, b1, b2].every((c) => sameKeys(c, everything)), 'every client to have every edit', 30_000);
    for (const c of [a, b1, b2]) expect(c.doc.getMap('m').toJSON()).toEqual(everything);
    const metrics = await (await fetch(`${nodes[1]!.url}/metrics`)).text();
    expect(metrics).toMatch(/^veza_collab_cluster_partitions_total [1-9]/m);
  });
});

function sameKeys(c: Client, expected: Record<string, number>): boolean {
  const got = c.doc.getMap('m').toJSON();
  return Object.keys(expected).every((k) => got[k] === expected[k]) && Object.keys(got).length === Object.keys(expected).length;
}
