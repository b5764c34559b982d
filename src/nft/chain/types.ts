// The chain API the NFT module uses (the agreed interface), and what the indexer needs beside it.
import type { Contract, Interface, JsonRpcProvider, WebSocketProvider } from 'ethers';
import type { ContractAddresses } from '../settings.js';
import type { TxResult } from './sender.js';

export type { TxResult } from './sender.js';

export interface ChainInfo {
  chainId: number;
  /** The endpoint without credentials: no user info, query or fragment, key-like path segments masked. */
  rpcUrl: string;
  /** Whether this is the local development chain run beside the server. */
  local: boolean;
  contracts: ContractAddresses;
}

/** A user of a tenant, whose custodial wallet signs. */
export interface WalletOwner {
  tenantId: string;
  userId: string;
}

export type TokenContract = 'editions' | 'records';

/** A lazy mint: the terms of an edition its creator signed (EIP-712, VezaEditions' `Voucher`). */
export interface Voucher {
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

export interface SignedVoucher {
  voucher: Voucher;
  signature: string;
  /** The voucher's EIP-712 digest (the contract maps it to the token id it created). */
  digest: string;
}

/** A currency of the market: ETH (the zero address) or an ERC-20. */
export interface Currency {
  address: string;
  symbol: string;
  decimals: number;
}

export interface NftChain {
  info(): ChainInfo;
  /** The custodial wallet address of a user of a tenant (derived from the configured seed: HD path by tenant+user). */
  walletOf(tenantId: string, userId: string): string;
  balanceOf(address: string): Promise<bigint>;
  /** Dev chain only: sends test ETH to an address (refused with an error outside a local chain). */
  fund(address: string, wei: bigint): Promise<TxResult>;
  createSplit(recipients: { address: string; bps: number }[]): Promise<{ split: string; tx: TxResult | null }>;
  createEdition(e: { creator: string; payoutTo: string; maxSupply: number; mintStart?: number; mintEnd?: number; priceWei: bigint; royaltyBps: number; uri: string }): Promise<{ tokenId: bigint; tx: TxResult }>;
  mintRecord(r: { to: string; payoutTo: string; royaltyBps: number; uri: string }): Promise<{ tokenId: bigint; tx: TxResult }>;
  /** The buyer's custodial wallet signs; value = price*amount. */
  mintEdition(buyer: WalletOwner, tokenId: bigint, amount: number): Promise<TxResult>;
  mintTo(to: string, tokenId: bigint, amount: number): Promise<TxResult>;
  /** `currency`: an ERC-20's address (absent: ETH). */
  list(seller: WalletOwner, l: { token: TokenContract; tokenId: bigint; amount: number; priceWei: bigint; currency?: string }): Promise<{ listingId: bigint; tx: TxResult }>;
  /** ETH listings: value = price*amount; ERC-20 listings: the wallet approves the market for the price first (InsufficientTokens when it holds less). */
  buy(buyer: WalletOwner, listingId: bigint, amount: number): Promise<TxResult>;
  /** ETH for the zero address; an ERC-20 by its symbol and decimals (UnsupportedCurrency for anything else). */
  currency(address: string): Promise<Currency>;
  tokenBalance(currency: string, address: string): Promise<bigint>;
  /** Local chain only: the test ERC-20 (deployed at its first use). */
  testCurrency(): Promise<string>;
  /** Local chain only: mints test tokens of the test currency to an address. */
  fundTokens(currency: string, address: string, amount: bigint): Promise<TxResult>;
  /** The creator's custodial wallet signs a voucher (no transaction, no gas). */
  signVoucher(creator: WalletOwner, v: Omit<Voucher, 'creator' | 'nonce'> & { nonce?: bigint }): Promise<SignedVoucher>;
  /** The buyer's custodial wallet redeems a voucher: the edition is created and `amount` copies minted to it, price × amount paid. */
  redeemVoucher(buyer: WalletOwner, signed: { voucher: Voucher; signature: string }, amount: number): Promise<{ tokenId: bigint; tx: TxResult }>;
  /** The token a voucher created (0 while it was not redeemed). */
  voucherTokenId(digest: string): Promise<bigint>;
  releaseTokensFromSplit(split: string, currency: string, account: string): Promise<TxResult>;
  releasableTokens(split: string, currency: string, account: string): Promise<bigint>;
  cancel(seller: WalletOwner, listingId: bigint): Promise<TxResult>;
  releaseFromSplit(split: string, account: string): Promise<TxResult>;
  releasable(split: string, account: string): Promise<bigint>;
  setLicence(l: { token: TokenContract; tokenId: bigint; terms: number; audioHash: string; stateHash: string }): Promise<TxResult>;
  licenceOf(token: TokenContract, tokenId: bigint): Promise<{ terms: number; audioHash: string; stateHash: string; setAt: number } | null>;
  close(): Promise<void>;
}

/** What `openChain` returns: the API, and the parts the indexer reads the chain with. */
export interface OpenedChain extends NftChain {
  readonly provider: JsonRpcProvider | WebSocketProvider;
  /** Each contract's interface (from its compiled ABI), VezaSplit's for the splits. */
  readonly interfaces: { editions: Interface; records: Interface; splitFactory: Interface; market: Interface; licences: Interface; split: Interface };
  readonly contracts: { editions: Contract; records: Contract; splitFactory: Contract; market: Contract; licences: Contract };
  /** Blocks an event waits under the head before it is indexed. */
  readonly confirmations: number;
  readonly pollMs: number;
  /** The block the contracts were deployed in: the indexer starts there. */
  readonly deployedAt: number;
}
