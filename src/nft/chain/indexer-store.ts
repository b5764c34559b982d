// What the indexer writes: each chain fact as a row keyed by where it was seen (chain id, tx hash,
// log index) with its block number, so that a reorganisation can drop exactly the facts of the
// orphaned blocks; the running figures (an edition's minted count, a listing's remaining units and
// cancellation) are moved by those facts and moved back when they are dropped. One range of blocks
// is written in one transaction with the cursor, so a crash never leaves half a range.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../../storage/schema.js';

/** A decoded log of one of the contracts (or a split), with where it was seen. */
export interface ChainFact {
  kind: 'EditionCreated' | 'EditionMinted' | 'VoucherRedeemed' | 'RecordMinted' | 'SplitCreated' | 'PaymentReleased' | 'ERC20PaymentReleased' | 'Listed' | 'Sold' | 'Cancelled' | 'LicenceSet';
  /** Lower-case address of the contract that logged it. */
  address: string;
  blockNumber: number;
  txHash: string;
  logIndex: number;
  args: Record<string, unknown>;
}

export interface ChainAddresses {
  editions: string;
  records: string;
  market: string;
  licences: string;
}

const str = (v: unknown) => (typeof v === 'bigint' || typeof v === 'number' ? v.toString() : String(v));
const addr = (v: unknown) => String(v).toLowerCase();

/** The cursor of a chain: the last block indexed and its hash; null before the first range. */
export async function readCursor(db: Kysely<Database>, chainId: number): Promise<{ blockNumber: number; blockHash: string } | null> {
  const row = await db.selectFrom('nft_chain_cursor').select(['block_number', 'block_hash']).where('chain_id', '=', String(chainId)).executeTakeFirst();
  return row ? { blockNumber: Number(row.block_number), blockHash: row.block_hash } : null;
}

/** The recorded hashes of the last blocks read, newest first. */
export async function recentBlocks(db: Kysely<Database>, chainId: number): Promise<{ blockNumber: number; blockHash: string }[]> {
  const rows = await db.selectFrom('nft_chain_blocks').select(['block_number', 'block_hash']).where('chain_id', '=', String(chainId)).orderBy('block_number', 'desc').execute();
  return rows.map((r) => ({ blockNumber: Number(r.block_number), blockHash: r.block_hash }));
}

export async function knownSplits(db: Kysely<Database>, chainId: number): Promise<string[]> {
  const rows = await db.selectFrom('nft_splits').select('split').where('chain_id', '=', String(chainId)).execute();
  return rows.map((r) => r.split);
}

/** Another node moved the cursor since this one read it: what this node read is dropped. */
export class CursorMoved extends Error {
  constructor() {
    super('another indexer moved the cursor');
    this.name = 'CursorMoved';
  }
}

/**
 * Locks the cursor row for the transaction and checks it is still where the caller read it (block
 * number, null: none yet), so that two nodes indexing one database never both write a range.
 */
async function holdCursor(trx: Transaction<Database>, chain: string, expected: number | null): Promise<void> {
  const row = await trx.selectFrom('nft_chain_cursor').select('block_number').where('chain_id', '=', chain).forUpdate().executeTakeFirst();
  if ((row ? Number(row.block_number) : null) !== expected) throw new CursorMoved();
}

/**
 * Writes one range's facts, the hashes of its last blocks (64 kept) and the cursor, in one
 * transaction; `after` is the cursor's block the range follows (null: the first range).
 */
