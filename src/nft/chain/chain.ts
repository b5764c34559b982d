// The chain API over ethers: the operator signs what the platform does (contracts, editions,
// records, licences, releases from splits), each user's custodial wallet what the user does (mint,
// list, buy, cancel). Every send goes through the Sender (one queue per wallet, reverts decoded into
// ChainRefusal, funds checked before signing).
import { Contract, getAddress, ZeroAddress, type HDNodeWallet, type Interface, type JsonRpcProvider, type Log, type Wallet, type WebSocketProvider } from 'ethers';
import type { Logger } from '../../log.js';
import type { ContractAddresses } from '../settings.js';
import { ChainRefusal } from './errors.js';
import type { Sender, TxResult } from './sender.js';
import type { ChainInfo, OpenedChain, TokenContract, WalletOwner } from './types.js';
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
}

const HASH = /^(0x)?[0-9a-fA-F]{64}$/;

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

  async list(seller: WalletOwner, l: { token: TokenContract; tokenId: bigint; amount: number; priceWei: bigint }): Promise<{ listingId: bigint; tx: TxResult }> {
    const wallet = this.parts.wallets.wallet(seller.tenantId, seller.userId);
    const token = this.tokenContract(l.token);
    const market = this.parts.info.contracts.market;
    const approved = await this.parts.sender.read(() => token.getFunction('isApprovedForAll').staticCall(wallet.address, market) as Promise<boolean>);
    if (!approved) await this.parts.sender.send(wallet, token, 'setApprovalForAll', [market, true]);
    const args = [this.parts.info.contracts[l.token], l.tokenId, positive(l.amount, 'amount'), ZeroAddress, l.priceWei];
    const { tx, receipt } = await this.parts.sender.send(wallet, this.contracts.market, 'list', args);
    return { listingId: this.eventArg(receipt.logs, 'market', 'Listed', 'listingId'), tx };
  }

  async buy(buyer: WalletOwner, listingId: bigint, amount: number): Promise<TxResult> {
    const wallet = this.parts.wallets.wallet(buyer.tenantId, buyer.userId);
    const listing = await this.parts.sender.read(() => this.contracts.market.getFunction('listing').staticCall(listingId) as Promise<{ currency: string; pricePerUnit: bigint }>);
    if (listing.currency !== ZeroAddress) throw new ChainRefusal('UnsupportedCurrency', [listing.currency]);
    const count = positive(amount, 'amount');
    const { tx } = await this.parts.sender.send(wallet, this.contracts.market, 'buy', [listingId, count], listing.pricePerUnit * count);
    return tx;
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
