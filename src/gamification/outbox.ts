// Events derived from a source event (an achievement from a play, tip.sent from a tip request) are
// written in the same transaction as what caused them, then published. Their ids are derived from
// what they announce, and a bus group sees each id once, so publishing again after a crash or a
// redelivery announces nothing twice.
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { EventBus } from '../events/bus.js';
import { createEvent, parseEvent, type EventPayload, type EventType, type VezaEvent } from '../events/catalog.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/database.js';

type Trx = Parameters<Parameters<Storage['withTenant']>[1]>[0];

/** A stable event id for what a derived event announces (at most 100 characters, as events require). */
export function derivedId(...parts: string[]): string {
  return `gam-${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 40)}`;
}

export class Outbox {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly storage: Storage,
    private readonly bus: EventBus,
    private readonly logger: Logger,
  ) {}

  /** Derived events recorded in each open transaction, for publishing right after its commit. */
  private readonly written = new WeakMap<Trx, VezaEvent[]>();

  /** Records a derived event inside the caller's transaction; it is published after the commit. */
  async add<T extends EventType>(trx: Trx, sourceEventId: string, type: T, init: { tenantId: string; id: string; at: Date; actor?: string; payload: EventPayload<T> }): Promise<void> {
    const event = createEvent(type, init) as VezaEvent;
    await trx
      .insertInto('gam_outbox')
      .values({ tenant_id: init.tenantId, event_id: event.id, source_event_id: sourceEventId, event: JSON.stringify(event) })
      .onConflict((oc) => oc.doNothing())
      .execute();
    this.written.set(trx, [...(this.written.get(trx) ?? []), event]);
  }

  /** What `add` recorded in this transaction (call it inside, publish the result after the commit). */
  taken(trx: Trx): VezaEvent[] {
    const events = this.written.get(trx) ?? [];
    this.written.delete(trx);
    return events;
  }

  /** Publishes events recorded by a committed transaction, then marks them published. */
  async publishEvents(tenantId: string, events: VezaEvent[]): Promise<void> {
    await this.publish(
      tenantId,
      events.map((event) => ({ event_id: event.id, event })),
    );
  }

  /** Publishes what a source event produced and is not yet marked published. */
  async publishFor(tenantId: string, sourceEventId: string): Promise<void> {
    const rows = await this.storage.withTenant(tenantId, (trx) =>
      trx.selectFrom('gam_outbox').select(['event_id', 'event']).where('source_event_id', '=', sourceEventId).where('published_at', 'is', null).execute(),
    );
    await this.publish(tenantId, rows);
  }

  /** Every few seconds, publishes what a crash left behind (rows older than `graceMs`). */
  startSweeper(everyMs: number, graceMs = 10_000): void {
    this.timer = setInterval(() => void this.sweep(graceMs).catch((error: unknown) => this.logger.warn({ err: error }, 'gamification outbox sweep failed')), everyMs);
    this.timer.unref();
  }

  async sweep(graceMs: number): Promise<number> {
    // Maintenance across tenants: the owner connection, as migrations use.
    const rows = await this.storage.db
      .selectFrom('gam_outbox')
      .select(['tenant_id', 'event_id', 'event'])
      .where('published_at', 'is', null)
      .where('created_at', '<', sql<Date>`now() - make_interval(secs => ${graceMs / 1000})`)
      .limit(1000)
      .execute();
    // Applied event ids are kept for a month: far longer than any redelivery.
    await this.storage.db.deleteFrom('gam_processed').where('processed_at', '<', sql<Date>`now() - interval '30 days'`).execute();
    const byTenant = new Map<string, typeof rows>();
    for (const row of rows) byTenant.set(row.tenant_id, [...(byTenant.get(row.tenant_id) ?? []), row]);
    for (const [tenantId, list] of byTenant) await this.publish(tenantId, list);
    return rows.length;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async publish(tenantId: string, rows: { event_id: string; event: unknown }[]): Promise<void> {
    if (rows.length === 0) return;
    for (const row of rows) {
      const parsed = parseEvent(typeof row.event === 'string' ? JSON.parse(row.event) : row.event);
      // (Events recorded a moment ago validate again here: cheap, and the path is the same for both.)
      if (!parsed.ok) throw new Error(`outbox event ${row.event_id} no longer validates: ${parsed.error}`);
      await this.bus.publish(parsed.event);
    }
    await this.storage.withTenant(tenantId, (trx) =>
      trx
        .updateTable('gam_outbox')
        .set({ published_at: new Date() })
        .where(
          'event_id',
          'in',
          rows.map((r) => r.event_id),
        )
        .execute(),
    );
  }
}
