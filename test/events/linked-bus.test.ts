import { MessageChannel } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { VezaEvent } from '../../src/events/catalog.js';
import { LinkedBus, type BusMethods } from '../../src/events/linked-bus.js';
import { MemoryBus } from '../../src/events/memory-bus.js';
import { MemoryParkingLot } from '../../src/events/parking.js';
import { PortLink } from '../../src/consumers/link.js';
import { event, liked, silentLogger } from './support.js';

const open: LinkedBus[] = [];

/** Two sides of one in-process bus, joined by a MessageChannel as the main and consumers threads are. */
function linkedPair(): [LinkedBus, LinkedBus] {
  const channel = new MessageChannel();
  const side = () => new LinkedBus(new MemoryBus({ logger: silentLogger, parking: new MemoryParkingLot(), retryDelayMs: () => 5 }));
  const [a, b] = [side(), side()];
  const fail = (error: unknown) => {
    throw error;
  };
  a.connect(new PortLink<BusMethods, BusMethods>(channel.port1, fail));
  b.connect(new PortLink<BusMethods, BusMethods>(channel.port2, fail));
  open.push(a, b);
  return [a, b];
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((bus) => bus.close()));
});

describe('LinkedBus (the in-process bus across two threads)', () => {
  it('delivers what either side publishes to the groups of both, in order', async () => {
    const [main, consumers] = linkedPair();
    const seen: Record<string, string[]> = { onMain: [], onConsumers: [] };
    await main.subscribe('test-main', (e) => void seen.onMain!.push(e.id));
    await consumers.subscribe('test-consumers', (e) => void seen.onConsumers!.push(e.id));
    const fromMain = Array.from({ length: 20 }, () => liked());
    for (const e of fromMain) await main.publish(e);
    const fromConsumers = liked();
    await consumers.publish(fromConsumers);
    await main.idle();
    // Each side sees every event, and each publisher's events in the order it published them.
    const mainIds = fromMain.map((e) => e.id);
    for (const ids of [seen.onMain!, seen.onConsumers!]) {
      expect([...ids].sort()).toEqual([...mainIds, fromConsumers.id].sort());
      expect(ids.filter((id) => id !== fromConsumers.id)).toEqual(mainIds);
    }
  });

  it("waits in idle() for the other side's handlers, and for what they publish back", async () => {
    const [main, consumers] = linkedPair();
    const derived: VezaEvent[] = [];
    // A consumer that takes a while and publishes a derived event, as the gamification outbox does.
    await consumers.subscribe('test-engine', async (e) => {
      if (e.type !== 'track.liked') return;
      await sleep(30);
      await consumers.publish(event('session.opened', { sessionId: `from-${e.id}` }));
    });
    await main.subscribe('test-watch', (e) => void (e.type === 'session.opened' && derived.push(e)), { types: ['session.opened'] });
    const likes = [liked(), liked(), liked()];
    for (const e of likes) await main.publish(e);
    await main.idle();
    expect(derived.map((e) => e.type === 'session.opened' && e.payload.sessionId)).toEqual(likes.map((e) => `from-${e.id}`));
  });

  it('refuses an invalid event on the side that publishes it, and sends nothing across', async () => {
    const [main, consumers] = linkedPair();
    const seen: string[] = [];
    await consumers.subscribe('test-consumers', (e) => void seen.push(e.id));
    const bad = { ...liked(), payload: { trackId: '' } } as VezaEvent;
    await expect(main.publish(bad)).rejects.toThrow(/invalid track.liked event/);
    const good = liked();
    await main.publish(good);
    await main.idle();
    expect(seen).toEqual([good.id]);
  });

  it('holds what is published before the other side first connects, wakes it once, and hands the events over in order', async () => {
    const channel = new MessageChannel();
    const side = () => new LinkedBus(new MemoryBus({ logger: silentLogger, parking: new MemoryParkingLot(), retryDelayMs: () => 5 }));
    const [main, consumers] = [side(), side()];
    open.push(main, consumers);
    let wakes = 0;
    main.holdUntilConnected(() => wakes++);
    expect(main.holding).toBe(true);
    const early = [liked(), liked(), liked()];
    for (const e of early) await main.publish(e);
    expect(wakes).toBe(1);
    // The other side starts later (a thread loading), subscribes, then joins.
    const seen: string[] = [];
    await consumers.subscribe('test-late', (e) => void seen.push(e.id));
    const fail = (error: unknown) => {
      throw error;
    };
    const idle = main.idle();
    main.connect(new PortLink<BusMethods, BusMethods>(channel.port1, fail));
    consumers.connect(new PortLink<BusMethods, BusMethods>(channel.port2, fail));
    const late = liked();
    await main.publish(late);
    await idle;
    await main.idle();
    expect(main.holding).toBe(false);
    expect(seen).toEqual([...early, late].map((e) => e.id));
    expect(wakes).toBe(1);
  });

  it('lets the held events go when the other side cannot start: this side still had them', async () => {
    const main = new LinkedBus(new MemoryBus({ logger: silentLogger, parking: new MemoryParkingLot(), retryDelayMs: () => 5 }));
    open.push(main);
    const here: string[] = [];
    await main.subscribe('test-here', (e) => void here.push(e.id));
    main.holdUntilConnected(() => undefined);
    const e = liked();
    await main.publish(e);
    expect(main.letGo()).toBe(1);
    expect(main.holding).toBe(false);
    // idle() no longer waits for a side that will not come.
    await main.idle();
    expect(here).toEqual([e.id]);
  });
});
