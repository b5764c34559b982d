import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { APP_ROLE } from '../tenancy.js';
import { enableTenantRls } from './0001_foundation.js';

/**
 * Replay checkpoints: exact document states at points of the update log, so that seeking in a long
 * session merges one checkpoint and a short tail. The collaboration snapshots cannot serve: they may
 * hold updates logged after their `upto_id` (harmless for loading, wrong for "as it was at t").
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('replay_checkpoints')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('doc_id', 'text', (c) => c.notNull())
    .addColumn('upto_id', 'bigint', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('updates', 'integer', (c) => c.notNull())
    .addColumn('state', 'bytea', (c) => c.notNull())
    .addPrimaryKeyConstraint('replay_checkpoints_pk', ['tenant_id', 'doc_id', 'upto_id'])
    .addForeignKeyConstraint('replay_checkpoints_doc_fk', ['tenant_id', 'doc_id'], 'documents', ['tenant_id', 'id'])
    .execute();
  await sql.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON replay_checkpoints TO ${APP_ROLE}`).execute(db);
  await enableTenantRls(db, 'replay_checkpoints', 'tenant_id');
  // Seeking by time: the last update at or before t.
  await db.schema.createIndex('document_updates_at_idx').on('document_updates').columns(['tenant_id', 'doc_id', 'at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('document_updates_at_idx').execute();
  await db.schema.dropTable('replay_checkpoints').execute();
}
