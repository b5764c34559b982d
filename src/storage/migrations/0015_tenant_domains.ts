import { sql, type Kysely } from 'kysely';
import { APP_ROLE } from '../tenancy.js';
import { enableTenantRls } from './0001_foundation.js';

/**
 * Tenants' own domains and their branding. A domain is a platform-wide name (one tenant's at most,
 * resolved from a request's Host before any tenant is known), so `tenant_domains` is the platform's
 * table, like `tenants`: read and written by the owner connection with the tenant named in every
 * query. A tenant's theme is its own data, behind row-level security.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('tenant_domains')
    .addColumn('domain', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    // What http://<domain>/.well-known/veza-domain-verification must answer.
    .addColumn('token', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('verified_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('tenant_domains_tenant_idx').on('tenant_domains').column('tenant_id').execute();
  await db.schema
    .createTable('tenant_branding')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id'))
    .addColumn('theme', 'jsonb', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_branding TO ${APP_ROLE}`).execute(db);
  await enableTenantRls(db, 'tenant_branding', 'tenant_id');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('tenant_branding').execute();
  await db.schema.dropTable('tenant_domains').execute();
}
