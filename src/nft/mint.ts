// Minting a drop once everyone accepted its split. The steps, each recorded on the drop as it
// succeeds so that a retried mint continues rather than repeats: the split contract (deterministic:
// the same recipients give the same address), the stems rendered (when asked for), the metadata JSON
// stored by CID (the master's and each stem's), the master token — an edition (its payout and
// ERC-2981 royalty receiver is the split), a 1/1 record minted to the proposer's wallet, or for a
// lazy drop a voucher the proposer's wallet signs (nothing on chain: the first buyer creates the
// edition) — each stem's edition, the licences with the audio and state hashes, then one free copy
// of an edition to each collaborator's custodial wallet. A mint request carries an
// Idempotency-Key: the same key answers the same result; the same key with another request is 409.
import type { BounceService } from '../bounce/service.js';
import type { Storage } from '../storage/database.js';
import type { NftChain, SignedVoucher, Voucher } from './chain/index.js';
import type { ContentStore } from './content.js';
import { DropError, type Drop, type DropService, type StoredVoucher } from './drops.js';
import { idempotent } from './idempotency.js';
import { editionMetadata, packHash, packMetadata, stemMetadata } from './metadata.js';

/** A buyer's redemption of a voucher: how many copies, and optionally the voucher as the buyer presents it. */
export interface RedeemRequest {
  amount: number;
  voucher?: { [K in keyof StoredVoucher['voucher']]?: string | undefined } | undefined;
  signature?: string | undefined;
}

export interface RedeemResult {
  dropId: string;
  contract: string;
  tokenId: string;
  amount: number;
  paidWei: string;
  buyer: string;
  tx: { hash: string; blockNumber: number; gasUsed: string };
  /** Whether the operator set the new edition's licence ('set', or why not). */
  licence: 'set' | `not set: ${string}`;
}

export interface MintResult {
  drop: Drop;
  /** The editions contract, or the records contract for a 1/1 record. */
  contract: string;
  /** null for a lazy drop until its voucher is redeemed. */
  tokenId: string | null;
  splitAddress: string;
  metadataUri: string;
  /** The collaborators' free copies: one each, in their custodial wallets. */
  copies: { userId: string; address: string; amount: number }[];
  /** Each stem's edition. */
  stems: { trackId: string; name: string; tokenId: string; metadataUri: string; audioCid: string }[];
  /** A lazy drop's signed voucher, served to buyers. */
  voucher: StoredVoucher | null;
}

export interface MinterDeps {
  storage: Storage;
  drops: DropService;
  bounces: BounceService;
  content: ContentStore;
  chain: NftChain;
}

