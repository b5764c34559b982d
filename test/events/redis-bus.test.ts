import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import { MemoryParkingLot } from '../../src/events/parking.js';
import { RedisBus, type RedisBusOptions } from '../../src/events/redis-bus.js';
import { REDIS_URL, redisAvailable, redisPrefix } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { deleteStreamKeys, event, gate, liked, silentLogger } from './support.js';

const hasRedis = await redisAvailable();

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CRASHING_CONSUMER = fileURLToPath(new URL('./fixtures/crashing-consumer.ts', import.meta.url));

interface Child {
  process: ChildProcess;
  lines: string[];
  /** Resolves with the first stdout line matching `pattern` (fails after 20 s, with the child's stderr). */
  line(pattern: RegExp): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

describe.skipIf(!hasRedis)('RedisBus on a real Redis', () => {
  let admin: Redis;
  const streams: string[] = [];
  const buses: RedisBus[] = [];
  const children: ChildProcess[] = [];

  beforeAll(() => {
    admin = new Redis(REDIS_URL);
  });

  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(buses.splice(0).map((b) => b.close()));
  });

  afterAll(async () => {
    if (!admin) return;
    for (const stream of streams) await deleteStreamKeys(admin, stream);
    await admin.quit();
  });

  function newStream(label: string): string {
    const stream = redisPrefix(`events-${label}`);
    streams.push(stream);
    return stream;
  }

  /** One bus = one node. A long claimIdleMs unless a test is about claiming. */
  async function node(stream: string, options: Partial<RedisBusOptions> = {}): Promise<{ bus: RedisBus; parking: MemoryParkingLot }> {
    const parking = new MemoryParkingLot();
    const bus = new RedisBus({ url: REDIS_URL, stream, logger: silentLogger, parking, blockMs: 100, claimIdleMs: 60_000, ...options });
    buses.push(bus);
    await bus.connect();
    return { bus, parking };
  }

  async function pending(stream: string, group: string): Promise<number> {
    const [count] = (await admin.xpending(stream, group)) as [number, ...unknown[]];
    return count;
  }

  async function settled(stream: string, ...groups: string[]): Promise<void> {
    for (const group of groups) await waitFor(async () => (await pending(stream, group)) === 0, `group ${group} to acknowledge everything`);
  }

  function spawnConsumer(stream: string, group: string, claimIdleMs?: number): Child {
    const args = ['--import', 'tsx', CRASHING_CONSUMER, REDIS_URL, stream, group, ...(claimIdleMs ? [String(claimIdleMs)] : [])];
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const lines: string[] = [];
    let stderr = '';
    createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    return {
      process: child,
      lines,
      exited,
      line: (pattern) => waitFor(() => lines.find((l) => pattern.test(l)), `child to print ${pattern} (stdout ${JSON.stringify(lines)}, stderr ${stderr})`, 20_000),
    };
  }

  it('delivers typed events to every group, and only the types a group asked for', async () => {
    const stream = newStream('typed');
    const { bus } = await node(stream);
    const recs: VezaEvent[] = [];
    const insights: VezaEvent[] = [];
    const tips: string[] = [];
    await bus.subscribe('recommendations', (e) => void recs.push(e));
    await bus.subscribe('insights', (e) => void insights.push(e));
    await bus.subscribe('live', (e) => void tips.push(e.id), { types: ['tip.sent'] });

    const published = [
      createEvent('track.purchased', { tenantId: 'acme', actor: 'u1', payload: { trackId: 't1', amount: 199, currency: 'USD' } }),
      event('session.updated', { sessionId: 's1', author: 'u1', bytes: 10, changed: ['notes'] }, 'globex'),
      event('tip.sent', { roomId: 'r', fromUserId: 'a', toUserId: 'b', amount: 300, currency: 'EUR', message: 'gg' }),
      liked('acme'),
    ];
    for (const e of published) await bus.publish(e);

    await waitFor(() => recs.length === 4 && insights.length === 4 && tips.length === 1, 'deliveries to all three groups');
    await settled(stream, 'recommendations', 'insights', 'live');
    // What comes out of the stream equals, field for field, what went in: the same typed events, in order.
    expect(recs).toEqual(published);
    expect(insights).toEqual(published);
    expect(tips).toEqual([published[2]!.id]);
    const first = recs[0]!;
    if (first.type !== 'track.purchased') throw new Error('wrong type');
    expect(first.payload.currency).toBe('USD');
  });

