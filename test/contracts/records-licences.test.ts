import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZeroAddress, ZeroHash, sha256, toUtf8Bytes, type HDNodeWallet } from 'ethers';
import { CHAIN_SETUP_TIMEOUT, expectRevert, mined, start, type AnvilChain, type Deployed } from '../helpers/anvil.js';

type Records = Deployed<'mintRecord' | 'tokenURI' | 'ownerOf' | 'royaltyInfo' | 'creatorOf' | 'recordCount' | 'supportsInterface' | 'transferFrom' | 'MINTER_ROLE'>;
type Editions = Deployed<'createEdition'>;
type Registry = Deployed<'setLicence' | 'licenceOf' | 'grantRole' | 'MINTER_ROLE' | 'PERSONAL' | 'SYNC' | 'COMMERCIAL' | 'EXCLUSIVE'>;

const PERSONAL = 1;
const SYNC = 2;
const COMMERCIAL = 4;
const EXCLUSIVE = 8;

let chain: AnvilChain;
let records: Records;
let editions: Editions;
let registry: Registry;
let creator: HDNodeWallet;
let payout: HDNodeWallet;
let stranger: HDNodeWallet;

beforeAll(async () => {
  chain = await start();
  [, creator, payout, stranger] = chain.accounts as [HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet];
  records = await chain.deploy('VezaRecords');
  editions = await chain.deploy('VezaEditions');
  registry = await chain.deploy('LicenceRegistry');
}, CHAIN_SETUP_TIMEOUT);

afterAll(async () => {
  await chain?.stop();
});

function as<T extends Deployed<string>>(contract: T, wallet: HDNodeWallet): T {
  return contract.connect(wallet) as T;
}

async function mintRecord(to = creator.address, royaltyBps = 1000, uri = 'ipfs://record'): Promise<bigint> {
  const receipt = await mined(records.mintRecord(to, payout.address, royaltyBps, uri));
  return records.interface.parseLog(receipt.logs.find((l) => records.interface.parseLog(l)?.name === 'RecordMinted')!)!.args.tokenId as bigint;
}

describe('VezaRecords', () => {
  it('mints 1/1 records numbered 1, 2, 3 with their uri, royalty and RecordMinted event', async () => {
    const receipt = await mined(records.mintRecord(creator.address, payout.address, 1234, 'ipfs://bafy-record'));
    const event = receipt.logs.map((l) => records.interface.parseLog(l)).find((l) => l?.name === 'RecordMinted')!;
    expect([...event.args]).toEqual([1n, creator.address, payout.address, 1234n, 'ipfs://bafy-record']);
    expect(await records.ownerOf(1)).toBe(creator.address);
    expect(await records.tokenURI(1)).toBe('ipfs://bafy-record');
    expect([...(await records.royaltyInfo(1, 1_000_000n))]).toEqual([payout.address, 123_400n]);
    expect(await records.creatorOf(1)).toBe(creator.address);
    expect(await mintRecord()).toBe(2n);
    expect(await records.recordCount()).toBe(2n);
    for (const id of ['0x80ac58cd', '0x5b5e139f', '0x2a55205a', '0x7965db0b']) expect(await records.supportsInterface(id)).toBe(true);
  });

  it('refuses a royalty above 50 %, zero addresses, strangers and unknown tokens', async () => {
    await expectRevert(records.mintRecord(creator.address, payout.address, 5001, 'ipfs://x'), records, 'RoyaltyTooHigh', [5001n]);
    await expectRevert(records.mintRecord(ZeroAddress, payout.address, 0, 'ipfs://x'), records, 'ZeroAddress', []);
    await expectRevert(records.mintRecord(creator.address, ZeroAddress, 0, 'ipfs://x'), records, 'ZeroAddress', []);
    await expectRevert(as(records, stranger).mintRecord(stranger.address, payout.address, 0, 'ipfs://x'), records, 'AccessControlUnauthorizedAccount', [
      stranger.address,
      await records.MINTER_ROLE(),
    ]);
    await expectRevert(records.tokenURI(999), records, 'UnknownToken', [999n]);
    await expectRevert(records.creatorOf(999), records, 'UnknownToken', [999n]);
    await mintRecord(creator.address, 5000);
  });
});

