// What the NFT routes answer, as zod: the OpenAPI spec's schemas and, in test mode, the check of
// every reply (src/server/response-check.ts). They mirror drops.ts (a drop), mint.ts (a mint's and a
// redemption's result) and the replies built in market-routes.ts and voucher-routes.ts. Amounts on
// chain are decimal strings: they pass 2^53.
import { z } from 'zod';
import { LICENCE } from './drops.js';

/** A whole number as a decimal string (wei, token units, token ids). */
const decimal = z.string().regex(/^[0-9]+$/);
const wei = decimal.describe('wei (or the currency\'s smallest unit), as a decimal string');
const tokenId = decimal.describe('the token id on chain, as a decimal string');
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/).describe('an Ethereum address');
const isoTime = z.string().describe('ISO 8601');
const licenceName = z.enum(Object.keys(LICENCE) as [keyof typeof LICENCE, ...(keyof typeof LICENCE)[]]);

export const licenceReply = z.object({
  terms: z.number().int().describe('the licence as a bit set: personal 1, sync 2, commercial 4, exclusive 8'),
  names: z.array(licenceName),
});

/** A transaction the server's wallets sent. */
export const txReply = z.object({ hash: z.string(), blockNumber: z.number().int(), gasUsed: decimal });

const collaboratorReply = z.object({
  userId: z.string(),
  bps: z.number().int().describe('their share of the split, in basis points (of 10,000)'),
  notes: z.number().int().describe('live notes credited to them at the drop\'s version'),
  tracks: z.number().int(),
  edits: z.number().int(),
  answer: z.enum(['pending', 'accepted', 'declined']),
  payoutAddress: address.nullable().describe('where their share is paid, once they accepted'),
  answeredAt: isoTime.nullable(),
});

const stemReply = z.object({
  trackId: z.string(),
  position: z.number().int(),
  name: z.string(),
  audioCid: z.string(),
  audioHash: z.string().describe('sha-256 of the stem\'s audio, hex'),
  durationMs: z.number().int(),
  metadataCid: z.string().nullable(),
  tokenId: tokenId.nullable(),
  licensed: z.boolean(),
});

export const storedVoucherReply = z.object({
  voucher: z
    .object({
      creator: address,
      payoutTo: address,
      maxSupply: decimal,
      mintStart: decimal,
      mintEnd: decimal,
      price: decimal,
      royaltyBps: decimal,
      uri: z.string(),
      nonce: decimal,
      deadline: decimal,
    })
    .describe('the EIP-712 voucher the proposer\'s wallet signed, its numbers as decimal strings'),
  signature: z.string(),
  digest: z.string().describe('the voucher\'s EIP-712 digest'),
});

const sampleReply = z.object({ cid: z.string(), name: z.string(), contentType: z.string(), size: z.number().int(), sha256: z.string().describe('hex') });

/** A drop (drops.ts `Drop`): a session's proposal to mint, or a sample pack. */
export const dropReply = z.object({
  id: z.string(),
  sessionId: z.string().nullable().describe('null for a sample pack'),
  versionId: z.string().nullable(),
  bounceId: z.string().nullable(),
  proposedBy: z.string(),
  title: z.string(),
  description: z.string(),
  maxSupply: z.number().int().describe('0: an open edition'),
  mintStart: z.number().int().nullable().describe('Unix seconds'),
  mintEnd: z.number().int().nullable().describe('Unix seconds'),
  priceWei: wei,
  royaltyBps: z.number().int(),
  licence: z.number().int().describe('the licence terms as a bit set: personal 1, sync 2, commercial 4, exclusive 8'),
  state: z.enum(['proposed', 'declined', 'minted']),
  split: z.object({
    rule: z.string().describe('how the basis points were computed'),
    collaborators: z.array(collaboratorReply),
    dropped: z.array(z.object({ userId: z.string(), reason: z.string() })).describe('collaborators whose weight came to less than 1 basis point'),
  }),
  waitingFor: z.array(z.string()).describe('who has not accepted yet (empty: the drop may be minted)'),
  declinedBy: z.array(z.string()),
  contract: address.nullable(),
  tokenId: tokenId.nullable(),
  splitAddress: address.nullable(),
  metadataCid: z.string().nullable(),
  createdAt: isoTime,
  kind: z.enum(['edition', 'record']).describe('an edition (ERC-1155) or a 1/1 record (ERC-721)'),
  lazy: z.boolean().describe('minted by a signed voucher the first buyer redeems'),
  withStems: z.boolean(),
  stems: z.array(stemReply),
  voucher: storedVoucherReply.nullable(),
  samples: z.array(sampleReply).nullable().describe('a sample pack\'s audio files; null for a drop of a session'),
});

export const dropListReply = z.object({ drops: z.array(dropReply) });
export const packListReply = z.object({ packs: z.array(dropReply) });

/** mint.ts `MintResult`. */
export const mintReply = z.object({
  drop: dropReply,
  contract: address.describe('the editions contract, or the records contract for a 1/1 record'),
  tokenId: tokenId.nullable().describe('null for a lazy drop until its voucher is redeemed'),
  splitAddress: address,
  metadataUri: z.string(),
  copies: z.array(z.object({ userId: z.string(), address, amount: z.number().int() })).describe('the collaborators\' free copies, one each'),
  stems: z.array(z.object({ trackId: z.string(), name: z.string(), tokenId, metadataUri: z.string(), audioCid: z.string() })),
  voucher: storedVoucherReply.nullable(),
});

