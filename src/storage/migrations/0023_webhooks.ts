import { sql, type Kysely } from 'kysely';
import { APP_ROLE } from '../tenancy.js';
import { enableTenantRls } from './0001_foundation.js';

/**
 * Tenants' webhooks: the endpoints (URL, subscribed event types, signing secrets, enabled), the
 * messages made from bus events (the body every attempt sends, once per event), the deliveries of a
 * message to an endpoint (the outbox the sender works through, due at `next_attempt_at`), and the
 * log of every attempt.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('wh_endpoints')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('event_types', 'jsonb', (c) => c.notNull())
    .addColumn('secrets', 'jsonb', (c) => c.notNull())
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('disabled_reason', 'text')
    .addColumn('failing_since', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('wh_endpoints_pk', ['tenant_id', 'id'])
    .execute();

  await db.schema
    .createTable('wh_messages')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('wh_messages_pk', ['tenant_id', 'id'])
    .addUniqueConstraint('wh_messages_event_uq', ['tenant_id', 'event_id'])
    .execute();
  await db.schema.createIndex('wh_messages_created_idx').on('wh_messages').columns(['tenant_id', 'created_at']).execute();

  await db.schema
    .createTable('wh_deliveries')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('endpoint_id', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('pending').check(sql`state IN ('pending', 'delivered', 'failed')`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull())
    .addColumn('replay_of', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .addPrimaryKeyConstraint('wh_deliveries_pk', ['tenant_id', 'id'])
    .execute();
  // The sender's one question, across tenants: which pending deliveries are due.
  await sql`CREATE INDEX wh_deliveries_due_idx ON wh_deliveries (next_attempt_at) WHERE state = 'pending'`.execute(db);
  await db.schema.createIndex('wh_deliveries_message_idx').on('wh_deliveries').columns(['tenant_id', 'message_id']).execute();

  await db.schema
    .createTable('wh_attempts')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('delivery_id', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('endpoint_id', 'text', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status IN ('succeeded', 'failed')`))
    .addColumn('response_code', 'integer')
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('response_body', 'text')
    .addPrimaryKeyConstraint('wh_attempts_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema.createIndex('wh_attempts_message_idx').on('wh_attempts').columns(['tenant_id', 'message_id', 'at']).execute();
  await db.schema.createIndex('wh_attempts_endpoint_idx').on('wh_attempts').columns(['tenant_id', 'endpoint_id', 'at']).execute();

  for (const table of ['wh_endpoints', 'wh_messages', 'wh_deliveries', 'wh_attempts']) {
    await sql.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${APP_ROLE}`).execute(db);
    await enableTenantRls(db, table, 'tenant_id');
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['wh_attempts', 'wh_deliveries', 'wh_messages', 'wh_endpoints']) await db.schema.dropTable(table).execute();
}
