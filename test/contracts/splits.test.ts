import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Wallet as EthersWallet, ZeroAddress, concat, dataLength, getCreate2Address, keccak256, solidityPacked, toBeHex, type HDNodeWallet } from 'ethers';
import { CHAIN_SETUP_TIMEOUT, expectRevert, mined, start, type AnvilChain, type Deployed } from '../helpers/anvil.js';

type Factory = Deployed<'createSplit' | 'predictSplit' | 'implementation' | 'MAX_RECIPIENTS'>;
type Split = Deployed<'recipients' | 'releasable(address)' | 'releasable(address,address)' | 'release(address)' | 'release(address,address)' | 'released(address)' | 'shareOf'>;
type Token = Deployed<'mint' | 'balanceOf' | 'transfer'>;
type Wallet = Deployed<'setRefuseEth' | 'exec'>;

let chain: AnvilChain;
let factory: Factory;
let token: Token;
let payer: HDNodeWallet;

beforeAll(async () => {
  chain = await start();
  payer = chain.accounts[9]!;
  factory = await chain.deploy('SplitFactory');
  token = await chain.deploy('TestToken');
}, CHAIN_SETUP_TIMEOUT);

afterAll(async () => {
  await chain?.stop();
});

/** Fresh, empty accounts sorted ascending: their balances start at 0 and they never pay gas. */
function freshRecipients(n: number): string[] {
  return Array.from({ length: n }, () => EthersWallet.createRandom().address).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
}

async function createSplit(recipients: string[], bps: number[]): Promise<Split> {
  const address = (await factory.predictSplit(recipients, bps)) as string;
  await mined(factory.createSplit(recipients, bps));
  return chain.at('VezaSplit', address);
}

async function pay(to: string, wei: bigint): Promise<void> {
  const tx = await payer.sendTransaction({ to, value: wei });
  await tx.wait();
}

describe('SplitFactory', () => {
  it('creates a split at the CREATE2 address of its sorted arrays, and returns the same one again', async () => {
    const recipients = freshRecipients(2);
    const bps = [2500, 7500];
    const predicted = (await factory.predictSplit(recipients, bps)) as string;
    // The clone's immutable arguments: per recipient its address and its share as uint32, packed.
    const args = solidityPacked(['address', 'uint32', 'address', 'uint32'], [recipients[0], bps[0], recipients[1], bps[1]]);
    const implementation = (await factory.implementation()) as string;
    // OpenZeppelin's Clones creation code for a minimal proxy with immutable arguments.
    const initCode = concat([
      '0x61',
      toBeHex(dataLength(args) + 0x2d, 2),
      '0x3d81600a3d39f3363d3d373d3d3d363d73',
      implementation,
      '0x5af43d82803e903d91602b57fd5bf3',
      args,
    ]);
    expect(predicted).toBe(getCreate2Address(await factory.getAddress(), keccak256(args), keccak256(initCode)));
    expect(await chain.provider.getCode(predicted)).toBe('0x');
    // A split that does not exist yet can be paid already: its address is its shares.
    await pay(predicted, 10_000n);

    const receipt = await mined(factory.createSplit(recipients, bps));
    const event = receipt.logs.map((l) => factory.interface.parseLog(l)).find((l) => l?.name === 'SplitCreated')!;
    expect(event.args.split).toBe(predicted);
    expect([...event.args.recipients]).toEqual(recipients);
    expect([...event.args.bps]).toEqual([2500n, 7500n]);
    const split = await chain.at<'recipients' | 'releasable(address)'>('VezaSplit', predicted);
    const [r, b] = (await split.recipients()) as [string[], bigint[]];
    expect([...r]).toEqual(recipients);
    expect([...b]).toEqual([2500n, 7500n]);
    expect(await split['releasable(address)'](recipients[1]!)).toBe(7500n);

    // The same split again: no revert, no new contract, no event, the same address.
    expect(await factory.createSplit.staticCall(recipients, bps)).toBe(predicted);
    const again = await mined(factory.createSplit(recipients, bps));
    expect(again.logs).toHaveLength(0);
  });

  it('refuses every malformed split with its reason', async () => {
    const [a, b, c] = freshRecipients(3) as [string, string, string];
    const cases: [string[], number[], string][] = [
      [[], [], 'no recipients'],
      [[a, b], [10_000], 'recipients and shares differ in length'],
      [[b, a], [5000, 5000], 'recipients not strictly ascending'],
      [[a, a], [5000, 5000], 'recipients not strictly ascending'],
      [[ZeroAddress, a], [5000, 5000], 'zero address'],
      [[a, b, c], [5000, 5000, 0], 'zero share'],
      [[a, b], [5000, 4999], 'shares must sum to 10000'],
      [[a, b], [5000, 5001], 'shares must sum to 10000'],
    ];
    for (const [recipients, bps, reason] of cases) {
      await expectRevert(factory.createSplit(recipients, bps), factory, 'InvalidSplit', [reason]);
      await expectRevert(factory.predictSplit(recipients, bps), factory, 'InvalidSplit', [reason]);
    }
    const many = freshRecipients(101);
    const shares = many.map((_, i) => (i === 0 ? 10_000 - 100 : 1));
    await expectRevert(factory.createSplit(many, shares), factory, 'InvalidSplit', ['more than 100 recipients']);
    // 100 is allowed.
    const hundred = freshRecipients(100);
    await mined(factory.createSplit(hundred, hundred.map(() => 100)));
  });

  it('keeps the implementation itself out of use: it holds no shares', async () => {
    const implementation = await chain.at<'recipients' | 'release(address)'>('VezaSplit', (await factory.implementation()) as string);
    const [a] = freshRecipients(1) as [string];
    await expectRevert(implementation.recipients(), implementation, 'InvalidSplit', ['not a split']);
    await expectRevert(implementation['release(address)'](a), implementation, 'InvalidSplit', ['not a split']);
  });

  it('reports each share, 0 for anyone else', async () => {
    const recipients = freshRecipients(10);
    const bps = [100, 200, 300, 400, 500, 600, 700, 800, 900, 5500];
    const split = await createSplit(recipients, bps);
    for (const [i, r] of recipients.entries()) expect(await split.shareOf(r)).toBe(BigInt(bps[i]!));
    expect(await split.shareOf(ZeroAddress)).toBe(0n);
    expect(await split.shareOf('0xffffffffffffffffffffffffffffffffffffffff')).toBe(0n);
    const [r, b] = (await split.recipients()) as [string[], bigint[]];
    expect([...r]).toEqual(recipients);
    expect([...b]).toEqual(bps.map(BigInt));
  });
});