describe('LicenceRegistry', () => {
  const audioHash = sha256(toUtf8Bytes('audio bytes'));
  const stateHash = sha256(toUtf8Bytes('yjs state update'));

  it('lets the record creator set a licence, even after selling the record, and reads it back', async () => {
    const id = await mintRecord();
    const recordsAddress = await records.getAddress();
    await mined(as(records, creator).transferFrom(creator.address, stranger.address, id));
    const receipt = await mined(as(registry, creator).setLicence(recordsAddress, id, PERSONAL | SYNC, audioHash, stateHash));
    const block = await chain.provider.getBlock(receipt.blockNumber);
    const event = registry.interface.parseLog(receipt.logs[0]!)!;
    expect(event.name).toBe('LicenceSet');
    expect([...event.args]).toEqual([recordsAddress, id, 3n, audioHash, stateHash]);
    expect([...(await registry.licenceOf(recordsAddress, id))]).toEqual([3n, audioHash, stateHash, BigInt(block!.timestamp)]);
    // The new owner is not the creator.
    await expectRevert(as(registry, stranger).setLicence(recordsAddress, id, PERSONAL, audioHash, stateHash), registry, 'NotLicensor', [stranger.address]);
  });

  it('lets an edition creator and the operator (MINTER_ROLE) set licences; a licence set again replaces the last', async () => {
    const receipt = await mined(editions.createEdition(creator.address, payout.address, 0, 0, 0, 0n, 0, 'ipfs://e'));
    const id = editions.interface.parseLog(receipt.logs.find((l) => editions.interface.parseLog(l)?.name === 'EditionCreated')!)!.args.tokenId as bigint;
    const editionsAddress = await editions.getAddress();
    await mined(as(registry, creator).setLicence(editionsAddress, id, COMMERCIAL, audioHash, stateHash));
    await mined(registry.setLicence(editionsAddress, id, COMMERCIAL | EXCLUSIVE, audioHash, ZeroHash));
    const [terms, a, s] = (await registry.licenceOf(editionsAddress, id)) as [bigint, string, string, bigint];
    expect([terms, a, s]).toEqual([12n, audioHash, ZeroHash]);
    await expectRevert(as(registry, stranger).setLicence(editionsAddress, id, PERSONAL, audioHash, stateHash), registry, 'NotLicensor', [stranger.address]);
    await mined(registry.grantRole(await registry.MINTER_ROLE(), stranger.address));
    await mined(as(registry, stranger).setLicence(editionsAddress, id, PERSONAL, audioHash, stateHash));
    expect((await registry.licenceOf(editionsAddress, id))[0]).toBe(1n);
  });

  it('refuses invalid terms: none, unknown bits, EXCLUSIVE without COMMERCIAL', async () => {
    const id = await mintRecord();
    const recordsAddress = await records.getAddress();
    for (const terms of [0, 16, 255, EXCLUSIVE, EXCLUSIVE | PERSONAL | SYNC]) {
      await expectRevert(as(registry, creator).setLicence(recordsAddress, id, terms, audioHash, stateHash), registry, 'InvalidTerms', [BigInt(terms)]);
    }
    await mined(as(registry, creator).setLicence(recordsAddress, id, PERSONAL | SYNC | COMMERCIAL | EXCLUSIVE, audioHash, stateHash));
  });

  it('refuses unknown tokens: an id the contract never minted, a contract without creators, an account', async () => {
    await expectRevert(registry.setLicence(await records.getAddress(), 999, PERSONAL, audioHash, stateHash), registry, 'UnknownToken', [999n]);
    await expectRevert(registry.setLicence(await registry.getAddress(), 1, PERSONAL, audioHash, stateHash), registry, 'UnknownToken', [1n]);
    await expectRevert(registry.setLicence(stranger.address, 1, PERSONAL, audioHash, stateHash), registry, 'UnknownToken', [1n]);
    expect([...(await registry.licenceOf(await records.getAddress(), 999))]).toEqual([0n, ZeroHash, ZeroHash, 0n]);
  });

  it('exposes the term bits', async () => {
    expect([await registry.PERSONAL(), await registry.SYNC(), await registry.COMMERCIAL(), await registry.EXCLUSIVE()]).toEqual([1n, 2n, 4n, 8n]);
  });
});
