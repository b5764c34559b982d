// The chain side of digital ownership (migration 0020): deployments, the indexer's cursor and the
// chain facts it indexed. uint256 values (token ids, amounts in wei) are numeric(78,0): written as
// decimal strings, read back as strings; block numbers are bigint (read back as string or bigint).
import type { ColumnType, Generated } from 'kysely';

type Uint = ColumnType<string, string, string>;
type BlockNumber = ColumnType<string | bigint | number, string | number | bigint, string | number | bigint>;

export interface NftDeploymentsTable {
  chain_id: BlockNumber;
  /** The five addresses, as ChainInfo.contracts. */
  contracts: ColumnType<Record<string, string>, string, string>;
  block_number: BlockNumber;
  deployed_at: Generated<Date>;
}

export interface NftChainCursorTable {
  chain_id: BlockNumber;
  block_number: BlockNumber;
  block_hash: string;
  updated_at: Generated<Date>;
}

export interface NftChainBlocksTable {
  chain_id: BlockNumber;
  block_number: BlockNumber;
  block_hash: string;
}

/** Where on the chain a fact was seen. */
interface Fact {
  chain_id: BlockNumber;
  block_number: BlockNumber;
  tx_hash: string;
  log_index: number;
}

export interface NftTokensTable extends Fact {
  contract: string;
  token_id: Uint;
  kind: 'edition' | 'record';
  creator: string;
  payout_to: string;
  max_supply: Uint;
  mint_start: BlockNumber;
  mint_end: BlockNumber;
  price: Uint;
  royalty_bps: number;
  uri: string;
  minted: ColumnType<string, string | undefined, string>;
  voucher_hash: string | null;
}

export interface NftMintsTable extends Fact {
  contract: string;
  token_id: Uint;
  to_address: string;
  amount: Uint;
  paid: Uint;
  published: Generated<boolean>;
}

export interface NftListingsTable extends Fact {
  market: string;
  listing_id: Uint;
  seller: string;
  token: string;
  token_id: Uint;
  amount: Uint;
  remaining: Uint;
  currency: string;
  price_per_unit: Uint;
  cancelled_block: BlockNumber | null;
}

export interface NftSalesTable extends Fact {
  market: string;
  listing_id: Uint;
  token: string;
  token_id: Uint;
  seller: string;
  buyer: string;
  amount: Uint;
  currency: string;
  paid: Uint;
  royalty_receiver: string;
  royalty_paid: Uint;
  published: Generated<boolean>;
}

export interface NftLicencesTable extends Fact {
  registry: string;
  token: string;
  token_id: Uint;
  terms: number;
  audio_hash: string;
  state_hash: string;
  published: Generated<boolean>;
}

export interface NftSplitsTable extends Fact {
  split: string;
  recipients: ColumnType<string[], string, string>;
  bps: ColumnType<number[], string, string>;
}

export interface NftPayoutsTable extends Fact {
  split: string;
  account: string;
  /** null: ETH; else the ERC-20 token. */
  currency: string | null;
  amount: Uint;
}

/** A published fact whose block a reorganisation removed (migration 0022): `nft.retracted` is published for it. */
export interface NftRetractionsTable {
  chain_id: BlockNumber;
  /** The id of the event retracted. */
  event_id: string;
  event_type: 'nft.minted' | 'nft.sold' | 'nft.licensed';
  contract: string;
  token_id: Uint;
  block_number: BlockNumber;
  tx_hash: string;
  log_index: number;
  published: Generated<boolean>;
  retracted_at: Generated<Date>;
}

/** The chain tables of the database (see Database in schema.ts). */
export interface NftChainTables {
  nft_deployments: NftDeploymentsTable;
  nft_chain_cursor: NftChainCursorTable;
  nft_chain_blocks: NftChainBlocksTable;
  nft_tokens: NftTokensTable;
  nft_mints: NftMintsTable;
  nft_listings: NftListingsTable;
  nft_sales: NftSalesTable;
  nft_licences: NftLicencesTable;
  nft_splits: NftSplitsTable;
  nft_payouts: NftPayoutsTable;
  nft_retractions: NftRetractionsTable;
}
