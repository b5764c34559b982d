import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './0001_foundation.js';

/**
 * Each tenant's own credentials: its identity provider (an HS256 secret or a JWKS document) and the
 * API keys of its servers (an scrypt hash and salt per secret, never the secret; while a rotation's
 * overlap lasts, the previous secret's hash too). Only the platform (the owner role) reads them: the
 * application role is granted nothing, and row-level security is on besides.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('tenant_identity_providers')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id'))
    .addColumn('hs256_secret', 'text')
    .addColumn('jwks', 'jsonb')
    .addColumn('platform_tokens', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('issuer', 'text')
    .addColumn('audience', 'text')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('tenant_identity_providers_one_kind', sql`(hs256_secret IS NULL) <> (jwks IS NULL)`)
    .execute();
  await enableTenantRls(db, 'tenant_identity_providers', 'tenant_id');

  await db.schema
    .createTable('tenant_api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('scopes', 'jsonb', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('salt', 'bytea', (c) => c.notNull())
    .addColumn('hash', 'bytea', (c) => c.notNull())
    .addColumn('previous_salt', 'bytea')
    .addColumn('previous_hash', 'bytea')
    .addColumn('previous_expires_at', 'timestamptz')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('rotated_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('last_used_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('tenant_api_keys_tenant').on('tenant_api_keys').column('tenant_id').execute();
  await enableTenantRls(db, 'tenant_api_keys', 'tenant_id');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('tenant_api_keys').execute();
  await db.schema.dropTable('tenant_identity_providers').execute();
}
