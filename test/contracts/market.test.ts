import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Wallet as EthersWallet, type HDNodeWallet, type TransactionReceipt } from 'ethers';
import { CHAIN_SETUP_TIMEOUT, expectRevert, mined, start, type AnvilChain, type Deployed } from '../helpers/anvil.js';

type Market = Deployed<'list' | 'buy' | 'cancel' | 'listing' | 'listingCount' | 'MAX_ROYALTY_BPS'>;
type Editions = Deployed<'createEdition' | 'mintTo' | 'balanceOf' | 'setApprovalForAll' | 'safeTransferFrom'>;
type Records = Deployed<'mintRecord' | 'ownerOf' | 'approve' | 'setApprovalForAll' | 'transferFrom'>;
type Split = Deployed<'releasable(address)' | 'releasable(address,address)'>;
type Token = Deployed<'mint' | 'balanceOf' | 'approve'>;
type Greedy = Deployed<'mint' | 'setApprovalForAll'>;
type Wallet = Deployed<'setRefuseEth' | 'exec'>;

let chain: AnvilChain;
let market: Market;
let editions: Editions;
let records: Records;
let token: Token;
let factory: Deployed<'createSplit' | 'predictSplit'>;
let seller: HDNodeWallet;
let buyer: HDNodeWallet;
let stranger: HDNodeWallet;
let marketAddress: string;

beforeAll(async () => {
  chain = await start();
  [, seller, buyer, stranger] = chain.accounts as [HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet];
  market = await chain.deploy('VezaMarket');
  editions = await chain.deploy('VezaEditions');
  records = await chain.deploy('VezaRecords');
  token = await chain.deploy('TestToken');
  factory = await chain.deploy('SplitFactory');
  marketAddress = await market.getAddress();
  await mined((editions.connect(seller) as Editions).setApprovalForAll(marketAddress, true));
  await mined((records.connect(seller) as Records).setApprovalForAll(marketAddress, true));
}, CHAIN_SETUP_TIMEOUT);

afterAll(async () => {
  await chain?.stop();
});

function as<T extends Deployed<string>>(contract: T, wallet: HDNodeWallet): T {
  return contract.connect(wallet) as T;
}

function sorted(addresses: string[]): string[] {
  return [...addresses].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
}

/** A split of two fresh addresses (60/40) and an edition paying its royalty to it; `amount` copies go to the seller. */
async function editionWithSplitRoyalty(royaltyBps: number, amount: number): Promise<{ id: bigint; split: Split; recipients: string[] }> {
  const recipients = sorted([EthersWallet.createRandom().address, EthersWallet.createRandom().address]);
  const splitAddress = (await factory.predictSplit(recipients, [6000, 4000])) as string;
  await mined(factory.createSplit(recipients, [6000, 4000]));
  const receipt = await mined(editions.createEdition(seller.address, splitAddress, 0, 0, 0, 0n, royaltyBps, 'ipfs://e'));
  const id = editions.interface.parseLog(receipt.logs.find((l) => editions.interface.parseLog(l)?.name === 'EditionCreated')!)!.args.tokenId as bigint;
  await mined(editions.mintTo(seller.address, id, amount));
  return { id, split: await chain.at('VezaSplit', splitAddress), recipients };
}

async function listed(tx: ReturnType<Market['list']>): Promise<bigint> {
  const receipt = await mined(tx);
  return market.interface.parseLog(receipt.logs.find((l) => market.interface.parseLog(l)?.name === 'Listed')!)!.args.listingId as bigint;
}

function sold(receipt: TransactionReceipt): unknown[] {
  return [...market.interface.parseLog(receipt.logs.find((l) => market.interface.parseLog(l)?.name === 'Sold')!)!.args];
}

const balance = (address: string) => chain.provider.getBalance(address);

