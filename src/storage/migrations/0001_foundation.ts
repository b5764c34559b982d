import { sql, type Kysely } from 'kysely';
import { APP_ROLE, TENANT_SETTING } from '../tenancy.js';

/**
 * Tenants and the application role. Every tenant-owned table gets `tenant_id`, FORCE row-level
 * security and one policy comparing it with the transaction's tenant setting (see enableTenantRls).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Roles are cluster-wide on PostgreSQL: another database may have created it, possibly right now.
  await sql
    .raw(
      `DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN
           CREATE ROLE ${APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
         END IF;
       EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
       END $$`,
    )
    .execute(db);
  // The connecting (owner) role switches to the application role per transaction. Where a DBA
  // created the role and granted it already, the owner may lack the right to grant it again.
  await sql
    .raw(
      `DO $$ BEGIN
         IF NOT pg_has_role(current_user, '${APP_ROLE}', 'MEMBER') THEN
           EXECUTE format('GRANT ${APP_ROLE} TO %I', current_user);
         END IF;
       END $$`,
    )
    .execute(db);
  await sql.raw(`GRANT USAGE ON SCHEMA public TO ${APP_ROLE}`).execute(db);

  await db.schema
    .createTable('tenants')
    .addColumn('id', 'text', (c) => c.primaryKey().check(sql`id ~ '^[a-z0-9][a-z0-9-]{0,62}$'`))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`INSERT INTO tenants (id, name) VALUES ('default', 'Default tenant')`.execute(db);
  await sql.raw(`GRANT SELECT ON tenants TO ${APP_ROLE}`).execute(db);
  await enableTenantRls(db, 'tenants', 'id');

  await db.schema
    .createTable('parked_events')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('consumer_group', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('event', 'jsonb', (c) => c.notNull())
    .addColumn('error', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('parked_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('parked_events_pk', ['tenant_id', 'consumer_group', 'event_id'])
    .execute();
  await sql.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON parked_events TO ${APP_ROLE}`).execute(db);
  await enableTenantRls(db, 'parked_events', 'tenant_id');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('parked_events').execute();
  await db.schema.dropTable('tenants').execute();
}

/** Later migrations call this for each tenant-owned table they create. */
export async function enableTenantRls(db: Kysely<unknown>, table: string, column: string): Promise<void> {
  const tenant = `current_setting('${TENANT_SETTING}', true)`;
  await sql.raw(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`).execute(db);
  await sql.raw(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`).execute(db);
  await sql
    .raw(`CREATE POLICY ${table}_tenant_isolation ON ${table} USING (${column} = ${tenant}) WITH CHECK (${column} = ${tenant})`)
    .execute(db);
  await platformPolicy(db, table);
}

/**
 * The owner role (the one that migrates: the platform's own queries, the tenants, maintenance) sees
 * every row even where it has no BYPASSRLS: FORCE applies the policies to the owner too. The
 * application role is not a member of the owner role, so this policy never applies to it.
 * Added by migration 0016 to the tables created before it.
 */
export async function platformPolicy(db: Kysely<unknown>, table: string): Promise<void> {
  await sql
    .raw(
      `DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = current_schema() AND tablename = '${table}' AND policyname = '${table}_platform') THEN
           EXECUTE format('CREATE POLICY %I ON %I TO %I USING (true) WITH CHECK (true)', '${table}_platform', '${table}', current_user);
         END IF;
       END $$`,
    )
    .execute(db);
}
