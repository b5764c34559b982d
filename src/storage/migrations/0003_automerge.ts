import { sql, type Kysely } from 'kysely';
import { APP_ROLE } from '../tenancy.js';
import { enableTenantRls } from './0001_foundation.js';

/**
 * Automerge documents: automerge-repo's key/value chunks (snapshots, incremental changes, sync
 * states), one row per key. The key stays an array so that a prefix query compares whole elements:
 * ["a","b"] must not match ["a","bc"], which a joined text key with LIKE would. `seq` keeps
 * insertion order, which automerge-repo's own adapters return ranges in.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('automerge_chunks')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('key', sql`text[]`, (c) => c.notNull().check(sql`cardinality(key) > 0`))
    .addColumn('seq', 'bigint', (c) => c.notNull().generatedAlwaysAsIdentity())
    .addColumn('data', 'bytea', (c) => c.notNull())
    .addPrimaryKeyConstraint('automerge_chunks_pk', ['tenant_id', 'key'])
    .execute();
  // Ranges are almost always "everything of one document" (key[1] is the document id).
  await sql`CREATE INDEX automerge_chunks_head_idx ON automerge_chunks (tenant_id, (key[1]))`.execute(db);
  await sql.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON automerge_chunks TO ${APP_ROLE}`).execute(db);
  await enableTenantRls(db, 'automerge_chunks', 'tenant_id');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('automerge_chunks').execute();
}
