// The chain API over ethers: the operator signs what the platform does (contracts, editions,
// records, licences, releases from splits), each user's custodial wallet what the user does (mint,
// list, buy, cancel). Every send goes through the Sender (one queue per wallet, reverts decoded into
// ChainRefusal, funds checked before signing).
import { Contract, getAddress, randomBytes, toBigInt, ZeroAddress, type HDNodeWallet, type Interface, type JsonRpcProvider, type Log, type Wallet, type WebSocketProvider } from 'ethers';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../log.js';
import type { ContractAddresses } from '../settings.js';
import { ChainRefusal } from './errors.js';
import type { Sender, TxResult } from './sender.js';
import type { ArtifactLoader } from './deploy.js';
import type { ChainInfo, Currency, OpenedChain, SignedVoucher, TokenContract, Voucher, WalletOwner } from './types.js';
import type { CustodialWallets } from './wallets.js';

type Signer = Wallet | HDNodeWallet;

export interface ChainParts {
  info: ChainInfo;
  provider: JsonRpcProvider | WebSocketProvider;
  operator: Signer;
  wallets: CustodialWallets;
  sender: Sender;
  interfaces: OpenedChain['interfaces'];
  confirmations: number;
  pollMs: number;
  deployedAt: number;
  logger: Logger;
  /** Stops what runs beside the chain (the local chain's process). */
  stop: () => Promise<void>;
  /** How compiled contracts are read (the local chain's test currency is deployed from it). */
  load?: ArtifactLoader;
  /** The chain's folder in the data directory (the local chain's test currency is recorded there). */
  nftDir?: string;
}

/** What the API needs of an ERC-20: its name, decimals, balances, allowances, and the test token's mint. */
const ERC20 = [
  'function symbol() view returns (string)',
  'function decimals() view returns (uint8)',
  'function balanceOf(address) view returns (uint256)',
  'function allowance(address owner, address spender) view returns (uint256)',
  'function approve(address spender, uint256 amount) returns (bool)',
  'function mint(address to, uint256 amount)',
];

/** The EIP-712 type of a VezaEditions voucher (the contract's VOUCHER_TYPEHASH). */
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

const HASH = /^(0x)?[0-9a-fA-F]{64}$/;

/** A voucher as the contract's `Voucher` tuple takes it. */
function voucherTuple(v: Voucher): unknown[] {
  return [v.creator, v.payoutTo, v.maxSupply, v.mintStart, v.mintEnd, v.price, v.royaltyBps, v.uri, v.nonce, v.deadline];
}

function bytes32(value: string, what: string): string {
  if (!HASH.test(value)) throw new TypeError(`${what} must be 32 bytes in hex (64 hex digits)`);
  return value.startsWith('0x') ? value.toLowerCase() : `0x${value.toLowerCase()}`;
}

function positive(value: number, what: string): bigint {
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`${what} must be a whole number ≥ 0`);
  return BigInt(value);
}

export class EthersChain implements OpenedChain {
  readonly provider: JsonRpcProvider | WebSocketProvider;
  readonly interfaces: OpenedChain['interfaces'];
  readonly contracts: OpenedChain['contracts'];
  readonly confirmations: number;
  readonly pollMs: number;
  readonly deployedAt: number;
  private closed: Promise<void> | null = null;
  private devToken: Promise<string> | null = null;

  constructor(private readonly parts: ChainParts) {
    this.provider = parts.provider;
    this.interfaces = parts.interfaces;
    this.confirmations = parts.confirmations;
    this.pollMs = parts.pollMs;
    this.deployedAt = parts.deployedAt;
    const at = (key: keyof ContractAddresses) => new Contract(parts.info.contracts[key], parts.interfaces[key], parts.provider);
    this.contracts = { editions: at('editions'), records: at('records'), splitFactory: at('splitFactory'), market: at('market'), licences: at('licences') };
  }

  info(): ChainInfo {
    return { ...this.parts.info, contracts: { ...this.parts.info.contracts } };
  }

  walletOf(tenantId: string, userId: string): string {
    return this.parts.wallets.address(tenantId, userId);
  }

  balanceOf(address: string): Promise<bigint> {
    return this.provider.getBalance(getAddress(address));
  }

  async fund(address: string, wei: bigint): Promise<TxResult> {
    if (!this.parts.info.local) throw new Error('test ETH is only sent on the local development chain');
    if (wei <= 0n) throw new TypeError('the amount must be above 0 wei');
    return this.parts.sender.transfer(this.parts.operator, getAddress(address), wei);
  }

