// HTTP API of what was minted: tokens, market listings (list one's own copies, buy, cancel), licences,
// each creator's royalty statement, releasing one's royalties, one's custodial wallet and, on the
// local development chain only, a faucet. Custodial wallets sign for their user; no key ever leaves
// the chain module. Listings and tokens are those of the caller's tenant (another's are unknown).
import { isAddress, ZeroAddress } from 'ethers';
import { z } from 'zod';
import type { Principal } from '../server/auth.js';
import { badRequest, forbidden, notFound } from '../server/errors.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import type { Storage } from '../storage/database.js';
import type { NftChain, TokenContract, TxResult } from './chain/index.js';
import type { Drop, DropService } from './drops.js';
import { licenceNames } from './metadata.js';
import { refusing } from './refusals.js';
import { cancelReply, currenciesReply, faucetReply, listingReply, payoutsReply, purchaseReply, statementReply, tokenLicenceReply, tokenListReply, walletReply } from './reply-schemas.js';

const wei = z.string().regex(/^[1-9][0-9]{0,40}$/, 'an amount in wei above 0, as a decimal string');
const currencySchema = z.union([z.literal('ETH'), z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'ETH or an ERC-20 token address')]).default('ETH');
const listSchema = z
  .object({
    tokenId: z.string().regex(/^[0-9]{1,78}$/),
    /** editions (the default: an edition or a stem) or records (a 1/1 record). */
    contract: z.enum(['editions', 'records']).default('editions'),
    amount: z.number().int().min(1).max(1_000_000).default(1),
    /** The price per unit in the currency's smallest unit (wei for ETH). */
    priceWei: wei,
    currency: currencySchema,
  })
  .strict();
