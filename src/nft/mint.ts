// Minting a drop once everyone accepted its split. The steps, each recorded on the drop as it
// succeeds so that a retried mint continues rather than repeats: the split contract (deterministic:
// the same recipients give the same address), the metadata JSON stored by CID, the edition (its
// payout and ERC-2981 royalty receiver is the split), the licence with the audio and state hashes,
// then one free copy to each collaborator's custodial wallet. A mint request carries an
// Idempotency-Key: the same key answers the same result; the same key with another request is 409.
import { createHash } from 'node:crypto';
import type { BounceService } from '../bounce/service.js';
import { HttpError } from '../server/errors.js';
import type { Storage } from '../storage/database.js';
import type { NftChain } from './chain/index.js';
import type { ContentStore } from './content.js';
import { DropError, type Drop, type DropService } from './drops.js';
import { editionMetadata } from './metadata.js';

export interface MintResult {
  drop: Drop;
  contract: string;
  tokenId: string;
  splitAddress: string;
  metadataUri: string;
  /** The collaborators' free copies: one each, in their custodial wallets. */
  copies: { userId: string; address: string; amount: number }[];
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
  async mint(tenantId: string, userId: string, dropId: string, key: string, body: unknown): Promise<{ result: MintResult; replayed: boolean }> {
    const hash = createHash('sha256').update(JSON.stringify([dropId, body ?? null])).digest('hex');
    const { storage } = this.deps;
    const existing = await storage.withTenant(tenantId, (trx) =>
      trx.selectFrom('nft_mint_requests').select(['request_hash', 'result']).where('user_id', '=', userId).where('idempotency_key', '=', key).executeTakeFirst(),
    );
    if (existing && existing.request_hash !== hash) throw new HttpError(409, 'idempotency-key-reused', `Idempotency-Key ${key} was already used for a different request`);
    if (existing?.result) return { result: parse(existing.result), replayed: true };
    if (!existing) {
      await storage.withTenant(tenantId, (trx) =>
        trx
          .insertInto('nft_mint_requests')
          .values({ tenant_id: tenantId, user_id: userId, idempotency_key: key, request_hash: hash, drop_id: dropId, result: null })
          .onConflict((oc) => oc.columns(['tenant_id', 'user_id', 'idempotency_key']).doNothing())
          .execute(),
      );
    }
    const result = await this.once(`${tenantId}/${dropId}`, () => this.run(tenantId, userId, dropId));
    // A concurrent retry with the same key may have stored it first: the first stored answer stays.
    const stored = await storage.withTenant(tenantId, async (trx) => {
      const row = await trx.selectFrom('nft_mint_requests').select('result').where('user_id', '=', userId).where('idempotency_key', '=', key).forUpdate().executeTakeFirstOrThrow();
      if (row.result) return { result: parse(row.result), replayed: true };
      await trx.updateTable('nft_mint_requests').set({ result: JSON.stringify(result) }).where('user_id', '=', userId).where('idempotency_key', '=', key).execute();
      return { result, replayed: false };
    });
    return stored;
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

    if (!drop.splitAddress) {
      const { split } = await chain.createSplit(recipients(drop));
      await drops.record(tenantId, dropId, { splitAddress: split });
    }
    drop = (await drops.get(tenantId, dropId))!;
    if (!drop.metadataCid) {
      const bounce = await bounces.get(tenantId, drop.bounceId);
      if (!bounce || bounce.state !== 'done') throw new DropError(409, `bounce ${drop.bounceId} of drop ${dropId} has no audio`);
      const metadata = Buffer.from(JSON.stringify(editionMetadata(drop, bounce), null, 2));
      const entry = await content.put(tenantId, metadata, 'application/json', `${dropId}.json`);
      await drops.record(tenantId, dropId, { metadataCid: entry.cid });
    }
    drop = (await drops.get(tenantId, dropId))!;
    if (!drop.tokenId) {
      const { tokenId } = await chain.createEdition({
        creator: chain.walletOf(tenantId, drop.proposedBy),
        payoutTo: drop.splitAddress!,
        maxSupply: drop.maxSupply,
        ...(drop.mintStart !== null ? { mintStart: drop.mintStart } : {}),
        ...(drop.mintEnd !== null ? { mintEnd: drop.mintEnd } : {}),
        priceWei: BigInt(drop.priceWei),
        royaltyBps: drop.royaltyBps,
        uri: `ipfs://${drop.metadataCid}`,
      });
      await drops.record(tenantId, dropId, { contract: chain.info().contracts.editions, tokenId: tokenId.toString() });
    }
    drop = (await drops.get(tenantId, dropId))!;
    const bounce = (await bounces.get(tenantId, drop.bounceId))!;
    const tokenId = BigInt(drop.tokenId!);
    await chain.setLicence({ token: 'editions', tokenId, terms: drop.licence, audioHash: `0x${bounce.audioHash}`, stateHash: `0x${bounce.stateHash}` });
    const people = drop.split.collaborators;
    if (drop.maxSupply === 0 || drop.maxSupply >= people.length) {
      for (const c of people) await chain.mintTo(chain.walletOf(tenantId, c.userId), tokenId, 1);
    }
    await drops.record(tenantId, dropId, { state: 'minted' });
    return this.resultOf(tenantId, (await drops.get(tenantId, dropId))!);
  }

  private resultOf(tenantId: string, drop: Drop): MintResult {
    const people = drop.split.collaborators;
    const copied = drop.maxSupply === 0 || drop.maxSupply >= people.length;
    return {
      drop,
      contract: drop.contract!,
      tokenId: drop.tokenId!,
      splitAddress: drop.splitAddress!,
      metadataUri: `ipfs://${drop.metadataCid}`,
      copies: copied ? people.map((c) => ({ userId: c.userId, address: this.deps.chain.walletOf(tenantId, c.userId), amount: 1 })) : [],
    };
  }
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

function parse(value: unknown): MintResult {
  return (typeof value === 'string' ? JSON.parse(value) : value) as MintResult;
}