/** mint.ts `RedeemResult`. */
export const redeemReply = z.object({
  dropId: z.string(),
  contract: address,
  tokenId,
  amount: z.number().int(),
  paidWei: wei,
  buyer: address,
  tx: txReply,
  licence: z.union([z.literal('set'), z.string().regex(/^not set: /)]).describe('whether the operator set the new edition\'s licence, or why not'),
});

/** A lazy drop's voucher as a buyer is served it (voucher-routes.ts `served`). */
export const voucherReply = z.object({
  dropId: z.string(),
  title: z.string(),
  sessionId: z.string().nullable(),
  chainId: z.number().int(),
  contract: address,
  voucher: storedVoucherReply.shape.voucher,
  signature: z.string(),
  digest: z.string(),
  metadataUri: z.string(),
  tokenId: tokenId.nullable().describe('set once redeemed: later copies are minted from this edition'),
});
export const voucherListReply = z.object({ vouchers: z.array(voucherReply) });

export const uploadReply = z.object({ cid: z.string(), uri: z.string().describe('ipfs://<cid>'), name: z.string(), contentType: z.string(), size: z.number().int() });

export const tokenListReply = z.object({
  tokens: z.array(
    z.object({
      contract: address,
      tokenId: tokenId.nullable().describe('null for a lazy drop until its voucher is redeemed'),
      dropId: z.string(),
      sessionId: z.string().nullable(),
      versionId: z.string().nullable(),
      title: z.string(),
      maxSupply: z.number().int(),
      priceWei: wei,
      royaltyBps: z.number().int(),
      licence: licenceReply,
      metadataUri: z.string(),
      splitAddress: address,
      creators: z.array(z.object({ userId: z.string(), bps: z.number().int() })),
      kind: z.enum(['edition', 'record']),
      lazy: z.boolean().describe('the token exists once its voucher is redeemed (GET /api/v1/nft/vouchers/:dropId)'),
      stems: z.array(z.object({ trackId: z.string(), name: z.string(), tokenId, metadataUri: z.string(), audioCid: z.string() })),
    }),
  ),
});

const currencyReply = z.object({ address: address.describe('the zero address for ETH'), symbol: z.string(), decimals: z.number().int() });

export const listingReply = z.object({
  listingId: decimal,
  contract: z.enum(['editions', 'records']),
  tokenId,
  amount: z.number().int(),
  priceWei: wei.describe('the price per unit in the currency\'s smallest unit'),
  currency: currencyReply,
  seller: z.string(),
  tx: txReply,
});
export const purchaseReply = z.object({ listingId: decimal, amount: z.number().int(), paidWei: wei, currency: z.string().describe('ETH, or the ERC-20 token\'s address in lower case'), tx: txReply });
export const cancelReply = z.object({ listingId: decimal, cancelled: z.literal(true), tx: txReply });

export const tokenLicenceReply = z.object({
  contract: address,
  tokenId,
  dropId: z.string(),
  sessionId: z.string().nullable(),
  versionId: z.string().nullable(),
  stem: z.object({ trackId: z.string(), name: z.string() }).optional().describe('present when the token is a stem\'s edition'),
  terms: z.number().int().describe('the licence as a bit set: personal 1, sync 2, commercial 4, exclusive 8'),
  audioHash: z.string(),
  stateHash: z.string(),
  setAt: z.number().int().describe('Unix seconds'),
  names: z.array(licenceName),
  metadataUri: z.string(),
});

const salesReply = z.object({ count: z.number().int(), units: decimal });
export const statementReply = z.object({
  userId: z.string(),
  chainId: z.number().int(),
  drops: z.array(
    z.object({
      dropId: z.string(),
      kind: z.enum(['edition', 'record']),
      tokenId: tokenId.nullable(),
      stemTokenIds: z.array(tokenId),
      title: z.string(),
      bps: z.number().int(),
      payoutAddress: address,
      splitAddress: address,
      sales: salesReply.extend({ paidWei: wei }),
      royaltiesWei: wei,
      shareWei: wei.describe('this creator\'s part of the royalties received: their basis points of the split'),
      releasedWei: wei,
      releasableWei: wei,
      tokens: z
        .array(z.object({ currency: address, sales: salesReply.extend({ paid: decimal }), royalties: decimal, share: decimal, released: decimal, releasable: decimal }))
        .describe('the same in each ERC-20 the drop\'s tokens were sold in, in the token\'s smallest unit'),
    }),
  ),
});

export const payoutsReply = z.object({
  released: z.array(z.object({ dropId: z.string(), split: address, account: address, currency: z.string().describe('ETH, or the ERC-20 token\'s address in lower case'), amountWei: wei, tx: txReply })),
  totalWei: wei.describe('the ETH released'),
  totals: z.record(z.string(), decimal).describe('the amount released in each ERC-20, by token address'),
});

export const walletReply = z.object({ address, balanceWei: wei, chainId: z.number().int() });
export const currenciesReply = z.object({
  currencies: z.array(currencyReply.extend({ test: z.literal(true).optional().describe('the local chain\'s test ERC-20') })),
  anyErc20: z.literal(true).describe('any ERC-20 may be named by its address'),
});
export const faucetReply = z.object({
  address,
  currency: address.optional().describe('the test ERC-20 paid; absent for ETH'),
  fundedWei: wei,
  balanceWei: wei,
  tx: txReply,
});
