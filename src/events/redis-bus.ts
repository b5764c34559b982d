import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { checkEvent, parseEvent, type ParseResult, type VezaEvent } from './catalog.js';
import {
  assertGroupName,
  BusMetrics,
  errorMessage,
  type BusOptions,
  type EventBus,
  type EventHandler,
  type ParkingLot,
  type SubscribeOptions,
  type Subscription,
} from './bus.js';

export interface RedisBusOptions extends BusOptions {
  url: string;
  /** Stream key; every node of one deployment uses the same. */
  stream?: string;
  /** Approximate number of entries kept in the stream. */
  maxLen?: number;
  /** A pending entry idle this long is redelivered: its consumer crashed, or its handler failed. */
  claimIdleMs?: number;
  /** How long one XREADGROUP blocks waiting for new entries. */
  blockMs?: number;
  /** How long a group remembers the event ids it has handled. */
  doneTtlSeconds?: number;
}

type StreamEntry = [id: string, fields: string[] | null];

/** The value of the entry's `event` field; fields alternate name, value (a value may itself be "event"). */
function eventField(fields: string[]): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'event') return fields[i + 1];
  return undefined;
}

/**
 * Events bus on one Redis Stream with a consumer group per subscriber group. Entries are acknowledged
 * only after their handler succeeded (or they were parked), so a consumer that dies leaves them
 * pending and a live consumer of its group claims them with XAUTOCLAIM. Deliveries are counted in
 * Redis before each call, so an event that crashes its consumer every time is still parked.
 */
export class RedisBus implements EventBus {
  readonly kind = 'redis' as const;
  private readonly publisher: Redis;
  private readonly consumers = new Set<RedisConsumer>();
  private readonly metrics: BusMetrics;
  private readonly stream: string;
  private closed = false;

  constructor(private readonly options: RedisBusOptions) {
    this.stream = options.stream ?? 'veza:events';
    this.metrics = new BusMetrics(options.registry);
    this.publisher = new Redis(options.url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    this.publisher.on('error', (error: Error) => options.logger.warn({ error: error.message }, 'redis events bus connection error'));
  }

  async connect(): Promise<this> {
    await this.publisher.connect();
    return this;
  }

  async publish(event: VezaEvent): Promise<void> {
    if (this.closed) throw new Error('events bus is closed');
    const parsed = checkEvent(event);
    if (!parsed.ok) throw new Error(`refusing to publish an invalid ${String(event.type)} event: ${parsed.error}`);
    await this.publisher.xadd(this.stream, 'MAXLEN', '~', String(this.options.maxLen ?? 1_000_000), '*', 'event', JSON.stringify(parsed.event));
    this.metrics.published.inc({ type: event.type });
  }

  /** This bus among the nodes: host, pid and a random part, in the characters a group name may hold. */
  private readonly nodeTag = `${hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`;

  async subscribe(group: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    assertGroupName(group);
    if (this.closed) throw new Error('events bus is closed');
    // A group of this node alone: named for this bus, so that every node (several may share a
    // process, as in tests) has its own.
    const name = options.ephemeral ? `${group}.${this.nodeTag}` : group;
    const consumer = new RedisConsumer(name, handler, options, {
      connection: this.publisher.duplicate({ maxRetriesPerRequest: null }),
      control: this.publisher,
      stream: this.stream,
      logger: this.options.logger,
      parking: this.options.parking,
      metrics: this.metrics,
      maxAttempts: this.options.maxAttempts ?? 5,
      claimIdleMs: this.options.claimIdleMs ?? 30_000,
      blockMs: this.options.blockMs ?? 2_000,
      doneTtlSeconds: this.options.doneTtlSeconds ?? 7 * 24 * 3600,
      detach: (c) => this.consumers.delete(c),
    });
    await consumer.start();
    this.consumers.add(consumer);
    return consumer;
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('events bus is closed');
    await this.publisher.ping();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.consumers].map((c) => c.close()));
    await this.publisher.quit().catch(() => this.publisher.disconnect());
  }
}

interface ConsumerContext {
  connection: Redis;
  /** The bus's own connection, never blocked in a read: removes an ephemeral group at close. */
  control: Redis;
  stream: string;
  logger: Logger;
  parking: ParkingLot;
  metrics: BusMetrics;
  maxAttempts: number;
  claimIdleMs: number;
  blockMs: number;
  doneTtlSeconds: number;
  detach(consumer: RedisConsumer): void;
}

