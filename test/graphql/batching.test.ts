// Batched GraphQL over HTTP: a POST body that is a JSON array runs each operation and answers the
// array of their results in order; a batch longer than the limit is a 400 problem; the operations'
// costs count together against the cost limit, and each one's depth against the depth limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collabModule } from '../../src/collab/module.js';
import { graphqlModule } from '../../src/graphql/module.js';
import { StudioDoc } from '../../src/studio/model.js';
import { studioModule } from '../../src/studio/module.js';
import { startModules, type TestNode } from '../helpers/modules.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, checked by the assertions
type Body = any;

describe('GraphQL batching', () => {
  let server: TestNode;
  const post = async (body: unknown) => {
    const token = await server.node.auth.sign({ sub: 'ada', docs: { '*': 'owner' } });
    const res = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Body };
  };

  beforeAll(async () => {
    server = await startModules(() => [collabModule, studioModule, graphqlModule], { 'rate-limit-requests-per-minute': '0', 'graphql-max-batch': '3', 'graphql-max-cost': '100', 'graphql-max-depth': '2' });
    const collab = server.node.modules.api(collabModule);
    await collab.edit('default', 'song-a', 'ada', (doc) => {
      const studio = new StudioDoc(doc);
      studio.updateSettings({ title: 'Song A' });
      studio.addTrack({ name: 'drums' });
    });
    await collab.writer.flush('default');
  }, 240_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('runs each operation of an array and answers their results in order', async () => {
    const { status, body } = await post([
      { query: '{ me { userId } }' },
      { query: 'query One($id: ID!) { session(id: $id) { title tracks { name } } }', variables: { id: 'song-a' } },
      { query: '{ nothing }' },
    ]);
    expect(status).toBe(200);
    expect(body).toHaveLength(3);
    expect(body[0]).toEqual({ data: { me: { userId: 'ada' } } });
    expect(body[1]).toEqual({ data: { session: { title: 'Song A', tracks: [{ name: 'drums' }] } } });
    expect(body[2].errors[0].message).toMatch(/Cannot query field "nothing"/);
  });

  it('answers a batch over the limit with a 400 problem naming the limit', async () => {
    const { status, type, body } = await post(Array.from({ length: 4 }, () => ({ query: '{ me { userId } }' })));
    expect(status).toBe(400);
    expect(type).toMatch(/^application\/problem\+json/);
    expect(body).toMatchObject({ status: 400, title: 'GraphQL batch too large', size: 4, maxBatch: 3 });
    expect(body.detail).toMatch(/4 operations; the limit is 3/);
    expect(body.errors[0].extensions.code).toBe('BATCH_TOO_LARGE');
  });

  it('refuses an empty batch and a batch with an item that is not a request', async () => {
    const empty = await post([]);
    expect(empty.status).toBe(400);
    expect(empty.body.errors[0].message).toMatch(/batch is empty/);
    const bad = await post([{ query: '{ me { userId } }' }, { query: 5 }]);
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].message).toMatch(/^operation 1 of the batch: not a GraphQL request/);
  });

  it("counts the batch's costs together against the cost limit, and each operation's depth", async () => {
    // 40 sessions, each with an id: cost 41. One alone is within 100; three together (123) are not.
    const query = '{ sessions(limit: 40) { id } }';
    const alone = await post([{ query }]);
    expect(alone.body[0].errors).toBeUndefined();
    const together = await post([{ query }, { query }, { query }]);
    expect(together.status).toBe(200);
    for (const result of together.body) {
      expect(result.data).toBeUndefined();
      expect(result.errors[0]).toMatchObject({ extensions: { code: 'QUERY_TOO_COSTLY', cost: 123, maxCost: 100 } });
    }
    const deep = await post([{ query: '{ me { userId } }' }, { query: '{ me { standing { achievements { title } } } }' }]);
    expect(deep.body[0]).toEqual({ data: { me: { userId: 'ada' } } });
    expect(deep.body[1].errors[0].extensions.code).toBe('QUERY_TOO_DEEP');
  });
});
