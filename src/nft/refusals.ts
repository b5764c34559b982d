// What the chain refuses, as HTTP answers: each contract error (ChainRefusal's name) has its status
// and a sentence, so a client reads "sold out" rather than a revert selector.
import { HttpError } from '../server/errors.js';
import { ChainRefusal } from './chain/index.js';
import { DropError } from './drops.js';

const STATUS: Record<string, number> = {
  SoldOut: 409,
  MintNotStarted: 409,
  MintEnded: 409,
  ListingNotActive: 409,
  NotEnoughListed: 409,
  NothingToRelease: 409,
  VoucherAlreadyUsed: 409,
  NotApproved: 409,
  VoucherExpired: 409,
  ERC1155InsufficientBalance: 409,
  InsufficientFunds: 402,
  InsufficientTokens: 402,
  RoyaltyTooHigh: 400,
  InvalidSplit: 400,
  InvalidTerms: 400,
  InvalidWindow: 400,
  WrongPayment: 400,
  ZeroAmount: 400,
  ZeroPrice: 400,
  ZeroAddress: 400,
  PriceTooHigh: 400,
  InvalidAmount: 400,
  InvalidSignature: 400,
  UnsupportedCurrency: 400,
  UnsupportedToken: 400,
  NotOwner: 403,
  TransferFailed: 502,
  Reverted: 502,
  UnknownRevert: 502,
  NotSeller: 403,
  NotARecipient: 403,
  NotLicensor: 403,
  UnknownToken: 404,
};

const text = (v: unknown) => (typeof v === 'bigint' ? v.toString() : String(v));

const SENTENCES: Record<string, (args: unknown[]) => string> = {
  SoldOut: (a) => `sold out: token ${text(a[0])} has ${text(a[1])} left`,
  MintNotStarted: (a) => `minting token ${text(a[0])} starts at ${text(a[1])}`,
  MintEnded: (a) => `minting token ${text(a[0])} ended at ${text(a[1])}`,
  InsufficientFunds: (a) => `insufficient funds: ${text(a[0])} wei needed, the wallet holds ${text(a[1])}`,
  RoyaltyTooHigh: (a) => `a royalty of ${text(a[0])} bps is above the cap of 5000 bps`,
  NotSeller: (a) => `listing ${text(a[0])} is not yours`,
  ListingNotActive: (a) => `listing ${text(a[0])} is not active (sold or cancelled)`,
  NotEnoughListed: (a) => `only ${text(a[0])} left in this listing`,
  NothingToRelease: () => 'nothing to release yet',
  UnknownToken: (a) => `unknown token ${text(a[0])}`,
  InsufficientTokens: (a) => `insufficient funds: ${text(a[0])} units of the listing's currency ${text(a[2])} needed, the wallet holds ${text(a[1])}`,
  UnsupportedCurrency: (a) => `${text(a[0])} is not a currency the market takes: ETH or an ERC-20 token contract`,
  VoucherAlreadyUsed: (a) => `this voucher was already redeemed (voucher ${text(a[0])}): later copies are minted from its edition`,
  VoucherExpired: (a) => `this voucher expired at ${text(a[0])} (Unix seconds)`,
  InvalidSignature: () => 'the voucher does not carry its creator\'s signature over these terms: it was altered or signed by someone else',
  WrongPayment: (a) => `the payment was ${text(a[1])} wei, the price is ${text(a[0])} wei`,
  ERC1155InsufficientBalance: (a) => `the wallet holds ${text(a[1])} of token ${text(a[3])}, fewer than the ${text(a[2])} asked for`,
};

/** The HTTP error for a refusal of the chain or of a drop; other errors are returned unchanged. */
export function httpRefusal(error: unknown): unknown {
  if (error instanceof DropError) return new HttpError(error.status, problemOf(error.status), error.message);
  if (error instanceof ChainRefusal) {
    const status = STATUS[error.error] ?? 409;
    const sentence = SENTENCES[error.error]?.(error.args) ?? `the chain refused: ${error.error}`;
    return new HttpError(status, `chain-${error.error.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c.toLowerCase() : `-${c.toLowerCase()}`))}`, sentence);
  }
  return error;
}

function problemOf(status: number): string {
  return { 400: 'bad-request', 402: 'payment-required', 403: 'forbidden', 404: 'not-found', 409: 'conflict', 503: 'unavailable' }[status] ?? 'error';
}

/** Runs `work`, turning refusals into HTTP errors. */
export async function refusing<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw httpRefusal(error);
  }
}