  async createSplit(recipients: { address: string; bps: number }[]): Promise<{ split: string; tx: TxResult | null }> {
    // The factory wants recipients strictly ascending by address; the order a caller gives means nothing.
    const sorted = recipients.map((r) => ({ address: getAddress(r.address), bps: r.bps })).sort((a, b) => (BigInt(a.address) < BigInt(b.address) ? -1 : BigInt(a.address) > BigInt(b.address) ? 1 : 0));
    const addresses = sorted.map((r) => r.address);
    const bps = sorted.map((r) => r.bps);
    const factory = this.contracts.splitFactory;
    const split = getAddress(await this.parts.sender.read(() => factory.getFunction('predictSplit').staticCall(addresses, bps) as Promise<string>));
    if ((await this.provider.getCode(split)) !== '0x') return { split, tx: null };
    const { tx } = await this.parts.sender.send(this.parts.operator, factory, 'createSplit', [addresses, bps]);
    return { split, tx };
  }

  async createEdition(e: { creator: string; payoutTo: string; maxSupply: number; mintStart?: number; mintEnd?: number; priceWei: bigint; royaltyBps: number; uri: string }): Promise<{ tokenId: bigint; tx: TxResult }> {
    const args = [getAddress(e.creator), getAddress(e.payoutTo), positive(e.maxSupply, 'maxSupply'), positive(e.mintStart ?? 0, 'mintStart'), positive(e.mintEnd ?? 0, 'mintEnd'), e.priceWei, positive(e.royaltyBps, 'royaltyBps'), e.uri];
    const { tx, receipt } = await this.parts.sender.send(this.parts.operator, this.contracts.editions, 'createEdition', args);
    return { tokenId: this.eventArg(receipt.logs, 'editions', 'EditionCreated', 'tokenId'), tx };
  }

  async mintRecord(r: { to: string; payoutTo: string; royaltyBps: number; uri: string }): Promise<{ tokenId: bigint; tx: TxResult }> {
    const args = [getAddress(r.to), getAddress(r.payoutTo), positive(r.royaltyBps, 'royaltyBps'), r.uri];
    const { tx, receipt } = await this.parts.sender.send(this.parts.operator, this.contracts.records, 'mintRecord', args);
    return { tokenId: this.eventArg(receipt.logs, 'records', 'RecordMinted', 'tokenId'), tx };
  }

  async mintEdition(buyer: WalletOwner, tokenId: bigint, amount: number): Promise<TxResult> {
    const wallet = this.parts.wallets.wallet(buyer.tenantId, buyer.userId);
    const edition = await this.parts.sender.read(() => this.contracts.editions.getFunction('edition').staticCall(tokenId) as Promise<{ price: bigint }>);
    const count = positive(amount, 'amount');
    const { tx } = await this.parts.sender.send(wallet, this.contracts.editions, 'mint', [wallet.address, tokenId, count], edition.price * count);
    return tx;
  }

  async mintTo(to: string, tokenId: bigint, amount: number): Promise<TxResult> {
    const { tx } = await this.parts.sender.send(this.parts.operator, this.contracts.editions, 'mintTo', [getAddress(to), tokenId, positive(amount, 'amount')]);
    return tx;
  }

  async list(seller: WalletOwner, l: { token: TokenContract; tokenId: bigint; amount: number; priceWei: bigint; currency?: string }): Promise<{ listingId: bigint; tx: TxResult }> {
    const wallet = this.parts.wallets.wallet(seller.tenantId, seller.userId);
    const token = this.tokenContract(l.token);
    const market = this.parts.info.contracts.market;
    const approved = await this.parts.sender.read(() => token.getFunction('isApprovedForAll').staticCall(wallet.address, market) as Promise<boolean>);
    if (!approved) await this.parts.sender.send(wallet, token, 'setApprovalForAll', [market, true]);
    const args = [this.parts.info.contracts[l.token], l.tokenId, positive(l.amount, 'amount'), l.currency ? getAddress(l.currency) : ZeroAddress, l.priceWei];
    const { tx, receipt } = await this.parts.sender.send(wallet, this.contracts.market, 'list', args);
    return { listingId: this.eventArg(receipt.logs, 'market', 'Listed', 'listingId'), tx };
  }

