import { setImmediate as tick } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { ParkingLot } from '../../src/events/bus.js';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import { MemoryBus, type MemoryBusOptions } from '../../src/events/memory-bus.js';
import { MemoryParkingLot } from '../../src/events/parking.js';
import { waitFor } from '../helpers/wait.js';
import { event, gate, liked, silentLogger } from './support.js';

const buses: MemoryBus[] = [];

function makeBus(options: Partial<MemoryBusOptions> = {}): { bus: MemoryBus; parking: MemoryParkingLot } {
  const parking = new MemoryParkingLot();
  const bus = new MemoryBus({ logger: silentLogger, parking, retryDelayMs: () => 5, ...options });
  buses.push(bus);
  return { bus, parking };
}

afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.close()));
});

describe('MemoryBus', () => {
  it('delivers every event to every group, each in publish order', async () => {
    const { bus } = makeBus();
    const seen: Record<'a' | 'b', string[]> = { a: [], b: [] };
    await bus.subscribe('recommendations', async (e) => {
      await tick();
      seen.a.push(e.id);
    });
    await bus.subscribe('insights', (e) => {
      seen.b.push(e.id);
    });

    const published: VezaEvent[] = [];
    for (let i = 0; i < 50; i++) {
      const e =
        i % 3 === 0
          ? event('session.opened', { sessionId: `s${i}` })
          : i % 3 === 1
            ? liked('acme', `t${i}`)
            : event('tip.sent', { roomId: 'r', fromUserId: 'a', toUserId: 'b', amount: i + 1, currency: 'EUR' }, 'globex');
      published.push(e);
      await bus.publish(e);
    }
    await bus.idle();

    const ids = published.map((e) => e.id);
    expect(seen.a).toEqual(ids);
    expect(seen.b).toEqual(ids);
  });

  it('keeps up to `concurrency` events in flight, one at a time by default, and a copy in flight counts once', async () => {
    for (const limit of [1, 8]) {
      const { bus } = makeBus();
      let inFlight = 0;
      let most = 0;
      const handled: string[] = [];
      const release = gate();
      await bus.subscribe('batched', async (e) => {
        most = Math.max(most, ++inFlight);
        await release.promise;
        handled.push(e.id);
        inFlight--;
      }, { concurrency: limit });
      const events = Array.from({ length: 20 }, () => liked());
      for (const e of events) await bus.publish(e);
      await bus.publish(events[0]!);
      await waitFor(() => inFlight === limit, `${limit} in flight`);
      release.open();
      await bus.idle();
      expect(most).toBe(limit);
      expect(handled.sort()).toEqual(events.map((e) => e.id).sort());
    }
  });

  it('hands handlers the typed, validated event', async () => {
    const { bus } = makeBus();
    const got: VezaEvent[] = [];
    await bus.subscribe('g', (e) => {
      got.push(e);
    });
    const e = createEvent('track.purchased', { tenantId: 'acme', actor: 'u1', payload: { trackId: 't', amount: 199, currency: 'USD' } });
    await bus.publish(e);
    await bus.idle();
    expect(got).toEqual([e]);
    const [first] = got;
    if (first?.type !== 'track.purchased') throw new Error('wrong type');
    expect(first.payload.amount).toBe(199); // narrowed by the discriminant: payload is typed
  });

  it('only calls a handler for the types it asked for', async () => {
    const { bus } = makeBus();
    const filtered: string[] = [];
    const all: string[] = [];
    await bus.subscribe('likes-only', (e) => void filtered.push(e.type), { types: ['track.liked', 'tip.sent'] });
    await bus.subscribe('everything', (e) => void all.push(e.type));

    await bus.publish(event('session.opened', { sessionId: 's' }));
    await bus.publish(liked());
    await bus.publish(event('presence.joined', { sessionId: 's', userId: 'u' }));
    await bus.publish(event('tip.sent', { roomId: 'r', fromUserId: 'a', toUserId: 'b', amount: 1, currency: 'EUR' }));
    await bus.idle();

    expect(filtered).toEqual(['track.liked', 'tip.sent']);
    expect(all).toEqual(['session.opened', 'track.liked', 'presence.joined', 'tip.sent']);
  });

  it('retries a failing handler and keeps the group in order until it succeeds', async () => {
    const registry = new Registry();
    const { bus, parking } = makeBus({ registry, maxAttempts: 5 });
    const calls: string[] = [];
    const handled: string[] = [];
    const flaky = liked('default', 'flaky');
    const next = liked('default', 'next');
    await bus.subscribe('g', (e) => {
      calls.push(e.id);
      if (e.id === flaky.id && calls.filter((id) => id === flaky.id).length <= 2) throw new Error('transient');
      handled.push(e.id);
    });

    await bus.publish(flaky);
    await bus.publish(next);
    await bus.idle();

    expect(calls).toEqual([flaky.id, flaky.id, flaky.id, next.id]);
    expect(handled).toEqual([flaky.id, next.id]);
    expect(parking.parked).toEqual([]);
    const handledMetric = await registry.getSingleMetric('veza_events_handled_total')!.get();
    const count = (outcome: string) => handledMetric.values.find((v) => v.labels.outcome === outcome && v.labels.group === 'g')?.value ?? 0;
    expect(count('retry')).toBe(2);
    expect(count('ok')).toBe(2);
    expect(count('parked')).toBe(0);
  });

  it('uses retryDelayMs with the 1-based attempt number', async () => {
    const delays: number[] = [];
    const { bus } = makeBus({
      maxAttempts: 4,
      retryDelayMs: (n) => {
        delays.push(n);
        return 1;
      },
    });
    await bus.subscribe('g', () => {
      throw new Error('nope');
    });
    await bus.publish(liked());
    await bus.idle();
    expect(delays).toEqual([1, 2, 3]);
  });

  it('parks an event whose handler always fails, after maxAttempts, with the error and attempt count', async () => {
    const { bus, parking } = makeBus({ maxAttempts: 3 });
    let calls = 0;
    const after: string[] = [];
    const poison = liked('acme', 'poison');
    const fine = liked('acme', 'fine');
    await bus.subscribe('gamification', (e) => {
      if (e.id !== poison.id) return void after.push(e.id);
      calls++;
      throw new Error(`cannot score ${e.id} (call ${calls})`);
    });

    await bus.publish(poison);
    await bus.publish(fine);
    await bus.idle();

    expect(calls).toBe(3);
    expect(parking.parked).toEqual([{ group: 'gamification', event: poison, error: `cannot score ${poison.id} (call 3)`, attempts: 3 }]);
    // The group moves on: the next event is handled, and the parked one is not delivered again.
    expect(after).toEqual([fine.id]);
    await bus.publish(poison);
    await bus.idle();
    expect(calls).toBe(3);
  });

  it('parks with a readable message when a handler throws a non-Error', async () => {
    const { bus, parking } = makeBus({ maxAttempts: 1 });
    await bus.subscribe('g', () => {
      throw 'plain string';
    });
    await bus.publish(liked());
    await bus.idle();
    expect(parking.parked.map((p) => [p.error, p.attempts])).toEqual([['plain string', 1]]);
  });

  it('keeps going when the parking lot itself fails', async () => {
    const broken: ParkingLot = {
      park: async () => {
        throw new Error('database down');
      },
    };
    const { bus } = makeBus({ parking: broken, maxAttempts: 1 });
    const ok: string[] = [];
    const poison = liked();
    const fine = liked();
    await bus.subscribe('g', (e) => {
      if (e.id === poison.id) throw new Error('boom');
      ok.push(e.id);
    });
    await bus.publish(poison);
    await bus.publish(fine);
    await bus.idle();
    expect(ok).toEqual([fine.id]);
  });

  it('delivers the same event id once per group, whether republished at once or later', async () => {
    const { bus } = makeBus();
    const a: string[] = [];
    const b: string[] = [];
    await bus.subscribe('a', (e) => void a.push(e.id));
    await bus.subscribe('b', async (e) => {
      await tick();
      b.push(e.id);
    });
    const e = liked();
    const other = liked();
    await bus.publish(e);
    await bus.publish(e); // a publisher retry while the first is still queued
    await bus.publish(other);
    await bus.idle();
    await bus.publish(e); // and once more after it was handled
    await bus.publish({ ...e, at: new Date().toISOString() }); // same id, different body: still the same event
    await bus.idle();
    expect(a).toEqual([e.id, other.id]);
    expect(b).toEqual([e.id, other.id]);
  });

  it('does not call the handler for a filtered-out event, however often it is published', async () => {
    const { bus } = makeBus({ maxAttempts: 2 });
    let calls = 0;
    const session = event('session.opened', { sessionId: 's' });
    await bus.subscribe('g', () => void calls++, { types: ['track.liked'] });
    await bus.publish(session);
    await bus.publish(session);
    await bus.idle();
    expect(calls).toBe(0);
  });

  it('delivers events published at any moment while a group is finishing its queue', async () => {
    // Publishing while the previous drain of the queue is winding down must not strand the event.
    for (let gap = 0; gap < 25; gap++) {
      const { bus } = makeBus();
      const got: string[] = [];
      await bus.subscribe('g', async (e) => void got.push(e.id));
      const first = liked();
      const second = liked();
      void bus.publish(first);
      for (let i = 0; i < gap; i++) await Promise.resolve();
      void bus.publish(second);
      await waitFor(() => got.length === 2, `both events with a gap of ${gap} microtasks (got ${got.length})`, 2000);
      await bus.idle();
      expect(got, `gap of ${gap} microtasks`).toEqual([first.id, second.id]);
    }
  });

  it('a handler that publishes is not re-entered: its group still handles one event at a time, in order', async () => {
    const { bus } = makeBus();
    const log: string[] = [];
    const follow = gate();
    await bus.subscribe('g', async (e) => {
      if (e.type !== 'track.liked') return;
      log.push(`start ${e.payload.trackId}`);
      // Derived events are common (a module reacting to one event by emitting another).
      if (e.payload.trackId === 'a') void bus.publish(liked('default', 'b'));
      if (e.payload.trackId === 'a') await follow.promise;
      log.push(`end ${e.payload.trackId}`);
    });
    await bus.publish(liked('default', 'a'));
    for (let i = 0; i < 20; i++) await tick();
    expect(log).toEqual(['start a']);
    follow.open();
    await waitFor(() => log.length === 4, 'both events handled');
    await bus.idle();
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b']);
  });

  it('idle() resolves only once every group has handled everything published so far', async () => {
    const { bus } = makeBus();
    const slow = gate();
    let slowDone = false;
    await bus.subscribe('slow', async () => {
      await slow.promise;
      slowDone = true;
    });
    await bus.subscribe('fast', () => undefined);
    await bus.publish(liked());

    let idle = false;
    const idlePromise = bus.idle().then(() => {
      idle = true;
    });
    for (let i = 0; i < 20; i++) await tick();
    expect(idle).toBe(false);
    slow.open();
    await idlePromise;
    expect(slowDone).toBe(true);
    // With nothing in flight, idle() resolves at once.
    await bus.idle();
  });

  it('idle() waits for retries and parking too', async () => {
    const { bus, parking } = makeBus({ maxAttempts: 3, retryDelayMs: () => 20 });
    await bus.subscribe('g', () => {
      throw new Error('always');
    });
    await bus.publish(liked());
    await bus.idle();
    expect(parking.parked).toHaveLength(1);
  });

  it('refuses to subscribe the same group twice in one process, and bad group names', async () => {
    const { bus } = makeBus();
    await bus.subscribe('insights', () => undefined);
    await expect(bus.subscribe('insights', () => undefined)).rejects.toThrow(/consumer group insights already has a handler/);
    for (const name of ['', 'Insights', '-x', 'a b', 'a:b', 'x'.repeat(101)]) {
      await expect(bus.subscribe(name, () => undefined), JSON.stringify(name)).rejects.toThrow(/invalid consumer group name/);
    }
  });

  it('subscription.close() waits for the event in hand, stops deliveries, and frees the group name', async () => {
    const { bus } = makeBus();
    const inHand = gate();
    const got: string[] = [];
    let started = false;
    const sub = await bus.subscribe('g', async (e) => {
      started = true;
      await inHand.promise;
      got.push(e.id);
    });
    expect(sub.group).toBe('g');
    const first = liked();
    await bus.publish(first);
    await waitFor(() => started, 'the handler to start');

    let closed = false;
    const closing = sub.close().then(() => {
      closed = true;
    });
    for (let i = 0; i < 20; i++) await tick();
    expect(closed).toBe(false); // still handling the first event
    inHand.open();
    await closing;
    expect(got).toEqual([first.id]);

    await bus.publish(liked());
    await bus.idle();
    expect(got).toEqual([first.id]);

    // The name is free again; the new handler only sees what is published from now on.
    const again: string[] = [];
    await bus.subscribe('g', (e) => void again.push(e.id));
    const later = liked();
    await bus.publish(later);
    await bus.idle();
    expect(again).toEqual([later.id]);
  });

  it('close() waits for handlers in flight; afterwards publish, subscribe and ping refuse', async () => {
    const { bus } = makeBus();
    await bus.ping();
    const inHand = gate();
    let finished = false;
    await bus.subscribe('g', async () => {
      await inHand.promise;
      finished = true;
    });
    await bus.publish(liked());
    const closing = bus.close();
    for (let i = 0; i < 20; i++) await tick();
    expect(finished).toBe(false);
    inHand.open();
    await closing;
    expect(finished).toBe(true);

    await expect(bus.publish(liked())).rejects.toThrow(/closed/);
    await expect(bus.ping()).rejects.toThrow(/closed/);
    await expect(bus.subscribe('late', () => undefined)).rejects.toThrow(/closed/);
  });

  it('refuses to publish an invalid event and delivers nothing', async () => {
    const { bus } = makeBus();
    let calls = 0;
    await bus.subscribe('g', () => void calls++);
    const good = liked();
    const badPayload = { ...good, payload: { trackId: 42 } } as unknown as VezaEvent;
    const unknownType = { ...good, type: 'track.disliked' } as unknown as VezaEvent;
    const badTenant = { ...good, tenantId: 'Not Valid' } as unknown as VezaEvent;
    await expect(bus.publish(badPayload)).rejects.toThrow(/refusing to publish an invalid track\.liked event: payload\.trackId/);
    await expect(bus.publish(unknownType)).rejects.toThrow(/refusing to publish an invalid track\.disliked event: type/);
    await expect(bus.publish(badTenant)).rejects.toThrow(/tenantId/);
    await bus.idle();
    expect(calls).toBe(0);
  });
});
