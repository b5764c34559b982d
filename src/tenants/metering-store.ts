import { sql } from 'kysely';
import { createEvent } from '../events/catalog.js';
import type { EventBus } from '../events/bus.js';
import type { Storage } from '../storage/database.js';
import { key, USAGE_METRICS, type UsageBucket, type UsageMeter, type UsageMetric } from './metering.js';

export type Granularity = 'minute' | 'hour' | 'day';
export type UsageTotals = Partial<Record<UsageMetric, number>>;

const MINUTE_MS = 60_000;

/**
 * The meter's buckets in the database. A node writes the total it holds for each of its buckets
 * (`tenant_usage` keyed by tenant, minute, metric and node) as a replace: a retried write, or the
 * same journal replayed after a restart, writes the same numbers again.
 */
export class UsageStore {
  constructor(
    private readonly storage: Storage,
    readonly node: string,
  ) {}

  /**
   * Writes the buckets, one statement per tenant: returns the keys of those whose `usage.minute`
   * already went out, the tenants whose write failed (kept for the next try; one tenant's failure
   * holds back no other), and the tenants the database does not know (their usage cannot be kept).
   */
  async write(buckets: readonly UsageBucket[]): Promise<{ published: Set<string>; failed: Map<string, unknown>; unknown: Set<string> }> {
    const published = new Set<string>();
    const failed = new Map<string, unknown>();
    const unknown = new Set<string>();
    const byTenant = new Map<string, UsageBucket[]>();
    for (const bucket of buckets) byTenant.set(bucket.tenant, [...(byTenant.get(bucket.tenant) ?? []), bucket]);
    for (const [tenant, list] of byTenant) {
      const rows = list.flatMap((bucket) =>
        USAGE_METRICS.flatMap((metric, index) => {
          const quantity = bucket.values[index] ?? 0;
          return quantity > 0 ? [{ tenant_id: tenant, metric, minute: new Date(bucket.minute * MINUTE_MS), node: this.node, quantity: String(Math.round(quantity)) }] : [];
        }),
      );
      if (rows.length === 0) continue;
      try {
        const written = await this.storage.withTenant(tenant, (trx) =>
          trx
            .insertInto('tenant_usage')
            .values(rows)
            .onConflict((oc) => oc.columns(['tenant_id', 'minute', 'metric', 'node']).doUpdateSet({ quantity: (eb) => eb.ref('excluded.quantity') }))
            .returning(['minute', 'published'])
            .execute(),
        );
        for (const row of written) if (row.published) published.add(key(new Date(row.minute).getTime() / MINUTE_MS, tenant));
      } catch (error) {
        // 23503: the row names a tenant that does not exist (an event about one, say).
        if ((error as { code?: string }).code === '23503') unknown.add(tenant);
        else failed.set(tenant, error);
      }
    }
    return { published, failed, unknown };
  }

  /**
   * Claims a bus event for this node's meter: true when no node had (the caller counts it), false
   * when one had (a redelivery, to this node after a restart or to another after a node died).
   */
  async claimEvent(eventId: string): Promise<boolean> {
    const claimed = await this.storage.db
      .insertInto('usage_event_claims')
      .values({ event_id: eventId, node: this.node })
      .onConflict((oc) => oc.column('event_id').doNothing())
      .returning('event_id')
      .executeTakeFirst();
    return claimed !== undefined;
  }

  /** Forgets claims older than `days` (the bus redelivers an event within minutes, not weeks). */
  async pruneClaims(days: number): Promise<void> {
    await this.storage.db.deleteFrom('usage_event_claims').where('claimed_at', '<', new Date(Date.now() - days * 86_400_000)).execute();
  }

  async markPublished(tenant: string, minutes: readonly number[]): Promise<void> {
    await this.storage.withTenant(tenant, (trx) =>
      trx
        .updateTable('tenant_usage')
        .set({ published: true })
        .where('node', '=', this.node)
        .where(
          'minute',
          'in',
          minutes.map((m) => new Date(m * MINUTE_MS)),
        )
        .execute(),
    );
  }

