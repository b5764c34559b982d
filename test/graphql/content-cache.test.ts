// Sessions' titles and tracks kept between GraphQL requests: a second query is answered from the
// cache, an edit made after the first query shows in the next one (the update writer's durable
// notification drops the entry), another node's `session.updated` drops it too, a read under way
// when its document changes does not fill the cache, and tenants never see each other's entries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collabModule } from '../../src/collab/module.js';
import { createEvent } from '../../src/events/catalog.js';
import { SessionContentCache } from '../../src/graphql/content-cache.js';
import type { SessionContent } from '../../src/graphql/context.js';
import { graphqlModule } from '../../src/graphql/module.js';
import { StudioDoc } from '../../src/studio/model.js';
import { studioModule } from '../../src/studio/module.js';
import { startModules, type TestNode } from '../helpers/modules.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, checked by the assertions
type Body = any;

const TRACKS = '{ session(id: "same-id") { title tracks { name } } }';

describe('GraphQL session content cache', () => {
  let server: TestNode;
  const post = async (query: string, tenant: string) => {
    const token = await server.node.auth.sign({ sub: 'ada', tenant, docs: { '*': 'owner' } });
    const res = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
    const body = (await res.json()) as Body;
    expect(body.errors).toBeUndefined();
    return body.data;
  };
  const names = async (tenant: string) => ((await post(TRACKS, tenant)).session.tracks as { name: string }[]).map((t) => t.name);
  const edit = (tenant: string, change: (studio: StudioDoc) => void) => server.node.modules.api(collabModule).edit(tenant, 'same-id', 'ada', (doc) => change(new StudioDoc(doc)));

  beforeAll(async () => {
    server = await startModules(() => [collabModule, studioModule, graphqlModule], { 'rate-limit-requests-per-minute': '0' });
    await server.node.storage.db.insertInto('tenants').values([{ id: 'other', name: 'Other' }]).onConflict((oc) => oc.doNothing()).execute();
    // The same session id in two tenants, with different tracks.
    await edit('default', (s) => {
      s.updateSettings({ title: 'Default song' });
      s.addTrack({ name: 'default drums' });
    });
    await edit('other', (s) => {
      s.updateSettings({ title: 'Other song' });
      s.addTrack({ name: 'other bass' });
      s.addTrack({ name: 'other keys' });
    });
    const collab = server.node.modules.api(collabModule);
    await collab.writer.flush('default');
    await collab.writer.flush('other');
  }, 240_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('answers a repeated query from the cache, and an edit made after it shows in the next query', async () => {
    const { contents } = server.node.modules.api(graphqlModule).services;
    expect(await names('default')).toEqual(['default drums']);
    const hits = contents.hits;
    expect(await names('default')).toEqual(['default drums']);
    expect(contents.hits).toBe(hits + 1);
    await edit('default', (s) => s.addTrack({ name: 'default vocals' }));
    // No flush forced: the writer's own group commit announces the change.
    await expect.poll(() => names('default')).toEqual(['default drums', 'default vocals']);
  });

  it("keeps tenants apart: a second tenant's query never answers the first's cached tracks", async () => {
    await names('default'); // cached for default/same-id
    const other = await post(TRACKS, 'other');
    expect(other.session).toEqual({ title: 'Other song', tracks: [{ name: 'other bass' }, { name: 'other keys' }] });
    expect((await post(TRACKS, 'default')).session.title).toBe('Default song');
  });

  it("drops an entry on another node's session.updated from the bus", async () => {
    const { contents } = server.node.modules.api(graphqlModule).services;
    await names('other');
    const misses = contents.misses;
    await names('other');
    expect(contents.misses).toBe(misses);
    await server.node.bus.publish(createEvent('session.updated', { tenantId: 'other', actor: 'bob', payload: { sessionId: 'same-id', author: 'bob', bytes: 10, changed: ['tracks'] } }));
    await expect.poll(async () => (await names('other'), contents.misses)).toBeGreaterThan(misses);
  });

  it('does not keep what a read returned when the document changed while it was read', async () => {
    const cache = new SessionContentCache(10);
    const content = (title: string): SessionContent => ({ title, tracks: [] });
    let finish!: () => void;
    const reading = cache.load('t', ['doc'], () => new Promise((resolve) => (finish = () => resolve(new Map([['doc', content('old')]])))));
    cache.changed('t', 'doc');
    finish();
    expect((await reading).get('doc')!.title).toBe('old');
    expect(cache.size).toBe(0);
    await cache.load('t', ['doc'], async () => new Map([['doc', content('new')]]));
    const again = await cache.load('t', ['doc'], () => Promise.reject(new Error('should be cached')));
    expect(again.get('doc')!.title).toBe('new');
    expect((await cache.load('u', ['doc'], async () => new Map([['doc', content('u')]]))).get('doc')!.title).toBe('u');
  });

  it('keeps at most its size, least recently used dropped first', async () => {
    const cache = new SessionContentCache(2);
    const read = async (ids: string[]) => new Map(ids.map((id): [string, SessionContent] => [id, { title: id, tracks: [] }]));
    await cache.load('t', ['a', 'b'], read);
    await cache.load('t', ['a'], read); // a is now the most recent
    await cache.load('t', ['c'], read);
    expect(cache.size).toBe(2);
    const misses = cache.misses;
    await cache.load('t', ['a', 'c'], read);
    expect(cache.misses).toBe(misses);
    await cache.load('t', ['b'], read);
    expect(cache.misses).toBe(misses + 1);
  });
});
