import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../log.js';
import type { EventType, VezaEvent } from './catalog.js';

export type EventHandler = (event: VezaEvent) => Promise<void> | void;

export interface SubscribeOptions {
  /** Only these types reach the handler (others are acknowledged without a call). */
  types?: readonly EventType[];
  /**
   * Events the handler may have in flight at once (default 1: one after another, in order). A
   * handler that batches its writes (it resolves when the batch is stored) needs more than one, or
   * every event waits for its own batch.
   */
  concurrency?: number;
  /**
   * A group of this node alone (every node hears every event, e.g. to drop a cache): on Redis the
   * bus names it for itself (`<group>.<host>-<pid>-<random>`) and removes it from the stream when
   * the subscription closes; the in-process bus is one node's already.
   */
  ephemeral?: boolean;
}

export interface Subscription {
  readonly group: string;
  /**
   * Stops taking new events. The in-process bus first delivers what is already queued (it would be
   * lost otherwise); the Redis bus stops after the event in hand and leaves the rest pending for the
   * group's other consumers.
   */
  close(): Promise<void>;
}

/**
 * At-least-once delivery to consumer groups: every group sees every published event; a handler
 * that throws is retried, and after `maxAttempts` deliveries the event is parked (stored with the
 * error) rather than dropped. A group sees each event id once, so a publisher may retry safely.
 */
export interface EventBus {
  readonly kind: 'memory' | 'redis';
  publish(event: VezaEvent): Promise<void>;
  /** Resolves once the group exists, so events published afterwards reach it. */
  subscribe(group: string, handler: EventHandler, options?: SubscribeOptions): Promise<Subscription>;
  /** Throws when the bus cannot take events now (for /readyz). */
  ping(): Promise<void>;
  /** Stops consuming, waits for handlers in flight, releases connections. */
  close(): Promise<void>;
}

export interface ParkedEvent {
  group: string;
  /** The event, or the raw entry when it could not be parsed. */
  event: VezaEvent | { raw: unknown; tenantId: string; id: string; type: string };
  error: string;
  attempts: number;
}

/** Where events go that a group could not handle. */
export interface ParkingLot {
  park(parked: ParkedEvent): Promise<void>;
}

export interface BusOptions {
  logger: Logger;
  parking: ParkingLot;
  registry?: Registry;
  maxAttempts?: number;
}

export const CONSUMER_GROUP_PATTERN = /^[a-z0-9][a-z0-9._-]{0,99}$/;

export function assertGroupName(group: string): void {
  if (!CONSUMER_GROUP_PATTERN.test(group)) throw new Error(`invalid consumer group name ${JSON.stringify(group)}`);
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Counters shared by both bus implementations, so dashboards do not care which one runs. */
export class BusMetrics {
  readonly published: Counter<'type'>;
  readonly handled: Counter<'group' | 'outcome'>;

  constructor(registry: Registry | undefined) {
    const registers = registry ? [registry] : [];
    this.published = new Counter({ name: 'veza_events_published_total', help: 'Events published', labelNames: ['type'], registers });
    this.handled = new Counter({
      name: 'veza_events_handled_total',
      help: 'Event deliveries by outcome (ok, retry, parked, duplicate, skipped)',
      labelNames: ['group', 'outcome'],
      registers,
    });
  }
}

/** Remembers the last `capacity` ids; enough to drop redeliveries and publisher retries. */
export class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly capacity = 100_000) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
  }
}