describe('VezaSplit: ETH', () => {
  it('pays each recipient its share of an odd amount to the wei, rounding down, and never more than received', async () => {
    const recipients = freshRecipients(3);
    const split = await createSplit(recipients, [3333, 3333, 3334]);
    const address = await split.getAddress();
    await pay(address, 1_000_000_000_000_000_001n);
    // floor(1e18+1 × 3333 / 10000) = 333300000000000000 (the fraction .3333 dropped), 3334 → 333400000000000000.
    const expected = [333_300_000_000_000_000n, 333_300_000_000_000_000n, 333_400_000_000_000_000n];
    for (const [i, r] of recipients.entries()) expect(await split['releasable(address)'](r)).toBe(expected[i]);
    for (const r of recipients) await mined(split['release(address)'](r));
    for (const [i, r] of recipients.entries()) {
      expect(await chain.provider.getBalance(r)).toBe(expected[i]);
      expect(await split['released(address)'](r)).toBe(expected[i]);
    }
    // The one wei left over stays in the split, owed to nobody yet.
    expect(await chain.provider.getBalance(address)).toBe(1n);
    for (const r of recipients) await expectRevert(split['release(address)'](r), split, 'NothingToRelease', [r]);

    // It counts towards the next payment: 9999 more wei make the total a multiple of 10000.
    await pay(address, 9_999n);
    const more = [3333n, 3333n, 3334n];
    for (const [i, r] of recipients.entries()) expect(await split['releasable(address)'](r)).toBe(more[i]);
    for (const r of recipients) await mined(split['release(address)'](r));
    for (const [i, r] of recipients.entries()) expect(await chain.provider.getBalance(r)).toBe(expected[i]! + more[i]!);
    expect(await chain.provider.getBalance(address)).toBe(0n);
  });

  it('owes nothing on a single wei among three, and pays it once enough arrives', async () => {
    const recipients = freshRecipients(3);
    const split = await createSplit(recipients, [1, 4999, 5000]);
    const address = await split.getAddress();
    await pay(address, 1n);
    for (const r of recipients) expect(await split['releasable(address)'](r)).toBe(0n);
    await pay(address, 1n);
    // Total 2 wei: 5000 bps of 2 = 1 wei to the last; 4999 bps → 0.9998 → 0.
    expect(await split['releasable(address)'](recipients[2]!)).toBe(1n);
    expect(await split['releasable(address)'](recipients[1]!)).toBe(0n);
  });

  it('pays each share independently of when the others release, emitting PaymentReleased', async () => {
    const recipients = freshRecipients(2);
    const split = await createSplit(recipients, [2000, 8000]);
    const address = await split.getAddress();
    const [a, b] = recipients as [string, string];
    await pay(address, 1000n);
    const receipt = await mined(split['release(address)'](a));
    const event = receipt.logs.map((l) => split.interface.parseLog(l)).find((l) => l?.name === 'PaymentReleased')!;
    expect([...event.args]).toEqual([a, 200n]);
    await pay(address, 1001n);
    // a: floor(2001 × 0.2) − 200 = 200; b: floor(2001 × 0.8) = 1600.
    expect(await split['releasable(address)'](a)).toBe(200n);
    await mined(split['release(address)'](b));
    await mined(split['release(address)'](a));
    expect(await chain.provider.getBalance(a)).toBe(400n);
    expect(await chain.provider.getBalance(b)).toBe(1600n);
    expect(await chain.provider.getBalance(address)).toBe(1n);
  });

  it('refuses a non-recipient and a recipient that refuses the payment', async () => {
    const [outsider] = freshRecipients(1) as [string];
    const wallet = (await chain.deploy('TestWallet')) as Wallet;
    const walletAddress = await wallet.getAddress();
    const others = freshRecipients(1);
    const recipients = [...others, walletAddress].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1));
    const split = await createSplit(recipients, [5000, 5000]);
    await pay(await split.getAddress(), 100n);
    await expectRevert(split['release(address)'](outsider), split, 'NotARecipient', [outsider]);
    await expectRevert(split['release(address,address)'](await token.getAddress(), outsider), split, 'NotARecipient', [outsider]);
    await mined(wallet.setRefuseEth(true));
    await expectRevert(split['release(address)'](walletAddress), split, 'TransferFailed', []);
    await mined(wallet.setRefuseEth(false));
    await mined(split['release(address)'](walletAddress));
    expect(await chain.provider.getBalance(walletAddress)).toBe(50n);
  });
});

