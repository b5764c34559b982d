import { sql, type Kysely } from 'kysely';
import { platformPolicy } from './0001_foundation.js';

/**
 * The platform's queries on a database whose owner has no BYPASSRLS: every table under row-level
 * security gets the owner's policy (see platformPolicy), so that the tenants, their deletion and
 * maintenance see every tenant's rows there too; the application role still sees one tenant's.
 *
 * Deleting a tenant: its status `deleting` (refused like a suspended one), and one record per
 * deletion that outlives the tenant's rows: where its export archive lies, when it is purged, and
 * whether it was cancelled. Platform data (the owner role only), so it has no `tenant_id` and no RLS.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const secured = await sql<{ relname: string }>`
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relrowsecurity`.execute(db);
  for (const { relname } of secured.rows) await platformPolicy(db, relname);
  await sql`ALTER TABLE tenants DROP CONSTRAINT IF EXISTS tenants_status_check`.execute(db);
  await sql`ALTER TABLE tenants ADD CONSTRAINT tenants_status_check CHECK (status IN ('active', 'suspended', 'deleting'))`.execute(db);
  await db.schema
    .createTable('tenant_deletions')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state IN ('exporting', 'pending', 'cancelled', 'purged', 'failed')`))
    .addColumn('requested_by', 'text', (c) => c.notNull())
    .addColumn('requested_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('grace_seconds', 'integer', (c) => c.notNull())
    .addColumn('purge_after', 'timestamptz')
    .addColumn('archive', 'text')
    .addColumn('archive_bytes', 'bigint')
    .addColumn('manifest', 'jsonb')
    .addColumn('error', 'text')
    .addColumn('finished_at', 'timestamptz')
    .execute();
  // At most one deletion under way per tenant.
  await sql`CREATE UNIQUE INDEX tenant_deletions_open ON tenant_deletions (tenant) WHERE state IN ('exporting', 'pending')`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('tenant_deletions').execute();
  await sql`ALTER TABLE tenants DROP CONSTRAINT IF EXISTS tenants_status_check`.execute(db);
  await sql`ALTER TABLE tenants ADD CONSTRAINT tenants_status_check CHECK (status IN ('active', 'suspended'))`.execute(db);
}
