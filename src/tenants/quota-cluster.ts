// Quotas across nodes through Redis, off the message path: each quarter second a node adds what it
// counted to the shared counts of that quarter and reads the whole last second back, in one
// pipeline; its connections and live rooms are shared as gauges that expire, so a node that dies
// stops counting within a few seconds. Nothing here runs per message.
//
// Keys (under the node's prefix, `<events stream>:quotas`):
//   <prefix>:r:<quarter>  hash  `<tenant>:<rate>` → count of every node in that quarter (expires)
//   <prefix>:g            hash  `<tenant>|<node>` → `<connections>,<rooms>,<expires at ms>`
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { RATES, SLOT_MS, SLOTS, type Rate, type TenantQuotaState } from './quota-state.js';

/** A node's gauges vanish this long after its last write. */
const GAUGE_TTL_MS = 3000;
const RATE_KEY_TTL_MS = (SLOTS + 4) * SLOT_MS;
const RATE_CODE: Record<Rate, string> = { messages: 'm', bytes: 'b', joins: 'j', requests: 'r' };
const CODE_RATE: Record<string, Rate | undefined> = { m: 'messages', b: 'bytes', j: 'joins', r: 'requests' };

interface Own {
  quarter: number;
  counts: Record<Rate, number>;
}

export class QuotaCluster {
  readonly nodeId = randomBytes(6).toString('hex');
  private readonly redis: Redis;
  /** Per tenant, what this node added to each of the last quarters. */
  private readonly own = new Map<string, Own[]>();
  /** Tenants whose gauge this node has written (written again, or deleted when it drops to zero). */
  private readonly gauged = new Set<string>();
  private busy = false;
  private failing = false;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    this.redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
    this.redis.on('error', () => undefined);
  }

  async connect(): Promise<this> {
    await this.redis.connect();
    return this;
  }

  /**
   * One exchange: adds the quarter each state just closed (`done`), then reads the last second of
   * every node and the gauges, and sets each state's remote counts. A slow Redis skips a turn rather
   * than queueing exchanges.
   */
  async exchange(states: Iterable<TenantQuotaState>, done: Map<TenantQuotaState, Record<Rate, number>>, now = Date.now()): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    const quarter = Math.floor(now / SLOT_MS);
    const rateKey = (q: number) => `${this.prefix}:r:${q}`;
    const gaugeKey = `${this.prefix}:g`;
    try {
      const pipeline = this.redis.pipeline();
      for (const [state, counts] of done) {
        for (const rate of RATES) if (counts[rate] > 0) pipeline.hincrby(rateKey(quarter), `${state.tenantId}:${RATE_CODE[rate]}`, counts[rate]);
        this.remember(state.tenantId, quarter, counts);
      }
      if (done.size > 0) pipeline.pexpire(rateKey(quarter), RATE_KEY_TTL_MS);
      const list = [...states];
      for (const state of list) {
        const field = `${state.tenantId}|${this.nodeId}`;
        if (state.connections > 0 || state.rooms > 0) {
          pipeline.hset(gaugeKey, field, `${state.connections},${state.rooms},${now + GAUGE_TTL_MS}`);
          this.gauged.add(state.tenantId);
        } else if (this.gauged.delete(state.tenantId)) pipeline.hdel(gaugeKey, field);
      }
      for (let q = quarter - SLOTS + 1; q <= quarter; q++) pipeline.hgetall(rateKey(q));
      pipeline.hgetall(gaugeKey);
      const results = (await pipeline.exec()) ?? [];
      const reads = results.slice(results.length - SLOTS - 1).map(([error, value]) => {
        if (error) throw error;
        return value as Record<string, string>;
      });
      this.apply(list, reads.slice(0, SLOTS), reads[SLOTS]!, quarter, now);
      if (this.failing) this.logger.info('quota counts shared through Redis again');
      this.failing = false;
    } catch (error) {
      // Each node keeps enforcing on its own counts and the last-known others' until Redis answers.
      if (!this.failing) this.logger.warn({ err: error }, 'could not share quota counts through Redis; enforcing on the last-known counts');
      this.failing = true;
    } finally {
      this.busy = false;
    }
  }

  private remember(tenantId: string, quarter: number, counts: Record<Rate, number>): void {
    let own = this.own.get(tenantId);
    if (!own) this.own.set(tenantId, (own = []));
    own.unshift({ quarter, counts: { ...counts } });
    if (own.length > SLOTS) own.length = SLOTS;
  }

  private apply(states: TenantQuotaState[], quarters: Record<string, string>[], gauges: Record<string, string>, quarter: number, now: number): void {
    const remoteGauges = new Map<string, { connections: number; rooms: number }>();
    const expired: string[] = [];
    for (const [field, value] of Object.entries(gauges)) {
      const [tenantId, node] = field.split('|') as [string, string];
      const [connections, rooms, expires] = value.split(',').map(Number) as [number, number, number];
      if (!(expires > now)) {
        expired.push(field);
        continue;
      }
      if (node === this.nodeId) continue;
      const sum = remoteGauges.get(tenantId) ?? { connections: 0, rooms: 0 };
      sum.connections += connections;
      sum.rooms += rooms;
      remoteGauges.set(tenantId, sum);
    }
    if (expired.length > 0) this.redis.hdel(`${this.prefix}:g`, ...expired).catch(() => undefined);
    // Only tenants that sent anything in the last second have fields; the others' counts are zero.
    const totals = new Map<string, Record<Rate, number>>();
    for (const counts of quarters) {
      for (const [field, value] of Object.entries(counts)) {
        const cut = field.lastIndexOf(':');
        const rate = CODE_RATE[field.slice(cut + 1)];
        if (!rate) continue;
        const tenantId = field.slice(0, cut);
        let sum = totals.get(tenantId);
        if (!sum) totals.set(tenantId, (sum = { messages: 0, bytes: 0, joins: 0, requests: 0 }));
        sum[rate] += Number(value);
      }
    }
    for (const state of states) {
      const total = totals.get(state.tenantId);
      const own = this.own.get(state.tenantId);
      if (own) while (own.length > 0 && own[own.length - 1]!.quarter <= quarter - SLOTS) own.pop();
      for (const rate of RATES) {
        const mine = own ? own.reduce((sum, entry) => sum + entry.counts[rate], 0) : 0;
        state.remote[rate] = total ? Math.max(0, total[rate] - mine) : 0;
      }
      state.rebase();
      const gauge = remoteGauges.get(state.tenantId);
      state.remoteConnections = gauge?.connections ?? 0;
      state.remoteRooms = gauge?.rooms ?? 0;
    }
  }

  /** Forgets a tenant's state (dropped while idle). */
  forget(tenantId: string): void {
    this.own.delete(tenantId);
  }

  async close(): Promise<void> {
    // This node's gauges go at once rather than when they expire.
    const fields = [...this.gauged].map((tenantId) => `${tenantId}|${this.nodeId}`);
    if (fields.length > 0) await this.redis.hdel(`${this.prefix}:g`, ...fields).catch(() => undefined);
    this.redis.disconnect();
  }
}