  /** A tenant's usage in [from, to), summed over nodes, per bucket of `granularity` (UTC). */
  async series(tenant: string, from: Date, to: Date, granularity: Granularity): Promise<{ start: string; usage: UsageTotals }[]> {
    const rows = await this.storage.withTenant(tenant, (trx) =>
      sql<{ start: string; metric: string; quantity: string }>`
        SELECT to_char(date_trunc(${granularity}, minute AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS start, metric, sum(quantity)::text AS quantity
        FROM tenant_usage WHERE minute >= ${from} AND minute < ${to}
        GROUP BY 1, 2 ORDER BY 1, 2`.execute(trx),
    );
    const series: { start: string; usage: UsageTotals }[] = [];
    for (const row of rows.rows) {
      let last = series.at(-1);
      if (last?.start !== row.start) series.push((last = { start: row.start, usage: {} }));
      if ((USAGE_METRICS as readonly string[]).includes(row.metric)) last.usage[row.metric as UsageMetric] = Number(row.quantity);
    }
    return series;
  }

  async totals(tenant: string, from: Date, to: Date): Promise<UsageTotals> {
    const rows = await this.storage.withTenant(tenant, (trx) =>
      trx
        .selectFrom('tenant_usage')
        .select(['metric', sql<string>`sum(quantity)::text`.as('quantity')])
        .where('minute', '>=', from)
        .where('minute', '<', to)
        .groupBy('metric')
        .execute(),
    );
    const totals: UsageTotals = {};
    for (const row of rows) if ((USAGE_METRICS as readonly string[]).includes(row.metric)) totals[row.metric as UsageMetric] = Number(row.quantity);
    return totals;
  }
}

/**
 * Moves the meter's buckets to the database and settles the minutes that have ended: written,
 * `usage.minute` published (its id names node, minute and tenant, so a retry or a restart that
 * publishes it again is dropped by the bus), marked published, then forgotten by the meter and its
 * journal. A failure leaves everything for the next call.
 */
export class UsageSettler {
  private running: Promise<void> | null = null;

  constructor(
    private readonly meter: UsageMeter,
    private readonly store: UsageStore,
    private readonly bus: EventBus,
    /** Told of a bucket of a tenant the database does not know, which is then dropped. */
    private readonly dropped: (bucket: UsageBucket) => void = () => undefined,
  ) {}

  settle(): Promise<void> {
    this.running ??= this.run().finally(() => (this.running = null));
    return this.running;
  }

  private async run(): Promise<void> {
    const { meter, store } = this;
    meter.tick();
    const current = meter.minuteNow();
    const keys = [...meter.dirty];
    meter.dirty.clear();
    let written: Awaited<ReturnType<UsageStore['write']>>;
    try {
      written = await store.write(keys.flatMap((k) => meter.buckets.get(k) ?? []));
    } catch (error) {
      for (const k of keys) meter.dirty.add(k);
      throw error;
    }
    const { published, failed, unknown } = written;
    for (const k of keys) if (failed.has(meter.buckets.get(k)?.tenant ?? '')) meter.dirty.add(k);
    if (unknown.size > 0) {
      const gone = [...meter.buckets].filter(([, bucket]) => unknown.has(bucket.tenant));
      gone.forEach(([, bucket]) => this.dropped(bucket));
      meter.settled(gone.map(([k]) => k));
    }
    const closed = new Map<string, number[]>();
    const settled: string[] = [];
    for (const [k, bucket] of meter.buckets) {
      if (bucket.minute >= current || meter.dirty.has(k)) continue;
      settled.push(k);
      if (published.has(k)) continue;
      const usage: Record<string, number> = {};
      USAGE_METRICS.forEach((metric, index) => {
        const amount = bucket.values[index] ?? 0;
        if (amount > 0) usage[metric] = Math.round(amount);
      });
      if (Object.keys(usage).length === 0) continue;
      const minute = new Date(bucket.minute * MINUTE_MS);
      await this.bus.publish(
        createEvent('usage.minute', { id: `um:${store.node}:${bucket.minute}:${bucket.tenant}`, tenantId: bucket.tenant, at: minute, payload: { minute: minute.toISOString(), node: store.node, usage } }),
      );
      closed.set(bucket.tenant, [...(closed.get(bucket.tenant) ?? []), bucket.minute]);
    }
    for (const [tenant, minutes] of closed) await store.markPublished(tenant, minutes);
    meter.settled(settled);
    const [first] = failed.values();
    if (first !== undefined) throw first;
  }
}
