// The tables of bounces, content addressed by CID, drops and their answers, and mint requests
// (migration 0021).
import type { ColumnType, Generated } from 'kysely';

type BigId = ColumnType<string, string | number | bigint, string | number | bigint>;

export interface BouncesTable {
  id: string;
  tenant_id: string;
  session_id: string;
  version_id: BigId | null;
  upto_id: BigId | null;
  /** Time of update `upto_id`. */
  at: Date | null;
  state: 'running' | 'done' | 'failed';
  progress: Generated<number>;
  error: string | null;
  audio_cid: string | null;
  audio_sha256: string | null;
  state_sha256: string | null;
  duration_ms: number | null;
  created_by: string;
  created_at: Generated<Date>;
  finished_at: Date | null;
}

export interface NftContentTable {
  tenant_id: string;
  cid: string;
  content_type: string;
  size: ColumnType<string, number, number>;
  name: string;
  pin_state: Generated<'none' | 'pending' | 'pinned' | 'failed'>;
  pin_attempts: Generated<number>;
  pin_error: string | null;
  created_at: Generated<Date>;
}

export interface NftDropsTable {
  id: string;
  tenant_id: string;
  /** null for a sample pack (migration 0022), as are version_id and bounce_id. */
  session_id: string | null;
  version_id: BigId | null;
  bounce_id: string | null;
  proposed_by: string;
  title: string;
  description: string;
  max_supply: number;
  mint_start: BigId | null;
  mint_end: BigId | null;
  price_wei: string;
  royalty_bps: number;
  licence_terms: number;
  split: ColumnType<unknown, string, string>;
  state: 'proposed' | 'declined' | 'minted';
  contract: string | null;
  token_id: string | null;
  split_address: string | null;
  metadata_cid: string | null;
  created_at: Generated<Date>;
  /** Migration 0022: an edition or a 1/1 record, stems as editions of their own, lazy minting. */
  kind: Generated<'edition' | 'record'>;
  with_stems: Generated<boolean>;
  lazy: Generated<boolean>;
  /** The signed voucher of a lazy drop: `{ voucher, signature, digest }`. */
  voucher: ColumnType<unknown, string | null | undefined, string | null>;
  /** A sample pack's samples: `[{ cid, name, contentType, size, sha256 }]`. */
  samples: ColumnType<unknown, string | null | undefined, string | null>;
}

/** A stem of a drop: one track rendered alone, as an edition of its own (migration 0022). */
export interface NftDropStemsTable {
  tenant_id: string;
  drop_id: string;
  track_id: string;
  position: number;
  name: string;
  audio_cid: string;
  audio_sha256: string;
  duration_ms: number;
  metadata_cid: string | null;
  token_id: string | null;
  licensed: Generated<boolean>;
}

export interface NftDropAnswersTable {
  tenant_id: string;
  drop_id: string;
  user_id: string;
  answer: 'accepted' | 'declined';
  payout_address: string | null;
  answered_at: Generated<Date>;
}

export interface NftMintRequestsTable {
  tenant_id: string;
  user_id: string;
  idempotency_key: string;
  request_hash: string;
  drop_id: string;
  result: ColumnType<unknown, string | null, string | null>;
  created_at: Generated<Date>;
}

export interface NftDropListingsTable {
  tenant_id: string;
  listing_id: string;
  drop_id: string;
  seller: string;
  amount: number;
  price_wei: string;
  created_at: Generated<Date>;
  /** The ERC-20 the listing is priced in (lower case); null: ETH (migration 0022). */
  currency: Generated<string | null>;
}

/** The bounce, content and drop tables, joined into `Database` (schema.ts). */
export interface NftDropTables {
  bounces: BouncesTable;
  nft_content: NftContentTable;
  nft_drops: NftDropsTable;
  nft_drop_answers: NftDropAnswersTable;
  nft_mint_requests: NftMintRequestsTable;
  nft_drop_listings: NftDropListingsTable;
  nft_drop_stems: NftDropStemsTable;
}
