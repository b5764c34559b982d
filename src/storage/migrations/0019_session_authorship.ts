import { sql, type Kysely } from 'kysely';
import { APP_ROLE } from '../tenancy.js';
import { enableTenantRls } from './0001_foundation.js';

/**
 * Who made each closed session (the `session.authorship` event), per user: the live notes and
 * tracks they created and the updates they made, as of log id `upto_id`. Insights weighs a
 * creator's collaboration by it; a session's rows are replaced when a later report arrives.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('ins_session_authorship')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('notes', 'integer', (c) => c.notNull())
    .addColumn('tracks', 'integer', (c) => c.notNull())
    .addColumn('edits', 'integer', (c) => c.notNull())
    .addColumn('upto_id', 'bigint', (c) => c.notNull())
    .addColumn('closed_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('ins_session_authorship_pk', ['tenant_id', 'session_id', 'user_id'])
    .execute();
  // A creator's sessions in a period.
  await db.schema.createIndex('ins_session_authorship_user').on('ins_session_authorship').columns(['tenant_id', 'user_id', 'closed_at']).execute();
  await sql.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON ins_session_authorship TO ${APP_ROLE}`).execute(db);
  await enableTenantRls(db, 'ins_session_authorship', 'tenant_id');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('ins_session_authorship').execute();
}
