// Tenants as the platform runs them: a token is admitted only for a tenant that exists and is
// active (401 and 403 with a problem body, for requests and WebSocket upgrades alike); the operator
// creates, suspends and resumes tenants through its API or the CLI, and every node hears of it.
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVeza } from '../helpers/process.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, postgresAvailable, REDIS_URL, redisAvailable, redisPrefix, tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient } from '../helpers/yjs.js';

type Problem = { status: number; title: string; detail: string };

/** The status of a WebSocket upgrade to `path`, and the problem body of a refusal. */
function upgrade(url: string, path: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}${path}`, ['veza', `bearer.${token}`]);
    socket.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    socket.on('open', () => {
      socket.close();
      resolve({ status: 101, body: '' });
    });
    socket.on('error', (error) => (error.message.includes('Unexpected server response') ? undefined : reject(error)));
  });
}

describe('tenants on one server', () => {
  let server: TestServer;
  let operator: string;
  const token = (sub: string, tenant: string, extra: { admin?: boolean } = {}) => server.veza.auth.sign({ sub, tenant, docs: { '*': 'editor' }, ...extra });
  const call = async (method: string, path: string, bearer: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${bearer}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: response.status, type: response.headers.get('content-type'), body: (await response.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    server = await startTestServer();
    operator = await server.veza.auth.sign({ sub: 'ops', operator: true });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('refuses a token whose tenant does not exist, on requests and WebSocket upgrades, with a problem body', async () => {
    const ghost = await token('gus', 'ghost-label');
    const me = await call('GET', '/api/v1/me', ghost);
    expect(me.status).toBe(401);
    expect(me.type).toContain('application/problem+json');
    expect((me.body as Problem).detail).toBe('tenant ghost-label does not exist');
    const socket = await upgrade(server.url, '/collab/song', ghost);
    expect(socket.status).toBe(401);
    expect((JSON.parse(socket.body) as Problem).detail).toBe('tenant ghost-label does not exist');
    // The default tenant is unaffected.
    expect((await call('GET', '/api/v1/me', await token('ann', 'default'))).status).toBe(200);
  });

  it('lets only the operator manage tenants, and answers bad requests with what is wrong', async () => {
    const tenantAdmin = await token('ann', 'default', { admin: true });
    expect((await call('GET', '/api/v1/platform/tenants', tenantAdmin)).status).toBe(403);
    expect((await call('POST', '/api/v1/platform/tenants', operator, { id: 'Bad Id', name: 'x' })).status).toBe(400);
    const created = await call('POST', '/api/v1/platform/tenants', operator, { id: 'label-a', name: 'Label A' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'label-a', name: 'Label A', status: 'active' });
    expect((await call('POST', '/api/v1/platform/tenants', operator, { id: 'label-a', name: 'Again' })).status).toBe(409);
    expect((await call('POST', '/api/v1/platform/tenants/default/suspend', operator)).status).toBe(409);
    expect((await call('GET', '/api/v1/platform/tenants/nobody', operator)).status).toBe(404);
    const list = await call('GET', '/api/v1/platform/tenants', operator);
    expect((list.body.tenants as { id: string }[]).map((t) => t.id)).toEqual(['default', 'label-a']);
  });

  it('admits a created tenant, and on suspension closes its sockets with 4403 and refuses it with 403 until resumed', async () => {
    const ann = await token('ann', 'label-a');
    expect((await call('GET', '/api/v1/me', ann)).body).toMatchObject({ userId: 'ann', tenantId: 'label-a' });
    const client = await connectClient(server.url, 'label-song', ann);
    const watcher = await connectClient(server.url, 'label-song', await token('cat', 'label-a'));
    client.doc.getText('t').insert(0, 'kept');
    await waitFor(() => watcher.doc.getText('t').toString() === 'kept', 'the edit reaching the other collaborator');
    watcher.destroy();
    const bystander = await connectClient(server.url, 'label-song', await token('bea', 'default'));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => client.provider.ws?.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })));
    expect((await call('POST', '/api/v1/platform/tenants/label-a/suspend', operator)).body).toMatchObject({ status: 'suspended' });
    expect(await closed).toEqual({ code: 4403, reason: 'tenant label-a is suspended' });
    // Another tenant's socket on a document of the same name stays open.
    expect(bystander.provider.wsconnected).toBe(true);
    const refused = await call('GET', '/api/v1/me', ann);
    expect(refused.status).toBe(403);
    expect((refused.body as Problem).detail).toBe('tenant label-a is suspended');
    expect((await upgrade(server.url, '/collab/label-song', ann)).status).toBe(403);
    client.destroy();
    bystander.destroy();
    expect((await call('POST', '/api/v1/platform/tenants/label-a/resume', operator)).body).toMatchObject({ status: 'active' });
    expect((await call('GET', '/api/v1/me', ann)).status).toBe(200);
    // What it wrote before the suspension was kept.
    const back = await connectClient(server.url, 'label-song', ann);
    expect(back.doc.getText('t').toString()).toBe('kept');
    back.destroy();
  });
});

describe('the tenant CLI', () => {
  const data = tempDir('tenant-cli');
  afterAll(() => data.remove());

  it('creates, lists, suspends and shows tenants in the database of its flags, and refuses what it cannot do', { timeout: 90_000 }, async () => {
    const flags = ['--data-dir', data.dir];
    const created = await runVeza(['tenant', 'create', 'label-b', '--name', 'Label B', ...flags]);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ id: 'label-b', name: 'Label B', status: 'active' });
    const suspended = await runVeza(['tenant', 'suspend', 'label-b', ...flags]);
    expect(JSON.parse(suspended.stdout)).toMatchObject({ id: 'label-b', status: 'suspended' });
    const list = await runVeza(['tenant', 'list', ...flags]);
    expect((JSON.parse(list.stdout) as { tenants: { id: string; status: string }[] }).tenants.map((t) => `${t.id}:${t.status}`)).toEqual(['default:active', 'label-b:suspended']);
    const again = await runVeza(['tenant', 'create', 'label-b', '--name', 'Again', ...flags]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('tenant create refused: tenant label-b exists already');
    const missing = await runVeza(['tenant', 'show', ...flags]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('tenant show needs the tenant\'s id');
    // A server started on that directory refuses the suspended tenant.
    const server = await startTestServer({ 'data-dir': data.dir });
    try {
      const token = await server.veza.auth.sign({ sub: 'bo', tenant: 'label-b' });
      expect((await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(403);
    } finally {
      await server.stop();
    }
  });
});

const cluster = (await postgresAvailable()) && (await redisAvailable());

describe.skipIf(!cluster)('tenants on two nodes sharing PostgreSQL and Redis', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const nodes: TestServer[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
    const flags = { 'database-url': db.url, 'redis-url': REDIS_URL, 'events-stream': redisPrefix('tenants'), 'jwt-secret': 'tenants-test-secret-tenants-test-secret' };
    nodes.push(await startTestServer(flags), await startTestServer(flags));
  }, 60_000);
  afterAll(async () => {
    for (const node of nodes) await node.stop();
    await db?.drop();
  });

  it('admits on every node a tenant created through one, and refuses it everywhere once suspended', async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    const operator = await a.veza.auth.sign({ sub: 'ops', operator: true });
    const post = (path: string, body?: unknown) =>
      fetch(`${a.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const token = await a.veza.auth.sign({ sub: 'cy', tenant: 'label-c' });
    const statusOn = async (node: TestServer) => (await fetch(`${node.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status;
    expect(await statusOn(b)).toBe(401);
    expect((await post('/api/v1/platform/tenants', { id: 'label-c', name: 'Label C' })).status).toBe(201);
    await waitFor(async () => (await statusOn(b)) === 200, 'node B admitting the new tenant', 5000);
    expect((await post('/api/v1/platform/tenants/label-c/suspend')).status).toBe(200);
    await waitFor(async () => (await statusOn(b)) === 403, 'node B refusing the suspended tenant', 5000);
    expect(await statusOn(a)).toBe(403);
  });
});
