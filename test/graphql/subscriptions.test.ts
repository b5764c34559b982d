// GraphQL subscriptions over /graphql/ws with the graphql-ws package's own client: leaderboards
// (points awarded move the subscribed board), a live room's state (stream started, viewers joined)
// and tips; in each, a client of another tenant subscribed to the same board or room never receives
// the first tenant's events.
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collabModule } from '../../src/collab/module.js';
import { createEvent } from '../../src/events/catalog.js';
import { gamificationModule } from '../../src/gamification/module.js';
import { graphqlModule } from '../../src/graphql/module.js';
import { studioModule } from '../../src/studio/module.js';
import { startModules, type TestNode } from '../helpers/modules.js';

interface Frames<T> {
  next(): Promise<T>;
  close(): Promise<void>;
}

describe('GraphQL subscriptions over graphql-ws', () => {
  let server: TestNode;
  const clients: Client[] = [];

  /** A graphql-ws client for a user of a tenant, subscribed to `query`; its frames' data one by one. */
  const subscribe = async <T>(tenant: string, query: string): Promise<Frames<T>> => {
    const bearer = await server.node.auth.sign({ sub: `user-${tenant}`, tenant, docs: { '*': 'owner' } });
    class AuthedSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers: { authorization: `Bearer ${bearer}` } });
      }
    }
    const client = createClient({ url: `${server.url.replace('http', 'ws')}/graphql/ws`, webSocketImpl: AuthedSocket, retryAttempts: 0, lazy: false });
    clients.push(client);
    const iterator = client.iterate<T>({ query });
    return {
      next: async () => {
        const frame = await iterator.next();
        if (frame.done) throw new Error('the subscription ended');
        if (frame.value.errors) throw new Error(JSON.stringify(frame.value.errors));
        return frame.value.data as T;
      },
      close: async () => void (await iterator.return?.()),
    };
  };

  beforeAll(async () => {
    server = await startModules(() => [collabModule, studioModule, gamificationModule, graphqlModule], { 'rate-limit-requests-per-minute': '0' });
    await server.node.storage.db.insertInto('tenants').values([{ id: 'other', name: 'Other' }]).onConflict((oc) => oc.doNothing()).execute();
  }, 240_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await server?.stop();
  });

  it("sends a leaderboard's top entries, then again when points are awarded, to its tenant only", async () => {
    type Board = { leaderboard: { metric: string; entries: { rank: number; member: string; value: number }[] } };
    const query = 'subscription { leaderboard(metric: "points", scope: "tenant", period: "all", limit: 5) { metric entries { rank member value } } }';
    const mine = await subscribe<Board>('default', query);
    const theirs = await subscribe<Board>('other', query);
    // The first frame is the board as it stands: the subscription is live from then on.
    expect((await mine.next()).leaderboard).toEqual({ metric: 'points', entries: [] });
    expect((await theirs.next()).leaderboard.entries).toEqual([]);
    const { leaderboards } = server.node.modules.api(gamificationModule);
    const award = (tenantId: string, member: string, delta: number, eventId: string) => leaderboards.apply([{ board: { tenantId, scope: 'tenant', metric: 'points' }, member, delta, at: new Date(), eventId }]);
    await award('default', 'ada', 40, 'award-1');
    expect((await mine.next()).leaderboard.entries).toEqual([{ rank: 1, member: 'ada', value: 40 }]);
    await award('other', 'bob', 7, 'award-2');
    // The other tenant's next frame is its own award: the first tenant's never reached it.
    expect((await theirs.next()).leaderboard.entries).toEqual([{ rank: 1, member: 'bob', value: 7 }]);
    await Promise.all([mine.close(), theirs.close()]);
  });

  it("sends a live room's state as the stream starts and viewers join, to its tenant only", async () => {
    type State = { roomState: { roomId: string; live: boolean; streamerId: string | null; viewers: number; event: string } };
    const query = 'subscription { roomState(roomId: "stage") { roomId live streamerId viewers event } }';
    const mine = await subscribe<State>('default', query);
    const theirs = await subscribe<State>('other', query);
    expect((await mine.next()).roomState).toEqual({ roomId: 'stage', live: false, streamerId: null, viewers: 0, event: 'none' });
    expect((await theirs.next()).roomState.live).toBe(false);
    const { bus } = server.node;
    await bus.publish(createEvent('stream.started', { tenantId: 'default', actor: 'dj', payload: { roomId: 'stage', streamerId: 'dj' } }));
    expect((await mine.next()).roomState).toEqual({ roomId: 'stage', live: true, streamerId: 'dj', viewers: 0, event: 'stream.started' });
    await bus.publish(createEvent('stream.viewer.joined', { tenantId: 'default', actor: 'fan', payload: { roomId: 'stage', viewerId: 'fan' } }));
    expect((await mine.next()).roomState).toMatchObject({ live: true, viewers: 1, event: 'stream.viewer.joined' });
    await bus.publish(createEvent('stream.viewer.joined', { tenantId: 'other', actor: 'x', payload: { roomId: 'stage', viewerId: 'x' } }));
    expect((await theirs.next()).roomState).toEqual({ roomId: 'stage', live: false, streamerId: null, viewers: 1, event: 'stream.viewer.joined' });
    await Promise.all([mine.close(), theirs.close()]);
  });

  it("sends a room's tips to subscribers of its tenant only", async () => {
    type Tips = { tipSent: { tipId: string; fromUserId: string; amount: number } };
    const query = 'subscription { tipSent(roomId: "booth") { tipId fromUserId amount } }';
    const mine = await subscribe<Tips>('default', query);
    const theirs = await subscribe<Tips>('other', query);
    const tip = (tenantId: string, from: string, tipId: string) =>
      server.node.bus.publish(createEvent('tip.sent', { tenantId, actor: from, payload: { roomId: 'booth', fromUserId: from, toUserId: 'dj', amount: 3, currency: 'EUR', tipId } }));
    // A tip subscription sends nothing first: publish until each hears one, then it is live.
    const untilHeard = async (frames: Frames<Tips>, tenantId: string, from: string) => {
      let n = 0;
      const timer = setInterval(() => void tip(tenantId, from, `${from}-${n++}`), 100);
      try {
        return await frames.next();
      } finally {
        clearInterval(timer);
      }
    };
    expect((await untilHeard(theirs, 'other', 'x')).tipSent.fromUserId).toBe('x');
    expect((await untilHeard(mine, 'default', 'bob')).tipSent.fromUserId).toBe('bob');
    await tip('other', 'x', 'x-last');
    // Everything the other tenant's client received up to its last tip is its own.
    for (;;) {
      const { tipSent } = await theirs.next();
      expect(tipSent.fromUserId).toBe('x');
      if (tipSent.tipId === 'x-last') break;
    }
    await Promise.all([mine.close(), theirs.close()]);
  });
});
