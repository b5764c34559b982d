// Digital ownership: a finished session minted as editions whose royalties are split among the
// people who made it. The module opens the chain (in development a local one starts by itself),
// serves drops and their split, the mint, the market, licences, royalty statements and custodial
// wallets, and the content the editions point at (`/ipfs/<cid>`). Off, with the reason, when
// VEZA_NFT_ENABLED=false, when anvil is missing for the local chain, or when the chain cannot be
// opened (not configured, unreachable, the wrong chain id): its routes then answer 503. The local
// development chain starts at the first request that needs it (chain-gate.ts). The chain's
// events are indexed into the chain tables (statements read sales and payouts there) and published.
import { bounceModule } from '../bounce/module.js';
import { collabModule } from '../collab/module.js';
import { historyModule } from '../history/module.js';
import { defineModule } from '../modules/contract.js';
import { ChainGate } from './chain-gate.js';
import { DEV_CHAIN_ID, openChain, type OpenedChain } from './chain/index.js';
import { readCursor } from './chain/indexer-store.js';
import { startIndexer, type Indexer } from './chain/indexer.js';
import { DropService } from './drops.js';
import { registerMarketRoutes } from './market-routes.js';
import { Minter } from './mint.js';
import { registerPackRoutes } from './pack-routes.js';
import { registerNftRoutes } from './routes.js';
import { registerVoucherRoutes } from './voucher-routes.js';

export const nftModule = defineModule({
  name: 'nft',
  settings: 'nft',
  async start(ctx) {
    const collab = ctx.use(collabModule);
    const { versions, history } = ctx.use(historyModule);
    const { bounces, content } = ctx.use(bounceModule);
    const settings = ctx.settings;
    if (settings.pinningUrl) content.pinWith({ url: settings.pinningUrl, token: settings.pinningToken ?? null });

    // A configured chain opens now (a wrong one turns the module off at once); the local development
    // chain starts at its first use.
    const local = !settings.rpcUrl && ctx.deployment.dev;
    let indexer: Indexer | null = null;
    const gate = new ChainGate(
      () => openChain(settings, { dataDir: ctx.deployment.dataDir, dev: ctx.deployment.dev, storage: ctx.storage }, ctx.logger),
      // Chain events into the chain tables and onto the bus; its cursor is shown in /healthz.
      (chain) => (indexer = startIndexer({ chain, storage: ctx.storage, bus: ctx.bus, logger: ctx.logger, tenantOfToken: (contract, tokenId) => tenantOfToken(chain, contract, tokenId) })),
      settings.enabled ? (bounces ? null : { reason: 'bounces are off: editions need the session rendered to audio', fix: 'apt-get install fluidsynth timgm6mb-soundfont' }) : { reason: 'turned off (VEZA_NFT_ENABLED=false)', fix: 'VEZA_NFT_ENABLED=true' },
    );
    if (!local && !gate.reason()) {
      await gate.get().catch(() => ctx.logger.warn({ reason: gate.reason()?.reason }, 'digital ownership is off'));
    }
    const drops = new DropService({
      storage: ctx.storage,
      versions,
      history,
      bounces,
      walletOf: async (tenantId, userId) => (await gate.get()).walletOf(tenantId, userId),
      persisted: (tenantId, sessionId) => collab.persisted(tenantId, sessionId),
    });
    let minter: Minter | null = null;
    const minterOf = async () => (minter ??= new Minter({ storage: ctx.storage, drops, bounces: bounces!, content, chain: await gate.get() }));

    /** The tenant and session of an edition we minted (for the indexer's events); null for any other token. */
    const tenantOfToken = async (chain: OpenedChain, contract: 'editions' | 'records', tokenId: bigint): Promise<{ tenantId: string; sessionId?: string } | null> => {
      const row = await ctx.storage.db
        .selectFrom('nft_drops')
        .select(['tenant_id', 'session_id'])
        .where((eb) => eb.fn('lower', ['contract']), '=', chain.info().contracts[contract].toLowerCase())
        .where('token_id', '=', tokenId.toString())
        .executeTakeFirst();
      if (row) return { tenantId: row.tenant_id, ...(row.session_id ? { sessionId: row.session_id } : {}) };
      if (contract !== 'editions') return null;
      // A stem: an edition of its drop's track.
      const stem = await ctx.storage.db
        .selectFrom('nft_drop_stems')
        .innerJoin('nft_drops', (j) => j.onRef('nft_drops.tenant_id', '=', 'nft_drop_stems.tenant_id').onRef('nft_drops.id', '=', 'nft_drop_stems.drop_id'))
        .select(['nft_drops.tenant_id', 'nft_drops.session_id'])
        .where('nft_drop_stems.token_id', '=', tokenId.toString())
        .where((eb) => eb.fn('lower', ['nft_drops.contract']), '=', chain.info().contracts.editions.toLowerCase())
        .executeTakeFirst();
      return stem ? { tenantId: stem.tenant_id, ...(stem.session_id ? { sessionId: stem.session_id } : {}) } : null;
    };
    let cursor: { blockNumber: number; blockHash: string } | null = null;
    const readIndexerCursor = () => {
      const chain = gate.current();
      if (chain) void readCursor(ctx.storage.db, chain.info().chainId).then((c) => (cursor = c), () => undefined);
    };
    const cursorTimer = setInterval(readIndexerCursor, 2000);
    cursorTimer.unref();

    const status = () => {
      const off = gate.reason();
      const chain = gate.current();
      if (off) return { on: false, ...off, ...(chain ? { chainId: chain.info().chainId } : {}) };
      if (!chain) return { on: true, local: true, chainId: DEV_CHAIN_ID, chain: 'the local development chain starts at its first use' };
      // The cursor shown is the last one read; this read brings it up to date for the next answer.
      readIndexerCursor();
      const info = chain.info();
      return { on: true, chainId: info.chainId, local: info.local, rpcUrl: info.rpcUrl, contracts: info.contracts, indexer: cursor };
    };
    return {
      api: { chain: () => gate.get(), drops, minter: minterOf, content, indexer: () => indexer, tenantOfToken },
      routes: () => {
        registerNftRoutes(ctx.http, { drops, content, minter: minterOf });
        registerMarketRoutes(ctx.http, { storage: ctx.storage, drops, chain: () => gate.get(), dev: ctx.deployment.dev });
        registerVoucherRoutes(ctx.http, { drops, minter: minterOf, chain: () => gate.get() });
        registerPackRoutes(ctx.http, { drops, content });
      },
      health: [{ name: 'nft', status }],
      report: () => {
        const off = gate.reason();
        if (off) return [{ name: 'nft', state: { on: false, reason: off.reason, ...(off.fix ? { fix: off.fix } : {}) } }];
        const info = gate.current()?.info();
        if (!info) return [{ name: 'nft', state: { on: true, detail: `local development chain (chain id ${DEV_CHAIN_ID}), started at its first use` } }];
        return [{ name: 'nft', state: { on: true, detail: `${info.local ? 'local development chain' : info.rpcUrl}, chain id ${info.chainId}, editions at ${info.contracts.editions}` } }];
      },
      close: async () => {
        clearInterval(cursorTimer);
        const chain = await gate.settled();
        await (indexer as Indexer | null)?.close();
        await chain?.close();
      },
    };
  },
});
