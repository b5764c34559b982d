import { Transaction, type Filter } from 'ethers';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EventBus } from '../../src/events/bus.js';
import type { VezaEvent } from '../../src/events/catalog.js';
import { MemoryBus } from '../../src/events/memory-bus.js';
import { MemoryParkingLot } from '../../src/events/parking.js';
import { openChain, type OpenedChain, type TokenContract } from '../../src/nft/chain/index.js';
import { MAX_RANGE, startIndexer, type Indexer } from '../../src/nft/chain/indexer.js';
import type { Storage } from '../../src/storage/database.js';
import { tempDir } from '../helpers/services.js';
import { backends, capturingLogger, nftSettings } from './support.js';

/**
 * The indexer on the real local chain: what the contracts log becomes rows of the chain tables and
 * nft.minted / nft.sold / nft.licensed events (tenant and session from the NFT module's lookup),
 * each published once, however often the chain is read again; a reorganisation (anvil's snapshot
 * and revert, then other blocks) drops what the orphaned blocks said and indexes the new ones; the
 * chain is read in ranges of at most 2000 blocks. On the embedded database and on PostgreSQL.
 */
const ana = { tenantId: 'default', userId: 'ana' };
const ben = { tenantId: 'default', userId: 'ben' };

/** The bus, and every event the indexer handed it (a MemoryBus would hide a second publication of an id). */
class RecordingBus {
  readonly published: VezaEvent[] = [];
  readonly bus = new MemoryBus({ logger: capturingLogger().logger, parking: new MemoryParkingLot() });
  readonly asBus: EventBus = {
    kind: 'memory',
    publish: async (event) => {
      this.published.push(event);
      await this.bus.publish(event);
    },
    subscribe: (group, handler, options) => this.bus.subscribe(group, handler, options),
    ping: () => this.bus.ping(),
    close: () => this.bus.close(),
  };
  of(type: VezaEvent['type']): VezaEvent[] {
    return this.published.filter((e) => e.type === type);
  }
}