const buySchema = z.object({ amount: z.number().int().min(1).max(1_000_000).default(1) }).strict();
const faucetSchema = z.object({ wei: wei.optional(), currency: currencySchema }).strict();
const tokensQuery = z.object({ session: z.string().optional().describe('one session\'s tokens'), creator: z.string().optional().describe('the tokens crediting this user') });
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
  const tag = 'nft';
  const chainOf = deps.chain;
  const owner = (p: Principal) => ({ tenantId: p.tenantId, userId: p.userId });
  const json = async <S extends z.ZodType>(ctx: HttpContext, schema: S): Promise<z.output<S>> =>
    ctx.headers['content-length'] === '0' || ctx.headers['content-length'] === undefined ? schema.parse({}) : ctx.json(schema);
  /** The tenant's minted drop of a token id (its master, or one of its stems); 404 for any other. */
  const mintedDrop = async (tenantId: string, tokenId: string, contract: TokenContract = 'editions'): Promise<Drop> => {
    const found = await drops.byToken(tenantId, contract, tokenId);
    if (!found) throw notFound(`no ${contract === 'records' ? 'record' : 'token'} ${tokenId}`);
    return found.drop;
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
        kind: d.kind,
        /** A lazy drop: the token exists once its voucher is redeemed (GET /api/v1/nft/vouchers/:dropId). */
        lazy: d.lazy,
        stems: d.stems.map((x) => ({ trackId: x.trackId, name: x.name, tokenId: x.tokenId, metadataUri: `ipfs://${x.metadataCid}`, audioCid: x.audioCid })),
      }));
      return { json: { tokens } };
    },
    { auth: 'required', tag, summary: 'The tenant\'s minted tokens (?session=, ?creator=)', query: tokensQuery, responses: { 200: tokenListReply } },
  );

  http.route(
    'POST',
    '/api/v1/nft/listings',
    async (ctx) => {
      const chain = await chainOf();
      const principal = ctx.principal!;
      const request = await ctx.json(listSchema);
      const drop = await mintedDrop(principal.tenantId, request.tokenId, request.contract);
      if (request.contract === 'records' && request.amount !== 1) throw badRequest('a 1/1 record is listed alone: amount 1');
      const currency = await refusing(() => chain.currency(request.currency === 'ETH' ? ZeroAddress : request.currency));
      const erc20 = currency.address === ZeroAddress ? undefined : currency.address;
      const listed = await refusing(() => chain.list(owner(principal), { token: request.contract, tokenId: BigInt(request.tokenId), amount: request.amount, priceWei: BigInt(request.priceWei), ...(erc20 ? { currency: erc20 } : {}) }));
      const listingId = listed.listingId.toString();
      await storage.withTenant(principal.tenantId, (trx) =>
        trx.insertInto('nft_drop_listings').values({ tenant_id: principal.tenantId, listing_id: listingId, drop_id: drop.id, seller: principal.userId, amount: request.amount, price_wei: request.priceWei, currency: erc20?.toLowerCase() ?? null }).execute(),
      );
      return { status: 201, json: { listingId, contract: request.contract, tokenId: request.tokenId, amount: request.amount, priceWei: request.priceWei, currency, seller: principal.userId, tx: tx(listed.tx) } };
    },
    { auth: 'required', tag, summary: 'List one\'s copies of a token on the market', maxBodyBytes: 1024, body: listSchema, responses: { 201: listingReply } },
  );
  http.route(
    'POST',
    '/api/v1/nft/listings/:id/buy',
    async (ctx) => {
      const chain = await chainOf();
      const listing = await listingOf(ctx);
      const { amount } = await json(ctx, buySchema);
      const done = await refusing(() => chain.buy(owner(ctx.principal!), BigInt(listing.listing_id), amount));
      return { json: { listingId: listing.listing_id, amount, paidWei: (BigInt(listing.price_wei) * BigInt(amount)).toString(), currency: listing.currency ?? 'ETH', tx: tx(done) } };
    },
    { auth: 'required', tag, summary: 'Buy from a listing with one\'s custodial wallet', maxBodyBytes: 1024, responses: { 200: purchaseReply } },
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
    { auth: 'required', tag, summary: 'Cancel one\'s own listing', responses: { 200: cancelReply } },
  );

  http.route(
    'GET',
    '/api/v1/nft/licences/:contract/:tokenId',
    async (ctx) => {
      const chain = await chainOf();
      const { contract, tokenId } = ctx.params as { contract: string; tokenId: string };
      if (!/^[0-9]{1,78}$/.test(tokenId)) throw notFound(`no token ${tokenId.slice(0, 80)}`);
      const addresses = chain.info().contracts;
      const key = (['editions', 'records'] as const).find((k) => contract === k || (isAddress(contract) && contract.toLowerCase() === addresses[k].toLowerCase()));
      if (!key) throw notFound(`no licence for contract ${contract.slice(0, 60)}`);
      const found = await drops.byToken(ctx.principal!.tenantId, key, tokenId);
      if (!found) throw notFound(`no token ${tokenId}`);
      const { drop, stem } = found;
      const licence = await refusing(() => chain.licenceOf(key, BigInt(tokenId)));
      if (!licence) throw notFound(`token ${tokenId} has no licence`);
      const metadataCid = stem ? stem.metadataCid : drop.metadataCid;
      return { json: { contract: addresses[key], tokenId, dropId: drop.id, sessionId: drop.sessionId, versionId: drop.versionId, ...(stem ? { stem: { trackId: stem.trackId, name: stem.name } } : {}), ...licence, names: licenceNames(licence.terms), metadataUri: `ipfs://${metadataCid}` } };
    },
    { auth: 'required', tag, summary: 'A token\'s licence as the licence registry holds it', responses: { 200: tokenLicenceReply } },
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
    { auth: 'required', tag, summary: 'A creator\'s royalty statement, per minted drop crediting them', responses: { 200: statementReply } },
  );
  http.route(
    'POST',
    '/api/v1/nft/payouts',
    async (ctx) => {
      const chain = await chainOf();
      const principal = ctx.principal!;
      const mine = await drops.list(principal.tenantId, { minted: true, creator: principal.userId }, 1000);
      const released: { dropId: string; split: string; account: string; currency: string; amountWei: string; tx: ReturnType<typeof tx> }[] = [];
      for (const drop of mine) {
        const account = drop.split.collaborators.find((c) => c.userId === principal.userId)?.payoutAddress;
        if (!account || !drop.splitAddress) continue;
        const amount = await chain.releasable(drop.splitAddress, account);
        if (amount > 0n) {
          const done = await refusing(() => chain.releaseFromSplit(drop.splitAddress!, account));
          released.push({ dropId: drop.id, split: drop.splitAddress, account, currency: 'ETH', amountWei: amount.toString(), tx: tx(done) });
        }
        // Royalties paid in ERC-20 tokens: each currency the drop's tokens were sold in, released to the unit.
        for (const currency of await currenciesOf(chain, principal.tenantId, drop)) {
          const owed = await chain.releasableTokens(drop.splitAddress, currency, account);
          if (owed === 0n) continue;
          const done = await refusing(() => chain.releaseTokensFromSplit(drop.splitAddress!, currency, account));
          released.push({ dropId: drop.id, split: drop.splitAddress, account, currency, amountWei: owed.toString(), tx: tx(done) });
        }
      }
      const eth = released.filter((r) => r.currency === 'ETH');
      const tokens = new Map<string, bigint>();
      for (const r of released) if (r.currency !== 'ETH') tokens.set(r.currency, (tokens.get(r.currency) ?? 0n) + BigInt(r.amountWei));
      return { json: { released, totalWei: eth.reduce((n, r) => n + BigInt(r.amountWei), 0n).toString(), totals: Object.fromEntries([...tokens].map(([c, n]) => [c, n.toString()])) } };
    },
    { auth: 'required', tag, summary: 'Release the caller\'s royalties from every split crediting them', responses: { 200: payoutsReply } },
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
    { auth: 'required', tag, summary: 'The caller\'s custodial wallet and its ETH balance', responses: { 200: walletReply } },
  );
  http.route(
    'GET',
    '/api/v1/nft/currencies',
    async () => {
      const chain = await chainOf();
      const eth = await chain.currency(ZeroAddress);
      const test = chain.info().local ? await chain.currency(await chain.testCurrency()) : null;
      return { json: { currencies: [eth, ...(test ? [{ ...test, test: true }] : [])], anyErc20: true } };
    },
    { auth: 'required', tag, summary: 'The currencies the market takes', responses: { 200: currenciesReply } },
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
        if (amount > FAUCET_MAX) throw badRequest('the faucet sends at most 100 ETH (or 100 test tokens) at once');
        const address = chain.walletOf(principal.tenantId, principal.userId);
        if (body.currency !== 'ETH') {
          const test = await chain.testCurrency();
          if (body.currency.toLowerCase() !== test.toLowerCase()) throw badRequest(`the faucet pays ETH or the test currency ${test} only`);
          const minted = await refusing(() => chain.fundTokens(test, address, amount));
          return { json: { address, currency: test, fundedWei: amount.toString(), balanceWei: (await chain.tokenBalance(test, address)).toString(), tx: tx(minted) } };
        }
        const done = await refusing(() => chain.fund(address, amount));
        return { json: { address, fundedWei: amount.toString(), balanceWei: (await chain.balanceOf(address)).toString(), tx: tx(done) } };
      },
      { auth: 'required', tag, summary: 'Local development chain only: send test ETH or test tokens to one\'s wallet', maxBodyBytes: 256, responses: { 200: faucetReply } },
    );
  }

  /** The ERC-20 currencies a drop's tokens were listed or sold in (lower case), as the API and the indexer saw them. */
  async function currenciesOf(chain: NftChain, tenantId: string, drop: Drop): Promise<string[]> {
    const listed = await storage.withTenant(tenantId, (trx) => trx.selectFrom('nft_drop_listings').select('currency').distinct().where('drop_id', '=', drop.id).where('currency', 'is not', null).execute());
    const tokenIds = tokenIdsOf(drop);
    const sold = tokenIds.length === 0 ? [] : await storage.db
      .selectFrom('nft_sales')
      .select('currency')
      .distinct()
      .where('chain_id', '=', String(chain.info().chainId))
      .where('token_id', 'in', tokenIds)
      .where((eb) => eb.fn('lower', ['token']), '=', tokenContractOf(chain, drop))
      .where('currency', '!=', ZeroAddress.toLowerCase())
      .execute();
    return [...new Set([...listed.map((r) => r.currency!), ...sold.map((r) => r.currency.toLowerCase())])].sort();
  }

  /** A creator's royalties per minted drop crediting them: sales, their share of the royalties, released and releasable. */
  async function statement(chain: NftChain, tenantId: string, userId: string) {
    const mine = await drops.list(tenantId, { minted: true, creator: userId }, 1000);
    const chainId = chain.info().chainId;
    const eth = ZeroAddress.toLowerCase();
    const lines = [];
    for (const drop of mine) {
      const me = drop.split.collaborators.find((c) => c.userId === userId)!;
      const account = me.payoutAddress;
      const tokenIds = tokenIdsOf(drop);
      const sales = tokenIds.length === 0 ? [] : await storage.db
        .selectFrom('nft_sales')
        .select(['amount', 'paid', 'royalty_paid', 'currency'])
        .where('chain_id', '=', String(chainId))
        .where((eb) => eb.fn('lower', ['token']), '=', tokenContractOf(chain, drop))
        .where('token_id', 'in', tokenIds)
        .execute();
      const payouts = account && drop.splitAddress
        ? await storage.db
            .selectFrom('nft_payouts')
            .select(['amount', 'currency'])
            .where('chain_id', '=', String(chainId))
            .where((eb) => eb.fn('lower', ['split']), '=', drop.splitAddress!.toLowerCase())
            .where((eb) => eb.fn('lower', ['account']), '=', account.toLowerCase())
            .execute()
        : [];
      const sum = (rows: { [k: string]: unknown }[], key: string) => rows.reduce((n, r) => n + BigInt(String(r[key])), 0n);
      const inEth = sales.filter((x) => x.currency.toLowerCase() === eth);
      const royalties = sum(inEth, 'royalty_paid');
      const tokens = [];
      for (const currency of await currenciesOf(chain, tenantId, drop)) {
        const sold = sales.filter((x) => x.currency.toLowerCase() === currency);
        const received = sum(sold, 'royalty_paid');
        tokens.push({
          currency,
          sales: { count: sold.length, units: sum(sold, 'amount').toString(), paid: sum(sold, 'paid').toString() },
          royalties: received.toString(),
          share: ((received * BigInt(me.bps)) / 10_000n).toString(),
          released: sum(payouts.filter((p) => p.currency?.toLowerCase() === currency), 'amount').toString(),
          releasable: account && drop.splitAddress ? (await chain.releasableTokens(drop.splitAddress, currency, account)).toString() : '0',
        });
      }
      lines.push({
        dropId: drop.id,
        kind: drop.kind,
        tokenId: drop.tokenId,
        stemTokenIds: drop.stems.map((x) => x.tokenId),
        title: drop.title,
        bps: me.bps,
        payoutAddress: account,
        splitAddress: drop.splitAddress,
        sales: { count: inEth.length, units: sum(inEth, 'amount').toString(), paidWei: sum(inEth, 'paid').toString() },
        royaltiesWei: royalties.toString(),
        /** This creator's part of the royalties received: their basis points of the split. */
        shareWei: ((royalties * BigInt(me.bps)) / 10_000n).toString(),
        releasedWei: sum(payouts.filter((p) => p.currency === null), 'amount').toString(),
        releasableWei: account && drop.splitAddress ? (await chain.releasable(drop.splitAddress, account)).toString() : '0',
        /** The same in each ERC-20 the drop's tokens were sold in, in the token's smallest unit. */
        tokens,
      });
    }
    return { userId, chainId, drops: lines };
  }
}

/** The token ids of a drop on chain: its master (once it exists) and its stems. */
function tokenIdsOf(drop: Drop): string[] {
  return [drop.tokenId, ...drop.stems.map((s) => s.tokenId)].filter((t): t is string => t !== null);
}

/** The contract (lower case) a drop's tokens live in. */
function tokenContractOf(chain: NftChain, drop: Drop): string {
  return chain.info().contracts[drop.kind === 'record' ? 'records' : 'editions'].toLowerCase();
}