export class Minter {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: MinterDeps) {}

  /** Mints once per (user, key); returns the first result with `replayed: true` on a retry. */
  mint(tenantId: string, userId: string, dropId: string, key: string, body: unknown): Promise<{ result: MintResult; replayed: boolean }> {
    return idempotent(this.deps.storage, { tenantId, userId, key, dropId, request: [dropId, body ?? null] }, () => this.once(`${tenantId}/${dropId}`, () => this.run(tenantId, userId, dropId)));
  }

  /** The first buyer redeems a lazy drop's voucher: the edition is created on chain and `amount` copies minted to the buyer's wallet. */
  redeem(tenantId: string, userId: string, dropId: string, key: string, body: RedeemRequest): Promise<{ result: RedeemResult; replayed: boolean }> {
    return idempotent(this.deps.storage, { tenantId, userId, key, dropId, request: ['redeem', dropId, body] }, () => this.once(`${tenantId}/${dropId}`, () => this.redeemNow(tenantId, userId, dropId, body)));
  }

  private async redeemNow(tenantId: string, userId: string, dropId: string, body: RedeemRequest): Promise<RedeemResult> {
    const { drops, chain, bounces } = this.deps;
    const drop = await drops.get(tenantId, dropId);
    if (!drop?.lazy || drop.state !== 'minted' || !drop.voucher) throw new DropError(404, `no voucher for drop ${dropId}`);
    // What the buyer presents (as served, or altered: the contract checks the signature) or the stored voucher.
    const altered = Object.fromEntries(Object.entries(body.voucher ?? {}).filter((e): e is [string, string] => e[1] !== undefined));
    const presented = body.voucher && body.signature ? { voucher: { ...drop.voucher.voucher, ...altered }, signature: body.signature, digest: drop.voucher.digest } : drop.voucher;
    const { tokenId, tx } = await chain.redeemVoucher({ tenantId, userId }, voucherOf(presented), body.amount);
    const redeemed = await chain.voucherTokenId(drop.voucher.digest);
    let licence: RedeemResult['licence'] = 'set';
    if (redeemed === tokenId && !drop.tokenId) {
      await drops.record(tenantId, dropId, { tokenId: tokenId.toString() });
      // The copies are the buyer's already: a licence the operator could not set is said, not thrown
      // (a retry of this redemption would only meet the contract's VoucherAlreadyUsed).
      const bounce = (await bounces.get(tenantId, drop.bounceId!))!;
      licence = await chain
        .setLicence({ token: 'editions', tokenId, terms: drop.licence, audioHash: `0x${bounce.audioHash}`, stateHash: `0x${bounce.stateHash}` })
        .then(() => 'set' as const, (error: unknown) => `not set: ${error instanceof Error ? error.message : String(error)}` as const);
    }
    return { licence, dropId, contract: chain.info().contracts.editions, tokenId: tokenId.toString(), amount: body.amount, paidWei: (BigInt(presented.voucher.price) * BigInt(body.amount)).toString(), buyer: chain.walletOf(tenantId, userId), tx: { hash: tx.hash, blockNumber: tx.blockNumber, gasUsed: tx.gasUsed.toString() } };
  }

  /** One run per drop at a time on this node; a second caller waits and then finds it minted. */
  private async once<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(work);
    this.locks.set(key, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === run) this.locks.delete(key);
    }
  }

  private async run(tenantId: string, userId: string, dropId: string): Promise<MintResult> {
    const { drops, bounces, content, chain } = this.deps;
    let drop = await drops.get(tenantId, dropId);
    if (!drop) throw new DropError(404, `no drop ${dropId}`);
    if (drop.proposedBy !== userId && !drop.split.collaborators.some((c) => c.userId === userId)) throw new DropError(403, `only the proposer or a collaborator of drop ${dropId} may mint it`);
    drops.ensureMintable(drop);
    if (drop.state === 'minted') return this.resultOf(tenantId, drop);
    const reload = async () => (drop = (await drops.get(tenantId, dropId))!);

    if (!drop.splitAddress) {
      const { split } = await chain.createSplit(recipients(drop));
      await drops.record(tenantId, dropId, { splitAddress: split });
    }
    await reload();
    if (drop.samples) return this.mintPack(tenantId, drop);
    const bounce = drop.bounceId ? await bounces.get(tenantId, drop.bounceId) : null;
    if (!bounce || bounce.state !== 'done') throw new DropError(409, `bounce ${drop.bounceId} of drop ${dropId} has no audio`);
    if (drop.withStems && drop.stems.length === 0) {
      const stems = await bounces.stems(tenantId, bounce.id);
      if (stems.length === 0) throw new DropError(409, `drop ${dropId} asks for stems, but no track of the session has notes`);
      await drops.putStems(tenantId, dropId, stems);
    }
    await reload();
    if (!drop.metadataCid) {
      const metadata = Buffer.from(JSON.stringify(editionMetadata(drop, bounce), null, 2));
      const entry = await content.put(tenantId, metadata, 'application/json', `${dropId}.json`);
      await drops.record(tenantId, dropId, { metadataCid: entry.cid });
    }
    for (const stem of drop.stems) {
      if (stem.metadataCid) continue;
      const metadata = Buffer.from(JSON.stringify(stemMetadata(drop, bounce, stem), null, 2));
      const entry = await content.put(tenantId, metadata, 'application/json', `${dropId}-${stem.trackId}.json`);
      await drops.recordStem(tenantId, dropId, stem.trackId, { metadataCid: entry.cid });
    }
    await reload();
    const creator = { tenantId, userId: drop.proposedBy };
    const uri = `ipfs://${drop.metadataCid}`;
    const hashes = { audioHash: `0x${bounce.audioHash}`, stateHash: `0x${bounce.stateHash}` };
    if (drop.lazy) {
      // Nothing goes on chain: the proposer's wallet signs the edition's terms; the first buyer redeems them.
      if (!drop.voucher) {
        const deadline = drop.mintEnd ?? Math.floor(Date.now() / 1000) + VOUCHER_DAYS * 86_400;
        const signed = await chain.signVoucher(creator, {
          payoutTo: drop.splitAddress!,
          maxSupply: BigInt(drop.maxSupply),
          mintStart: BigInt(drop.mintStart ?? 0),
          mintEnd: BigInt(drop.mintEnd ?? 0),
          price: BigInt(drop.priceWei),
          royaltyBps: BigInt(drop.royaltyBps),
          uri,
          deadline: BigInt(deadline),
        });
        await drops.record(tenantId, dropId, { voucher: storedVoucher(signed), contract: chain.info().contracts.editions });
      }
    } else if (!drop.tokenId) {
      if (drop.kind === 'record') {
        const { tokenId } = await chain.mintRecord({ to: chain.walletOf(tenantId, drop.proposedBy), payoutTo: drop.splitAddress!, royaltyBps: drop.royaltyBps, uri });
        await drops.record(tenantId, dropId, { contract: chain.info().contracts.records, tokenId: tokenId.toString() });
      } else {
        const { tokenId } = await chain.createEdition({ creator: chain.walletOf(tenantId, drop.proposedBy), payoutTo: drop.splitAddress!, maxSupply: drop.maxSupply, ...window(drop), priceWei: BigInt(drop.priceWei), royaltyBps: drop.royaltyBps, uri });
        await drops.record(tenantId, dropId, { contract: chain.info().contracts.editions, tokenId: tokenId.toString() });
      }
    }
    await reload();
    // Stems: editions of their own, with the master's supply (a record's stems: one copy each), price and split.
    for (const stem of drop.stems) {
      if (stem.tokenId) continue;
      const { tokenId } = await chain.createEdition({ creator: chain.walletOf(tenantId, drop.proposedBy), payoutTo: drop.splitAddress!, maxSupply: drop.maxSupply, ...window(drop), priceWei: BigInt(drop.priceWei), royaltyBps: drop.royaltyBps, uri: `ipfs://${stem.metadataCid}` });
      await drops.recordStem(tenantId, dropId, stem.trackId, { tokenId: tokenId.toString() });
    }
    await reload();
    if (drop.tokenId) {
      await chain.setLicence({ token: drop.kind === 'record' ? 'records' : 'editions', tokenId: BigInt(drop.tokenId), terms: drop.licence, ...hashes });
    }
    for (const stem of drop.stems) {
      if (stem.licensed) continue;
      await chain.setLicence({ token: 'editions', tokenId: BigInt(stem.tokenId!), terms: drop.licence, audioHash: `0x${stem.audioHash}`, stateHash: hashes.stateHash });
      await drops.recordStem(tenantId, dropId, stem.trackId, { licensed: true });
    }
    if (copied(drop)) {
      for (const c of drop.split.collaborators) await chain.mintTo(chain.walletOf(tenantId, c.userId), BigInt(drop.tokenId!), 1);
    }
    await drops.record(tenantId, dropId, { state: 'minted' });
    return this.resultOf(tenantId, (await drops.get(tenantId, dropId))!);
  }

  /** A sample pack: its metadata (every sample by content id), one edition, its licence (the pack's hash), the creators' copies. */
  private async mintPack(tenantId: string, drop: Drop): Promise<MintResult> {
    const { drops, content, chain } = this.deps;
    if (!drop.metadataCid) {
      const entry = await content.put(tenantId, Buffer.from(JSON.stringify(packMetadata(drop), null, 2)), 'application/json', `${drop.id}.json`);
      await drops.record(tenantId, drop.id, { metadataCid: entry.cid });
      drop = (await drops.get(tenantId, drop.id))!;
    }
    if (!drop.tokenId) {
      const { tokenId } = await chain.createEdition({ creator: chain.walletOf(tenantId, drop.proposedBy), payoutTo: drop.splitAddress!, maxSupply: drop.maxSupply, ...window(drop), priceWei: BigInt(drop.priceWei), royaltyBps: drop.royaltyBps, uri: `ipfs://${drop.metadataCid}` });
      await drops.record(tenantId, drop.id, { contract: chain.info().contracts.editions, tokenId: tokenId.toString() });
      drop = (await drops.get(tenantId, drop.id))!;
    }
    const hash = packHash(drop.samples!);
    // A pack has no session state: its licence's state hash is the pack's hash too.
    await chain.setLicence({ token: 'editions', tokenId: BigInt(drop.tokenId!), terms: drop.licence, audioHash: hash, stateHash: hash });
    if (copied(drop)) {
      for (const c of drop.split.collaborators) await chain.mintTo(chain.walletOf(tenantId, c.userId), BigInt(drop.tokenId!), 1);
    }
    await drops.record(tenantId, drop.id, { state: 'minted' });
    return this.resultOf(tenantId, (await drops.get(tenantId, drop.id))!);
  }

  private resultOf(tenantId: string, drop: Drop): MintResult {
    return {
      drop,
      contract: drop.contract!,
      tokenId: drop.tokenId,
      splitAddress: drop.splitAddress!,
      metadataUri: `ipfs://${drop.metadataCid}`,
      copies: copied(drop) ? drop.split.collaborators.map((c) => ({ userId: c.userId, address: this.deps.chain.walletOf(tenantId, c.userId), amount: 1 })) : [],
      stems: drop.stems.map((s) => ({ trackId: s.trackId, name: s.name, tokenId: s.tokenId!, metadataUri: `ipfs://${s.metadataCid}`, audioCid: s.audioCid })),
      voucher: drop.voucher,
    };
  }
}

