// HTTP API of what was minted: tokens, market listings (list one's own copies, buy, cancel), licences,
// each creator's royalty statement, releasing one's royalties, one's custodial wallet and, on the
// local development chain only, a faucet. Custodial wallets sign for their user; no key ever leaves
// the chain module. Listings and tokens are those of the caller's tenant (another's are unknown).
import { isAddress } from 'ethers';
import { z } from 'zod';
import type { Principal } from '../server/auth.js';
import { badRequest, forbidden, notFound } from '../server/errors.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import type { Storage } from '../storage/database.js';
import type { NftChain, TxResult } from './chain/index.js';
import type { Drop, DropService } from './drops.js';
import { licenceNames } from './metadata.js';
import { refusing } from './refusals.js';

const wei = z.string().regex(/^[1-9][0-9]{0,40}$/, 'an amount in wei above 0, as a decimal string');
const listSchema = z.object({ tokenId: z.string().regex(/^[0-9]{1,78}$/), amount: z.number().int().min(1).max(1_000_000).default(1), priceWei: wei }).strict();
const buySchema = z.object({ amount: z.number().int().min(1).max(1_000_000).default(1) }).strict();
const faucetSchema = z.object({ wei: wei.optional() }).strict();
const LISTING_ID = /^[0-9]{1,30}$/;
const USER_ID = /^[^\s]{1,200}$/;
/** The most the development faucet sends at once: 100 ETH. */
const FAUCET_MAX = 100n * 10n ** 18n;

export interface MarketRouteDeps {
  storage: Storage;
  drops: DropService;
  /** The chain, opened at the first call; rejects with a 503 problem while it is off. */
  chain: () => Promise<NftChain>;
  dev: boolean;
}

const tx = (t: TxResult) => ({ hash: t.hash, blockNumber: t.blockNumber, gasUsed: t.gasUsed.toString() });

