import { sql, type Kysely } from 'kysely';
import { APP_ROLE } from '../tenancy.js';
import { enableTenantRls } from './0001_foundation.js';

/**
 * Creator insights: rollups that the event consumer keeps up to date, so that every query reads a
 * bounded range of a primary key (a track's hours, a track's days, a user's days) and never the raw
 * event stream. Creators are not stored here: a track's creator is its `rec_items.artist_id`, joined
 * at query time, so a catalogue correction applies to the past too.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Per track and hour: what the realtime dashboard's 48 hours and every period total sum.
  await db.schema
    .createTable('ins_track_hours')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('track_id', 'text', (c) => c.notNull())
    .addColumn('hour', 'timestamptz', (c) => c.notNull())
    .addColumn('plays', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('completes', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('skips', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('listen_ms', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('likes', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('shares', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('purchases', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('ins_track_hours_pk', ['tenant_id', 'track_id', 'hour'])
    .execute();

  // Per track, day and listener: distinct listeners of any period, and listener cohorts.
  await db.schema
    .createTable('ins_track_listeners')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('track_id', 'text', (c) => c.notNull())
    .addColumn('day', 'date', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('plays', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('ins_track_listeners_pk', ['tenant_id', 'track_id', 'day', 'user_id'])
    .execute();

  // Per track, day and listener segment: the heat-map, as one count per timeline bucket (2 % of the
  // track) in each array. One row per (track, day, segment) rather than per bucket keeps the table
  // the size of the listener table instead of fifty times it.
  await sql
    .raw(
      // A loop: three times faster than unnest/array_agg (measured on 50 000 arrays of 50).
      `CREATE OR REPLACE FUNCTION veza_add_counts(a integer[], b integer[]) RETURNS integer[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
         DECLARE r integer[] := a;
         BEGIN
           FOR i IN 1..greatest(coalesce(array_length(a, 1), 0), coalesce(array_length(b, 1), 0)) LOOP
             r[i] := coalesce(a[i], 0) + coalesce(b[i], 0);
           END LOOP;
           RETURN r;
         END
       $$`,
    )
    .execute(db);
  await db.schema
    .createTable('ins_track_positions')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('track_id', 'text', (c) => c.notNull())
    .addColumn('day', 'date', (c) => c.notNull())
    .addColumn('segment', 'text', (c) => c.notNull())
    .addColumn('listens', sql`integer[]`, (c) => c.notNull())
    .addColumn('drops', sql`integer[]`, (c) => c.notNull())
    .addColumn('seeks', sql`integer[]`, (c) => c.notNull())
    .addColumn('replays', sql`integer[]`, (c) => c.notNull())
    .addPrimaryKeyConstraint('ins_track_positions_pk', ['tenant_id', 'track_id', 'day', 'segment'])
    .execute();

  // Per listener and track: when each funnel step first happened, and the listener's segment then.
  await db.schema
    .createTable('ins_user_tracks')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('track_id', 'text', (c) => c.notNull())
    .addColumn('segment', 'text', (c) => c.notNull())
    .addColumn('first_play_at', 'timestamptz')
    .addColumn('first_like_at', 'timestamptz')
    .addColumn('first_share_at', 'timestamptz')
    .addColumn('first_purchase_at', 'timestamptz')
    .addPrimaryKeyConstraint('ins_user_tracks_pk', ['tenant_id', 'user_id', 'track_id'])
    .execute();
  await db.schema.createIndex('ins_user_tracks_track_idx').on('ins_user_tracks').columns(['tenant_id', 'track_id']).execute();

  // Per listener and day: activity, for segments, cohorts and churn features.
  await db.schema
    .createTable('ins_user_days')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('day', 'date', (c) => c.notNull())
    .addColumn('plays', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('listen_ms', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('likes', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('shares', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('purchases', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('skips', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('ins_user_days_pk', ['tenant_id', 'user_id', 'day'])
    .execute();

  // Revenue per track, day and currency (minor units; currencies are never added together).
  await db.schema
    .createTable('ins_revenue_days')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('track_id', 'text', (c) => c.notNull())
    .addColumn('day', 'date', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('purchases', 'integer', (c) => c.notNull())
    .addColumn('amount_minor', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('ins_revenue_days_pk', ['tenant_id', 'track_id', 'day', 'currency'])
    .execute();

  // Where a creator's alerts go, and every alert raised, with its delivery state (retried until
  // delivered or out of attempts, across restarts).
  await db.schema
    .createTable('ins_webhooks')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('creator_id', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('ins_webhooks_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema.createIndex('ins_webhooks_creator_idx').on('ins_webhooks').columns(['tenant_id', 'creator_id']).execute();
  await db.schema
    .createTable('ins_alerts')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('creator_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    // What the alert is about (the hour of a spike): one alert per creator, kind and subject.
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('raised_at', 'timestamptz', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('delivered_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .addPrimaryKeyConstraint('ins_alerts_pk', ['tenant_id', 'id'])
    .addUniqueConstraint('ins_alerts_subject_key', ['tenant_id', 'creator_id', 'kind', 'subject'])
    .execute();

  for (const table of ['ins_track_hours', 'ins_track_listeners', 'ins_track_positions', 'ins_user_tracks', 'ins_user_days', 'ins_revenue_days', 'ins_webhooks', 'ins_alerts']) {
    await sql.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${APP_ROLE}`).execute(db);
    await enableTenantRls(db, table, 'tenant_id');
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['ins_alerts', 'ins_webhooks', 'ins_revenue_days', 'ins_user_days', 'ins_user_tracks', 'ins_track_positions', 'ins_track_listeners', 'ins_track_hours']) {
    await db.schema.dropTable(table).execute();
  }
  await sql`DROP FUNCTION IF EXISTS veza_add_counts(integer[], integer[])`.execute(db);
}