describe('list', () => {
  it('records the listing with ids 1, 2, 3 and emits Listed', async () => {
    const { id } = await editionWithSplitRoyalty(500, 10);
    const before = (await market.listingCount()) as bigint;
    const receipt = await mined(as(market, seller).list(await editions.getAddress(), id, 4, '0x0000000000000000000000000000000000000000', 1000n));
    const event = market.interface.parseLog(receipt.logs[0]!)!;
    expect(event.name).toBe('Listed');
    expect([...event.args]).toEqual([before + 1n, seller.address, await editions.getAddress(), id, 4n, '0x0000000000000000000000000000000000000000', 1000n]);
    expect((await market.listing(before + 1n)).toObject()).toEqual({
      seller: seller.address,
      token: await editions.getAddress(),
      tokenId: id,
      remaining: 4n,
      currency: '0x0000000000000000000000000000000000000000',
      pricePerUnit: 1000n,
      active: true,
    });
  });

  it('refuses zero amounts and prices, unheld tokens, missing approval and non-NFT contracts', async () => {
    const { id } = await editionWithSplitRoyalty(0, 2);
    const editionsAddress = await editions.getAddress();
    const eth = '0x0000000000000000000000000000000000000000';
    await expectRevert(as(market, seller).list(editionsAddress, id, 0, eth, 1n), market, 'ZeroAmount', []);
    await expectRevert(as(market, seller).list(editionsAddress, id, 1, eth, 0n), market, 'ZeroPrice', []);
    await expectRevert(as(market, seller).list(editionsAddress, id, 3, eth, 1n), market, 'NotOwner', [editionsAddress, id]);
    await expectRevert(as(market, seller).list(editionsAddress, id, 2n ** 96n, eth, 1n), market, 'InvalidAmount', [2n ** 96n]);
    const tooHigh = (2n ** 256n - 1n) / 10_000n / 2n + 1n;
    await expectRevert(as(market, seller).list(editionsAddress, id, 2, eth, tooHigh), market, 'PriceTooHigh', [tooHigh]);
    await expectRevert(as(market, buyer).list(editionsAddress, id, 1, eth, 1n), market, 'NotOwner', [editionsAddress, id]);
    await mined(as(editions, seller).safeTransferFrom(seller.address, stranger.address, id, 1, '0x'));
    await expectRevert(as(market, stranger).list(editionsAddress, id, 1, eth, 1n), market, 'NotApproved', []);
    await expectRevert(as(market, seller).list(await token.getAddress(), 1, 1, eth, 1n), market, 'UnsupportedToken', [await token.getAddress()]);
    await expectRevert(as(market, seller).list(stranger.address, 1, 1, eth, 1n), market, 'UnsupportedToken', [stranger.address]);

    const recordsAddress = await records.getAddress();
    const receipt = await mined(records.mintRecord(seller.address, seller.address, 0, 'ipfs://r'));
    const recordId = records.interface.parseLog(receipt.logs.find((l) => records.interface.parseLog(l)?.name === 'RecordMinted')!)!.args.tokenId as bigint;
    await expectRevert(as(market, seller).list(recordsAddress, recordId, 2, eth, 1n), market, 'InvalidAmount', [2n]);
    await expectRevert(as(market, seller).list(recordsAddress, 9999, 1, eth, 1n), market, 'NotOwner', [recordsAddress, 9999n]);
    await expectRevert(as(market, buyer).list(recordsAddress, recordId, 1, eth, 1n), market, 'NotOwner', [recordsAddress, recordId]);
  });
});