  it('hands a group with `concurrency` several events at once, and still handles each once', async () => {
    const stream = newStream('concurrent');
    const { bus } = await node(stream);
    let inFlight = 0;
    let most = 0;
    const handled: string[] = [];
    const release = gate();
    await bus.subscribe('insights', async (e) => {
      most = Math.max(most, ++inFlight);
      await release.promise;
      handled.push(e.id);
      inFlight--;
    }, { concurrency: 5 });
    const events = Array.from({ length: 12 }, () => liked());
    for (const e of events) await bus.publish(e);
    await waitFor(() => inFlight === 5, '5 in flight');
    release.open();
    await waitFor(() => handled.length === 12, 'every event handled');
    await settled(stream, 'insights');
    expect(most).toBe(5);
    expect(handled.sort()).toEqual(events.map((e) => e.id).sort());
  });

  it('refuses to publish an invalid event: nothing reaches the stream', async () => {
    const stream = newStream('invalid-publish');
    const { bus } = await node(stream);
    await bus.subscribe('g', () => undefined); // creates the stream (MKSTREAM)
    const good = liked();
    await expect(bus.publish({ ...good, payload: { trackId: '' } } as unknown as VezaEvent)).rejects.toThrow(
      /refusing to publish an invalid track\.liked event: payload\.trackId/,
    );
    await expect(bus.publish({ ...good, type: 'track.disliked' } as unknown as VezaEvent)).rejects.toThrow(/invalid track\.disliked event: type/);
    await expect(bus.publish({ ...good, tenantId: 'ACME' } as unknown as VezaEvent)).rejects.toThrow(/tenantId/);
    expect(await admin.xlen(stream)).toBe(0);
  });

