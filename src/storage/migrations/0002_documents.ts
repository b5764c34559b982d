import { sql, type Kysely } from 'kysely';
import { APP_ROLE } from '../tenancy.js';
import { enableTenantRls } from './0001_foundation.js';

/**
 * Collaborative documents: an append-only update log (every accepted update with its time, author
 * and size; replay needs all of them) and snapshots (the merged state up to a log id), so that a
 * document loads as its latest snapshot plus the log after it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('documents')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('documents_pk', ['tenant_id', 'id'])
    .execute();

  await db.schema
    .createTable('document_updates')
    // One identity across documents: ids from several nodes never collide, and order by id is commit order.
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('doc_id', 'text', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('author', 'text', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('update', 'bytea', (c) => c.notNull())
    .addForeignKeyConstraint('document_updates_doc_fk', ['tenant_id', 'doc_id'], 'documents', ['tenant_id', 'id'])
    .execute();
  await db.schema.createIndex('document_updates_doc_idx').on('document_updates').columns(['tenant_id', 'doc_id', 'id']).execute();

  await db.schema
    .createTable('document_snapshots')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('doc_id', 'text', (c) => c.notNull())
    // The snapshot holds every update with id <= upto_id (and possibly later ones: applying twice is harmless).
    .addColumn('upto_id', 'bigint', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updates', 'integer', (c) => c.notNull())
    .addColumn('state', 'bytea', (c) => c.notNull())
    .addPrimaryKeyConstraint('document_snapshots_pk', ['tenant_id', 'doc_id', 'upto_id'])
    .addForeignKeyConstraint('document_snapshots_doc_fk', ['tenant_id', 'doc_id'], 'documents', ['tenant_id', 'id'])
    .execute();

  for (const table of ['documents', 'document_updates', 'document_snapshots']) {
    await sql.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${APP_ROLE}`).execute(db);
    await enableTenantRls(db, table, 'tenant_id');
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('document_snapshots').execute();
  await db.schema.dropTable('document_updates').execute();
  await db.schema.dropTable('documents').execute();
}