export async function writeRange(db: Kysely<Database>, chainId: number, after: number | null, facts: ChainFact[], blocks: { blockNumber: number; blockHash: string }[], addresses: ChainAddresses, keep = 64): Promise<void> {
  const chain = String(chainId);
  await db.transaction().execute(async (trx) => {
    await holdCursor(trx, chain, after);
    for (const fact of facts) await applyFact(trx, chain, fact, addresses);
    const last = blocks[blocks.length - 1];
    if (!last) return;
    for (const b of blocks) {
      await trx
        .insertInto('nft_chain_blocks')
        .values({ chain_id: chain, block_number: b.blockNumber, block_hash: b.blockHash })
        .onConflict((oc) => oc.columns(['chain_id', 'block_number']).doUpdateSet({ block_hash: b.blockHash }))
        .execute();
    }
    await trx.deleteFrom('nft_chain_blocks').where('chain_id', '=', chain).where('block_number', '<=', last.blockNumber - keep).execute();
    await trx
      .insertInto('nft_chain_cursor')
      .values({ chain_id: chain, block_number: last.blockNumber, block_hash: last.blockHash })
      .onConflict((oc) => oc.column('chain_id').doUpdateSet({ block_number: last.blockNumber, block_hash: last.blockHash, updated_at: new Date() }))
      .execute();
  });
}

async function applyFact(trx: Transaction<Database>, chain: string, f: ChainFact, addresses: ChainAddresses): Promise<void> {
  const where = { chain_id: chain, block_number: f.blockNumber, tx_hash: f.txHash, log_index: f.logIndex };
  const a = f.args;
  switch (f.kind) {
    case 'EditionCreated':
      await trx
        .insertInto('nft_tokens')
        .values({ ...where, contract: f.address, token_id: str(a.tokenId), kind: 'edition', creator: addr(a.creator), payout_to: addr(a.payoutTo), max_supply: str(a.maxSupply), mint_start: str(a.mintStart), mint_end: str(a.mintEnd), price: str(a.price), royalty_bps: Number(a.royaltyBps), uri: String(a.uri), voucher_hash: null })
        .onConflict((oc) => oc.doNothing())
        .execute();
      return;
    case 'RecordMinted':
      await trx
        .insertInto('nft_tokens')
        .values({ ...where, contract: f.address, token_id: str(a.tokenId), kind: 'record', creator: addr(a.to), payout_to: addr(a.payoutTo), max_supply: '1', mint_start: 0, mint_end: 0, price: '0', royalty_bps: Number(a.royaltyBps), uri: String(a.uri), voucher_hash: null })
        .onConflict((oc) => oc.doNothing())
        .execute();
      await addMint(trx, where, f.address, str(a.tokenId), addr(a.to), '1', '0');
      return;
    case 'EditionMinted':
      await addMint(trx, where, f.address, str(a.tokenId), addr(a.to), str(a.amount), str(a.paid));
      return;
    case 'VoucherRedeemed':
      await trx.updateTable('nft_tokens').set({ voucher_hash: String(a.voucherHash) }).where('chain_id', '=', chain).where('contract', '=', f.address).where('token_id', '=', str(a.tokenId)).execute();
      return;
    case 'SplitCreated':
      await trx
        .insertInto('nft_splits')
        .values({ ...where, split: addr(a.split), recipients: JSON.stringify((a.recipients as string[]).map(addr)), bps: JSON.stringify((a.bps as bigint[]).map(Number)) })
        .onConflict((oc) => oc.doNothing())
        .execute();
      return;
    case 'PaymentReleased':
    case 'ERC20PaymentReleased':
      await trx
        .insertInto('nft_payouts')
        .values({ ...where, split: f.address, account: addr(a.account), currency: f.kind === 'ERC20PaymentReleased' ? addr(a.token) : null, amount: str(a.amount) })
        .onConflict((oc) => oc.doNothing())
        .execute();
      return;
    case 'Listed':
      await trx
        .insertInto('nft_listings')
        .values({ ...where, market: f.address, listing_id: str(a.listingId), seller: addr(a.seller), token: addr(a.token), token_id: str(a.tokenId), amount: str(a.amount), remaining: str(a.amount), currency: addr(a.currency), price_per_unit: str(a.pricePerUnit), cancelled_block: null })
        .onConflict((oc) => oc.doNothing())
        .execute();
      return;
    case 'Sold': {
      const listing = await trx.selectFrom('nft_listings').select(['token', 'token_id', 'seller', 'currency']).where('chain_id', '=', chain).where('market', '=', f.address).where('listing_id', '=', str(a.listingId)).executeTakeFirst();
      const inserted = await trx
        .insertInto('nft_sales')
        .values({
          ...where,
          market: f.address,
          listing_id: str(a.listingId),
          token: listing?.token ?? '',
          token_id: listing?.token_id ?? '0',
          seller: listing?.seller ?? '',
          buyer: addr(a.buyer),
          amount: str(a.amount),
          currency: listing?.currency ?? '0x0000000000000000000000000000000000000000',
          paid: str(a.paid),
          royalty_receiver: addr(a.royaltyReceiver),
          royalty_paid: str(a.royaltyPaid),
          // A sale of a token that is not one of ours (or of a listing never seen) is stored, not announced.
          published: !listing || (listing.token !== addresses.editions && listing.token !== addresses.records),
        })
        .onConflict((oc) => oc.doNothing())
        .returning('tx_hash')
        .executeTakeFirst();
      if (inserted && listing) {
        await trx.updateTable('nft_listings').set({ remaining: sql`remaining - ${str(a.amount)}::numeric` }).where('chain_id', '=', chain).where('market', '=', f.address).where('listing_id', '=', str(a.listingId)).execute();
      }
      return;
    }
    case 'Cancelled':
      await trx.updateTable('nft_listings').set({ cancelled_block: f.blockNumber }).where('chain_id', '=', chain).where('market', '=', f.address).where('listing_id', '=', str(a.listingId)).execute();
      return;
    case 'LicenceSet': {
      const token = addr(a.token);
      await trx
        .insertInto('nft_licences')
        .values({ ...where, registry: f.address, token, token_id: str(a.tokenId), terms: Number(a.terms), audio_hash: String(a.audioHash).toLowerCase(), state_hash: String(a.stateHash).toLowerCase(), published: token !== addresses.editions && token !== addresses.records })
        .onConflict((oc) => oc.doNothing())
        .execute();
      return;
    }
  }
}