  async buy(buyer: WalletOwner, listingId: bigint, amount: number): Promise<TxResult> {
    const wallet = this.parts.wallets.wallet(buyer.tenantId, buyer.userId);
    const listing = await this.parts.sender.read(() => this.contracts.market.getFunction('listing').staticCall(listingId) as Promise<{ currency: string; pricePerUnit: bigint }>);
    const count = positive(amount, 'amount');
    const price = listing.pricePerUnit * count;
    if (listing.currency === ZeroAddress) {
      const { tx } = await this.parts.sender.send(wallet, this.contracts.market, 'buy', [listingId, count], price);
      return tx;
    }
    // An ERC-20 listing: the buyer's wallet holds the price and lets the market take exactly it, then buys.
    const token = this.erc20(listing.currency);
    const held = await this.parts.sender.read(() => token.getFunction('balanceOf').staticCall(wallet.address) as Promise<bigint>);
    if (held < price) throw new ChainRefusal('InsufficientTokens', [price, held, listing.currency]);
    const market = this.parts.info.contracts.market;
    const allowed = await this.parts.sender.read(() => token.getFunction('allowance').staticCall(wallet.address, market) as Promise<bigint>);
    if (allowed < price) await this.parts.sender.send(wallet, token, 'approve', [market, price]);
    const { tx } = await this.parts.sender.send(wallet, this.contracts.market, 'buy', [listingId, count]);
    return tx;
  }

  async currency(address: string): Promise<Currency> {
    if (getAddress(address) === ZeroAddress) return { address: ZeroAddress, symbol: 'ETH', decimals: 18 };
    const checksummed = getAddress(address);
    if ((await this.provider.getCode(checksummed)) === '0x') throw new ChainRefusal('UnsupportedCurrency', [checksummed]);
    const token = this.erc20(checksummed);
    try {
      const [symbol, decimals] = await Promise.all([token.getFunction('symbol').staticCall() as Promise<string>, token.getFunction('decimals').staticCall() as Promise<bigint>]);
      return { address: checksummed, symbol, decimals: Number(decimals) };
    } catch {
      throw new ChainRefusal('UnsupportedCurrency', [checksummed]);
    }
  }

  tokenBalance(currency: string, address: string): Promise<bigint> {
    return this.parts.sender.read(() => this.erc20(currency).getFunction('balanceOf').staticCall(getAddress(address)) as Promise<bigint>);
  }

  testCurrency(): Promise<string> {
    if (!this.parts.info.local) return Promise.reject(new Error('the test currency exists on the local development chain only'));
    return (this.devToken ??= this.deployTestCurrency().catch((error: unknown) => {
      this.devToken = null;
      throw error;
    }));
  }

  async fundTokens(currency: string, address: string, amount: bigint): Promise<TxResult> {
    if (!this.parts.info.local || getAddress(currency) !== (await this.testCurrency())) throw new Error('test tokens are only minted on the local development chain');
    const { tx } = await this.parts.sender.send(this.parts.operator, this.erc20(currency), 'mint', [getAddress(address), amount]);
    return tx;
  }

  async signVoucher(creator: WalletOwner, v: Omit<Voucher, 'creator' | 'nonce'> & { nonce?: bigint }): Promise<SignedVoucher> {
    const wallet = this.parts.wallets.wallet(creator.tenantId, creator.userId);
    const voucher: Voucher = { ...v, creator: wallet.address, payoutTo: getAddress(v.payoutTo), nonce: v.nonce ?? toBigInt(randomBytes(16)) };
    const domain = { name: 'VezaEditions', version: '1', chainId: this.parts.info.chainId, verifyingContract: this.parts.info.contracts.editions };
    // Signing spends no gas: the wallet signs the typed data, nothing is sent.
    const signature = await wallet.signTypedData(domain, VOUCHER_TYPES, voucher);
    const digest = await this.parts.sender.read(() => this.contracts.editions.getFunction('hashVoucher').staticCall(voucherTuple(voucher)) as Promise<string>);
    return { voucher, signature, digest };
  }

  async redeemVoucher(buyer: WalletOwner, signed: { voucher: Voucher; signature: string }, amount: number): Promise<{ tokenId: bigint; tx: TxResult }> {
    const wallet = this.parts.wallets.wallet(buyer.tenantId, buyer.userId);
    const count = positive(amount, 'amount');
    const args = [voucherTuple(signed.voucher), signed.signature, wallet.address, count];
    const { tx, receipt } = await this.parts.sender.send(wallet, this.contracts.editions, 'mintWithVoucher', args, signed.voucher.price * count);
    return { tokenId: this.eventArg(receipt.logs, 'editions', 'VoucherRedeemed', 'tokenId'), tx };
  }

  voucherTokenId(digest: string): Promise<bigint> {
    return this.parts.sender.read(() => this.contracts.editions.getFunction('voucherTokenId').staticCall(digest) as Promise<bigint>);
  }

