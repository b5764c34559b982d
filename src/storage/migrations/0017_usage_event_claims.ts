import { sql, type Kysely } from 'kysely';

/**
 * Metering of bus events across nodes: the nodes share one consumer group, so an event a node took
 * and did not acknowledge (it died) goes to another node. Each event is claimed here, once, before a
 * node counts it; a node that finds it claimed already does not count it again. Platform data (the
 * owner's), kept for a while and then pruned.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('usage_event_claims')
    .addColumn('event_id', 'text', (c) => c.primaryKey())
    .addColumn('node', 'text', (c) => c.notNull())
    .addColumn('claimed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('usage_event_claims_claimed_at').on('usage_event_claims').column('claimed_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('usage_event_claims').execute();
}
