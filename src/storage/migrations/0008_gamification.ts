import { sql, type Kysely } from 'kysely';
import { APP_ROLE } from '../tenancy.js';
import { enableTenantRls } from './0001_foundation.js';

const TABLES = ['gam_rules', 'gam_processed', 'gam_progress', 'gam_awards', 'gam_users', 'gam_quests', 'gam_contributions', 'gam_outbox', 'tips', 'ledger_entries', 'test_payments'];

/**
 * Gamification and tips: achievement rules as versioned data, the events already applied (so a
 * redelivery changes nothing), per-user progress, awards (one per user and achievement, whatever the
 * rule's version), points and levels, community quests, an outbox for the events derived from each
 * source event; and tips with their double-entry ledger and the test-mode provider's payments.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('gam_rules')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('rule_id', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('definition', 'jsonb', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('gam_rules_pk', ['tenant_id', 'rule_id', 'version'])
    .execute();

  await db.schema
    .createTable('gam_processed')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('processed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('gam_processed_pk', ['tenant_id', 'event_id'])
    .execute();
  await db.schema.createIndex('gam_processed_at_idx').on('gam_processed').column('processed_at').execute();

  // `counter` fingerprints what a rule counts: a new version that counts the same thing keeps the progress.
  await db.schema
    .createTable('gam_progress')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('rule_id', 'text', (c) => c.notNull())
    .addColumn('counter', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('state', 'jsonb', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('gam_progress_pk', ['tenant_id', 'user_id', 'rule_id', 'counter'])
    .execute();

  await db.schema
    .createTable('gam_awards')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('achievement_id', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('points', 'integer', (c) => c.notNull())
    .addColumn('reward', 'jsonb')
    .addColumn('awarded_at', 'timestamptz', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('gam_awards_pk', ['tenant_id', 'user_id', 'achievement_id'])
    .execute();
  // A redelivered event finds what it awarded (for the leaderboards) by its id.
  await db.schema.createIndex('gam_awards_event_idx').on('gam_awards').columns(['tenant_id', 'event_id']).execute();

  await db.schema
    .createTable('gam_users')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('points', 'bigint', (c) => c.notNull())
    .addColumn('level', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('gam_users_pk', ['tenant_id', 'user_id'])
    .execute();

  await db.schema
    .createTable('gam_quests')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('quest_id', 'text', (c) => c.notNull())
    .addColumn('definition', 'jsonb', (c) => c.notNull())
    .addColumn('starts_at', 'timestamptz', (c) => c.notNull())
    .addColumn('ends_at', 'timestamptz', (c) => c.notNull())
    .addColumn('progress', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('completed_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('gam_quests_pk', ['tenant_id', 'quest_id'])
    .execute();

  await db.schema
    .createTable('gam_contributions')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('quest_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('gam_contributions_pk', ['tenant_id', 'quest_id', 'user_id'])
    .execute();

  await db.schema
    .createTable('gam_outbox')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('source_event_id', 'text', (c) => c.notNull())
    .addColumn('event', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('published_at', 'timestamptz')
    .addPrimaryKeyConstraint('gam_outbox_pk', ['tenant_id', 'event_id'])
    .execute();
  await db.schema.createIndex('gam_outbox_source_idx').on('gam_outbox').columns(['tenant_id', 'source_event_id']).execute();
  // The sweeper's question: what is still unpublished, oldest first.
  await db.schema.createIndex('gam_outbox_pending_idx').on('gam_outbox').column('created_at').where(sql.ref('published_at'), 'is', null).execute();

  // One tip per (sender, idempotency key); the request's hash tells a retry from a reused key.
  await db.schema
    .createTable('tips')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('tip_id', 'text', (c) => c.notNull())
    .addColumn('from_user', 'text', (c) => c.notNull())
    .addColumn('idempotency_key', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('to_user', 'text', (c) => c.notNull())
    .addColumn('amount_minor', 'bigint', (c) => c.notNull().check(sql`amount_minor > 0`))
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('message', 'text')
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('sent', 'refunded')`))
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('provider_ref', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('refunded_at', 'timestamptz')
    .addColumn('refund_reason', 'text')
    .addPrimaryKeyConstraint('tips_pk', ['tenant_id', 'tip_id'])
    .addUniqueConstraint('tips_idempotency_uq', ['tenant_id', 'from_user', 'idempotency_key'])
    .execute();
  await db.schema.createIndex('tips_room_idx').on('tips').columns(['tenant_id', 'room_id', 'created_at']).execute();

  // Double entry: every transaction's lines sum to zero per currency (amounts signed, minor units).
  await db.schema
    .createTable('ledger_entries')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('transaction_id', 'text', (c) => c.notNull())
    .addColumn('line', 'integer', (c) => c.notNull())
    .addColumn('account', 'text', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('amount_minor', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('ledger_entries_pk', ['tenant_id', 'transaction_id', 'line'])
    .execute();
  await db.schema.createIndex('ledger_entries_account_idx').on('ledger_entries').columns(['tenant_id', 'account', 'currency']).execute();

  // What the built-in test-mode provider "charged": no money moves, the rows say so.
  await db.schema
    .createTable('test_payments')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('reference', 'text', (c) => c.notNull())
    .addColumn('tip_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('charge', 'refund')`))
    .addColumn('amount_minor', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('test_payments_pk', ['tenant_id', 'reference'])
    .addUniqueConstraint('test_payments_once_uq', ['tenant_id', 'tip_id', 'kind'])
    .execute();

  for (const table of TABLES) {
    await sql.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${APP_ROLE}`).execute(db);
    await enableTenantRls(db, table, 'tenant_id');
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of TABLES.toReversed()) await db.schema.dropTable(table).execute();
}
