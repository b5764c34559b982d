import { sql, type Kysely } from 'kysely';
import { APP_ROLE } from '../tenancy.js';
import { enableTenantRls } from './0001_foundation.js';

/**
 * What a drop mints (an edition, or a 1/1 record), whether its stems become editions of their own,
 * the samples of a sample pack (a drop of uploaded audio files: no session, version or bounce),
 * whether it is minted lazily (a voucher the creator's wallet signed, redeemed by the first buyer),
 * the voucher itself; each stem of a drop (one track rendered alone, its content ids and token); the
 * currency of a listing made through the API (null: ETH); and the retractions of published chain
 * facts whose blocks a reorganisation removed (an outbox like the facts': `published` once the
 * `nft.retracted` event is on the bus). Retractions are chain facts, not tenant data.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('nft_drops')
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('edition').check(sql`kind IN ('edition', 'record')`))
    .execute();
  await db.schema.alterTable('nft_drops').addColumn('with_stems', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
  await db.schema.alterTable('nft_drops').addColumn('lazy', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
  await db.schema.alterTable('nft_drops').addColumn('voucher', 'jsonb').execute();
  await db.schema.alterTable('nft_drop_listings').addColumn('currency', 'text').execute();
  // A sample pack is a drop of uploaded audio files (or bounces), not of a session's moment.
  await db.schema.alterTable('nft_drops').addColumn('samples', 'jsonb').execute();
  for (const column of ['session_id', 'version_id', 'bounce_id']) await db.schema.alterTable('nft_drops').alterColumn(column, (c) => c.dropNotNull()).execute();
  await sql`ALTER TABLE nft_drops ADD CONSTRAINT nft_drops_what CHECK ((samples IS NULL) = (session_id IS NOT NULL AND version_id IS NOT NULL AND bounce_id IS NOT NULL))`.execute(db);

  await db.schema
    .createTable('nft_drop_stems')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('drop_id', 'text', (c) => c.notNull())
    .addColumn('track_id', 'text', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('audio_cid', 'text', (c) => c.notNull())
    .addColumn('audio_sha256', 'text', (c) => c.notNull())
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('metadata_cid', 'text')
    .addColumn('token_id', 'text')
    .addColumn('licensed', 'boolean', (c) => c.notNull().defaultTo(false))
    .addPrimaryKeyConstraint('nft_drop_stems_pk', ['tenant_id', 'drop_id', 'track_id'])
    .execute();
  await db.schema.createIndex('nft_drop_stems_token_idx').on('nft_drop_stems').columns(['token_id']).execute();
  await sql.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON nft_drop_stems TO ${APP_ROLE}`).execute(db);
  await enableTenantRls(db, 'nft_drop_stems', 'tenant_id');

  await db.schema
    .createTable('nft_retractions')
    .addColumn('chain_id', 'bigint', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull().check(sql`event_type IN ('nft.minted', 'nft.sold', 'nft.licensed')`))
    .addColumn('contract', 'text', (c) => c.notNull())
    .addColumn('token_id', 'numeric(78, 0)', (c) => c.notNull())
    .addColumn('block_number', 'bigint', (c) => c.notNull())
    .addColumn('tx_hash', 'text', (c) => c.notNull())
    .addColumn('log_index', 'integer', (c) => c.notNull())
    .addColumn('published', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('retracted_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('nft_retractions_pk', ['chain_id', 'event_id'])
    .execute();
  await db.schema.createIndex('nft_retractions_fact').on('nft_retractions').columns(['chain_id', 'tx_hash', 'log_index']).execute();
  await sql.raw(`GRANT SELECT ON nft_retractions TO ${APP_ROLE}`).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('nft_retractions').execute();
  await db.schema.dropTable('nft_drop_stems').execute();
  await db.schema.alterTable('nft_drop_listings').dropColumn('currency').execute();
  await sql`ALTER TABLE nft_drops DROP CONSTRAINT nft_drops_what`.execute(db);
  // Sample packs have no session: they cannot be kept under 0021's columns.
  await sql`DELETE FROM nft_drops WHERE samples IS NOT NULL`.execute(db);
  for (const column of ['session_id', 'version_id', 'bounce_id']) await db.schema.alterTable('nft_drops').alterColumn(column, (c) => c.setNotNull()).execute();
  for (const column of ['samples', 'voucher', 'lazy', 'with_stems', 'kind']) await db.schema.alterTable('nft_drops').dropColumn(column).execute();
}
