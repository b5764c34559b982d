import { sql, type Kysely } from 'kysely';
import { APP_ROLE } from '../tenancy.js';
import { enableTenantRls } from './0001_foundation.js';

/**
 * Recommendations: the item catalogue, what users did with items (aggregated per user and item, with
 * time decay folded into one number so that an event is one upsert), follows and co-editing, the
 * trained models, and A/B experiments with their per-user exposures and outcomes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('rec_items')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('item_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('track', 'sample')`))
    .addColumn('artist_id', 'text')
    .addColumn('title', 'text')
    .addColumn('tags', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('rec_items_pk', ['tenant_id', 'item_id'])
    .execute();
  await db.schema.createIndex('rec_items_artist_idx').on('rec_items').columns(['tenant_id', 'artist_id']).execute();

  // strength = Σ weight · 2^((at − epoch) / half-life): today's decayed total is strength · 2^(−(now − epoch) / half-life).
  await db.schema
    .createTable('rec_interactions')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('item_id', 'text', (c) => c.notNull())
    .addColumn('strength', 'double precision', (c) => c.notNull())
    .addColumn('events', 'integer', (c) => c.notNull())
    .addColumn('last_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('rec_interactions_pk', ['tenant_id', 'user_id', 'item_id'])
    .execute();

  await db.schema
    .createTable('rec_follows')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('artist_id', 'text', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('rec_follows_pk', ['tenant_id', 'user_id', 'artist_id'])
    .execute();

  await db.schema
    .createTable('rec_coedits')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('edits', 'integer', (c) => c.notNull())
    .addColumn('last_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('rec_coedits_pk', ['tenant_id', 'session_id', 'user_id'])
    .execute();
  await db.schema.createIndex('rec_coedits_user_idx').on('rec_coedits').columns(['tenant_id', 'user_id']).execute();

  await db.schema
    .createTable('rec_models')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    // Relative to the data directory: the folder with model.onnx, users.f32 and model.json.
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('summary', 'jsonb', (c) => c.notNull())
    .addPrimaryKeyConstraint('rec_models_pk', ['tenant_id', 'version'])
    .execute();

  await db.schema
    .createTable('rec_experiments')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('definition', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('running', 'stopped')`))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('stopped_at', 'timestamptz')
    .addPrimaryKeyConstraint('rec_experiments_pk', ['tenant_id', 'id'])
    .execute();

  await db.schema
    .createTable('rec_exposures')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('experiment_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('variant', 'text', (c) => c.notNull())
    .addColumn('first_at', 'timestamptz', (c) => c.notNull())
    .addColumn('exposures', 'integer', (c) => c.notNull())
    // The items of the latest exposure: a later play, like or purchase of one counts as an outcome.
    .addColumn('items', 'jsonb', (c) => c.notNull())
    .addPrimaryKeyConstraint('rec_exposures_pk', ['tenant_id', 'experiment_id', 'user_id'])
    .execute();
  // Outcomes are attributed by user as their plays and likes arrive.
  await db.schema.createIndex('rec_exposures_user_idx').on('rec_exposures').columns(['tenant_id', 'user_id']).execute();

  await db.schema
    .createTable('rec_outcomes')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('experiment_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('metric', 'text', (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .addColumn('value', 'double precision', (c) => c.notNull())
    .addColumn('first_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('rec_outcomes_pk', ['tenant_id', 'experiment_id', 'user_id', 'metric'])
    .execute();

  for (const table of ['rec_items', 'rec_interactions', 'rec_follows', 'rec_coedits', 'rec_models', 'rec_experiments', 'rec_exposures', 'rec_outcomes']) {
    await sql.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${APP_ROLE}`).execute(db);
    await enableTenantRls(db, table, 'tenant_id');
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['rec_outcomes', 'rec_exposures', 'rec_experiments', 'rec_models', 'rec_coedits', 'rec_follows', 'rec_interactions', 'rec_items']) {
    await db.schema.dropTable(table).execute();
  }
}
