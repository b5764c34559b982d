import { sql, type Kysely } from 'kysely';
import { APP_ROLE } from '../tenancy.js';
import { enableTenantRls } from './0001_foundation.js';

/**
 * Versions of a session: a point of its update log (every update with id <= `upto_id`; null for the
 * empty document) with a label, named by a user or taken automatically (the session ended, a bounce,
 * a mint, every few minutes of editing, before a restore). And where a branch session came from: the
 * session and the point of its log that the branch's log was copied from.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('session_versions')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('doc_id', 'text', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('author', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('named', 'auto')`))
    .addColumn('reason', 'text', (c) => c.check(sql`reason IN ('session-end', 'bounce', 'mint', 'interval', 'before-restore')`))
    .addColumn('upto_id', 'bigint')
    .addColumn('at', 'timestamptz')
    .addColumn('updates', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addForeignKeyConstraint('session_versions_doc_fk', ['tenant_id', 'doc_id'], 'documents', ['tenant_id', 'id'])
    .execute();
  await db.schema.createIndex('session_versions_doc_idx').on('session_versions').columns(['tenant_id', 'doc_id', 'id']).execute();

  await db.schema
    .createTable('session_branches')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('doc_id', 'text', (c) => c.notNull())
    .addColumn('source_doc_id', 'text', (c) => c.notNull())
    .addColumn('version_id', 'bigint')
    .addColumn('upto_id', 'bigint')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('session_branches_pk', ['tenant_id', 'doc_id'])
    .addForeignKeyConstraint('session_branches_doc_fk', ['tenant_id', 'doc_id'], 'documents', ['tenant_id', 'id'])
    .execute();
  await db.schema.createIndex('session_branches_source_idx').on('session_branches').columns(['tenant_id', 'source_doc_id']).execute();

  for (const table of ['session_versions', 'session_branches']) {
    await sql.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${APP_ROLE}`).execute(db);
    await enableTenantRls(db, table, 'tenant_id');
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('session_branches').execute();
  await db.schema.dropTable('session_versions').execute();
}