export function registerMarketRoutes(http: HttpRouter, deps: MarketRouteDeps): void {
  const { drops, storage } = deps;
  const chainOf = deps.chain;
  const owner = (p: Principal) => ({ tenantId: p.tenantId, userId: p.userId });
  const json = async <S extends z.ZodType>(ctx: HttpContext, schema: S): Promise<z.output<S>> =>
    ctx.headers['content-length'] === '0' || ctx.headers['content-length'] === undefined ? schema.parse({}) : ctx.json(schema);
  /** The tenant's minted drop of an editions token id (404 for any other). */
  const mintedDrop = async (tenantId: string, tokenId: string): Promise<Drop> => {
    const row = await storage.withTenant(tenantId, (trx) => trx.selectFrom('nft_drops').select('id').where('state', '=', 'minted').where('token_id', '=', tokenId).executeTakeFirst());
    const drop = row ? await drops.get(tenantId, row.id) : null;
    if (!drop) throw notFound(`no token ${tokenId}`);
    return drop;
  };
  const listingOf = async (ctx: HttpContext) => {
    const id = ctx.params.id ?? '';
    if (!LISTING_ID.test(id)) throw notFound(`no listing ${id.slice(0, 40)}`);
    const row = await storage.withTenant(ctx.principal!.tenantId, (trx) => trx.selectFrom('nft_drop_listings').selectAll().where('listing_id', '=', id).executeTakeFirst());
    if (!row) throw notFound(`no listing ${id}`);
    return row;
  };

  http.route(
    'GET',
    '/api/v1/nft/tokens',
    async (ctx) => {
      const principal = ctx.principal!;
      const sessionId = ctx.query.get('session') ?? undefined;
      const creator = ctx.query.get('creator') ?? undefined;
      if (creator !== undefined && !USER_ID.test(creator)) throw badRequest('creator must be a user id');
      const minted = await drops.list(principal.tenantId, { minted: true, ...(sessionId !== undefined ? { sessionId } : {}), ...(creator !== undefined ? { creator } : {}) });
      const tokens = minted.map((d) => ({
        contract: d.contract,
        tokenId: d.tokenId,
        dropId: d.id,
        sessionId: d.sessionId,
        versionId: d.versionId,
        title: d.title,
        maxSupply: d.maxSupply,
        priceWei: d.priceWei,
        royaltyBps: d.royaltyBps,
        licence: { terms: d.licence, names: licenceNames(d.licence) },
        metadataUri: `ipfs://${d.metadataCid}`,
        splitAddress: d.splitAddress,
        creators: d.split.collaborators.map((c) => ({ userId: c.userId, bps: c.bps })),
      }));
      return { json: { tokens } };
    },
    { auth: 'required' },
  );

  http.route(
    'POST',
    '/api/v1/nft/listings',
    async (ctx) => {
      const chain = await chainOf();
      const principal = ctx.principal!;
      const request = await ctx.json(listSchema);
      const drop = await mintedDrop(principal.tenantId, request.tokenId);
      const listed = await refusing(() => chain.list(owner(principal), { token: 'editions', tokenId: BigInt(request.tokenId), amount: request.amount, priceWei: BigInt(request.priceWei) }));
      const listingId = listed.listingId.toString();
      await storage.withTenant(principal.tenantId, (trx) =>
        trx.insertInto('nft_drop_listings').values({ tenant_id: principal.tenantId, listing_id: listingId, drop_id: drop.id, seller: principal.userId, amount: request.amount, price_wei: request.priceWei }).execute(),
      );
      return { status: 201, json: { listingId, tokenId: request.tokenId, amount: request.amount, priceWei: request.priceWei, seller: principal.userId, tx: tx(listed.tx) } };
    },
    { auth: 'required', maxBodyBytes: 1024, body: listSchema },
  );
  http.route(
    'POST',
    '/api/v1/nft/listings/:id/buy',
    async (ctx) => {
      const chain = await chainOf();
      const listing = await listingOf(ctx);
      const { amount } = await json(ctx, buySchema);
      const done = await refusing(() => chain.buy(owner(ctx.principal!), BigInt(listing.listing_id), amount));
      return { json: { listingId: listing.listing_id, amount, paidWei: (BigInt(listing.price_wei) * BigInt(amount)).toString(), tx: tx(done) } };
    },
    { auth: 'required', maxBodyBytes: 1024 },
  );
  http.route(
    'POST',
    '/api/v1/nft/listings/:id/cancel',
    async (ctx) => {
      const chain = await chainOf();
      const listing = await listingOf(ctx);
      if (listing.seller !== ctx.principal!.userId) throw forbidden(`listing ${listing.listing_id} is not yours`);
      const done = await refusing(() => chain.cancel(owner(ctx.principal!), BigInt(listing.listing_id)));
      return { json: { listingId: listing.listing_id, cancelled: true, tx: tx(done) } };
    },
    { auth: 'required' },
  );

  http.route(
    'GET',
    '/api/v1/nft/licences/:contract/:tokenId',
    async (ctx) => {
      const chain = await chainOf();
      const { contract, tokenId } = ctx.params as { contract: string; tokenId: string };
      if (!/^[0-9]{1,78}$/.test(tokenId)) throw notFound(`no token ${tokenId.slice(0, 80)}`);
      const editions = chain.info().contracts.editions;
      if (contract !== 'editions' && !(isAddress(contract) && contract.toLowerCase() === editions.toLowerCase())) throw notFound(`no licence for contract ${contract.slice(0, 60)}`);
      const drop = await mintedDrop(ctx.principal!.tenantId, tokenId);
      const licence = await refusing(() => chain.licenceOf('editions', BigInt(tokenId)));
      if (!licence) throw notFound(`token ${tokenId} has no licence`);
      return { json: { contract: editions, tokenId, dropId: drop.id, sessionId: drop.sessionId, versionId: drop.versionId, ...licence, names: licenceNames(licence.terms), metadataUri: `ipfs://${drop.metadataCid}` } };
    },
    { auth: 'required' },
  );

  http.route(
    'GET',
    '/api/v1/nft/statements/:user',
    async (ctx) => {
      const chain = await chainOf();
      const principal = ctx.principal!;
      const userId = ctx.params.user ?? '';
      if (!USER_ID.test(userId)) throw badRequest('userId must be a user id');
      if (userId !== principal.userId && !principal.admin) throw forbidden('only the creator or a tenant administrator may read a royalty statement');
      return { json: await statement(chain, principal.tenantId, userId) };
    },
    { auth: 'required' },
  );
  http.route(
    'POST',
    '/api/v1/nft/payouts',
    async (ctx) => {
      const chain = await chainOf();
      const principal = ctx.principal!;
      const mine = await drops.list(principal.tenantId, { minted: true, creator: principal.userId }, 1000);
      const released: { dropId: string; split: string; account: string; amountWei: string; tx: ReturnType<typeof tx> }[] = [];
      for (const drop of mine) {
        const account = drop.split.collaborators.find((c) => c.userId === principal.userId)?.payoutAddress;
        if (!account || !drop.splitAddress) continue;
        const amount = await chain.releasable(drop.splitAddress, account);
        if (amount === 0n) continue;
        const done = await refusing(() => chain.releaseFromSplit(drop.splitAddress!, account));
        released.push({ dropId: drop.id, split: drop.splitAddress, account, amountWei: amount.toString(), tx: tx(done) });
      }
      return { json: { released, totalWei: released.reduce((n, r) => n + BigInt(r.amountWei), 0n).toString() } };
    },
    { auth: 'required' },
  );

  http.route(
    'GET',
    '/api/v1/nft/wallet',
    async (ctx) => {
      const chain = await chainOf();
      const principal = ctx.principal!;
      const address = chain.walletOf(principal.tenantId, principal.userId);
      return { json: { address, balanceWei: (await chain.balanceOf(address)).toString(), chainId: chain.info().chainId } };
    },
    { auth: 'required' },
  );
  if (deps.dev) {
    http.route(
      'POST',
      '/api/v1/nft/dev/faucet',
      async (ctx) => {
        const chain = await chainOf();
        if (!chain.info().local) throw forbidden('the faucet only pays on the local development chain');
        const principal = ctx.principal!;
        const body = await json(ctx, faucetSchema);
        const amount = BigInt(body.wei ?? 10n ** 18n);
        if (amount > FAUCET_MAX) throw badRequest('the faucet sends at most 100 ETH at once');
        const address = chain.walletOf(principal.tenantId, principal.userId);
        const done = await refusing(() => chain.fund(address, amount));
        return { json: { address, fundedWei: amount.toString(), balanceWei: (await chain.balanceOf(address)).toString(), tx: tx(done) } };
      },
      { auth: 'required', maxBodyBytes: 256 },
    );
  }

  /** A creator's royalties per minted drop crediting them: sales, their share of the royalties, released and releasable. */
  async function statement(chain: NftChain, tenantId: string, userId: string) {
    const mine = await drops.list(tenantId, { minted: true, creator: userId }, 1000);
    const editions = chain.info().contracts.editions.toLowerCase();
    const chainId = chain.info().chainId;
    const lines = [];
    for (const drop of mine) {
      const me = drop.split.collaborators.find((c) => c.userId === userId)!;
      const account = me.payoutAddress;
      const sales = await storage.db
        .selectFrom('nft_sales')
        .select(['amount', 'paid', 'royalty_paid'])
        .where('chain_id', '=', String(chainId))
        .where((eb) => eb.fn('lower', ['token']), '=', editions)
        .where('token_id', '=', drop.tokenId!)
        .execute();
      const payouts = account && drop.splitAddress
        ? await storage.db
            .selectFrom('nft_payouts')
            .select('amount')
            .where('chain_id', '=', String(chainId))
            .where((eb) => eb.fn('lower', ['split']), '=', drop.splitAddress!.toLowerCase())
            .where((eb) => eb.fn('lower', ['account']), '=', account.toLowerCase())
            .where('currency', 'is', null)
            .execute()
        : [];
      const royalties = sales.reduce((n, s) => n + BigInt(s.royalty_paid), 0n);
      lines.push({
        dropId: drop.id,
        tokenId: drop.tokenId,
        title: drop.title,
        bps: me.bps,
        payoutAddress: account,
        splitAddress: drop.splitAddress,
        sales: { count: sales.length, units: sales.reduce((n, s) => n + BigInt(s.amount), 0n).toString(), paidWei: sales.reduce((n, s) => n + BigInt(s.paid), 0n).toString() },
        royaltiesWei: royalties.toString(),
        /** This creator's part of the royalties received: their basis points of the split. */
        shareWei: ((royalties * BigInt(me.bps)) / 10_000n).toString(),
        releasedWei: payouts.reduce((n, p) => n + BigInt(p.amount), 0n).toString(),
        releasableWei: account && drop.splitAddress ? (await chain.releasable(drop.splitAddress, account)).toString() : '0',
      });
    }
    return { userId, chainId, drops: lines };
  }
}
