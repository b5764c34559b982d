// The GraphQL API end to end on the embedded database: the screens' queries, tenant isolation, the
// N+1 guard (storage queries do not grow with the number of sessions listed), depth and cost limits,
// automatic persisted queries and the allow-list, and a subscription over the real graphql-ws client.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { collabModule } from '../../src/collab/module.js';
import { createEvent } from '../../src/events/catalog.js';
import { gamificationModule } from '../../src/gamification/module.js';
import { GraphqlEngine, type GraphqlRequest } from '../../src/graphql/engine.js';
import { graphqlModule } from '../../src/graphql/module.js';
import { loadManifest, PersistedQueries } from '../../src/graphql/persisted.js';
import { StudioDoc } from '../../src/studio/model.js';
import { studioModule } from '../../src/studio/module.js';
import { startModules, type TestNode } from '../helpers/modules.js';
import { tempDir } from '../helpers/services.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, checked by the assertions
type Body = any;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const HOME = 'query Home($limit: Int) { me { userId tenantId } sessions(limit: $limit) { id title role updates tracks { id name kind } } leaderboard(limit: 5) { metric entries { rank member value } } }';

describe('GraphQL API', () => {
  let server: TestNode;
  const files = tempDir('graphql-manifest');
  const manifest = path.join(files.dir, 'operations.json');
  const tokens = new Map<string, string>();
  const token = async (user: string, tenant = 'default') => {
    const key = `${tenant}/${user}`;
    if (!tokens.has(key)) tokens.set(key, await server.node.auth.sign({ sub: user, tenant, docs: { '*': 'owner' } }));
    return tokens.get(key)!;
  };
  const post = async (body: unknown, user = 'ada', tenant = 'default', url = server.url) => {
    const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${await token(user, tenant)}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Body };
  };
  const get = async (params: Record<string, unknown>, user = 'ada') => {
    const search = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
    const res = await fetch(`${server.url}/graphql?${search}`, { headers: { authorization: `Bearer ${await token(user)}` } });
    return { status: res.status, body: (await res.json()) as Body };
  };
  const makeSession = async (tenant: string, id: string, tracks: number) => {
    const collab = server.node.modules.api(collabModule);
    await collab.edit(tenant, id, 'ada', (doc) => {
      const studio = new StudioDoc(doc);
      studio.updateSettings({ title: `Session ${id}` });
      for (let i = 0; i < tracks; i++) studio.addTrack({ name: `${id} track ${i}` });
    });
    await collab.writer.flush(tenant);
  };

  beforeAll(async () => {
    writeFileSync(manifest, JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: [{ id: sha256(HOME), name: 'Home', type: 'query', body: HOME }] }));
    server = await startModules(() => [collabModule, studioModule, gamificationModule, graphqlModule], { 'rate-limit-requests-per-minute': '0', 'graphql-manifest': manifest, 'graphql-max-depth': '2', 'graphql-max-cost': '3000' });
    await server.node.storage.db.insertInto('tenants').values([{ id: 'other', name: 'Other' }, { id: 'n1', name: 'Many sessions' }]).onConflict((oc) => oc.doNothing()).execute();
    await makeSession('default', 'song-a', 2);
    await makeSession('default', 'song-b', 1);
    await makeSession('other', 'secret-song', 3);
  }, 240_000);

  afterAll(async () => {
    await server?.stop();
    files.remove();
  });

  it('answers the home screen: me, my sessions with their tracks, a leaderboard', async () => {
    const { status, body } = await post({ query: HOME, variables: { limit: 10 } });
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data.me).toEqual({ userId: 'ada', tenantId: 'default' });
    const sessions = body.data.sessions as { id: string; title: string; role: string; tracks: { name: string }[] }[];
    expect(sessions.map((s) => s.id).sort()).toEqual(['song-a', 'song-b']);
    const a = sessions.find((s) => s.id === 'song-a')!;
    expect(a.title).toBe('Session song-a');
    expect(a.role).toBe('owner');
    expect(a.tracks.map((t) => t.name)).toEqual(['song-a track 0', 'song-a track 1']);
    expect(body.data.leaderboard).toEqual({ metric: 'points', entries: [] });
    // The same sessions as the REST list, read through the same store.
    const rest = (await (await fetch(`${server.url}/api/v1/sessions`, { headers: { authorization: `Bearer ${await token('ada')}` } })).json()) as Body;
    const restById = new Map((rest.sessions as { id: string; updates: number }[]).map((r) => [r.id, r.updates]));
    for (const s of body.data.sessions as { id: string; updates: number }[]) {
      expect(s.updates).toBeGreaterThan(0);
      expect(s.updates).toBe(restById.get(s.id));
    }
  });

  it('answers the session, standing and tips screens', async () => {
    const { body } = await post({ query: '{ session(id: "song-b") { id title tracks { name } } standing { userId points level achievements { title } } roomTips(roomId: "room-1") { roomId pinned { tipId } recent { tipId } } }' });
    expect(body.errors).toBeUndefined();
    expect(body.data.session).toEqual({ id: 'song-b', title: 'Session song-b', tracks: [{ name: 'song-b track 0' }] });
    expect(body.data.standing).toMatchObject({ userId: 'ada', points: 0, level: 1, achievements: [] });
    expect(body.data.roomTips).toEqual({ roomId: 'room-1', pinned: [], recent: [] });
  });

  it("keeps tenants apart: tenant B cannot read tenant A's session by id", async () => {
    const mine = await post({ query: '{ session(id: "secret-song") { id tracks { name } } }' }, 'bob', 'other');
    expect(mine.body.data.session.tracks).toHaveLength(3);
    const theirs = await post({ query: '{ session(id: "secret-song") { id tracks { name } } sessions { id } }' }, 'ada', 'default');
    expect(theirs.body.data.session).toBeNull();
    expect(theirs.body.data.sessions.map((s: { id: string }) => s.id)).not.toContain('secret-song');
  });

  it('refuses a session the token gives no role on, with a code', async () => {
    const viewer = await server.node.auth.sign({ sub: 'eve', docs: { 'song-a': 'viewer' } });
    const res = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${viewer}`, 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ session(id: "song-b") { id } sessions { id role } }' }) });
    const body = (await res.json()) as Body;
    expect(body.errors[0]).toMatchObject({ message: 'no role on session song-b', path: ['session'], extensions: { code: 'FORBIDDEN' } });
    expect(body.data.sessions).toEqual([{ id: 'song-a', role: 'viewer' }]);
  });

  it('answers an operation the same on its first run (graphql-js) and its later, compiled runs, errors and variables included', async () => {
    const viewer = await server.node.auth.sign({ sub: 'eve', docs: { 'song-a': 'viewer' } });
    const query = 'query Pair($id: ID!, $limit: Int) { session(id: $id) { id title tracks { name } } sessions(limit: $limit) { id role } me { userId } }';
    const ask = async (variables: Record<string, unknown>) => {
      const res = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${viewer}`, 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
      return { status: res.status, body: (await res.json()) as Body };
    };
    const runs = [];
    for (let i = 0; i < 4; i++) runs.push(await ask(i % 2 === 0 ? { id: 'song-a', limit: 5 } : { id: 'song-b' }));
    expect(runs[0]!.body.data).toEqual({ session: { id: 'song-a', title: 'Session song-a', tracks: [{ name: 'song-a track 0' }, { name: 'song-a track 1' }] }, sessions: [{ id: 'song-a', role: 'viewer' }], me: { userId: 'eve' } });
    expect(runs[1]!.body.errors).toMatchObject([{ message: 'no role on session song-b', path: ['session'], extensions: { code: 'FORBIDDEN' } }]);
    expect(runs[1]!.body.data).toEqual({ session: null, sessions: [{ id: 'song-a', role: 'viewer' }], me: { userId: 'eve' } });
    expect(runs[2]).toEqual(runs[0]);
    expect(runs[3]).toEqual(runs[1]);
    // A variable of the wrong type is refused the same way compiled as not.
    const wrong = [await ask({ id: 'song-a', limit: 'many' }), await ask({ id: 'song-a', limit: 'many' })];
    expect(wrong[0]!.body.errors[0].message).toMatch(/\$limit/);
    expect(wrong[1]!.body.errors[0].message).toMatch(/\$limit/);
    expect(wrong[0]!.body.data ?? null).toBeNull();
    expect(wrong[1]!.body.data ?? null).toBeNull();
  });

  it('reads the tracks of N sessions in a number of storage queries that does not grow with N', async () => {
    for (let i = 0; i < 8; i++) await makeSession('n1', `n-${i}`, 2);
    const executor = Object.getPrototypeOf(Object.getPrototypeOf(server.node.storage.db.getExecutor())) as { executeQuery: (...args: unknown[]) => unknown };
    const spy = vi.spyOn(executor, 'executeQuery');
    const count = async (limit: number) => {
      spy.mockClear();
      const { body } = await post({ query: '{ sessions(limit: ' + limit + ') { id tracks { id name } } }' }, 'ada', 'n1');
      expect(body.data.sessions).toHaveLength(limit);
      for (const s of body.data.sessions) expect(s.tracks).toHaveLength(2);
      return spy.mock.calls.filter(([query]) => /document/.test((query as { sql: string }).sql)).length;
    };
    const two = await count(2);
    const eight = await count(8);
    spy.mockRestore();
    expect(two).toBeGreaterThan(0);
    expect(eight).toBe(two);
  });

  it('refuses operations over the depth and cost limits before they run', async () => {
    // Depth 2 is this server's limit: sessions { tracks { id } } is within it, a standing's achievements' titles are not.
    const within = await post({ query: '{ sessions(limit: 1) { tracks { id } } }' });
    expect(within.body.errors).toBeUndefined();
    for (const query of ['{ me { standing { achievements { title } } } }', 'fragment F on Standing { achievements { title } } { me { standing { ...F } } }']) {
      const deep = await post({ query });
      expect(deep.body.data).toBeUndefined();
      expect(deep.body.errors[0]).toMatchObject({ message: 'the operation is 3 levels deep; the limit is 2', extensions: { code: 'QUERY_TOO_DEEP' } });
    }
    const costly = await post({ query: '{ sessions(limit: 200) { id title role tracks { id name kind color } } }' });
    expect(costly.status).toBe(200);
    expect(costly.body.data).toBeUndefined();
    expect(costly.body.errors[0].extensions).toMatchObject({ code: 'QUERY_TOO_COSTLY', maxCost: 3000 });
    expect(costly.body.errors[0].message).toMatch(/costs \d+ .*the limit is 3000/);
  });

  it('answers a malformed request with a GraphQL-shaped 400', async () => {
    const res = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${await token('ada')}`, 'content-type': 'application/json' }, body: '{"query": ' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Body;
    expect(body.errors[0].message).toMatch(/^the body is not valid JSON/);
    expect(body.errors[0].extensions.code).toBe('BAD_REQUEST');
    const syntax = await post({ query: '{ me { ' });
    expect(syntax.body.errors[0].message).toMatch(/Syntax Error/);
    const unknown = await post({ query: '{ nothing }' });
    expect(unknown.body.errors[0].message).toMatch(/Cannot query field "nothing"/);
    const anonymous = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ me { userId } }' }) });
    expect(anonymous.status).toBe(401);
  });

  it('runs automatic persisted queries: unknown hash, then registered, then GET by hash', async () => {
    const query = '{ me { userId } sessions(limit: 1) { id } }';
    const extensions = { persistedQuery: { version: 1, sha256Hash: sha256(query) } };
    const first = await get({ extensions });
    expect(first.status).toBe(200);
    expect(first.body.errors[0]).toMatchObject({ message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } });
    const wrong = await post({ query: '{ me { tenantId } }', extensions });
    expect(wrong.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_HASH_MISMATCH');
    const registered = await post({ query, extensions });
    expect(registered.body.data.me.userId).toBe('ada');
    const again = await get({ extensions });
    expect(again.body.errors).toBeUndefined();
    expect(again.body.data.me.userId).toBe('ada');
    // The manifest's operations are known without registering.
    const home = await get({ extensions: { persistedQuery: { version: 1, sha256Hash: sha256(HOME) } }, variables: { limit: 1 } });
    expect(home.body.data.sessions).toHaveLength(1);
  });

  it('in allow-list mode runs only the manifest operations', async () => {
    // The server's own services and schema, with an engine in allow-list mode (a second embedded server would cost a minute here).
    const { engine, services } = server.node.modules.api(graphqlModule);
    const strict = new GraphqlEngine(engine.schema, new PersistedQueries(loadManifest(manifest), 100), { maxDepth: 2, maxCost: 3000, operations: 'allow-list' });
    const principal = await server.node.auth.verify(await token('ada'));
    const call = (request: GraphqlRequest) => strict.run(strict.prepare(request), strict.context(principal, services)) as Promise<Body>;
    const byText = await call({ query: HOME });
    expect(byText.data.me.userId).toBe('ada');
    const byHash = await call({ extensions: { persistedQuery: { version: 1, sha256Hash: sha256(HOME) } } });
    expect(byHash.data.me.userId).toBe('ada');
    const other = await call({ query: '{ me { userId } }' });
    expect(other.errors[0].extensions.code).toBe('OPERATION_NOT_ALLOWED');
    expect(other.errors[0].message).toMatch(/only the operations of its manifest/);
    const register = await call({ query: '{ me { userId } }', extensions: { persistedQuery: { version: 1, sha256Hash: sha256('{ me { userId } }') } } });
    expect(register.errors[0].extensions.code).toBe('OPERATION_NOT_ALLOWED');
    const unknownHash = await call({ extensions: { persistedQuery: { version: 1, sha256Hash: sha256('{ me { userId } }') } } });
    expect(unknownHash.errors[0].extensions.code).toBe('OPERATION_NOT_ALLOWED');
  });

  it('delivers a tip to a subscription over graphql-ws', async () => {
    const bearer = await token('ada');
    class AuthedSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers: { authorization: `Bearer ${bearer}` } });
      }
    }
    const client = createClient({ url: `${server.url.replace('http', 'ws')}/graphql/ws`, webSocketImpl: AuthedSocket, retryAttempts: 0, lazy: false });
    try {
      const iterator = client.iterate<{ tipSent: { tipId: string; amount: number; currency: string; fromUserId: string; message: string | null } }>({ query: 'subscription { tipSent(roomId: "room-9") { tipId amount currency fromUserId message } }' });
      const received = iterator.next();
      // The subscription is live once graphql-ws has acknowledged it; publish until it hears one.
      const publish = (n: number) =>
        server.node.bus.publish(createEvent('tip.sent', { tenantId: 'default', actor: 'bob', payload: { roomId: 'room-9', fromUserId: 'bob', toUserId: 'dj', amount: 500, currency: 'EUR', message: 'great set', tipId: `tip-${n}` } }));
      const other = server.node.bus.publish(createEvent('tip.sent', { tenantId: 'other', actor: 'x', payload: { roomId: 'room-9', fromUserId: 'x', toUserId: 'dj', amount: 1, currency: 'EUR', tipId: 'foreign' } }));
      await other;
      let n = 0;
      const timer = setInterval(() => void publish(n++), 100);
      const first = await received.finally(() => clearInterval(timer));
      expect(first.done).toBe(false);
      expect(first.value?.data?.tipSent).toMatchObject({ amount: 500, currency: 'EUR', fromUserId: 'bob', message: 'great set' });
      expect(first.value?.data?.tipSent.tipId).toMatch(/^tip-\d+$/);
      await iterator.return?.();
    } finally {
      await client.dispose();
    }
  });

  it('refuses a socket that does not offer the graphql-transport-ws subprotocol', async () => {
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/graphql/ws`, ['something-else'], { headers: { authorization: `Bearer ${await token('ada')}` } });
    const refusal = await new Promise<{ status: number; body: Body }>((resolve, reject) => {
      socket.on('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Body }));
      });
      socket.on('open', () => reject(new Error('the socket opened')));
    });
    expect(refusal.status).toBe(400);
    expect(refusal.body.detail).toMatch(/graphql-transport-ws/);
  });
});