describe('VezaSplit: ERC-20', () => {
  it('pays each recipient its share of the token, to the unit, with ERC20PaymentReleased', async () => {
    const recipients = freshRecipients(3);
    const split = await createSplit(recipients, [1000, 2500, 6500]);
    const address = await split.getAddress();
    const tokenAddress = await token.getAddress();
    await mined(token.mint(address, 123_456_789n));
    // floor(123456789 × 0.1) = 12345678; × 0.25 = 30864197; × 0.65 = 80246912; sum 123456787, 2 left.
    const expected = [12_345_678n, 30_864_197n, 80_246_912n];
    for (const [i, r] of recipients.entries()) expect(await split['releasable(address,address)'](tokenAddress, r)).toBe(expected[i]);
    const receipt = await mined(split['release(address,address)'](tokenAddress, recipients[0]!));
    const event = receipt.logs.map((l) => split.interface.parseLog(l)).find((l) => l?.name === 'ERC20PaymentReleased')!;
    expect([...event.args]).toEqual([tokenAddress, recipients[0], 12_345_678n]);
    await mined(split['release(address,address)'](tokenAddress, recipients[1]!));
    await mined(split['release(address,address)'](tokenAddress, recipients[2]!));
    for (const [i, r] of recipients.entries()) expect(await token.balanceOf(r)).toBe(expected[i]);
    expect(await token.balanceOf(address)).toBe(2n);
    await expectRevert(split['release(address,address)'](tokenAddress, recipients[2]!), split, 'NothingToRelease', [recipients[2]]);
    // ETH and token accounts are separate: no ETH was received.
    await expectRevert(split['release(address)'](recipients[0]!), split, 'NothingToRelease', [recipients[0]]);
  });
});
