import { sql } from 'kysely';
import type { Storage } from '../storage/database.js';
import { DEFAULT_TENANT, TENANT_ID_PATTERN } from '../storage/schema.js';
import type { ParkedEvent, ParkingLot } from './bus.js';

const FOREIGN_KEY_VIOLATION = '23503';

/**
 * Parks events in the tenant's `parked_events` table; a second park of the same event updates it.
 * An event whose tenant is unknown (malformed, or no `tenants` row) is parked under the default
 * tenant with the whole event kept, rather than lost.
 */
export class DatabaseParkingLot implements ParkingLot {
  constructor(private readonly storage: Storage) {}

  async park(parked: ParkedEvent): Promise<void> {
    const tenantId = TENANT_ID_PATTERN.test(parked.event.tenantId) ? parked.event.tenantId : DEFAULT_TENANT;
    try {
      await this.insert(tenantId, parked);
    } catch (error) {
      if (tenantId === DEFAULT_TENANT || (error as { code?: string }).code !== FOREIGN_KEY_VIOLATION) throw error;
      await this.insert(DEFAULT_TENANT, { ...parked, error: `tenant ${tenantId} does not exist; ${parked.error}` });
    }
  }

  private async insert(tenantId: string, { group, event, error, attempts }: ParkedEvent): Promise<void> {
    await this.storage.withTenant(tenantId, (trx) =>
      trx
        .insertInto('parked_events')
        .values({
          tenant_id: tenantId,
          consumer_group: group,
          event_id: event.id,
          type: event.type,
          event: JSON.stringify(event),
          error: error.slice(0, 10_000),
          attempts,
        })
        .onConflict((oc) =>
          oc.columns(['tenant_id', 'consumer_group', 'event_id']).doUpdateSet({ error: (eb) => eb.ref('excluded.error'), attempts: (eb) => eb.ref('excluded.attempts'), parked_at: sql`now()` }),
        )
        .execute(),
    );
  }
}

/** Parking in memory, for tests and tools that run without storage. */
export class MemoryParkingLot implements ParkingLot {
  readonly parked: ParkedEvent[] = [];
  async park(parked: ParkedEvent): Promise<void> {
    this.parked.push(parked);
  }
}
