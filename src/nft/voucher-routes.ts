// HTTP API of lazy minting. A lazy drop's mint signs a voucher with the proposer's custodial wallet
// (EIP-712, no gas spent); the tenant's users read the open vouchers and the first buyer redeems one:
// their wallet sends it to the editions contract, which checks the signature, creates the edition and
// mints the copies, the price paid to the split. The contract refuses a voucher redeemed already, one
// past its deadline, and one whose terms or signature were altered: those refusals come back as
// problem JSON with a sentence (409, 409, 400). A redemption carries an Idempotency-Key.
import { z } from 'zod';
import { notFound } from '../server/errors.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import type { NftChain } from './chain/index.js';
import type { Drop, DropService } from './drops.js';
import { idempotencyKey } from './idempotency.js';
import type { Minter } from './mint.js';
import { refusing } from './refusals.js';
import { redeemReply, voucherListReply, voucherReply } from './reply-schemas.js';

const decimal = z.string().regex(/^[0-9]{1,78}$/, 'a whole number as a decimal string');
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'an Ethereum address');
const redeemSchema = z
  .object({
    amount: z.number().int().min(1).max(1_000_000).default(1),
    /** The voucher as the buyer was served it (absent: the stored one); the contract checks its signature. */
    voucher: z
      .object({ creator: address, payoutTo: address, maxSupply: decimal, mintStart: decimal, mintEnd: decimal, price: decimal, royaltyBps: decimal, uri: z.string().max(300), nonce: decimal, deadline: decimal })
      .partial()
      .strict()
      .optional(),
    signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'a 65-byte signature in hex').optional(),
  })
  .strict()
  .refine((b) => (b.voucher === undefined) === (b.signature === undefined), 'a voucher and its signature come together');

export interface VoucherRouteDeps {
  drops: DropService;
  minter: () => Promise<Minter>;
  chain: () => Promise<NftChain>;
}

/** What a buyer is served of a lazy drop. */
function served(drop: Drop, chainId: number) {
  return {
    dropId: drop.id,
    title: drop.title,
    sessionId: drop.sessionId,
    chainId,
    contract: drop.contract,
    voucher: drop.voucher!.voucher,
    signature: drop.voucher!.signature,
    digest: drop.voucher!.digest,
    metadataUri: `ipfs://${drop.metadataCid}`,
    /** Set once redeemed: later copies are minted from this edition. */
    tokenId: drop.tokenId,
  };
}

export function registerVoucherRoutes(http: HttpRouter, deps: VoucherRouteDeps): void {
  const { drops } = deps;
  const voucherDrop = async (ctx: HttpContext): Promise<Drop> => {
    const drop = await drops.get(ctx.principal!.tenantId, ctx.params.id ?? '');
    if (!drop?.lazy || drop.state !== 'minted' || !drop.voucher) throw notFound(`no voucher for drop ${(ctx.params.id ?? '').slice(0, 40)}`);
    return drop;
  };

  http.route(
    'GET',
    '/api/v1/nft/vouchers',
    async (ctx) => {
      const chain = await deps.chain();
      const lazy = (await drops.list(ctx.principal!.tenantId, { minted: true }, 1000)).filter((d) => d.lazy && d.voucher);
      return { json: { vouchers: lazy.map((d) => served(d, chain.info().chainId)) } };
    },
    { auth: 'required', tag: 'nft', summary: 'The tenant\'s open vouchers of lazy drops', responses: { 200: voucherListReply } },
  );
  http.route(
    'GET',
    '/api/v1/nft/vouchers/:id',
    async (ctx) => {
      const chain = await deps.chain();
      return { json: served(await voucherDrop(ctx), chain.info().chainId) };
    },
    { auth: 'required', tag: 'nft', summary: 'A lazy drop\'s signed voucher, as a buyer is served it', responses: { 200: voucherReply } },
  );
  http.route(
    'POST',
    '/api/v1/nft/vouchers/:id/redeem',
    async (ctx) => {
      const key = idempotencyKey(ctx.headers, 'redeem');
      const drop = await voucherDrop(ctx);
      const body = ctx.headers['content-length'] === '0' || ctx.headers['content-length'] === undefined ? redeemSchema.parse({}) : await ctx.json(redeemSchema);
      const minter = await deps.minter();
      const principal = ctx.principal!;
      const { result, replayed } = await refusing(() => minter.redeem(principal.tenantId, principal.userId, drop.id, key, body));
      return { status: replayed ? 200 : 201, headers: replayed ? { 'idempotent-replayed': 'true' } : {}, json: result };
    },
    {
      auth: 'required',
      tag: 'nft',
      summary: 'Redeem a voucher: the edition is created on chain and the copies minted to the buyer (Idempotency-Key required)',
      maxBodyBytes: 4096,
      responses: { 201: redeemReply, 200: { schema: redeemReply, description: 'a retry with the same Idempotency-Key: the first result again (header idempotent-replayed)' } },
    },
  );
}
