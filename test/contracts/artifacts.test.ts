import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Interface } from 'ethers';
import { buildContracts, loadArtifact } from '../../src/nft/chain/artifacts.js';
import { CHAIN_SETUP_TIMEOUT } from '../helpers/anvil.js';

const root = path.resolve(import.meta.dirname, '../..');

/** The agreed interface between the contracts and the code that calls them: every entry must exist. */
const AGREED: Record<string, { functions: string[]; events: string[]; errors: string[] }> = {
  VezaEditions: {
    functions: [
      'createEdition(address,address,uint64,uint64,uint64,uint256,uint96,string)',
      'mint(address,uint256,uint256)',
      'mintTo(address,uint256,uint256)',
      'edition(uint256)',
      'mintWithVoucher((address,address,uint64,uint64,uint64,uint256,uint96,string,uint256,uint256),bytes,address,uint256)',
      'voucherTokenId(bytes32)',
      'hashVoucher((address,address,uint64,uint64,uint64,uint256,uint96,string,uint256,uint256))',
      'uri(uint256)',
      'royaltyInfo(uint256,uint256)',
      'MINTER_ROLE()',
      'MAX_ROYALTY_BPS()',
    ],
    events: [
      'EditionCreated(uint256,address,address,uint64,uint64,uint64,uint256,uint96,string)',
      'EditionMinted(uint256,address,uint256,uint256)',
      'VoucherRedeemed(bytes32,uint256)',
    ],
    errors: [
      'SoldOut(uint256,uint256)',
      'MintNotStarted(uint256,uint64)',
      'MintEnded(uint256,uint64)',
      'WrongPayment(uint256,uint256)',
      'UnknownToken(uint256)',
      'RoyaltyTooHigh(uint96)',
      'ZeroAmount()',
      'InvalidSignature()',
      'VoucherExpired(uint256)',
      'VoucherAlreadyUsed(bytes32)',
      'InvalidWindow(uint64,uint64)',
      'ZeroAddress()',
    ],
  },
  VezaRecords: {
    functions: ['mintRecord(address,address,uint96,string)', 'tokenURI(uint256)', 'royaltyInfo(uint256,uint256)', 'MINTER_ROLE()'],
    events: ['RecordMinted(uint256,address,address,uint96,string)'],
    errors: ['RoyaltyTooHigh(uint96)', 'ZeroAddress()'],
  },
  SplitFactory: {
    functions: ['createSplit(address[],uint32[])', 'predictSplit(address[],uint32[])'],
    events: ['SplitCreated(address,address[],uint32[])'],
    errors: ['InvalidSplit(string)'],
  },
  VezaSplit: {
    functions: ['releasable(address)', 'releasable(address,address)', 'release(address)', 'release(address,address)', 'recipients()'],
    events: ['PaymentReleased(address,uint256)', 'ERC20PaymentReleased(address,address,uint256)'],
    errors: ['InvalidSplit(string)', 'NotARecipient(address)', 'NothingToRelease(address)', 'TransferFailed()'],
  },
  VezaMarket: {
    functions: ['list(address,uint256,uint256,address,uint256)', 'buy(uint256,uint256)', 'cancel(uint256)', 'listing(uint256)'],
    events: ['Listed(uint256,address,address,uint256,uint256,address,uint256)', 'Sold(uint256,address,uint256,uint256,address,uint256)', 'Cancelled(uint256)'],
    errors: [
      'NotSeller(uint256)',
      'ListingNotActive(uint256)',
      'NotEnoughListed(uint256)',
      'WrongPayment(uint256,uint256)',
      'NotApproved()',
      'ZeroAmount()',
      'ZeroPrice()',
      'TransferFailed()',
    ],
  },
  LicenceRegistry: {
    functions: ['setLicence(address,uint256,uint8,bytes32,bytes32)', 'licenceOf(address,uint256)', 'PERSONAL()', 'SYNC()', 'COMMERCIAL()', 'EXCLUSIVE()'],
    events: ['LicenceSet(address,uint256,uint8,bytes32,bytes32)'],
    errors: ['NotLicensor(address)', 'InvalidTerms(uint8)', 'UnknownToken(uint256)'],
  },
};

// On a fresh checkout the first load compiles the contracts.
beforeAll(() => buildContracts(), CHAIN_SETUP_TIMEOUT);

describe('loadArtifact', () => {
  it('returns each contract compiled by solc 0.8.30 for cancun, with the recorded source hash', async () => {
    const stamp = readFileSync(path.join(root, 'contracts/out/.source-hash'), 'utf8').trim();
    for (const name of [...Object.keys(AGREED), 'TestToken']) {
      const artifact = await loadArtifact(name);
      expect(artifact.contractName).toBe(name);
      expect(artifact.bytecode).toMatch(/^0x[0-9a-f]{100,}$/);
      expect(artifact.compiler.version).toMatch(/^0\.8\.30\+commit\./);
      expect(artifact.compiler.evmVersion).toBe('cancun');
      expect(artifact.sourceHash).toBe(stamp);
      expect(stamp).toContain(':oz-5.7.0:solc-0.8.30:');
    }
  });

  it('refuses unknown and malformed names', async () => {
    await expect(loadArtifact('NoSuchContract')).rejects.toThrow('no compiled contract named NoSuchContract');
    await expect(loadArtifact('../package')).rejects.toThrow('invalid contract name');
  });

  it('leaves compiled output alone when nothing changed', async () => {
    await loadArtifact('VezaEditions');
    const file = path.join(root, 'contracts/out/VezaEditions.json');
    const before = statSync(file).mtimeMs;
    const run = spawnSync(process.execPath, [path.join(root, 'scripts/build-contracts.mjs')], { cwd: root, encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/^contracts: compiled output up to date/);
    expect(statSync(file).mtimeMs).toBe(before);
  });
});

describe('the agreed interface', () => {
  for (const [name, agreed] of Object.entries(AGREED)) {
    it(`${name} has every agreed function, event and error`, async () => {
      const iface = new Interface((await loadArtifact(name)).abi);
      const functions = new Set<string>();
      const events = new Set<string>();
      const errors = new Set<string>();
      iface.forEachFunction((f) => functions.add(f.format('sighash')));
      iface.forEachEvent((e) => events.add(e.format('sighash')));
      iface.forEachError((e) => errors.add(e.format('sighash')));
      for (const f of agreed.functions) expect(functions, f).toContain(f);
      for (const e of agreed.events) expect(events, e).toContain(e);
      for (const e of agreed.errors) expect(errors, e).toContain(e);
    });
  }
});
