import { sql, type Kysely } from 'kysely';
import { APP_ROLE } from '../tenancy.js';
import { enableTenantRls } from './0001_foundation.js';

/**
 * Metering (`src/tenants/metering.ts`): per tenant, metric, minute and node, the quantity that node
 * counted in that minute. A node writes its own rows with the total it holds (a replace, never an
 * increment), so writing the same minute again after a retry or a restart changes nothing;
 * `published` says its `usage.minute` event went out.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('tenant_usage')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('metric', 'text', (c) => c.notNull())
    .addColumn('minute', 'timestamptz', (c) => c.notNull())
    .addColumn('node', 'text', (c) => c.notNull())
    .addColumn('quantity', 'bigint', (c) => c.notNull().check(sql`quantity >= 0`))
    .addColumn('published', 'boolean', (c) => c.notNull().defaultTo(false))
    .addPrimaryKeyConstraint('tenant_usage_pk', ['tenant_id', 'minute', 'metric', 'node'])
    .execute();
  await sql.raw(`GRANT SELECT, INSERT, UPDATE ON tenant_usage TO ${APP_ROLE}`).execute(db);
  await enableTenantRls(db, 'tenant_usage', 'tenant_id');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('tenant_usage').execute();
}
