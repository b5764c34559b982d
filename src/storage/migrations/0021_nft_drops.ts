import { sql, type Kysely } from 'kysely';
import { APP_ROLE } from '../tenancy.js';
import { enableTenantRls } from './0001_foundation.js';

/**
 * Bounces (a session rendered to audio at a point of its log), the content we address by CID (the
 * audio and the metadata of editions, with what they are and whether a pinning service has them),
 * drops (a proposal to mint a session: its edition settings and the authorship split), each
 * collaborator's answer to a drop, the mint requests by idempotency key, and the market listings
 * made through the API.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('bounces')
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('version_id', 'bigint')
    .addColumn('upto_id', 'bigint')
    .addColumn('at', 'timestamptz')
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state IN ('running', 'done', 'failed')`))
    .addColumn('progress', 'real', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .addColumn('audio_cid', 'text')
    .addColumn('audio_sha256', 'text')
    .addColumn('state_sha256', 'text')
    .addColumn('duration_ms', 'integer')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .addPrimaryKeyConstraint('bounces_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema.createIndex('bounces_session_idx').on('bounces').columns(['tenant_id', 'session_id']).execute();

  await db.schema
    .createTable('nft_content')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('cid', 'text', (c) => c.notNull())
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('pin_state', 'text', (c) => c.notNull().defaultTo('none').check(sql`pin_state IN ('none', 'pending', 'pinned', 'failed')`))
    .addColumn('pin_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('pin_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('nft_content_pk', ['tenant_id', 'cid'])
    .execute();

  await db.schema
    .createTable('nft_drops')
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('version_id', 'bigint', (c) => c.notNull())
    .addColumn('bounce_id', 'text', (c) => c.notNull())
    .addColumn('proposed_by', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('max_supply', 'integer', (c) => c.notNull())
    .addColumn('mint_start', 'bigint')
    .addColumn('mint_end', 'bigint')
    .addColumn('price_wei', 'text', (c) => c.notNull())
    .addColumn('royalty_bps', 'integer', (c) => c.notNull())
    .addColumn('licence_terms', 'integer', (c) => c.notNull())
    .addColumn('split', 'jsonb', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state IN ('proposed', 'declined', 'minted')`))
    .addColumn('contract', 'text')
    .addColumn('token_id', 'text')
    .addColumn('split_address', 'text')
    .addColumn('metadata_cid', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('nft_drops_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema.createIndex('nft_drops_session_idx').on('nft_drops').columns(['tenant_id', 'session_id']).execute();
  // The indexer asks which tenant a token belongs to, without knowing the tenant.
  await db.schema.createIndex('nft_drops_token_idx').on('nft_drops').columns(['contract', 'token_id']).execute();

  await db.schema
    .createTable('nft_drop_answers')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('drop_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('answer', 'text', (c) => c.notNull().check(sql`answer IN ('accepted', 'declined')`))
    .addColumn('payout_address', 'text')
    .addColumn('answered_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('nft_drop_answers_pk', ['tenant_id', 'drop_id', 'user_id'])
    .execute();

  await db.schema
    .createTable('nft_mint_requests')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('idempotency_key', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('drop_id', 'text', (c) => c.notNull())
    .addColumn('result', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('nft_mint_requests_pk', ['tenant_id', 'user_id', 'idempotency_key'])
    .execute();

  // Market listings made through the API: which tenant and drop a listing id of the market belongs to.
  await db.schema
    .createTable('nft_drop_listings')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('listing_id', 'text', (c) => c.notNull())
    .addColumn('drop_id', 'text', (c) => c.notNull())
    .addColumn('seller', 'text', (c) => c.notNull())
    .addColumn('amount', 'integer', (c) => c.notNull())
    .addColumn('price_wei', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('nft_drop_listings_pk', ['tenant_id', 'listing_id'])
    .execute();

  for (const table of ['bounces', 'nft_content', 'nft_drops', 'nft_drop_answers', 'nft_mint_requests', 'nft_drop_listings']) {
    await sql.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${APP_ROLE}`).execute(db);
    await enableTenantRls(db, table, 'tenant_id');
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['nft_drop_listings', 'nft_mint_requests', 'nft_drop_answers', 'nft_drops', 'nft_content', 'bounces']) await db.schema.dropTable(table).execute();
}