  async releaseTokensFromSplit(split: string, currency: string, account: string): Promise<TxResult> {
    const { tx } = await this.parts.sender.send(this.parts.operator, this.split(split), 'release(address,address)', [getAddress(currency), getAddress(account)]);
    return tx;
  }

  releasableTokens(split: string, currency: string, account: string): Promise<bigint> {
    return this.parts.sender.read(() => this.split(split).getFunction('releasable(address,address)').staticCall(getAddress(currency), getAddress(account)) as Promise<bigint>);
  }

  /** Deploys the test ERC-20 (contracts/test/TestToken.sol) once per local chain; its address is kept beside the chain's state. */
  private async deployTestCurrency(): Promise<string> {
    const { load, nftDir } = { load: this.parts.load, nftDir: this.parts.nftDir };
    if (!load || !nftDir) throw new Error('the test currency cannot be deployed: no compiled contracts');
    const file = path.join(nftDir, 'test-currency.json');
    const recorded = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { chainId: number; address: string }) : null;
    if (recorded && recorded.chainId === this.parts.info.chainId && (await this.provider.getCode(recorded.address)) !== '0x') return getAddress(recorded.address);
    const { abi, bytecode } = await load('TestToken');
    const address = getAddress((await this.parts.sender.deploy(this.parts.operator, abi, bytecode)).address);
    mkdirSync(nftDir, { recursive: true });
    writeFileSync(file, JSON.stringify({ chainId: this.parts.info.chainId, address }));
    this.parts.logger.info({ address }, 'test currency deployed on the local chain');
    return address;
  }

  private erc20(address: string): Contract {
    return new Contract(getAddress(address), ERC20, this.provider);
  }

  async cancel(seller: WalletOwner, listingId: bigint): Promise<TxResult> {
    const wallet = this.parts.wallets.wallet(seller.tenantId, seller.userId);
    const { tx } = await this.parts.sender.send(wallet, this.contracts.market, 'cancel', [listingId]);
    return tx;
  }

  async releaseFromSplit(split: string, account: string): Promise<TxResult> {
    const { tx } = await this.parts.sender.send(this.parts.operator, this.split(split), 'release(address)', [getAddress(account)]);
    return tx;
  }

  releasable(split: string, account: string): Promise<bigint> {
    return this.parts.sender.read(() => this.split(split).getFunction('releasable(address)').staticCall(getAddress(account)) as Promise<bigint>);
  }

  async setLicence(l: { token: TokenContract; tokenId: bigint; terms: number; audioHash: string; stateHash: string }): Promise<TxResult> {
    if (!Number.isInteger(l.terms) || l.terms < 0 || l.terms > 255) throw new TypeError('terms must be a bit set from 0 to 255');
    const args = [this.parts.info.contracts[l.token], l.tokenId, l.terms, bytes32(l.audioHash, 'audioHash'), bytes32(l.stateHash, 'stateHash')];
    const { tx } = await this.parts.sender.send(this.parts.operator, this.contracts.licences, 'setLicence', args);
    return tx;
  }

  async licenceOf(token: TokenContract, tokenId: bigint): Promise<{ terms: number; audioHash: string; stateHash: string; setAt: number } | null> {
    const [terms, audioHash, stateHash, setAt] = await this.parts.sender.read(
      () => this.contracts.licences.getFunction('licenceOf').staticCall(this.parts.info.contracts[token], tokenId) as Promise<[bigint, string, string, bigint]>,
    );
    if (setAt === 0n) return null;
    return { terms: Number(terms), audioHash, stateHash, setAt: Number(setAt) };
  }

  close(): Promise<void> {
    return (this.closed ??= (async () => {
      this.provider.destroy();
      await this.parts.stop();
    })());
  }

  private tokenContract(token: TokenContract): Contract {
    if (token !== 'editions' && token !== 'records') throw new TypeError(`token must be editions or records, not ${JSON.stringify(token)}`);
    return this.contracts[token];
  }

  private split(address: string): Contract {
    return new Contract(getAddress(address), this.interfaces.split, this.provider);
  }

  /** An argument of the first `event` the contract `key` logged in a receipt. */
  private eventArg(logs: readonly Log[], key: keyof ContractAddresses, event: string, arg: string): bigint {
    const address = this.parts.info.contracts[key].toLowerCase();
    const iface: Interface = this.interfaces[key];
    for (const log of logs) {
      if (log.address.toLowerCase() !== address) continue;
      const parsed = iface.parseLog(log);
      if (parsed?.name === event) return parsed.args.getValue(arg) as bigint;
    }
    throw new Error(`the transaction has no ${event} event`);
  }
}
