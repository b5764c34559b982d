import { sql, type Kysely } from 'kysely';

/**
 * A tenant's lifecycle: active (admitted), suspended (its tokens are refused with 403 and its data
 * kept). Only the platform (the owner role: the CLI and the operator API) changes it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('tenants')
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active').check(sql`status IN ('active', 'suspended')`))
    .execute();
  await db.schema.alterTable('tenants').addColumn('status_changed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`)).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tenants').dropColumn('status_changed_at').execute();
  await db.schema.alterTable('tenants').dropColumn('status').execute();
}
