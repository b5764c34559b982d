import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TypedDataEncoder, ZeroAddress, keccak256, toUtf8Bytes, type HDNodeWallet } from 'ethers';
import { CHAIN_SETUP_TIMEOUT, expectRevert, mined, start, type AnvilChain, type Deployed } from '../helpers/anvil.js';

type Editions = Deployed<
  | 'createEdition'
  | 'mint'
  | 'mintTo'
  | 'mintWithVoucher'
  | 'edition'
  | 'editionCount'
  | 'uri'
  | 'balanceOf'
  | 'royaltyInfo'
  | 'creatorOf'
  | 'hashVoucher'
  | 'voucherTokenId'
  | 'supportsInterface'
  | 'grantRole'
  | 'MINTER_ROLE'
  | 'VOUCHER_TYPEHASH'
>;
type Wallet = Deployed<'setRefuseEth' | 'exec'>;

interface Voucher {
  creator: string;
  payoutTo: string;
  maxSupply: bigint;
  mintStart: bigint;
  mintEnd: bigint;
  price: bigint;
  royaltyBps: bigint;
  uri: string;
  nonce: bigint;
  deadline: bigint;
}

const VOUCHER_TYPES = {
  Voucher: [
    { name: 'creator', type: 'address' },
    { name: 'payoutTo', type: 'address' },
    { name: 'maxSupply', type: 'uint64' },
    { name: 'mintStart', type: 'uint64' },
    { name: 'mintEnd', type: 'uint64' },
    { name: 'price', type: 'uint256' },
    { name: 'royaltyBps', type: 'uint96' },
    { name: 'uri', type: 'string' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
};

let chain: AnvilChain;
let editions: Editions;
let creator: HDNodeWallet;
let payout: HDNodeWallet;
let buyer: HDNodeWallet;
let stranger: HDNodeWallet;

beforeAll(async () => {
  chain = await start();
  [, creator, payout, buyer, stranger] = chain.accounts as [HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet];
  editions = await chain.deploy('VezaEditions');
}, CHAIN_SETUP_TIMEOUT);

afterAll(async () => {
  await chain?.stop();
});

function as(wallet: HDNodeWallet): Editions {
  return editions.connect(wallet) as Editions;
}

/** Creates an edition with sensible defaults and returns its token id. */
async function create(o: Partial<{ maxSupply: number; mintStart: number; mintEnd: number; price: bigint; royaltyBps: number; uri: string; payoutTo: string }> = {}): Promise<bigint> {
  const receipt = await mined(
    editions.createEdition(creator.address, o.payoutTo ?? payout.address, o.maxSupply ?? 0, o.mintStart ?? 0, o.mintEnd ?? 0, o.price ?? 0n, o.royaltyBps ?? 0, o.uri ?? 'ipfs://meta'),
  );
  const log = receipt.logs.map((l) => editions.interface.parseLog(l)).find((l) => l?.name === 'EditionCreated');
  return log!.args.tokenId as bigint;
}

async function balance(address: string): Promise<bigint> {
  return chain.provider.getBalance(address);
}

describe('createEdition', () => {
  it('numbers editions 1, 2, 3 and records their terms and event', async () => {
    const before = (await editions.editionCount()) as bigint;
    const receipt = await mined(editions.createEdition(creator.address, payout.address, 100, 10, 20_000_000_000, 123n, 750, 'ipfs://bafy-a'));
    const id = before + 1n;
    const event = editions.interface.parseLog(receipt.logs.find((l) => editions.interface.parseLog(l)?.name === 'EditionCreated')!)!;
    expect([...event.args]).toEqual([id, creator.address, payout.address, 100n, 10n, 20_000_000_000n, 123n, 750n, 'ipfs://bafy-a']);
    const e = await editions.edition(id);
    expect(e.toObject()).toEqual({
      creator: creator.address,
      payoutTo: payout.address,
      maxSupply: 100n,
      minted: 0n,
      mintStart: 10n,
      mintEnd: 20_000_000_000n,
      price: 123n,
      royaltyBps: 750n,
      uri: 'ipfs://bafy-a',
    });
    expect(await editions.uri(id)).toBe('ipfs://bafy-a');
    expect(await editions.creatorOf(id)).toBe(creator.address);
    expect(await create()).toBe(id + 1n);
    expect(await editions.editionCount()).toBe(id + 1n);
  });

  it('is for MINTER_ROLE only', async () => {
    await expectRevert(as(stranger).createEdition(creator.address, payout.address, 0, 0, 0, 0n, 0, 'ipfs://x'), editions, 'AccessControlUnauthorizedAccount', [
      stranger.address,
      await editions.MINTER_ROLE(),
    ]);
  });

  it('refuses a royalty above 50 %, a zero address and an empty window', async () => {
    await expectRevert(editions.createEdition(creator.address, payout.address, 0, 0, 0, 0n, 5001, 'ipfs://x'), editions, 'RoyaltyTooHigh', [5001n]);
    await mined(editions.createEdition(creator.address, payout.address, 0, 0, 0, 0n, 5000, 'ipfs://x'));
    await expectRevert(editions.createEdition(ZeroAddress, payout.address, 0, 0, 0, 0n, 0, 'ipfs://x'), editions, 'ZeroAddress', []);
    await expectRevert(editions.createEdition(creator.address, ZeroAddress, 0, 0, 0, 0n, 0, 'ipfs://x'), editions, 'ZeroAddress', []);
    await expectRevert(editions.createEdition(creator.address, payout.address, 0, 100, 100, 0n, 0, 'ipfs://x'), editions, 'InvalidWindow', [100n, 100n]);
    await expectRevert(editions.createEdition(creator.address, payout.address, 0, 100, 50, 0n, 0, 'ipfs://x'), editions, 'InvalidWindow', [100n, 50n]);
  });

  it('reports an unknown token', async () => {
    await expectRevert(editions.edition(999), editions, 'UnknownToken', [999n]);
    await expectRevert(editions.uri(999), editions, 'UnknownToken', [999n]);
    await expectRevert(as(buyer).mint(buyer.address, 999, 1), editions, 'UnknownToken', [999n]);
  });

  it('supports ERC-1155, ERC-2981 and AccessControl by ERC-165', async () => {
    for (const id of ['0xd9b67a26', '0x2a55205a', '0x7965db0b', '0x01ffc9a7']) expect(await editions.supportsInterface(id)).toBe(true);
    expect(await editions.supportsInterface('0x80ac58cd')).toBe(false);
  });
});

describe('royalties', () => {
  it('are per token: receiver payoutTo, bps of the edition', async () => {
    const a = await create({ royaltyBps: 1000 });
    const b = await create({ royaltyBps: 250, payoutTo: stranger.address });
    expect([...(await editions.royaltyInfo(a, 10_000n))]).toEqual([payout.address, 1000n]);
    expect([...(await editions.royaltyInfo(b, 10_000n))]).toEqual([stranger.address, 250n]);
    // Rounds down like ERC-2981 everywhere: 2.5 % of 999 wei is 24.975.
    expect([...(await editions.royaltyInfo(b, 999n))]).toEqual([stranger.address, 24n]);
    expect([...(await editions.royaltyInfo(999, 10_000n))]).toEqual([ZeroAddress, 0n]);
  });
});

describe('mint', () => {
  it('pays price × amount to payoutTo, to the wei, and emits EditionMinted', async () => {
    const id = await create({ price: 1_000_000_000_000_001n, maxSupply: 20 });
    const before = await balance(payout.address);
    const receipt = await mined(as(buyer).mint(buyer.address, id, 3, { value: 3_000_000_000_000_003n }));
    expect(await balance(payout.address)).toBe(before + 3_000_000_000_000_003n);
    expect(await editions.balanceOf(buyer.address, id)).toBe(3n);
    const event = receipt.logs.map((l) => editions.interface.parseLog(l)).find((l) => l?.name === 'EditionMinted')!;
    expect([...event.args]).toEqual([id, buyer.address, 3n, 3_000_000_000_000_003n]);
    expect((await editions.edition(id)).minted).toBe(3n);
  });

  it('refuses a wrong payment, in either direction, and a zero amount', async () => {
    const id = await create({ price: 5n });
    await expectRevert(as(buyer).mint(buyer.address, id, 2, { value: 9n }), editions, 'WrongPayment', [10n, 9n]);
    await expectRevert(as(buyer).mint(buyer.address, id, 2, { value: 11n }), editions, 'WrongPayment', [10n, 11n]);
    await expectRevert(as(buyer).mint(buyer.address, id, 0), editions, 'ZeroAmount', []);
  });

  it('mints a free edition without payment', async () => {
    const id = await create({ price: 0n });
    await mined(as(buyer).mint(stranger.address, id, 2));
    expect(await editions.balanceOf(stranger.address, id)).toBe(2n);
    await expectRevert(as(buyer).mint(buyer.address, id, 1, { value: 1n }), editions, 'WrongPayment', [0n, 1n]);
  });

  it('holds the supply cap: sells out exactly, reports what remains', async () => {
    const id = await create({ maxSupply: 10, price: 1n });
    await mined(as(buyer).mint(buyer.address, id, 7, { value: 7n }));
    await expectRevert(as(buyer).mint(buyer.address, id, 4, { value: 4n }), editions, 'SoldOut', [id, 3n]);
    await mined(as(buyer).mint(buyer.address, id, 3, { value: 3n }));
    await expectRevert(as(buyer).mint(buyer.address, id, 1, { value: 1n }), editions, 'SoldOut', [id, 0n]);
    expect((await editions.edition(id)).minted).toBe(10n);
  });

  it('leaves an open edition (maxSupply 0) uncapped', async () => {
    const id = await create({ maxSupply: 0 });
    await mined(as(buyer).mint(buyer.address, id, 1_000_000));
    expect(await editions.balanceOf(buyer.address, id)).toBe(1_000_000n);
    // Only its 64-bit counter bounds it, and an absurd amount is refused as such rather than overflowing.
    const left = 2n ** 64n - 1n - 1_000_000n;
    await expectRevert(as(buyer).mint(buyer.address, id, 2n ** 255n), editions, 'SoldOut', [id, left]);
    await expectRevert(editions.mintTo(buyer.address, id, left + 1n), editions, 'SoldOut', [id, left]);
  });

  it('opens at mintStart and closes after mintEnd', async () => {
    const now = await chain.now();
    const startAt = now + 1000;
    const endAt = now + 2000;
    const id = await create({ mintStart: startAt, mintEnd: endAt });
    await chain.setNextTimestamp(startAt - 1);
    await expectRevert(as(buyer).mint(buyer.address, id, 1), editions, 'MintNotStarted', [id, BigInt(startAt)]);
    // A refused transaction mines no block: set the clock again for the next one.
    await chain.setNextTimestamp(startAt);
    await mined(as(buyer).mint(buyer.address, id, 1));
    await chain.setNextTimestamp(endAt);
    await mined(as(buyer).mint(buyer.address, id, 1));
    await chain.increaseTime(1);
    await expectRevert(as(buyer).mint(buyer.address, id, 1), editions, 'MintEnded', [id, BigInt(endAt)]);
    expect(await editions.balanceOf(buyer.address, id)).toBe(2n);
  });

  it('refuses when payoutTo refuses the payment', async () => {
    const wallet = (await chain.deploy('TestWallet')) as Wallet;
    await mined(wallet.setRefuseEth(true));
    const id = await create({ price: 1n, payoutTo: await wallet.getAddress() });
    await expectRevert(as(buyer).mint(buyer.address, id, 1, { value: 1n }), editions, 'TransferFailed', []);
    await mined(wallet.setRefuseEth(false));
    await mined(as(buyer).mint(buyer.address, id, 1, { value: 1n }));
  });
});

describe('mintTo', () => {
  it('mints free copies for the creators, inside the cap, before the window opens', async () => {
    const now = await chain.now();
    const id = await create({ maxSupply: 5, price: 10n, mintStart: now + 10_000 });
    const receipt = await mined(editions.mintTo(creator.address, id, 4));
    expect(await editions.balanceOf(creator.address, id)).toBe(4n);
    const event = receipt.logs.map((l) => editions.interface.parseLog(l)).find((l) => l?.name === 'EditionMinted')!;
    expect([...event.args]).toEqual([id, creator.address, 4n, 0n]);
    await expectRevert(editions.mintTo(creator.address, id, 2), editions, 'SoldOut', [id, 1n]);
    await expectRevert(editions.mintTo(creator.address, id, 0), editions, 'ZeroAmount', []);
    await expectRevert(editions.mintTo(creator.address, 999, 1), editions, 'UnknownToken', [999n]);
    await expectRevert(as(stranger).mintTo(stranger.address, id, 1), editions, 'AccessControlUnauthorizedAccount', [stranger.address, await editions.MINTER_ROLE()]);
  });
});

describe('mintWithVoucher', () => {
  let nonce = 0n;
  async function voucher(o: Partial<Voucher> = {}): Promise<Voucher> {
    return {
      creator: creator.address,
      payoutTo: payout.address,
      maxSupply: 50n,
      mintStart: 0n,
      mintEnd: 0n,
      price: 7n,
      royaltyBps: 1000n,
      uri: 'ipfs://voucher',
      nonce: ++nonce,
      deadline: BigInt((await chain.now()) + 3600),
      ...o,
    };
  }
  async function sign(v: Voucher, signer: HDNodeWallet = creator): Promise<string> {
    const domain = { name: 'VezaEditions', version: '1', chainId: 31337, verifyingContract: await editions.getAddress() };
    return signer.signTypedData(domain, VOUCHER_TYPES, v);
  }

  it('hashes the voucher as the EIP-712 struct it documents', async () => {
    const v = await voucher();
    const domain = { name: 'VezaEditions', version: '1', chainId: 31337, verifyingContract: await editions.getAddress() };
    expect(await editions.hashVoucher(v)).toBe(TypedDataEncoder.hash(domain, VOUCHER_TYPES, v));
    const encoded = TypedDataEncoder.from(VOUCHER_TYPES).encodeType('Voucher');
    expect(encoded).toBe(
      'Voucher(address creator,address payoutTo,uint64 maxSupply,uint64 mintStart,uint64 mintEnd,uint256 price,uint96 royaltyBps,string uri,uint256 nonce,uint256 deadline)',
    );
    expect(await editions.VOUCHER_TYPEHASH()).toBe(keccak256(toUtf8Bytes(encoded)));
  });

  it('a valid voucher creates the edition, mints, pays the creator and maps its hash to the token', async () => {
    const v = await voucher();
    const digest = (await editions.hashVoucher(v)) as string;
    expect(await editions.voucherTokenId(digest)).toBe(0n);
    const before = await balance(payout.address);
    const receipt = await mined(as(buyer).mintWithVoucher(v, await sign(v), buyer.address, 2, { value: 14n }));
    const logs = receipt.logs.map((l) => editions.interface.parseLog(l));
    const redeemed = logs.find((l) => l?.name === 'VoucherRedeemed')!;
    const id = redeemed.args.tokenId as bigint;
    expect(redeemed.args.voucherHash).toBe(digest);
    expect(await editions.voucherTokenId(digest)).toBe(id);
    expect(logs.find((l) => l?.name === 'EditionCreated')!.args.creator).toBe(creator.address);
    expect(await editions.balanceOf(buyer.address, id)).toBe(2n);
    expect(await balance(payout.address)).toBe(before + 14n);
    expect([...(await editions.royaltyInfo(id, 1000n))]).toEqual([payout.address, 100n]);
    expect((await editions.edition(id)).minted).toBe(2n);
    // Later copies of the same edition are ordinary mints.
    await mined(as(stranger).mint(stranger.address, id, 1, { value: 7n }));
  });

  it('refuses a replayed voucher', async () => {
    const v = await voucher();
    const signature = await sign(v);
    await mined(as(buyer).mintWithVoucher(v, signature, buyer.address, 1, { value: 7n }));
    const digest = (await editions.hashVoucher(v)) as string;
    await expectRevert(as(stranger).mintWithVoucher(v, signature, stranger.address, 1, { value: 7n }), editions, 'VoucherAlreadyUsed', [digest]);
  });

  it('refuses a voucher signed by someone other than its creator', async () => {
    const v = await voucher();
    await expectRevert(as(buyer).mintWithVoucher(v, await sign(v, stranger), buyer.address, 1, { value: 7n }), editions, 'InvalidSignature', []);
  });

  it('refuses a voucher with a tampered field', async () => {
    const v = await voucher();
    const signature = await sign(v);
    for (const tampered of [{ ...v, price: 1n }, { ...v, payoutTo: stranger.address }, { ...v, uri: 'ipfs://other' }, { ...v, royaltyBps: 0n }, { ...v, maxSupply: 0n }]) {
      await expectRevert(as(buyer).mintWithVoucher(tampered, signature, buyer.address, 1, { value: tampered.price }), editions, 'InvalidSignature', []);
    }
    // The untouched voucher still works.
    await mined(as(buyer).mintWithVoucher(v, signature, buyer.address, 1, { value: 7n }));
  });

  it('refuses an expired voucher', async () => {
    const now = await chain.now();
    const v = await voucher({ deadline: BigInt(now + 100) });
    const signature = await sign(v);
    await chain.setNextTimestamp(now + 101);
    await expectRevert(as(buyer).mintWithVoucher(v, signature, buyer.address, 1, { value: 7n }), editions, 'VoucherExpired', [BigInt(now + 100)]);
  });

  it('applies the edition checks to the voucher: royalty, window, payment, zero creator', async () => {
    const high = await voucher({ royaltyBps: 6000n });
    await expectRevert(as(buyer).mintWithVoucher(high, await sign(high), buyer.address, 1, { value: 7n }), editions, 'RoyaltyTooHigh', [6000n]);
    const window = await voucher({ mintStart: 10n, mintEnd: 5n });
    await expectRevert(as(buyer).mintWithVoucher(window, await sign(window), buyer.address, 1, { value: 7n }), editions, 'InvalidWindow', [10n, 5n]);
    const v = await voucher();
    await expectRevert(as(buyer).mintWithVoucher(v, await sign(v), buyer.address, 2, { value: 7n }), editions, 'WrongPayment', [14n, 7n]);
    const noCreator = await voucher({ creator: ZeroAddress });
    await expectRevert(as(buyer).mintWithVoucher(noCreator, await sign(noCreator), buyer.address, 1, { value: 7n }), editions, 'ZeroAddress', []);
    // Nothing was created by the refused attempts.
    expect(await editions.voucherTokenId(await editions.hashVoucher(v))).toBe(0n);
  });
});
