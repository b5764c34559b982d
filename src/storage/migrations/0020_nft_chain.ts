import { sql, type Kysely } from 'kysely';
import { APP_ROLE } from '../tenancy.js';

/**
 * Digital ownership, the chain's side: where the contracts of each chain are (`nft_deployments`),
 * how far the indexer has read (`nft_chain_cursor`, with the hashes of the last blocks read to see a
 * reorganisation), and the chain facts it indexed. These are public chain facts by chain id and
 * contract, not tenant data: the tenant and session a token belongs to live in the NFT module's own
 * tables. Every fact keeps the block it came from (dropped with that block when the chain
 * reorganises); the three that become events carry `published` (set once the event is on the bus).
 * Amounts and token ids are uint256: numeric(78,0).
 */
const UINT = 'numeric(78, 0)';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('nft_deployments')
    .addColumn('chain_id', 'bigint', (c) => c.primaryKey())
    .addColumn('contracts', 'jsonb', (c) => c.notNull())
    .addColumn('block_number', 'bigint', (c) => c.notNull())
    .addColumn('deployed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createTable('nft_chain_cursor')
    .addColumn('chain_id', 'bigint', (c) => c.primaryKey())
    .addColumn('block_number', 'bigint', (c) => c.notNull())
    .addColumn('block_hash', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createTable('nft_chain_blocks')
    .addColumn('chain_id', 'bigint', (c) => c.notNull())
    .addColumn('block_number', 'bigint', (c) => c.notNull())
    .addColumn('block_hash', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('nft_chain_blocks_pk', ['chain_id', 'block_number'])
    .execute();

  await db.schema
    .createTable('nft_tokens')
    .addColumn('chain_id', 'bigint', (c) => c.notNull())
    .addColumn('contract', 'text', (c) => c.notNull())
    .addColumn('token_id', sql.raw(UINT), (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('edition', 'record')`))
    .addColumn('creator', 'text', (c) => c.notNull())
    .addColumn('payout_to', 'text', (c) => c.notNull())
    .addColumn('max_supply', sql.raw(UINT), (c) => c.notNull())
    .addColumn('mint_start', 'bigint', (c) => c.notNull())
    .addColumn('mint_end', 'bigint', (c) => c.notNull())
    .addColumn('price', sql.raw(UINT), (c) => c.notNull())
    .addColumn('royalty_bps', 'integer', (c) => c.notNull())
    .addColumn('uri', 'text', (c) => c.notNull())
    .addColumn('minted', sql.raw(UINT), (c) => c.notNull().defaultTo(0))
    .addColumn('voucher_hash', 'text')
    .addColumn('block_number', 'bigint', (c) => c.notNull())
    .addColumn('tx_hash', 'text', (c) => c.notNull())
    .addColumn('log_index', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('nft_tokens_pk', ['chain_id', 'contract', 'token_id'])
    .execute();
  await db.schema
    .createTable('nft_mints')
    .addColumn('chain_id', 'bigint', (c) => c.notNull())
    .addColumn('contract', 'text', (c) => c.notNull())
    .addColumn('token_id', sql.raw(UINT), (c) => c.notNull())
    .addColumn('to_address', 'text', (c) => c.notNull())
    .addColumn('amount', sql.raw(UINT), (c) => c.notNull())
    .addColumn('paid', sql.raw(UINT), (c) => c.notNull())
    .addColumn('block_number', 'bigint', (c) => c.notNull())
    .addColumn('tx_hash', 'text', (c) => c.notNull())
    .addColumn('log_index', 'integer', (c) => c.notNull())
    .addColumn('published', 'boolean', (c) => c.notNull().defaultTo(false))
    .addPrimaryKeyConstraint('nft_mints_pk', ['chain_id', 'tx_hash', 'log_index'])
    .execute();
  await db.schema
    .createTable('nft_listings')
    .addColumn('chain_id', 'bigint', (c) => c.notNull())
    .addColumn('market', 'text', (c) => c.notNull())
    .addColumn('listing_id', sql.raw(UINT), (c) => c.notNull())
    .addColumn('seller', 'text', (c) => c.notNull())
    .addColumn('token', 'text', (c) => c.notNull())
    .addColumn('token_id', sql.raw(UINT), (c) => c.notNull())
    .addColumn('amount', sql.raw(UINT), (c) => c.notNull())
    .addColumn('remaining', sql.raw(UINT), (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('price_per_unit', sql.raw(UINT), (c) => c.notNull())
    .addColumn('cancelled_block', 'bigint')
    .addColumn('block_number', 'bigint', (c) => c.notNull())
    .addColumn('tx_hash', 'text', (c) => c.notNull())
    .addColumn('log_index', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('nft_listings_pk', ['chain_id', 'market', 'listing_id'])
    .execute();
  await db.schema
    .createTable('nft_sales')
    .addColumn('chain_id', 'bigint', (c) => c.notNull())
    .addColumn('market', 'text', (c) => c.notNull())
    .addColumn('listing_id', sql.raw(UINT), (c) => c.notNull())
    .addColumn('token', 'text', (c) => c.notNull())
    .addColumn('token_id', sql.raw(UINT), (c) => c.notNull())
    .addColumn('seller', 'text', (c) => c.notNull())
    .addColumn('buyer', 'text', (c) => c.notNull())
    .addColumn('amount', sql.raw(UINT), (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('paid', sql.raw(UINT), (c) => c.notNull())
    .addColumn('royalty_receiver', 'text', (c) => c.notNull())
    .addColumn('royalty_paid', sql.raw(UINT), (c) => c.notNull())
    .addColumn('block_number', 'bigint', (c) => c.notNull())
    .addColumn('tx_hash', 'text', (c) => c.notNull())
    .addColumn('log_index', 'integer', (c) => c.notNull())
    .addColumn('published', 'boolean', (c) => c.notNull().defaultTo(false))
    .addPrimaryKeyConstraint('nft_sales_pk', ['chain_id', 'tx_hash', 'log_index'])
    .execute();
  await db.schema
    .createTable('nft_licences')
    .addColumn('chain_id', 'bigint', (c) => c.notNull())
    .addColumn('registry', 'text', (c) => c.notNull())
    .addColumn('token', 'text', (c) => c.notNull())
    .addColumn('token_id', sql.raw(UINT), (c) => c.notNull())
    .addColumn('terms', 'integer', (c) => c.notNull())
    .addColumn('audio_hash', 'text', (c) => c.notNull())
    .addColumn('state_hash', 'text', (c) => c.notNull())
    .addColumn('block_number', 'bigint', (c) => c.notNull())
    .addColumn('tx_hash', 'text', (c) => c.notNull())
    .addColumn('log_index', 'integer', (c) => c.notNull())
    .addColumn('published', 'boolean', (c) => c.notNull().defaultTo(false))
    .addPrimaryKeyConstraint('nft_licences_pk', ['chain_id', 'tx_hash', 'log_index'])
    .execute();
  await db.schema
    .createTable('nft_splits')
    .addColumn('chain_id', 'bigint', (c) => c.notNull())
    .addColumn('split', 'text', (c) => c.notNull())
    .addColumn('recipients', 'jsonb', (c) => c.notNull())
    .addColumn('bps', 'jsonb', (c) => c.notNull())
    .addColumn('block_number', 'bigint', (c) => c.notNull())
    .addColumn('tx_hash', 'text', (c) => c.notNull())
    .addColumn('log_index', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('nft_splits_pk', ['chain_id', 'split'])
    .execute();
  await db.schema
    .createTable('nft_payouts')
    .addColumn('chain_id', 'bigint', (c) => c.notNull())
    .addColumn('split', 'text', (c) => c.notNull())
    .addColumn('account', 'text', (c) => c.notNull())
    /** null: ETH; else the ERC-20 token paid. */
    .addColumn('currency', 'text')
    .addColumn('amount', sql.raw(UINT), (c) => c.notNull())
    .addColumn('block_number', 'bigint', (c) => c.notNull())
    .addColumn('tx_hash', 'text', (c) => c.notNull())
    .addColumn('log_index', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('nft_payouts_pk', ['chain_id', 'tx_hash', 'log_index'])
    .execute();

  for (const table of ['nft_tokens', 'nft_mints', 'nft_listings', 'nft_sales', 'nft_licences', 'nft_splits', 'nft_payouts']) {
    // A reorganisation drops the facts of the blocks above the fork.
    await db.schema.createIndex(`${table}_block`).on(table).columns(['chain_id', 'block_number']).execute();
  }
  // A token's history, an account's payouts, the events not yet on the bus.
  await db.schema.createIndex('nft_sales_token').on('nft_sales').columns(['chain_id', 'token', 'token_id']).execute();
  await db.schema.createIndex('nft_payouts_account').on('nft_payouts').columns(['chain_id', 'account']).execute();
  for (const table of ['nft_mints', 'nft_sales', 'nft_licences']) {
    await sql.raw(`CREATE INDEX ${table}_unpublished ON ${table} (chain_id, block_number, log_index) WHERE NOT published`).execute(db);
  }
  // The application role reads the chain facts (the module's routes); only the indexer writes them.
  const tables = ['nft_deployments', 'nft_chain_cursor', 'nft_tokens', 'nft_mints', 'nft_listings', 'nft_sales', 'nft_licences', 'nft_splits', 'nft_payouts'];
  await sql.raw(`GRANT SELECT ON ${tables.join(', ')} TO ${APP_ROLE}`).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['nft_payouts', 'nft_splits', 'nft_licences', 'nft_sales', 'nft_listings', 'nft_mints', 'nft_tokens', 'nft_chain_blocks', 'nft_chain_cursor', 'nft_deployments']) {
    await db.schema.dropTable(table).execute();
  }
}