describe('buy with ETH', () => {
  it('pays the royalty to the split and the rest to the seller, to the wei; the buyer pays price + gas', async () => {
    // 7.5 % royalty on 3 × 333_333_333_333_333_333 wei = 999_999_999_999_999_999: royalty 74_999_999_999_999_999 (rounded down).
    const { id, split, recipients } = await editionWithSplitRoyalty(750, 5);
    const listingId = await listed(as(market, seller).list(await editions.getAddress(), id, 5, '0x0000000000000000000000000000000000000000', 333_333_333_333_333_333n));
    const price = 999_999_999_999_999_999n;
    const royalty = 74_999_999_999_999_999n;
    const splitAddress = await split.getAddress();
    const [sellerBefore, buyerBefore, splitBefore] = [await balance(seller.address), await balance(buyer.address), await balance(splitAddress)];
    const receipt = await mined(as(market, buyer).buy(listingId, 3, { value: price }));
    expect(sold(receipt)).toEqual([listingId, buyer.address, 3n, price, splitAddress, royalty]);
    expect(await balance(splitAddress)).toBe(splitBefore + royalty);
    expect(await balance(seller.address)).toBe(sellerBefore + price - royalty);
    expect(await balance(buyer.address)).toBe(buyerBefore - price - receipt.fee);
    expect(await balance(marketAddress)).toBe(0n);
    expect(await editions.balanceOf(buyer.address, id)).toBe(3n);
    expect(await editions.balanceOf(seller.address, id)).toBe(2n);
    expect((await market.listing(listingId)).remaining).toBe(2n);
    // The split owes its recipients 60/40 of the royalty.
    expect(await split['releasable(address)'](recipients[0]!)).toBe((royalty * 6000n) / 10_000n);
    expect(await split['releasable(address)'](recipients[1]!)).toBe((royalty * 4000n) / 10_000n);

    await expectRevert(as(market, buyer).buy(listingId, 3, { value: 999_999_999_999_999_999n }), market, 'NotEnoughListed', [2n]);
    await mined(as(market, buyer).buy(listingId, 2, { value: 666_666_666_666_666_666n }));
    const after = await market.listing(listingId);
    expect(after.remaining).toBe(0n);
    expect(after.active).toBe(false);
    await expectRevert(as(market, buyer).buy(listingId, 1, { value: 333_333_333_333_333_333n }), market, 'ListingNotActive', [listingId]);
  });

  it('refuses a wrong payment, a zero amount, an unknown listing', async () => {
    const { id } = await editionWithSplitRoyalty(0, 2);
    const listingId = await listed(as(market, seller).list(await editions.getAddress(), id, 2, '0x0000000000000000000000000000000000000000', 10n));
    await expectRevert(as(market, buyer).buy(listingId, 2, { value: 19n }), market, 'WrongPayment', [20n, 19n]);
    await expectRevert(as(market, buyer).buy(listingId, 2, { value: 21n }), market, 'WrongPayment', [20n, 21n]);
    await expectRevert(as(market, buyer).buy(listingId, 0), market, 'ZeroAmount', []);
    await expectRevert(as(market, buyer).buy(424242, 1, { value: 10n }), market, 'ListingNotActive', [424242n]);
  });

  it('pays no royalty when the token has none, and the whole price to the seller', async () => {
    const { id } = await editionWithSplitRoyalty(0, 1);
    const listingId = await listed(as(market, seller).list(await editions.getAddress(), id, 1, '0x0000000000000000000000000000000000000000', 12_345n));
    const before = await balance(seller.address);
    const receipt = await mined(as(market, buyer).buy(listingId, 1, { value: 12_345n }));
    expect(sold(receipt)).toEqual([listingId, buyer.address, 1n, 12_345n, '0x0000000000000000000000000000000000000000', 0n]);
    expect(await balance(seller.address)).toBe(before + 12_345n);
  });

  it('caps a royalty above 50 % at 50 % of the price', async () => {
    const receiver = EthersWallet.createRandom().address;
    const greedy = await chain.deploy<'mint' | 'setApprovalForAll'>('GreedyRoyaltyToken', [receiver]);
    await mined(greedy.mint(seller.address, 1, 1));
    await mined(as(greedy as Greedy, seller).setApprovalForAll(marketAddress, true));
    const listingId = await listed(as(market, seller).list(await greedy.getAddress(), 1, 1, '0x0000000000000000000000000000000000000000', 1001n));
    const before = await balance(seller.address);
    const receipt = await mined(as(market, buyer).buy(listingId, 1, { value: 1001n }));
    // 90 % asked; 50 % of 1001 = 500 (rounded down) paid.
    expect(sold(receipt)).toEqual([listingId, buyer.address, 1n, 1001n, receiver, 500n]);
    expect(await balance(receiver)).toBe(500n);
    expect(await balance(seller.address)).toBe(before + 501n);
  });

  it('sells an ERC-721 record, paying its royalty', async () => {
    const payout = EthersWallet.createRandom().address;
    const receipt = await mined(records.mintRecord(seller.address, payout, 1000, 'ipfs://r'));
    const recordId = records.interface.parseLog(receipt.logs.find((l) => records.interface.parseLog(l)?.name === 'RecordMinted')!)!.args.tokenId as bigint;
    const listingId = await listed(as(market, seller).list(await records.getAddress(), recordId, 1, '0x0000000000000000000000000000000000000000', 5_000n));
    const before = await balance(seller.address);
    await mined(as(market, buyer).buy(listingId, 1, { value: 5_000n }));
    expect(await records.ownerOf(recordId)).toBe(buyer.address);
    expect(await balance(payout)).toBe(500n);
    expect(await balance(seller.address)).toBe(before + 4_500n);
  });

  it('refuses a sale whose seller withdrew the approval or the tokens', async () => {
    const { id } = await editionWithSplitRoyalty(0, 2);
    const editionsAddress = await editions.getAddress();
    const listingId = await listed(as(market, seller).list(editionsAddress, id, 2, '0x0000000000000000000000000000000000000000', 10n));
    await mined(as(editions, seller).safeTransferFrom(seller.address, stranger.address, id, 1, '0x'));
    await expectRevert(as(market, buyer).buy(listingId, 2, { value: 20n }), market, 'NotOwner', [editionsAddress, id]);
    await mined(as(editions, seller).setApprovalForAll(marketAddress, false));
    await expectRevert(as(market, buyer).buy(listingId, 1, { value: 10n }), market, 'NotApproved', []);
    await mined(as(editions, seller).setApprovalForAll(marketAddress, true));
  });

  it('refuses the sale when the royalty receiver refuses ETH', async () => {
    const wallet = (await chain.deploy('TestWallet')) as Wallet;
    await mined(wallet.setRefuseEth(true));
    const receipt = await mined(editions.createEdition(seller.address, await wallet.getAddress(), 0, 0, 0, 0n, 1000, 'ipfs://e'));
    const id = editions.interface.parseLog(receipt.logs.find((l) => editions.interface.parseLog(l)?.name === 'EditionCreated')!)!.args.tokenId as bigint;
    await mined(editions.mintTo(seller.address, id, 1));
    const listingId = await listed(as(market, seller).list(await editions.getAddress(), id, 1, '0x0000000000000000000000000000000000000000', 100n));
    await expectRevert(as(market, buyer).buy(listingId, 1, { value: 100n }), market, 'TransferFailed', []);
    // Nothing moved: the listing and the token are as before.
    expect((await market.listing(listingId)).remaining).toBe(1n);
    expect(await editions.balanceOf(seller.address, id)).toBe(1n);
  });
});