async function addMint(trx: Transaction<Database>, where: { chain_id: string; block_number: number; tx_hash: string; log_index: number }, contract: string, tokenId: string, to: string, amount: string, paid: string): Promise<void> {
  const inserted = await trx
    .insertInto('nft_mints')
    .values({ ...where, contract, token_id: tokenId, to_address: to, amount, paid })
    .onConflict((oc) => oc.doNothing())
    .returning('tx_hash')
    .executeTakeFirst();
  if (inserted) {
    await trx.updateTable('nft_tokens').set({ minted: sql`minted + ${amount}::numeric` }).where('chain_id', '=', where.chain_id).where('contract', '=', contract).where('token_id', '=', tokenId).execute();
  }
}

/**
 * Drops what was indexed from the blocks above `fork` (they left the chain) and moves the running
 * figures back; the cursor returns to `fork` (hash `forkHash`), so those heights are read again.
 */
export async function rollBack(db: Kysely<Database>, chainId: number, cursorAt: number, fork: number, forkHash: string | null, ours: { editions: string; records: string } | null = null): Promise<void> {
  const chain = String(chainId);
  await db.transaction().execute(async (trx) => {
    await holdCursor(trx, chain, cursorAt);
    if (ours) await retract(trx, chain, fork, ours);
    const mints = await trx.selectFrom('nft_mints').select(['contract', 'token_id', 'amount']).where('chain_id', '=', chain).where('block_number', '>', fork).execute();
    for (const m of mints) {
      await trx.updateTable('nft_tokens').set({ minted: sql`minted - ${m.amount}::numeric` }).where('chain_id', '=', chain).where('contract', '=', m.contract).where('token_id', '=', m.token_id).execute();
    }
    const sales = await trx.selectFrom('nft_sales').select(['market', 'listing_id', 'amount', 'token']).where('chain_id', '=', chain).where('block_number', '>', fork).execute();
    for (const s of sales) {
      if (!s.token) continue;
      await trx.updateTable('nft_listings').set({ remaining: sql`remaining + ${s.amount}::numeric` }).where('chain_id', '=', chain).where('market', '=', s.market).where('listing_id', '=', s.listing_id).execute();
    }
    await trx.updateTable('nft_listings').set({ cancelled_block: null }).where('chain_id', '=', chain).where('cancelled_block', '>', fork).execute();
    for (const table of ['nft_mints', 'nft_sales', 'nft_licences', 'nft_payouts', 'nft_splits', 'nft_listings', 'nft_tokens', 'nft_chain_blocks'] as const) {
      await trx.deleteFrom(table).where('chain_id', '=', chain).where('block_number', '>', fork).execute();
    }
    if (forkHash === null) {
      await trx.deleteFrom('nft_chain_cursor').where('chain_id', '=', chain).execute();
    } else {
      await trx.updateTable('nft_chain_cursor').set({ block_number: fork, block_hash: forkHash, updated_at: new Date() }).where('chain_id', '=', chain).execute();
    }
  });
}

