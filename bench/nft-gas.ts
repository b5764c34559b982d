// Gas used by each operation of the digital-ownership contracts, measured on a fresh local anvil chain
// (the receipts' gasUsed, which includes the 21,000 of every transaction). Each row is one transaction
// in a realistic state: the first mint of an edition writes new storage, so it is measured apart from
// a later one; a buy pays its royalty to a VezaSplit; a release is a recipient's first.
// Usage: npm run bench:nft-gas
import { Wallet as EthersWallet, type ContractTransactionResponse, type HDNodeWallet } from 'ethers';
import { loadArtifact } from '../src/nft/chain/artifacts.js';
import { mined, start, type Deployed } from '../test/helpers/anvil.js';

const ETH = '0x0000000000000000000000000000000000000000';
const rows: { operation: string; gas: bigint; note: string }[] = [];

async function measure(operation: string, tx: Promise<ContractTransactionResponse>, note = ''): Promise<void> {
  const receipt = await mined(tx);
  rows.push({ operation, gas: receipt.gasUsed, note });
}

function sortedRandom(n: number): string[] {
  return Array.from({ length: n }, () => EthersWallet.createRandom().address).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
}

function evenShares(n: number): number[] {
  const base = Math.floor(10_000 / n);
  return Array.from({ length: n }, (_, i) => (i === 0 ? 10_000 - base * (n - 1) : base));
}

const chain = await start();
try {
  const [, creator, seller, buyer] = chain.accounts as [HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet];
  const editions = await chain.deploy<'createEdition' | 'mint' | 'mintWithVoucher' | 'setApprovalForAll' | 'mintTo'>('VezaEditions');
  const records = await chain.deploy<'mintRecord'>('VezaRecords');
  const factory = await chain.deploy<'createSplit' | 'predictSplit'>('SplitFactory');
  const market = await chain.deploy<'list' | 'buy' | 'cancel'>('VezaMarket');
  const registry = await chain.deploy<'setLicence'>('LicenceRegistry');
  const token = await chain.deploy<'mint'>('TestToken');
  const editionsAddress = await editions.getAddress();
  const marketAddress = await market.getAddress();
  const connect = <T extends Deployed<string>>(c: T, w: HDNodeWallet) => c.connect(w) as T;

  // Splits.
  const two = sortedRandom(2);
  await measure('createSplit (2 recipients)', factory.createSplit(two, evenShares(2)));
  await measure('createSplit (3 recipients)', factory.createSplit(sortedRandom(3), evenShares(3)));
  await measure('createSplit (10 recipients)', factory.createSplit(sortedRandom(10), evenShares(10)));
  await measure('createSplit (existing, returns it)', factory.createSplit(two, evenShares(2)));
  const split = (await factory.predictSplit(two, evenShares(2))) as string;

  // Editions.
  await measure('createEdition', editions.createEdition(creator.address, split, 1000, 0, 0, 1_000_000_000_000_000n, 1000, 'ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'));
  await measure('mint (1, first of the edition)', connect(editions, buyer).mint(buyer.address, 1, 1, { value: 1_000_000_000_000_000n }), "price paid to a split; the buyer's balance and the minted count start from zero");
  await measure('mint (1)', connect(editions, buyer).mint(buyer.address, 1, 1, { value: 1_000_000_000_000_000n }), 'price paid to a split');
  await measure('mint (10)', connect(editions, buyer).mint(buyer.address, 1, 10, { value: 10_000_000_000_000_000n }), 'one balance written whatever the amount');
  await measure('mintTo (5, operator)', editions.mintTo(seller.address, 1, 5), 'free copies for the seller');

  const voucher = {
    creator: creator.address,
    payoutTo: split,
    maxSupply: 100n,
    mintStart: 0n,
    mintEnd: 0n,
    price: 1_000_000_000_000_000n,
    royaltyBps: 1000n,
    uri: 'ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi',
    nonce: 1n,
    deadline: BigInt((await chain.now()) + 3600),
  };
  const types = {
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
  const signature = await creator.signTypedData({ name: 'VezaEditions', version: '1', chainId: 31337, verifyingContract: editionsAddress }, types, voucher);
  await measure('mintWithVoucher (1)', connect(editions, buyer).mintWithVoucher(voucher, signature, buyer.address, 1, { value: voucher.price }), 'creates the edition, then mints');

  // Records.
  await measure('mintRecord', records.mintRecord(creator.address, split, 1000, 'ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'));

  // Market: the seller holds 5 copies of edition 1 (royalty 10 % to the split).
  await mined(connect(editions, seller).setApprovalForAll(marketAddress, true));
  await measure('list (ERC-1155, ETH)', connect(market, seller).list(editionsAddress, 1, 3, ETH, 2_000_000_000_000_000n));
  await measure('buy (1, ETH, royalty to a split)', connect(market, buyer).buy(1, 1, { value: 2_000_000_000_000_000n }), 'royalty + seller paid');
  await measure('cancel', connect(market, seller).cancel(1));
  const tokenAddress = await token.getAddress();
  await mined(connect(market, seller).list(editionsAddress, 1, 1, tokenAddress, 1_000_000n));
  await mined(token.mint(buyer.address, 1_000_000n));
  const tokenAsBuyer = (await chain.at<'approve'>('TestToken', tokenAddress, buyer)) as Deployed<'approve'>;
  await mined(tokenAsBuyer.approve(marketAddress, 1_000_000n));
  await measure('buy (1, ERC-20, royalty to a split)', connect(market, buyer).buy(2, 1), 'two transferFrom');

  // Releases from the split (it now holds ETH royalties and prices, and ERC-20 royalties).
  const splitContract = await chain.at<'release(address)' | 'release(address,address)'>('VezaSplit', split);
  await measure('release (ETH)', splitContract['release(address)'](two[0]!), "a recipient's first");
  await measure('release (ERC-20)', splitContract['release(address,address)'](tokenAddress, two[0]!), "a recipient's first");

  // Licence.
  const hash = `0x${'ab'.repeat(32)}`;
  await measure('setLicence', registry.setLicence(editionsAddress, 1, 1 | 2 | 4, hash, hash), 'first licence of the token');

  const artifact = await loadArtifact('VezaEditions');
  const width = Math.max(...rows.map((r) => r.operation.length));
  console.log(`solc ${artifact.compiler.version}, evm ${artifact.compiler.evmVersion}, optimizer 200 runs; anvil, fresh chain\n`);
  console.log(`| ${'operation'.padEnd(width)} | gas used | note |`);
  console.log(`|${'-'.repeat(width + 2)}|---:|---|`);
  for (const r of rows) console.log(`| ${r.operation.padEnd(width)} | ${r.gas.toLocaleString('en-US').padStart(8)} | ${r.note} |`);
} finally {
  await chain.stop();
}