describe('buy with an ERC-20', () => {
  it('moves the exact token amounts: royalty to the split, rest to the seller, from the buyer', async () => {
    const { id, split, recipients } = await editionWithSplitRoyalty(1250, 3);
    const currency = await token.getAddress();
    const listingId = await listed(as(market, seller).list(await editions.getAddress(), id, 3, currency, 1_000_003n));
    await mined(token.mint(buyer.address, 10_000_000n));
    const price = 2_000_006n;
    const royalty = 250_000n; // 12.5 % of 2_000_006 = 250_000.75 → 250_000
    const splitAddress = await split.getAddress();
    const sellerBefore = (await token.balanceOf(seller.address)) as bigint;
    await expectRevert(as(market, buyer).buy(listingId, 2), market, 'TransferFailed', []);
    await mined(as(token, buyer).approve(marketAddress, price));
    await expectRevert(as(market, buyer).buy(listingId, 2, { value: 1n }), market, 'WrongPayment', [0n, 1n]);
    const receipt = await mined(as(market, buyer).buy(listingId, 2));
    expect(sold(receipt)).toEqual([listingId, buyer.address, 2n, price, splitAddress, royalty]);
    expect(await token.balanceOf(buyer.address)).toBe(10_000_000n - price);
    expect(await token.balanceOf(splitAddress)).toBe(royalty);
    expect(await token.balanceOf(seller.address)).toBe(sellerBefore + price - royalty);
    expect(await token.balanceOf(marketAddress)).toBe(0n);
    expect(await editions.balanceOf(buyer.address, id)).toBe(2n);
    expect(await split['releasable(address,address)'](currency, recipients[0]!)).toBe(150_000n);
    expect(await split['releasable(address,address)'](currency, recipients[1]!)).toBe(100_000n);
  });
});

describe('cancel', () => {
  it('lets only the seller cancel an active listing, emits Cancelled, and stops sales', async () => {
    const { id } = await editionWithSplitRoyalty(0, 1);
    const listingId = await listed(as(market, seller).list(await editions.getAddress(), id, 1, '0x0000000000000000000000000000000000000000', 10n));
    await expectRevert(as(market, stranger).cancel(listingId), market, 'NotSeller', [listingId]);
    const receipt = await mined(as(market, seller).cancel(listingId));
    expect([...market.interface.parseLog(receipt.logs[0]!)!.args]).toEqual([listingId]);
    expect((await market.listing(listingId)).active).toBe(false);
    await expectRevert(as(market, seller).cancel(listingId), market, 'ListingNotActive', [listingId]);
    await expectRevert(as(market, buyer).buy(listingId, 1, { value: 10n }), market, 'ListingNotActive', [listingId]);
  });
});
