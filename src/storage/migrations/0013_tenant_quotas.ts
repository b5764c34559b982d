import { sql, type Kysely } from 'kysely';
import { APP_ROLE } from '../tenancy.js';
import { enableTenantRls } from './0001_foundation.js';

/**
 * A tenant's plan (a preset of limits) and its per-limit overrides (`{limit: number | null}`, null
 * for none). Only the platform (the owner role: the operator API) writes it; a tenant reads its own.
 * A tenant without a row has the default plan.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('tenant_quotas')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id').onDelete('cascade'))
    .addColumn('plan', 'text', (c) => c.notNull())
    .addColumn('overrides', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql.raw(`GRANT SELECT ON tenant_quotas TO ${APP_ROLE}`).execute(db);
  await enableTenantRls(db, 'tenant_quotas', 'tenant_id');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('tenant_quotas').execute();
}