/** The id of the event a fact is published as: the n-th publication of one fact (after n retractions) gets `:n` added. */
export function factEventId(chainId: number | string, txHash: string, logIndex: number, generation: number): string {
  return `nft:${chainId}:${txHash}:${logIndex}${generation > 0 ? `:${generation}` : ''}`;
}

/** How many times the fact at (tx hash, log index) was retracted: the generation of its next publication. */
export async function retractionsOf(db: Kysely<Database> | Transaction<Database>, chain: string, txHash: string, logIndex: number): Promise<number> {
  const row = await db.selectFrom('nft_retractions').select((eb) => eb.fn.countAll<string>().as('n')).where('chain_id', '=', chain).where('tx_hash', '=', txHash).where('log_index', '=', logIndex).executeTakeFirst();
  return Number(row?.n ?? 0);
}

/**
 * Records a retraction for every published fact of our tokens above `fork` (the outbox of
 * `nft.retracted`). Facts of other tokens were stored as published without an event: nothing to retract.
 */
async function retract(trx: Transaction<Database>, chain: string, fork: number, ours: { editions: string; records: string }): Promise<void> {
  const tokens = [ours.editions.toLowerCase(), ours.records.toLowerCase()];
  const gone = [
    ...(await trx.selectFrom('nft_mints').select(['contract', 'token_id', 'block_number', 'tx_hash', 'log_index']).where('chain_id', '=', chain).where('block_number', '>', fork).where('published', '=', true).execute()).map((r) => ({ ...r, type: 'nft.minted' as const })),
    ...(await trx.selectFrom('nft_sales').select(['token as contract', 'token_id', 'block_number', 'tx_hash', 'log_index']).where('chain_id', '=', chain).where('block_number', '>', fork).where('published', '=', true).execute()).map((r) => ({ ...r, type: 'nft.sold' as const })),
    ...(await trx.selectFrom('nft_licences').select(['token as contract', 'token_id', 'block_number', 'tx_hash', 'log_index']).where('chain_id', '=', chain).where('block_number', '>', fork).where('published', '=', true).execute()).map((r) => ({ ...r, type: 'nft.licensed' as const })),
  ];
  for (const fact of gone) {
    if (!tokens.includes(fact.contract.toLowerCase())) continue;
    const generation = await retractionsOf(trx, chain, fact.tx_hash, fact.log_index);
    await trx
      .insertInto('nft_retractions')
      .values({ chain_id: chain, event_id: factEventId(chain, fact.tx_hash, fact.log_index, generation), event_type: fact.type, contract: fact.contract.toLowerCase(), token_id: fact.token_id, block_number: fact.block_number, tx_hash: fact.tx_hash, log_index: fact.log_index })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}