/** How long a lazy drop's voucher may be redeemed when its mint window has no end: 30 days. */
const VOUCHER_DAYS = 30;

/** The collaborators' free copies: an edition minted at once whose supply has room for one each. */
function copied(drop: Drop): boolean {
  return drop.kind === 'edition' && !drop.lazy && (drop.maxSupply === 0 || drop.maxSupply >= drop.split.collaborators.length);
}

function window(drop: Drop): { mintStart?: number; mintEnd?: number } {
  return { ...(drop.mintStart !== null ? { mintStart: drop.mintStart } : {}), ...(drop.mintEnd !== null ? { mintEnd: drop.mintEnd } : {}) };
}

/** A signed voucher as stored and served (its numbers as decimal strings). */
export function storedVoucher(signed: SignedVoucher): StoredVoucher {
  const v = signed.voucher;
  const voucher = Object.fromEntries(Object.entries(v).map(([k, value]) => [k, typeof value === 'bigint' ? value.toString() : String(value)])) as StoredVoucher['voucher'];
  return { voucher, signature: signed.signature, digest: signed.digest };
}

/** A stored voucher back as the contract takes it. */
export function voucherOf(stored: StoredVoucher): { voucher: Voucher; signature: string } {
  const v = stored.voucher;
  return {
    voucher: { creator: v.creator, payoutTo: v.payoutTo, maxSupply: BigInt(v.maxSupply), mintStart: BigInt(v.mintStart), mintEnd: BigInt(v.mintEnd), price: BigInt(v.price), royaltyBps: BigInt(v.royaltyBps), uri: v.uri, nonce: BigInt(v.nonce), deadline: BigInt(v.deadline) },
    signature: stored.signature,
  };
}

/** The split's recipients: each accepted payout address with its basis points (one address named twice gets both shares), ascending. */
export function recipients(drop: Drop): { address: string; bps: number }[] {
  const byAddress = new Map<string, number>();
  for (const c of drop.split.collaborators) {
    if (!c.payoutAddress) throw new DropError(409, `${c.userId} has not accepted the split`);
    const key = c.payoutAddress.toLowerCase();
    byAddress.set(key, (byAddress.get(key) ?? 0) + c.bps);
  }
  return [...byAddress.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([address, bps]) => ({ address, bps }));
}
