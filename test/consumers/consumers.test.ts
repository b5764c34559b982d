// Where the side modules' event consumers run: on their own thread by default (the realtime thread
// only posts events there), started by the first event (or at once when a consumer has work waiting,
// or at start-up by setting), restarted if that thread dies, on the main thread or nowhere by setting.
import { threadId, type Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import type { LinkedBus } from '../../src/events/linked-bus.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, checked by the assertions
type Body = any;

const liked = (userId: string, trackId: string) => createEvent('track.liked', { tenantId: 'default', actor: userId, payload: { trackId } }) as VezaEvent;
const quiet = { 'recs-train-interval-s': '0', 'insights-alert-interval-s': '0', 'rate-limit-requests-per-minute': '0' };

async function getJson(server: TestServer, path: string, token?: string): Promise<{ status: number; body: Body }> {
  const res = await fetch(`${server.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: (await res.json()) as Body };
}

async function likedItems(server: TestServer, userId: string): Promise<string[]> {
  return (await server.veza.recommendations.store.history('default', userId)).items.map((i) => i.itemId).sort();
}

describe('event consumers on their own thread (the default)', () => {
  let server: TestServer;
  let admin: string;
  const threads: Worker[] = [];

  beforeAll(async () => {
    server = await startTestServer(quiet, { onConsumerThread: (worker) => threads.push(worker) });
    admin = await server.veza.auth.sign({ sub: 'ops', admin: true });
  });
  afterAll(async () => server?.stop());

  it('waits for the first event to start the thread, holding what is published until it runs', async () => {
    // An idle server runs no consumers thread, and is ready meanwhile.
    expect((await getJson(server, '/healthz')).body.consumers).toEqual({ placement: 'thread', consumers: ['recommendations', 'insights', 'gamification', 'history', 'webhooks'], running: false, waiting: true });
    expect((await getJson(server, '/readyz')).status).toBe(200);
    expect(threads).toHaveLength(0);
    // A rule defined before the thread runs is read by the engine when it starts.
    const rule = { title: 'Fan', category: 'listener', event: 'track.liked', criteria: { kind: 'count', atLeast: 2 }, points: 40 };
    const put = await fetch(`${server.url}/api/v1/gamification/rules/fan`, { method: 'PUT', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(rule) });
    expect(put.status).toBe(201);
    // The first event starts it; both events, published while it loads, reach it in order.
    for (const track of ['a', 'b']) await server.veza.bus.publish(liked('kim', track));
    await (server.veza.bus as LinkedBus).idle();
    expect(threads).toHaveLength(1);
    expect(threads[0]!.threadId).not.toBe(threadId);
    expect(await likedItems(server, 'kim')).toEqual(['a', 'b']);
    expect((await getJson(server, '/healthz')).body.consumers).toEqual({ placement: 'thread', consumers: ['recommendations', 'insights', 'gamification', 'history', 'webhooks'], running: true });
    const board = await waitFor(async () => {
      const { body } = await getJson(server, '/api/v1/gamification/leaderboards/points?scope=tenant&period=all', admin);
      return body.entries?.length ? body.entries : undefined;
    }, 'the leaderboard');
    expect(board).toEqual([expect.objectContaining({ member: 'kim', value: 40, rank: 1 })]);
  });

  it('handles what the main thread publishes there, and calls back for leaderboards and rule changes', async () => {
    expect(threads).toHaveLength(1);
    // A rule defined through the API reaches the engine over there at once (no cache wait).
    const rule = { title: 'Fan', category: 'listener', event: 'track.liked', criteria: { kind: 'count', atLeast: 2 }, points: 40 };
    const put = await fetch(`${server.url}/api/v1/gamification/rules/fan`, { method: 'PUT', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...rule, points: 60 }) });
    expect(put.status).toBe(200);
    for (const track of ['a', 'b']) await server.veza.bus.publish(liked('kit', track));

    // Recommendation signals stored by the consumers thread, through its port of the storage worker.
    await waitFor(async () => (await likedItems(server, 'kit')).length === 2, 'the signals');
    expect(await likedItems(server, 'kit')).toEqual(['a', 'b']);
    // The award's points (the changed rule's) moved the leaderboard the main thread serves.
    const board = await waitFor(async () => {
      const { body } = await getJson(server, '/api/v1/gamification/leaderboards/points?scope=tenant&period=all', admin);
      return body.entries?.find((e: Body) => e.member === 'kit');
    }, 'the leaderboard');
    expect(board).toEqual(expect.objectContaining({ member: 'kit', value: 60 }));
  });

  it('starts the thread again when it dies, is not ready meanwhile, and handles events after', async () => {
    await threads[0]!.terminate();
    const during = await getJson(server, '/readyz');
    expect(during.status).toBe(503);
    expect(during.body.checks.consumers).toEqual({ ok: false, error: 'the event consumers are restarting' });
    await waitFor(async () => threads.length === 2 && (await getJson(server, '/readyz')).status === 200, 'the restarted thread', 15_000);
    await server.veza.bus.publish(liked('lee', 'c'));
    await waitFor(async () => (await likedItems(server, 'lee')).length === 1, 'a signal after the restart');
    expect((await getJson(server, '/healthz')).body.consumers.running).toBe(true);
  });
});

describe('where the consumers run, by setting', () => {
  let server: TestServer | null = null;
  afterEach(async () => {
    await server?.stop();
    server = null;
  });

  it('starts the thread at start-up when told to', async () => {
    const threads: Worker[] = [];
    server = await startTestServer({ ...quiet, 'consumer-thread-start': 'at-start' }, { onConsumerThread: (worker) => threads.push(worker) });
    expect(threads).toHaveLength(1);
    expect((await getJson(server, '/healthz')).body.consumers).toEqual({ placement: 'thread', consumers: ['recommendations', 'insights', 'gamification', 'history', 'webhooks'], running: true });
    await server.veza.bus.publish(liked('ola', 'f'));
    await waitFor(async () => (await likedItems(server!, 'ola')).length === 1, 'the signal');
    // A fresh embedded database and the thread's start, on a busy machine.
  }, 120_000);

  it('starts the thread at start-up when a consumer has work waiting: alerts to check for a creator with a webhook', async () => {
    const data = tempDir('consumers-waiting');
    try {
      const flags = { ...quiet, 'data-dir': data.dir, 'insights-alert-interval-s': '3600' };
      const threads: Worker[] = [];
      server = await startTestServer(flags, { onConsumerThread: (worker) => threads.push(worker) });
      expect(threads).toHaveLength(0);
      await server.veza.storage.db.insertInto('ins_webhooks').values({ tenant_id: 'default', id: 'hook-1', creator_id: 'cara', url: 'http://127.0.0.1:9/hook', secret: 's'.repeat(32), created_at: new Date() }).execute();
      await server.stop();
      server = await startTestServer(flags, { onConsumerThread: (worker) => threads.push(worker) });
      expect(threads).toHaveLength(1);
      expect((await getJson(server, '/healthz')).body.consumers.running).toBe(true);
    } finally {
      await server?.stop();
      server = null;
      data.remove();
    }
    // Two starts on one data directory, on a busy machine.
  }, 120_000);

  it('runs them on the main thread when told to', async () => {
    server = await startTestServer({ ...quiet, 'consumer-thread': 'false' });
    expect((await getJson(server, '/healthz')).body.consumers).toMatchObject({ placement: 'main', running: true });
    await server.veza.bus.publish(liked('max', 'd'));
    await waitFor(async () => (await likedItems(server!, 'max')).length === 1, 'the signal');
  });

  it('runs none with --consumers none: events are published and nothing here handles them', async () => {
    server = await startTestServer({ ...quiet, consumers: 'none' });
    expect((await getJson(server, '/healthz')).body.consumers).toEqual({ placement: 'none', consumers: [], running: false });
    expect((await getJson(server, '/readyz')).status).toBe(200);
    await server.veza.bus.publish(liked('ned', 'e'));
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(await likedItems(server, 'ned')).toEqual([]);
  });

  it('refuses an unknown consumer name at start', () => {
    expect(() => loadConfig({}, { consumers: 'insights,charts' })).toThrow(ConfigError);
    expect(() => loadConfig({}, { consumers: 'insights,charts' })).toThrow(/unknown consumer charts; choose from all, none, recommendations, insights, gamification/);
    expect(loadConfig({}, { consumers: 'gamification, insights' }).events.consumers).toEqual(['gamification', 'insights']);
  });
});