  it('two nodes in the same group share the work and together handle every event exactly once', async () => {
    const stream = newStream('shared');
    const a = await node(stream);
    const b = await node(stream);
    const handledBy = new Map<string, string[]>();
    const audit: string[] = [];
    const worker = (name: string) => async (e: VezaEvent) => {
      await sleep(1); // some work, so that the other node is waiting for the next entry
      handledBy.set(e.id, [...(handledBy.get(e.id) ?? []), name]);
    };
    await a.bus.subscribe('workers', worker('a'));
    await b.bus.subscribe('workers', worker('b'));
    await b.bus.subscribe('audit', (e) => void audit.push(e.id)); // another group sees everything too

    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const e = liked('default', `t${i}`);
      ids.push(e.id);
      await (i % 2 ? a : b).bus.publish(e);
    }
    await waitFor(() => handledBy.size === 200 && audit.length === 200, `all 200 events (workers ${handledBy.size}, audit ${audit.length})`);
    await settled(stream, 'workers', 'audit');
    // Closing waits for handlers in flight, so any late duplicate would be counted below.
    await Promise.all(buses.splice(0).map((bus) => bus.close()));

    expect(new Set(handledBy.keys())).toEqual(new Set(ids));
    const duplicates = [...handledBy].filter(([, nodes]) => nodes.length !== 1);
    expect(duplicates).toEqual([]);
    const byNode = { a: 0, b: 0 };
    for (const [, [name]] of handledBy) byNode[name as 'a' | 'b']++;
    expect(byNode.a).toBeGreaterThan(0);
    expect(byNode.b).toBeGreaterThan(0);
    expect(byNode.a + byNode.b).toBe(200);
    expect(audit).toEqual(ids);
  });

  it('delivers an event published twice (same id) once per group, even from another node', async () => {
    const stream = newStream('dedupe');
    const { bus } = await node(stream);
    const other = await node(stream);
    const a: string[] = [];
    const b: string[] = [];
    await bus.subscribe('a', (e) => void a.push(e.id));
    await bus.subscribe('b', (e) => void b.push(e.id));

    const e = liked();
    const marker = liked();
    await bus.publish(e);
    await bus.publish(e); // a publisher retry
    await other.bus.publish({ ...e, at: new Date().toISOString() }); // same id from another node
    await bus.publish(marker);
    await waitFor(() => a.includes(marker.id) && b.includes(marker.id), 'the marker event');
    await settled(stream, 'a', 'b');
    expect(await admin.xlen(stream)).toBe(4); // all three copies reached the stream...
    expect(a).toEqual([e.id, marker.id]); // ...and each group handled the event once
    expect(b).toEqual([e.id, marker.id]);

    await bus.publish(e); // long after it was handled
    const marker2 = liked();
    await bus.publish(marker2);
    await waitFor(() => a.includes(marker2.id) && b.includes(marker2.id), 'the second marker');
    expect(a).toEqual([e.id, marker.id, marker2.id]);
    expect(b).toEqual([e.id, marker.id, marker2.id]);
  });

  it('delivers a retried publish once to a group even when its two copies reach two nodes at the same time', async () => {
    const stream = newStream('dedupe-nodes');
    // claimIdleMs well above the handler's time: the copy that had to wait is acknowledged once claimed.
    const a = await node(stream, { claimIdleMs: 1000 });
    const b = await node(stream, { claimIdleMs: 1000 });
    const calls: string[] = [];
    const worker = (name: string) => async (e: VezaEvent) => {
      calls.push(`${name} ${e.id}`);
      await sleep(20); // still handling the first copy when the second one is read by the other node
    };
    await a.bus.subscribe('g', worker('a'));
    await b.bus.subscribe('g', worker('b'));

    for (let round = 0; round < 5; round++) {
      const e = liked('default', `round-${round}`);
      await Promise.all([a.bus.publish(e), a.bus.publish(e)]);
      await waitFor(() => calls.some((c) => c.endsWith(e.id)), `round ${round}`);
    }
    await settled(stream, 'g');
    await Promise.all(buses.splice(0).map((bus) => bus.close()));
    const perEvent = new Map<string, number>();
    for (const c of calls) perEvent.set(c.split(' ')[1]!, (perEvent.get(c.split(' ')[1]!) ?? 0) + 1);
    expect([...perEvent.values()]).toEqual([1, 1, 1, 1, 1]);
    expect(await admin.xlen(stream)).toBe(10);
  });

  it('retries a failing handler through XAUTOCLAIM until it succeeds', async () => {
    const stream = newStream('retry');
    const { bus, parking } = await node(stream, { claimIdleMs: 200, maxAttempts: 5 });
    const calls: string[] = [];
    const handled: string[] = [];
    const flaky = liked('default', 'flaky');
    const steady = liked('default', 'steady');
    await bus.subscribe('g', (e) => {
      calls.push(e.id);
      if (e.id === flaky.id && calls.filter((id) => id === flaky.id).length <= 2) throw new Error('transient');
      handled.push(e.id);
    });
    await bus.publish(flaky);
    await bus.publish(steady);

    await waitFor(() => handled.includes(flaky.id), 'the flaky event to succeed');
    await settled(stream, 'g');
    expect(calls.filter((id) => id === flaky.id)).toHaveLength(3);
    expect(calls.filter((id) => id === steady.id)).toHaveLength(1);
    expect(handled.sort()).toEqual([flaky.id, steady.id].sort());
    expect(parking.parked).toEqual([]);
    // The bookkeeping for retries is cleaned up once the entry is acknowledged.
    expect(await admin.exists(`${stream}:attempts:g`, `${stream}:errors:g`, `${stream}:lease:g:${flaky.id}`)).toBe(0);
    expect(await admin.exists(`${stream}:done:g:${flaky.id}`)).toBe(1);
  });

  it('parks an event whose handler always fails after maxAttempts, with the last error and the count', async () => {
    const stream = newStream('park');
    const { bus, parking } = await node(stream, { claimIdleMs: 200, maxAttempts: 3 });
    let calls = 0;
    const ok: string[] = [];
    const poison = liked('acme', 'poison');
    await bus.subscribe('gamification', (e) => {
      if (e.id !== poison.id) return void ok.push(e.id);
      calls++;
      throw new Error(`cannot score (call ${calls})`);
    });
    await bus.publish(poison);
    const fine = liked('acme', 'fine');
    await bus.publish(fine);

    await waitFor(() => parking.parked.length === 1, 'the poison event to be parked');
    await settled(stream, 'gamification');
    expect(parking.parked).toEqual([{ group: 'gamification', event: poison, error: 'cannot score (call 3)', attempts: 3 }]);
    expect(calls).toBe(3);
    expect(ok).toEqual([fine.id]);

    // Parked means done for that group: a republish is not delivered again.
    await bus.publish(poison);
    const marker = liked();
    await bus.publish(marker);
    await waitFor(() => ok.includes(marker.id), 'the marker');
    expect(calls).toBe(3);
    expect(parking.parked).toHaveLength(1);
  });

  it('redelivers the event a crashed consumer held to a live one of its group, exactly once', { timeout: 60_000 }, async () => {
    const stream = newStream('crash');
    const group = 'crashy';
    const child = spawnConsumer(stream, group);
    await child.line(/^ready$/);

    const { bus: publisher } = await node(stream); // publishes only
    const victim = liked('default', 'victim');
    await publisher.publish(victim);
    expect(await child.line(/^handling /)).toBe(`handling ${victim.id}`);
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
    // The dead node never acknowledged it: it is still pending in the group.
    expect(await pending(stream, group)).toBe(1);

    const got: string[] = [];
    const { bus: survivor, parking } = await node(stream, { claimIdleMs: 200 });
    await survivor.subscribe(group, (e) => void got.push(e.id));
    await waitFor(() => got.includes(victim.id), 'the survivor to claim the crashed event');

    const next = liked('default', 'next');
    await publisher.publish(next);
    await waitFor(() => got.includes(next.id), 'the next event');
    await settled(stream, group);
    // Several claim rounds (claimIdleMs 200) pass: nothing is handed out again.
    await sleep(1000);
    expect(got).toEqual([victim.id, next.id]);
    expect(parking.parked).toEqual([]);
  });

  it('parks an event that crashes every consumer it reaches, once maxAttempts consumers died on it', { timeout: 60_000 }, async () => {
    const stream = newStream('crash-loop');
    const group = 'crashy';
    const first = spawnConsumer(stream, group);
    await first.line(/^ready$/);
    const { bus: publisher } = await node(stream);
    const poison = liked('default', 'poison');
    await publisher.publish(poison);
    expect(await first.line(/^handling /)).toBe(`handling ${poison.id}`);
    expect((await first.exited).signal).toBe('SIGKILL');

    // A second node claims it after claimIdleMs, and dies on it too.
    const second = spawnConsumer(stream, group, 200);
    expect(await second.line(/^handling /)).toBe(`handling ${poison.id}`);
    expect((await second.exited).signal).toBe('SIGKILL');

    // With maxAttempts 2 the third node parks it without calling its handler.
    let calls = 0;
    const { bus: survivor, parking } = await node(stream, { claimIdleMs: 200, maxAttempts: 2 });
    await survivor.subscribe(group, () => void calls++);
    await waitFor(() => parking.parked.length === 1, 'the poison event to be parked');
    await settled(stream, group);
    expect(parking.parked).toEqual([{ group, event: poison, error: 'consumer stopped while handling it', attempts: 2 }]);
    expect(calls).toBe(0);
  });

  it('parks and acknowledges unreadable stream entries, and keeps consuming', async () => {
    const stream = newStream('garbage');
    const { bus, parking } = await node(stream, { claimIdleMs: 200 });
    const got: string[] = [];
    await bus.subscribe('g', (e) => void got.push(e.id));

    const notJson = await admin.xadd(stream, '*', 'event', 'not json');
    const wrongType = JSON.stringify({ ...liked(), type: 'track.disliked' });
    const unknownType = await admin.xadd(stream, '*', 'event', wrongType);
    const noEventField = await admin.xadd(stream, '*', 'payload', '{"trackId":"t"}');
    // Fields are read by name: another field whose value happens to be "event" does not confuse it.
    const extraFields = liked();
    await admin.xadd(stream, '*', 'source', 'event', 'event', JSON.stringify(extraFields));
    const good = liked();
    await bus.publish(good);

    await waitFor(() => got.includes(good.id), 'the valid event after the garbage');
    await waitFor(() => parking.parked.length === 3, 'three parked entries');
    await settled(stream, 'g');
    // Several claim rounds pass: the bad entries are not handed out (or parked) again.
    await sleep(1000);
    expect(got).toEqual([extraFields.id, good.id]);
    expect(parking.parked).toHaveLength(3);

    const [p1, p2, p3] = parking.parked;
    expect(p1).toMatchObject({ group: 'g', attempts: 1, event: { raw: 'not json', id: `stream:${notJson}`, type: 'invalid', tenantId: '' } });
    expect(p1!.error).toMatch(/^unreadable stream entry: /);
    expect(p2).toMatchObject({ group: 'g', attempts: 1, event: { raw: wrongType, id: `stream:${unknownType}`, type: 'invalid' } });
    expect(p2!.error).toMatch(/^unreadable stream entry: type: /);
    // An entry without an `event` field is kept whole, so nothing of it is lost.
    expect(p3).toMatchObject({ group: 'g', attempts: 1, event: { raw: ['payload', '{"trackId":"t"}'], id: `stream:${noEventField}`, type: 'invalid' } });
    expect(p3!.error).toMatch(/^unreadable stream entry: .*event/);
  });

  it('close() waits for the handler in flight and acknowledges its event; afterwards the bus refuses work', async () => {
    const stream = newStream('close');
    const { bus } = await node(stream);
    await bus.ping();
    const inHand = gate();
    let started = false;
    let finished = false;
    await bus.subscribe('g', async () => {
      started = true;
      await inHand.promise;
      finished = true;
    });
    await bus.publish(liked());
    await waitFor(() => started, 'the handler to start');

    let closed = false;
    const closing = bus.close().then(() => {
      closed = true;
    });
    await sleep(200);
    expect(closed).toBe(false);
    inHand.open();
    await closing;
    expect(finished).toBe(true);
    expect(await pending(stream, 'g')).toBe(0);

    await expect(bus.publish(liked())).rejects.toThrow(/closed/);
    await expect(bus.subscribe('h', () => undefined)).rejects.toThrow(/closed/);
    await expect(bus.ping()).rejects.toThrow(/closed/);
  });

  it('subscription.close() stops one group while the others go on', async () => {
    const stream = newStream('sub-close');
    const { bus } = await node(stream);
    const a: string[] = [];
    const b: string[] = [];
    const subA = await bus.subscribe('a', (e) => void a.push(e.id));
    await bus.subscribe('b', (e) => void b.push(e.id));
    const first = liked();
    await bus.publish(first);
    await waitFor(() => a.length === 1 && b.length === 1, 'first event in both groups');
    await settled(stream, 'a');
    await subA.close();
    const second = liked();
    await bus.publish(second);
    await waitFor(() => b.length === 2, 'second event in b');
    expect(a).toEqual([first.id]);
    expect(b).toEqual([first.id, second.id]);
    // The event waits in group a for whoever consumes it next.
    const got: string[] = [];
    await bus.subscribe('a', (e) => void got.push(e.id));
    await waitFor(() => got.includes(second.id), 'group a to pick up where it left off');
    expect(got).toEqual([second.id]);
  });
});