class RedisConsumer implements Subscription {
  private readonly name = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly redis: Redis;
  private closed = false;
  private loop: Promise<void> = Promise.resolve();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    readonly group: string,
    private readonly handler: EventHandler,
    private readonly options: SubscribeOptions,
    private readonly ctx: ConsumerContext,
  ) {
    this.redis = ctx.connection;
    this.redis.on('error', (error: Error) => ctx.logger.warn({ group, error: error.message }, 'redis consumer connection error'));
  }

  private key(kind: 'done' | 'attempts' | 'errors' | 'lease', id = ''): string {
    return `${this.ctx.stream}:${kind}:${this.group}${id ? `:${id}` : ''}`;
  }

  async start(): Promise<void> {
    await this.ensureGroup();
    this.loop = this.run();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.inFlight);
    // The loop's read may be blocked on this connection for up to blockMs: end it now rather than
    // queue behind it, then remove this node's own group through the bus's connection.
    this.redis.disconnect();
    await this.loop;
    if (this.options.ephemeral) await this.ctx.control.xgroup('DESTROY', this.ctx.stream, this.group).catch(() => undefined);
    this.ctx.detach(this);
  }

  private async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.ctx.stream, this.group, '$', 'MKSTREAM');
    } catch (error) {
      if (!errorMessage(error).includes('BUSYGROUP')) throw error;
    }
  }

  private async run(): Promise<void> {
    let nextClaimAt = 0;
    const limit = Math.max(1, this.options.concurrency ?? 1);
    while (!this.closed) {
      try {
        if (this.inFlight.size >= limit) {
          await Promise.race(this.inFlight);
          continue;
        }
        if (Date.now() >= nextClaimAt) {
          await this.claimStale();
          nextClaimAt = Date.now() + Math.max(50, this.ctx.claimIdleMs / 2);
        }
        // While handlers are in flight, read without blocking: a blocked read would hold up their
        // acknowledgements, which share this connection.
        const block = Math.max(10, Math.min(this.ctx.blockMs, nextClaimAt - Date.now()));
        const wait: (string | number)[] = this.inFlight.size > 0 ? [] : ['BLOCK', block];
        const count = Math.min(100, limit - this.inFlight.size);
        const reply = (await this.redis.call('XREADGROUP', 'GROUP', this.group, this.name, 'COUNT', count, ...wait, 'STREAMS', this.ctx.stream, '>')) as
          | [string, StreamEntry[]][]
          | null;
        for (const [, entries] of reply ?? []) await this.handleAll(entries);
        if (!reply && this.inFlight.size > 0) await Promise.race([...this.inFlight, sleep(20)]);
      } catch (error) {
        if (this.closed) break;
        const message = errorMessage(error);
        if (message.includes('NOGROUP')) {
          await this.ensureGroup().catch(() => undefined);
        } else {
          this.ctx.logger.warn({ group: this.group, error: message }, 'events consumer waiting for redis');
          await sleep(500);
        }
      }
    }
  }

  /** Takes over entries that stayed unacknowledged too long: a dead consumer's, or failed ones. */
  private async claimStale(): Promise<void> {
    let cursor = '0-0';
    for (let page = 0; page < 100 && !this.closed; page++) {
      const [next, entries] = (await this.redis.xautoclaim(this.ctx.stream, this.group, this.name, this.ctx.claimIdleMs, cursor, 'COUNT', 100)) as [
        string,
        StreamEntry[],
      ];
      await this.handleAll(entries);
      if (next === '0-0') return;
      cursor = next;
    }
  }

  /**
   * Entries one after another, or (with `concurrency`, see SubscribeOptions) up to that many in
   * flight while the loop reads more. A failure of Redis itself leaves the entry pending: it is
   * claimed again later.
   */
  private async handleAll(entries: StreamEntry[]): Promise<void> {
    const limit = Math.max(1, this.options.concurrency ?? 1);
    for (const [entryId, fields] of entries) {
      if (this.closed) return;
      if (!fields) continue; // trimmed from the stream while pending
      while (this.inFlight.size >= limit) await Promise.race(this.inFlight);
      const work: Promise<void> = this.handleEntry(entryId, fields)
        .catch((error: unknown) => this.ctx.logger.warn({ group: this.group, entryId, error: errorMessage(error) }, 'event left pending after a redis error'))
        .finally(() => this.inFlight.delete(work));
      this.inFlight.add(work);
      if (limit === 1) await work;
    }
  }

  private async handleEntry(entryId: string, fields: string[]): Promise<void> {
    const { metrics } = this.ctx;
    const raw = eventField(fields);
    let parsed: ParseResult;
    try {
      parsed = raw === undefined ? { ok: false, error: 'no "event" field' } : parseEvent(JSON.parse(raw));
    } catch (error) {
      parsed = { ok: false, error: errorMessage(error) };
    }
    if (!parsed.ok) {
      await this.ctx.parking.park({
        group: this.group,
        // Without an `event` field, park the whole entry (names and values) so nothing of it is lost.
        event: { raw: raw ?? fields, tenantId: '', id: `stream:${entryId}`, type: 'invalid' },
        error: `unreadable stream entry: ${parsed.error}`,
        attempts: 1,
      });
      metrics.handled.inc({ group: this.group, outcome: 'parked' });
      await this.acknowledge(entryId);
      return;
    }
    const event = parsed.event;
    if (this.options.types && !this.options.types.includes(event.type)) {
      metrics.handled.inc({ group: this.group, outcome: 'skipped' });
      await this.acknowledge(entryId, event.id);
      return;
    }
    // Two entries of one event (a publisher retry) can reach two consumers of the group at once, so
    // "done?" and "mine?" are asked together: the entry holding the event's lease handles it; another
    // entry of the same event stays pending until it is claimed again and finds the event done (or,
    // should the holder's entry be gone, the lease expired, and takes over).
    const [done, mine] = await this.leaseFor(entryId, event.id);
    if (done) {
      metrics.handled.inc({ group: this.group, outcome: 'duplicate' });
      await this.acknowledge(entryId, mine ? event.id : undefined);
      return;
    }
    if (!mine) {
      this.ctx.logger.debug({ group: this.group, eventId: event.id, entryId }, 'event is being handled from another entry; left pending');
      return;
    }
    const attempt = await this.redis.hincrby(this.key('attempts'), entryId, 1);
    if (attempt > this.ctx.maxAttempts) {
      const lastError = (await this.redis.hget(this.key('errors'), entryId)) ?? 'consumer stopped while handling it';
      await this.park(entryId, event, lastError, attempt - 1);
      return;
    }
    try {
      await this.handler(event);
    } catch (error) {
      const message = errorMessage(error);
      if (attempt >= this.ctx.maxAttempts) {
        await this.park(entryId, event, message, attempt);
      } else {
        // Left pending: XAUTOCLAIM hands it out again once it has been idle for claimIdleMs.
        await this.redis.hset(this.key('errors'), entryId, message.slice(0, 2000));
        metrics.handled.inc({ group: this.group, outcome: 'retry' });
      }
      return;
    }
    metrics.handled.inc({ group: this.group, outcome: 'ok' });
    await this.acknowledge(entryId, event.id);
  }

  private async park(entryId: string, event: VezaEvent, error: string, attempts: number): Promise<void> {
    this.ctx.logger.error({ group: this.group, eventId: event.id, type: event.type, attempts, error }, 'event parked after failed deliveries');
    await this.ctx.parking.park({ group: this.group, event, error, attempts });
    this.ctx.metrics.handled.inc({ group: this.group, outcome: 'parked' });
    await this.acknowledge(entryId, event.id);
  }

  /**
   * Whether the group is done with the event, and whether this entry holds (or just took) the
   * event's lease. The lease is sized to outlast the holder's retries, so a copy takes over only
   * from a holder whose entry disappeared.
   */
  private async leaseFor(entryId: string, eventId: string): Promise<[done: boolean, mine: boolean]> {
    const lease = this.key('lease', eventId);
    const ttlMs = this.ctx.claimIdleMs * (this.ctx.maxAttempts + 1);
    const replies = await this.redis.multi().set(lease, entryId, 'PX', ttlMs, 'NX').get(lease).exists(this.key('done', eventId)).exec();
    if (!replies) throw new Error('events bus lease transaction was discarded');
    for (const [error] of replies) if (error) throw error;
    return [replies[2]![1] === 1, replies[1]![1] === entryId];
  }

  /** Acknowledges the entry and, given its event id, remembers the event as done and frees its lease, in one MULTI. */
  private async acknowledge(entryId: string, eventId?: string): Promise<void> {
    const tx = this.redis.multi().xack(this.ctx.stream, this.group, entryId).hdel(this.key('attempts'), entryId).hdel(this.key('errors'), entryId);
    if (eventId) tx.set(this.key('done', eventId), '1', 'EX', this.ctx.doneTtlSeconds).del(this.key('lease', eventId));
    await tx.exec();
  }
}
