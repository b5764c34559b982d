// The tenant's newest-sessions list kept between GraphQL requests: a repeated query is answered from
// it; a session created, or edited (its edit count), after a first query shows in the next one; a
// caller whose token no longer names a session does not see it though the list is cached; another
// tenant never sees the first's list; a branch announced on the bus drops it; a read under way when
// the tenant changed does not fill it; a list is read again after its maximum age.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collabModule } from '../../src/collab/module.js';
import { createEvent } from '../../src/events/catalog.js';
import { graphqlModule } from '../../src/graphql/module.js';
import { SessionListCache, type SessionRow } from '../../src/graphql/session-list-cache.js';
import type { DocumentRole } from '../../src/server/auth.js';
import { StudioDoc } from '../../src/studio/model.js';
import { studioModule } from '../../src/studio/module.js';
import { startModules, type TestNode } from '../helpers/modules.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, checked by the assertions
type Body = any;

const LIST = '{ sessions(limit: 20) { id updates role } }';

describe('GraphQL sessions list cache', () => {
  let server: TestNode;
  const lists = () => server.node.modules.api(graphqlModule).services.lists;
  const list = async (tenant: string, docs: Record<string, DocumentRole> = { '*': 'owner' }, sub = 'ada') => {
    const token = await server.node.auth.sign({ sub, tenant, docs });
    const res = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ query: LIST }) });
    const body = (await res.json()) as Body;
    expect(body.errors).toBeUndefined();
    return body.data.sessions as { id: string; updates: number; role: string }[];
  };
  const ids = async (tenant: string, docs?: Record<string, DocumentRole>, sub?: string) => (await list(tenant, docs, sub)).map((s) => s.id).sort();
  const create = async (tenant: string, id: string) => {
    const collab = server.node.modules.api(collabModule);
    await collab.edit(tenant, id, 'ada', (doc) => new StudioDoc(doc).addTrack({ name: `${id} drums` }));
    await collab.writer.flush(tenant);
  };

  beforeAll(async () => {
    server = await startModules(() => [collabModule, studioModule, graphqlModule], { 'rate-limit-requests-per-minute': '0' });
    await server.node.storage.db.insertInto('tenants').values([{ id: 'other', name: 'Other' }]).onConflict((oc) => oc.doNothing()).execute();
    await create('default', 'song-a');
    await create('default', 'song-b');
    await create('other', 'other-song');
  }, 240_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('answers a repeated query from the kept list, and a session created after it shows in the next query', async () => {
    expect(await ids('default')).toEqual(['song-a', 'song-b']);
    const { hits, misses } = lists();
    expect(await ids('default')).toEqual(['song-a', 'song-b']);
    expect(lists().hits).toBe(hits + 1);
    expect(lists().misses).toBe(misses);
    await create('default', 'song-c');
    expect(await ids('default')).toEqual(['song-a', 'song-b', 'song-c']);
  });

  it("shows a session's new edit count after an edit (no flush forced: the writer's own commit drops the list)", async () => {
    const before = (await list('default')).find((s) => s.id === 'song-a')!.updates;
    await server.node.modules.api(collabModule).edit('default', 'song-a', 'ada', (doc) => new StudioDoc(doc).addTrack({ name: 'song-a keys' }));
    await expect.poll(async () => (await list('default')).find((s) => s.id === 'song-a')!.updates).toBeGreaterThan(before);
  });

  it('never shows a session the caller has no role on, though the tenant list is kept', async () => {
    expect(await ids('default')).toContain('song-b'); // kept with every session of the tenant
    const hits = lists().hits;
    // The same user, whose new token names only song-a (their role on the others was taken away).
    const narrowed = await list('default', { 'song-a': 'viewer' });
    expect(narrowed).toEqual([expect.objectContaining({ id: 'song-a', role: 'viewer' })]);
    expect(lists().hits).toBe(hits + 1);
    expect(await ids('default', {}, 'eve')).toEqual([]);
  });

  it("keeps tenants apart: the second tenant's query never answers the first's kept list", async () => {
    await ids('default');
    expect(await ids('other')).toEqual(['other-song']);
    expect(await ids('default')).not.toContain('other-song');
  });

  it('drops the list on session.branched from the bus (a session created from a version, maybe on another node)', async () => {
    await ids('other');
    const misses = lists().misses;
    await ids('other');
    expect(lists().misses).toBe(misses);
    await server.node.bus.publish(createEvent('session.branched', { tenantId: 'other', actor: 'bob', payload: { sessionId: 'other-branch', sourceSessionId: 'other-song', versionId: '1' } }));
    await expect.poll(async () => (await ids('other'), lists().misses)).toBeGreaterThan(misses);
  });

  it('does not keep what a read returned when the tenant changed while it was read', async () => {
    const cache = new SessionListCache(10);
    const row = (id: string): SessionRow => ({ id, createdAt: '2026-01-01T00:00:00.000Z', updates: 1, lastUpdateAt: null });
    let finish!: () => void;
    const reading = cache.load('t', 20, () => new Promise((resolve) => (finish = () => resolve([row('old')]))));
    cache.changed('t');
    finish();
    expect((await reading).map((r) => r.id)).toEqual(['old']);
    expect(cache.size).toBe(0);
    await cache.load('t', 20, async () => [row('new')]);
    expect((await cache.load('t', 20, () => Promise.reject(new Error('should be kept')))).map((r) => r.id)).toEqual(['new']);
    // Another limit, another tenant: read for themselves.
    expect((await cache.load('t', 5, async () => [row('five')])).map((r) => r.id)).toEqual(['five']);
    expect((await cache.load('u', 20, async () => [row('u')])).map((r) => r.id)).toEqual(['u']);
    // A change drops every limit of the tenant, and only that tenant's.
    cache.changed('t');
    expect((await cache.load('t', 5, async () => [row('five again')])).map((r) => r.id)).toEqual(['five again']);
    expect((await cache.load('u', 20, () => Promise.reject(new Error('should be kept')))).map((r) => r.id)).toEqual(['u']);
  });

  it('reads a list again after its maximum age (writes that announce nothing), and keeps at most its tenants', async () => {
    let now = 0;
    const cache = new SessionListCache(2, 1000, () => now);
    let reads = 0;
    const read = async () => (reads++, []);
    await cache.load('t', 20, read);
    now = 999;
    await cache.load('t', 20, read);
    expect(reads).toBe(1);
    now = 1000;
    await cache.load('t', 20, read);
    expect(reads).toBe(2);
    await cache.load('u', 20, read);
    await cache.load('v', 20, read); // t, the least recently used, is dropped
    expect(cache.size).toBe(2);
    await cache.load('t', 20, read);
    expect(reads).toBe(5);
  });
});
