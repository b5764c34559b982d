import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import { checkEvent, type VezaEvent } from './catalog.js';
import {
  assertGroupName,
  BusMetrics,
  errorMessage,
  RecentIds,
  type BusOptions,
  type EventBus,
  type EventHandler,
  type ParkingLot,
  type SubscribeOptions,
  type Subscription,
} from './bus.js';

export interface MemoryBusOptions extends BusOptions {
  /** Delay before retry n (1-based); defaults to 100 ms doubling up to 5 s. */
  retryDelayMs?: (attempt: number) => number;
}

/** One consumer group inside this process: a queue drained by one handler, in publish order. */
class GroupQueue implements Subscription {
  private readonly queue: VezaEvent[] = [];
  private readonly seen = new RecentIds();
  private running: Promise<void> | null = null;
  private closed = false;

  constructor(
    readonly group: string,
    private readonly handler: EventHandler,
    private readonly options: SubscribeOptions,
    private readonly bus: { metrics: BusMetrics; parking: ParkingLot; logger: Logger; maxAttempts: number; retryDelayMs: (n: number) => number; detach(group: string): void },
  ) {}

  push(event: VezaEvent): void {
    if (this.closed) return;
    this.queue.push(event);
    this.wake?.();
    if (this.running) return;
    // Drain from the next microtask, so `running` is set before any handler runs: a handler that
    // publishes (re-entering push) then only queues its event instead of starting a second drain.
    this.running = Promise.resolve().then(() => this.drain());
  }

  /** Resolves when everything queued so far has been handled or parked. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('events bus is closed');
  }

  async close(): Promise<void> {
    this.closed = true;
    this.bus.detach(this.group);
    await this.idle();
  }

  private async drain(): Promise<void> {
    const limit = Math.max(1, this.options.concurrency ?? 1);
    const inFlight = new Set<Promise<void>>();
    try {
      for (;;) {
        const event = this.queue.shift();
        if (!event) {
          if (inFlight.size === 0) break;
          // Until one finishes or another event is queued.
          await Promise.race([...inFlight, new Promise<void>((resolve) => (this.wake = resolve))]);
          this.wake = null;
          continue;
        }
        const delivery: Promise<void> = this.deliver(event).finally(() => inFlight.delete(delivery));
        inFlight.add(delivery);
        if (inFlight.size >= limit) await Promise.race(inFlight);
      }
    } finally {
      // Cleared in the same step that found the queue empty: were it cleared later (in a `.finally`
      // callback), an event pushed in between would see `running` set, start no drain, and be stranded.
      this.running = null;
    }
  }

  private wake: (() => void) | null = null;
  /** Ids being delivered now: a copy arriving meanwhile is a duplicate too. */
  private readonly delivering = new Set<string>();

  private async deliver(event: VezaEvent): Promise<void> {
    if (this.delivering.has(event.id)) {
      this.bus.metrics.handled.inc({ group: this.group, outcome: 'duplicate' });
      return;
    }
    this.delivering.add(event.id);
    try {
      await this.deliverOnce(event);
    } finally {
      this.delivering.delete(event.id);
    }
  }

  private async deliverOnce(event: VezaEvent): Promise<void> {
    const { metrics, maxAttempts } = this.bus;
    if (this.seen.has(event.id)) {
      metrics.handled.inc({ group: this.group, outcome: 'duplicate' });
      return;
    }
    if (this.options.types && !this.options.types.includes(event.type)) {
      this.seen.add(event.id);
      metrics.handled.inc({ group: this.group, outcome: 'skipped' });
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await this.handler(event);
        metrics.handled.inc({ group: this.group, outcome: 'ok' });
        break;
      } catch (error) {
        if (attempt < maxAttempts) {
          metrics.handled.inc({ group: this.group, outcome: 'retry' });
          await sleep(this.bus.retryDelayMs(attempt));
          continue;
        }
        await this.park(event, errorMessage(error), attempt);
        break;
      }
    }
    this.seen.add(event.id);
  }

  private async park(event: VezaEvent, error: string, attempts: number): Promise<void> {
    const { metrics, parking, logger } = this.bus;
    metrics.handled.inc({ group: this.group, outcome: 'parked' });
    logger.error({ group: this.group, eventId: event.id, type: event.type, attempts, error }, 'event parked after failed deliveries');
    try {
      await parking.park({ group: this.group, event, error, attempts });
    } catch (parkError) {
      // Nowhere durable to put it: the log line above carries the whole event for recovery.
      logger.fatal({ group: this.group, event, error: errorMessage(parkError) }, 'could not park event');
    }
  }
}

/** The default bus: in-process, at-least-once with retries and parking, no persistence across restarts. */
export class MemoryBus implements EventBus {
  readonly kind = 'memory' as const;
  private readonly groups = new Map<string, GroupQueue>();
  private readonly metrics: BusMetrics;
  private closed = false;

  constructor(private readonly options: MemoryBusOptions) {
    this.metrics = new BusMetrics(options.registry);
  }

  async publish(event: VezaEvent): Promise<void> {
    if (this.closed) throw new Error('events bus is closed');
    const parsed = checkEvent(event);
    if (!parsed.ok) throw new Error(`refusing to publish an invalid ${String(event.type)} event: ${parsed.error}`);
    this.metrics.published.inc({ type: event.type });
    for (const queue of this.groups.values()) queue.push(parsed.event);
  }

  async subscribe(group: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    assertGroupName(group);
    if (this.closed) throw new Error('events bus is closed');
    if (this.groups.has(group)) throw new Error(`consumer group ${group} already has a handler in this process`);
    const queue = new GroupQueue(group, handler, options, {
      metrics: this.metrics,
      parking: this.options.parking,
      logger: this.options.logger,
      maxAttempts: this.options.maxAttempts ?? 5,
      retryDelayMs: this.options.retryDelayMs ?? ((n) => Math.min(5000, 100 * 2 ** (n - 1))),
      detach: (g) => this.groups.delete(g),
    });
    this.groups.set(group, queue);
    return queue;
  }

  /** Resolves when every group has handled (or parked) everything published so far. */
  async idle(): Promise<void> {
    await Promise.all([...this.groups.values()].map((q) => q.idle()));
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('events bus is closed');
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.groups.values()].map((q) => q.close()));
  }
}