describe.each(await backends())('the indexer on $name', ({ open }) => {
  const data = tempDir('nft-indexer');
  let storage: Storage;
  let drop: () => Promise<void>;
  let chain: OpenedChain;
  const events = new RecordingBus();
  const { logger, lines } = capturingLogger();
  const owners = new Map<string, { tenantId: string; sessionId?: string }>();
  const tenantOfToken = async (contract: TokenContract, tokenId: bigint) => owners.get(`${contract}:${tokenId}`) ?? null;
  let indexer: Indexer | null = null;
  const index = async (maxRange?: number) => {
    await indexer?.close();
    indexer = startIndexer({ chain, storage, bus: events.asBus, logger, tenantOfToken, ...(maxRange ? { maxRange } : {}) });
    await indexer.caughtUp();
  };
  let split = '';
  let edition = 0n;
  let record = 0n;
  let listingId = 0n;

  beforeAll(async () => {
    ({ storage, drop } = await open(data.dir));
    chain = await openChain(nftSettings({ VEZA_NFT_POLL_MS: '200' }), { dataDir: data.dir, dev: true, storage }, logger);
    for (const user of [ana, ben]) await chain.fund(chain.walletOf(user.tenantId, user.userId), 10n ** 18n);
  }, 120_000);

  afterAll(async () => {
    await indexer?.close();
    await chain?.close();
    await storage?.close();
    await drop?.();
    data.remove();
  });

  const anaAddress = () => chain.walletOf(ana.tenantId, ana.userId).toLowerCase();
  const benAddress = () => chain.walletOf(ben.tenantId, ben.userId).toLowerCase();
  const chainId = String(31337);

  it('indexes editions, records, the market, splits, payouts and licences, and publishes their events', async () => {
    ({ split } = await chain.createSplit([{ address: anaAddress(), bps: 6000 }, { address: benAddress(), bps: 4000 }]));
    ({ tokenId: edition } = await chain.createEdition({ creator: anaAddress(), payoutTo: split, maxSupply: 10, priceWei: 1000n, royaltyBps: 1000, uri: 'ipfs://edition' }));
    owners.set(`editions:${edition}`, { tenantId: 'acme', sessionId: 'song' });
    const bought = await chain.mintEdition(ben, edition, 2);
    await chain.mintTo(anaAddress(), edition, 1);
    ({ tokenId: record } = await chain.mintRecord({ to: anaAddress(), payoutTo: split, royaltyBps: 500, uri: 'ipfs://record' }));
    ({ listingId } = await chain.list(ben, { token: 'editions', tokenId: edition, amount: 2, priceWei: 5000n }));
    const sale = await chain.buy(ana, listingId, 1);
    const owed = await chain.releasable(split, anaAddress());
    await chain.releaseFromSplit(split, anaAddress());
    const licence = await chain.setLicence({ token: 'editions', tokenId: edition, terms: 5, audioHash: 'ab'.repeat(32), stateHash: 'cd'.repeat(32) });

    await index();
    const db = storage.db;
    const tokens = await db.selectFrom('nft_tokens').select(['kind', 'token_id', 'minted', 'payout_to', 'uri', 'price']).where('chain_id', '=', chainId).orderBy('kind').execute();
    expect(tokens).toEqual([
      { kind: 'edition', token_id: String(edition), minted: '3', payout_to: split.toLowerCase(), uri: 'ipfs://edition', price: '1000' },
      { kind: 'record', token_id: String(record), minted: '1', payout_to: split.toLowerCase(), uri: 'ipfs://record', price: '0' },
    ]);
    expect(await db.selectFrom('nft_mints').select(['to_address', 'amount', 'paid']).orderBy('block_number').execute()).toEqual([
      { to_address: benAddress(), amount: '2', paid: '2000' },
      { to_address: anaAddress(), amount: '1', paid: '0' },
      { to_address: anaAddress(), amount: '1', paid: '0' },
    ]);
    expect(await db.selectFrom('nft_listings').select(['listing_id', 'seller', 'amount', 'remaining', 'cancelled_block']).execute()).toEqual([{ listing_id: String(listingId), seller: benAddress(), amount: '2', remaining: '1', cancelled_block: null }]);
    const [saleRow] = await db.selectFrom('nft_sales').selectAll().execute();
    expect(saleRow).toMatchObject({ token: chain.info().contracts.editions.toLowerCase(), token_id: String(edition), seller: benAddress(), buyer: anaAddress(), amount: '1', paid: '5000', royalty_receiver: split.toLowerCase(), royalty_paid: '500', tx_hash: sale.hash, published: true });
    expect(await db.selectFrom('nft_splits').select(['split', 'recipients', 'bps']).execute()).toEqual([{ split: split.toLowerCase(), recipients: [anaAddress(), benAddress()].sort(), bps: anaAddress() < benAddress() ? [6000, 4000] : [4000, 6000] }]);
    expect(await db.selectFrom('nft_payouts').select(['split', 'account', 'currency', 'amount']).execute()).toEqual([{ split: split.toLowerCase(), account: anaAddress(), currency: null, amount: String(owed) }]);
    expect(owed).toBe(1500n); // 60 % of the 2000 minted and the 500 royalty
    expect(await db.selectFrom('nft_licences').select(['token_id', 'terms', 'audio_hash', 'state_hash', 'tx_hash']).execute()).toEqual([{ token_id: String(edition), terms: 5, audio_hash: `0x${'ab'.repeat(32)}`, state_hash: `0x${'cd'.repeat(32)}`, tx_hash: licence.hash }]);

    const minted = events.of('nft.minted');
    expect(minted).toHaveLength(3);
    expect(minted[0]).toMatchObject({ id: `nft:31337:${bought.hash}:${(minted[0]!.payload as { logIndex: number }).logIndex}`, tenantId: 'acme', payload: { chainId: 31337, contract: 'editions', tokenId: String(edition), to: benAddress(), amount: '2', paid: '2000', txHash: bought.hash, blockNumber: bought.blockNumber, sessionId: 'song' } });
    // A token the module does not know: the default tenant, no session.
    expect(minted[2]).toMatchObject({ tenantId: 'default', payload: { contract: 'records', tokenId: String(record), amount: '1', paid: '0' } });
    expect(minted[2]!.payload).not.toHaveProperty('sessionId');
    expect(events.of('nft.sold')).toEqual([expect.objectContaining({ tenantId: 'acme', payload: expect.objectContaining({ listingId: String(listingId), seller: benAddress(), buyer: anaAddress(), paid: '5000', royaltyPaid: '500', currency: '0x0000000000000000000000000000000000000000', sessionId: 'song' }) })]);
    expect(events.of('nft.licensed')).toEqual([expect.objectContaining({ tenantId: 'acme', payload: expect.objectContaining({ terms: 5, audioHash: `0x${'ab'.repeat(32)}`, txHash: licence.hash }) })]);
    expect(new Set(events.published.map((e) => e.id)).size).toBe(events.published.length);
  });

  it('publishes each fact once: a restarted indexer, or one reading the whole chain again, adds nothing', async () => {
    const before = events.published.length;
    const snapshot = async () => ({
      tokens: await storage.db.selectFrom('nft_tokens').select(['token_id', 'minted']).orderBy('token_id').execute(),
      listings: await storage.db.selectFrom('nft_listings').select(['listing_id', 'remaining']).execute(),
      counts: await Promise.all((['nft_mints', 'nft_sales', 'nft_licences', 'nft_payouts', 'nft_splits'] as const).map(async (t) => (await storage.db.selectFrom(t).select(storage.db.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)),
    });
    const indexed = await snapshot();
    await index();
    expect(events.published.length).toBe(before);
    // Forget the cursor: everything from the deployment is read again.
    await storage.db.deleteFrom('nft_chain_cursor').execute();
    await storage.db.deleteFrom('nft_chain_blocks').execute();
    await index();
    expect(events.published.length).toBe(before);
    expect(await snapshot()).toEqual(indexed);
    // A cancellation moves the listing; the running indexer sees it on its own.
    await chain.cancel(ben, listingId);
    await indexer!.caughtUp();
    const [listing] = await storage.db.selectFrom('nft_listings').select(['cancelled_block']).execute();
    expect(listing!.cancelled_block).not.toBeNull();
  });

  it('writes each fact once when two nodes index the same database', async () => {
    await indexer!.close();
    const mintedOf = async () => (await storage.db.selectFrom('nft_tokens').select('minted').where('token_id', '=', String(edition)).where('kind', '=', 'edition').executeTakeFirstOrThrow()).minted;
    const before = BigInt(await mintedOf());
    const mints = await Promise.all([chain.mintEdition(ana, edition, 1), chain.mintEdition(ben, edition, 1)]);
    const received: string[] = [];
    const subscription = await events.bus.subscribe('nft-test', (event) => void received.push(event.id), { types: ['nft.minted'] });
    const other = startIndexer({ chain, storage, bus: events.asBus, logger, tenantOfToken });
    indexer = startIndexer({ chain, storage, bus: events.asBus, logger, tenantOfToken });
    try {
      await Promise.all([indexer.caughtUp(), other.caughtUp()]);
    } finally {
      await other.close();
    }
    expect(BigInt(await mintedOf())).toBe(before + 2n);
    const rows = await storage.db.selectFrom('nft_mints').select(['tx_hash', 'published']).where('tx_hash', 'in', mints.map((m) => m.hash)).execute();
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.published)).toBe(true);
    await subscription.close();
    // Both nodes may hand the bus one event; a consumer group sees it once (same id).
    expect(received.filter((id) => mints.some((m) => id.includes(m.hash)))).toHaveLength(2);
  });

  it('drops the facts of orphaned blocks on a reorganisation, retracts what they had published, indexes the new ones and publishes each new fact once', async () => {
    const db = storage.db;
    const mintedOf = async () => (await db.selectFrom('nft_tokens').select('minted').where('token_id', '=', String(edition)).where('kind', '=', 'edition').executeTakeFirstOrThrow()).minted;
    const mintedBefore = BigInt(await mintedOf());
    const snapshotId = (await chain.provider.send('evm_snapshot', [])) as string;
    // On the branch that will be dropped: ana buys 4.
    const dropped = await chain.mintEdition(ana, edition, 4);
    await indexer!.caughtUp();
    expect(BigInt(await mintedOf())).toBe(mintedBefore + 4n);
    expect(events.of('nft.minted').filter((e) => (e.payload as { txHash: string }).txHash === dropped.hash)).toHaveLength(1);

    // The chain goes back before it and grows another way: ben buys 2, then more blocks follow.
    expect(await chain.provider.send('evm_revert', [snapshotId])).toBe(true);
    const kept = await chain.mintEdition(ben, edition, 2);
    await chain.provider.send('anvil_mine', ['0x3']);
    expect(kept.blockNumber).toBe(dropped.blockNumber);
    await indexer!.caughtUp();

    const mints = await db.selectFrom('nft_mints').select(['tx_hash', 'amount']).where('block_number', '>=', dropped.blockNumber).execute();
    expect(mints).toEqual([{ tx_hash: kept.hash, amount: '2' }]);
    expect(BigInt(await mintedOf())).toBe(mintedBefore + 2n);
    expect(events.of('nft.minted').filter((e) => (e.payload as { txHash: string }).txHash === dropped.hash)).toHaveLength(1);
    expect(events.of('nft.minted').filter((e) => (e.payload as { txHash: string }).txHash === kept.hash)).toHaveLength(1);
    expect(lines.some((l) => l.includes('the chain reorganised'))).toBe(true);
    // The published mint that left the chain is retracted once, naming the event it retracts.
    const droppedEvent = events.of('nft.minted').find((e) => (e.payload as { txHash: string }).txHash === dropped.hash)!;
    const retractions = events.of('nft.retracted').filter((e) => (e.payload as { txHash: string }).txHash === dropped.hash);
    expect(retractions).toEqual([
      expect.objectContaining({ id: `nft-retracted:${droppedEvent.id}`, tenantId: 'acme', payload: expect.objectContaining({ retractedId: droppedEvent.id, retractedType: 'nft.minted', contract: 'editions', tokenId: String(edition), blockNumber: dropped.blockNumber, sessionId: 'song' }) }),
    ]);
    expect(events.published.findIndex((e) => e.id === retractions[0]!.id)).toBeLessThan(events.published.findIndex((e) => e.type === 'nft.minted' && (e.payload as { txHash: string }).txHash === kept.hash));
    expect(await db.selectFrom('nft_retractions').select(['event_id', 'event_type', 'published']).where('tx_hash', '=', dropped.hash).execute()).toEqual([{ event_id: droppedEvent.id, event_type: 'nft.minted', published: true }]);
    // Read again, nothing is retracted twice.
    await index();
    expect(events.of('nft.retracted')).toHaveLength(1);
    const cursor = await db.selectFrom('nft_chain_cursor').selectAll().executeTakeFirstOrThrow();
    expect(cursor.block_hash).toBe((await chain.provider.getBlock(Number(cursor.block_number)))!.hash);
  });

  it('publishes a retracted fact mined again as a new event, its id counting its retractions', async () => {
    const snapshotId = (await chain.provider.send('evm_snapshot', [])) as string;
    // Ben's wallet: the previous test's revert took back a transaction of ana's that her wallet's nonce count still holds.
    const first = await chain.mintEdition(ben, edition, 1);
    const raw = Transaction.from((await chain.provider.getTransaction(first.hash))!).serialized;
    await indexer!.caughtUp();
    const announced = events.of('nft.minted').filter((e) => (e.payload as { txHash: string }).txHash === first.hash);
    expect(announced.map((e) => e.id)).toEqual([expect.stringMatching(new RegExp(`^nft:31337:${first.hash}:\\d+$`))]);

    // The block goes; an empty one takes its height; the same signed transaction is mined in the next.
    expect(await chain.provider.send('evm_revert', [snapshotId])).toBe(true);
    await chain.provider.send('anvil_mine', ['0x1']);
    expect(await chain.provider.send('eth_sendRawTransaction', [raw])).toBe(first.hash);
    await chain.provider.send('anvil_mine', ['0x1']);
    await indexer!.caughtUp();

    const again = events.of('nft.minted').filter((e) => (e.payload as { txHash: string }).txHash === first.hash);
    expect(again.map((e) => e.id)).toEqual([announced[0]!.id, `${announced[0]!.id}:1`]);
    expect((again[1]!.payload as { blockNumber: number }).blockNumber).toBe(first.blockNumber + 1);
    expect(events.of('nft.retracted').filter((e) => (e.payload as { retractedId: string }).retractedId === announced[0]!.id)).toHaveLength(1);
  });

  it('leaves the blocks under the confirmations unread until the chain has grown past them', async () => {
    await indexer!.close();
    // The same chain, asked for 3 confirmations.
    const confirmed = Object.create(chain, { confirmations: { value: 3 } }) as OpenedChain;
    const { tokenId } = await chain.createEdition({ creator: anaAddress(), payoutTo: anaAddress(), maxSupply: 0, priceWei: 0n, royaltyBps: 0, uri: 'ipfs://waits' });
    const row = () => storage.db.selectFrom('nft_tokens').select('uri').where('token_id', '=', String(tokenId)).where('kind', '=', 'edition').executeTakeFirst();
    indexer = startIndexer({ chain: confirmed, storage, bus: events.asBus, logger, tenantOfToken });
    await indexer.caughtUp();
    expect(await row()).toBeUndefined();
    await chain.provider.send('anvil_mine', ['0x3']);
    await indexer.caughtUp();
    expect(await row()).toEqual({ uri: 'ipfs://waits' });
  });

  it('reads the chain in ranges of at most its range (2000 blocks by default) and keeps the hashes of the last 64', async () => {
    expect(MAX_RANGE).toBe(2000);
    await indexer!.close();
    const indexedTo = Number((await storage.db.selectFrom('nft_chain_cursor').select('block_number').executeTakeFirstOrThrow()).block_number);
    // anvil mines about 100 blocks a second: ranges of 50 blocks show the same reading as ranges of 2000.
    await chain.provider.send('anvil_mine', ['0x82']); // 130 blocks
    const { tokenId } = await chain.createEdition({ creator: anaAddress(), payoutTo: anaAddress(), maxSupply: 0, priceWei: 0n, royaltyBps: 0, uri: 'ipfs://late' });
    const getLogs = vi.spyOn(chain.provider, 'getLogs');
    try {
      await index(50);
      const ranges = getLogs.mock.calls.map(([filter]) => [Number((filter as Filter).fromBlock), Number((filter as Filter).toBlock)] as const);
      expect(ranges.length).toBeGreaterThanOrEqual(3);
      for (const [from, to] of ranges) expect(to - from + 1).toBeLessThanOrEqual(50);
      expect(Math.min(...ranges.map(([from]) => from))).toBe(indexedTo + 1);
      expect(Math.max(...ranges.map(([, to]) => to))).toBe(await chain.provider.getBlockNumber());
    } finally {
      getLogs.mockRestore();
    }
    expect(await storage.db.selectFrom('nft_tokens').select('uri').where('token_id', '=', String(tokenId)).executeTakeFirst()).toEqual({ uri: 'ipfs://late' });
    const blocks = await storage.db.selectFrom('nft_chain_blocks').select('block_number').execute();
    expect(blocks).toHaveLength(64);
    expect(Math.max(...blocks.map((b) => Number(b.block_number)))).toBe(await chain.provider.getBlockNumber());
  }, 60_000);
});
