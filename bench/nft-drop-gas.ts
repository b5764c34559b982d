// Gas of what the service sends for the new kinds of drop, through the chain API the NFT module uses
// (openChain on the local development chain, the custodial wallets, the Sender): a drop with stems
// (one edition and one licence per track beside the master's), a 1/1 record, a lazy drop (the
// voucher signed off chain, then redeemed by the first buyer), and a sale priced in an ERC-20 (the
// buyer's approval, the buy, each collaborator's release of the token). Each row is one transaction's
// receipt gasUsed (with the 21,000 base); the sums are per drop as the mint sends it.
// Usage: npm run bench:nft-drop-gas
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { openChain, type OpenedChain } from '../src/nft/chain/index.js';
import { cidOf } from '../src/nft/content.js';

/** A metadata uri as the mint writes it: ipfs:// and a real CIDv1 (59 characters). */
const uriOf = (label: string) => `ipfs://${cidOf(Buffer.from(label))}`;

const rows: { operation: string; gas: bigint; note: string }[] = [];
const add = (operation: string, gas: bigint, note = '') => void rows.push({ operation, gas, note });

/** The gas of every transaction `from` sent in the blocks after `after` (a step that sends more than one). */
async function gasSentBy(chain: OpenedChain, from: string, after: number): Promise<bigint[]> {
  const head = await chain.provider.getBlockNumber();
  const used: bigint[] = [];
  for (let n = after + 1; n <= head; n++) {
    const block = await chain.provider.getBlock(n, true);
    for (const tx of block?.prefetchedTransactions ?? []) {
      if (tx.from.toLowerCase() !== from.toLowerCase()) continue;
      used.push((await chain.provider.getTransactionReceipt(tx.hash))!.gasUsed);
    }
  }
  return used;
}

const dir = mkdtempSync(path.join(tmpdir(), 'veza-nft-drop-gas-'));
const chain = await openChain(loadConfig({}).nft, { dataDir: dir, dev: true }, pino({ level: 'silent' }));
try {
  const [ana, ben, cal] = ['ana', 'ben', 'cal'].map((userId) => ({ tenantId: 'bench', userId }));
  const wallet = (o: { tenantId: string; userId: string }) => chain.walletOf(o.tenantId, o.userId);
  for (const o of [ana!, ben!, cal!]) await chain.fund(wallet(o), 10n ** 18n);
  const { split, tx: splitTx } = await chain.createSplit([{ address: wallet(ana!), bps: 5000 }, { address: wallet(ben!), bps: 5000 }]);
  add('createSplit (2 recipients)', splitTx!.gasUsed, 'every drop');
  const hash = `0x${'ab'.repeat(32)}`;
  const edition = (uri: string) => chain.createEdition({ creator: wallet(ana!), payoutTo: split, maxSupply: 10, priceWei: 10n ** 15n, royaltyBps: 1000, uri });

  // A drop with stems: the master, then one edition and one licence per track.
  const master = await edition(uriOf('master'));
  add('createEdition (master)', master.tx.gasUsed);
  const stems = [await edition(uriOf('stem1')), await edition(uriOf('stem2'))];
  for (const [i, s] of stems.entries()) add(`createEdition (stem ${i + 1})`, s.tx.gasUsed, 'same split, own metadata uri');
  const licences = [];
  for (const t of [master, ...stems]) licences.push(await chain.setLicence({ token: 'editions', tokenId: t.tokenId, terms: 1, audioHash: hash, stateHash: hash }));
  for (const [i, l] of licences.entries()) add(i === 0 ? 'setLicence (master)' : `setLicence (stem ${i})`, l.gasUsed);
  const copies = [await chain.mintTo(wallet(ana!), master.tokenId, 1), await chain.mintTo(wallet(ben!), master.tokenId, 1)];
  for (const [i, c] of copies.entries()) add(`mintTo (collaborator ${i + 1}'s copy)`, c.gasUsed);
  const stemsTotal = [master.tx, ...stems.map((s) => s.tx), ...licences, ...copies].reduce((n, t) => n + t.gasUsed, 0n);
  const plainTotal = [master.tx, licences[0]!, ...copies].reduce((n, t) => n + t.gasUsed, 0n);

  // A 1/1 record.
  const record = await chain.mintRecord({ to: wallet(ana!), payoutTo: split, royaltyBps: 1000, uri: uriOf('record') });
  add('mintRecord (to the proposer)', record.tx.gasUsed);
  const recordLicence = await chain.setLicence({ token: 'records', tokenId: record.tokenId, terms: 1, audioHash: hash, stateHash: hash });
  add('setLicence (record)', recordLicence.gasUsed);

  // A lazy drop: signing sends nothing; the buyer's redemption creates the edition and mints.
  const started = performance.now();
  const signed = await chain.signVoucher(ana!, { payoutTo: split, maxSupply: 10n, mintStart: 0n, mintEnd: 0n, price: 10n ** 15n, royaltyBps: 1000n, uri: uriOf('lazy'), deadline: BigInt(Math.floor(Date.now() / 1000) + 86_400) });
  const signMs = performance.now() - started;
  add('signVoucher (creator, off chain)', 0n, `no transaction; ${signMs.toFixed(0)} ms to sign and read the digest`);
  const redeemed = await chain.redeemVoucher(cal!, signed, 1);
  add('mintWithVoucher (first buyer, 1 copy)', redeemed.tx.gasUsed, 'creates the edition, then mints');
  const lazyLicence = await chain.setLicence({ token: 'editions', tokenId: redeemed.tokenId, terms: 1, audioHash: hash, stateHash: hash });
  add('setLicence (after the redemption, operator)', lazyLicence.gasUsed);

  // An ERC-20 listing: the seller's approval of the market (once) and the listing, the buyer's approval and buy, the releases.
  const vtt = await chain.testCurrency();
  await chain.fundTokens(vtt, wallet(cal!), 1_000_000n);
  let from = await chain.provider.getBlockNumber();
  const listed = await chain.list(ben!, { token: 'editions', tokenId: master.tokenId, amount: 1, priceWei: 12_345n, currency: vtt });
  const [approval] = await gasSentBy(chain, wallet(ben!), from);
  add('setApprovalForAll (seller, first listing)', approval!, 'once per wallet and token contract');
  add('list (ERC-20 price)', listed.tx.gasUsed);
  from = await chain.provider.getBlockNumber();
  await chain.buy(cal!, listed.listingId, 1);
  const [approve, buy] = await gasSentBy(chain, wallet(cal!), from);
  add('approve (buyer, the exact price)', approve!);
  add('buy (1, ERC-20, royalty to the split)', buy!);
  for (const [i, who] of [ana!, ben!].entries()) {
    const owed = await chain.releasableTokens(split, vtt, wallet(who));
    const released = await chain.releaseTokensFromSplit(split, vtt, wallet(who));
    add(`release (ERC-20, collaborator ${i + 1})`, released.gasUsed, `${owed} units of 1,234 royalty`);
  }

  const width = Math.max(...rows.map((r) => r.operation.length));
  console.log(`| ${'operation'.padEnd(width)} | gas used | note |`);
  console.log(`|${'-'.repeat(width + 2)}|---:|---|`);
  for (const r of rows) console.log(`| ${r.operation.padEnd(width)} | ${r.gas.toLocaleString('en-US').padStart(8)} | ${r.note} |`);
  console.log(`\nA drop of the mix with two stems: ${stemsTotal.toLocaleString('en-US')} gas after the split (the mix alone: ${plainTotal.toLocaleString('en-US')}).`);
} finally {
  await chain.close();
  rmSync(dir, { recursive: true, force: true });
}
