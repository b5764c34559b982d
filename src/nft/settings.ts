// Digital ownership: the chain the NFT module writes to and reads from. Without an RPC URL in
// development, a local chain (anvil) runs beside the server; elsewhere the operator names the chain,
// its keys and the contracts (or asks for them to be deployed). Keys and the wallet seed are secrets:
// configuration errors never print them.
import { z } from 'zod';
import { bool, int, type SettingsGroup, type SettingsOf } from '../shared/settings.js';

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte address');

/** The five contracts' addresses, as VEZA_NFT_CONTRACTS gives them (JSON). */
export const contractAddressesSchema = z.object({ editions: address, records: address, splitFactory: address, market: address, licences: address }).strict();
export type ContractAddresses = z.output<typeof contractAddressesSchema>;

const contractsJson = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be JSON: {"editions","records","splitFactory","market","licences"} addresses' });
      return z.NEVER;
    }
  })
  .pipe(contractAddressesSchema)
  .optional();

/** A BIP-39 mnemonic (12 to 24 words) or a 0x-prefixed hex seed of 16 to 64 bytes. */
const walletSeed = z
  .string()
  .refine((v) => /^0x(?:[0-9a-fA-F]{2}){16,64}$/.test(v) || /^[a-z]+(?: [a-z]+){11,23}$/.test(v.trim()), { message: 'must be a BIP-39 mnemonic or a 0x-prefixed hex seed of 16 to 64 bytes' })
  .optional();

/** What the NFT module reads. */
export const nftSettings = {
  enabled: {
    env: 'VEZA_NFT_ENABLED',
    flag: 'nft-enabled',
    schema: bool.default(true),
    doc: 'Digital ownership (editions, records, the market, licences); false turns the module off',
  },
  rpcUrl: {
    env: 'VEZA_NFT_RPC_URL',
    flag: 'nft-rpc-url',
    schema: z
      .string()
      .refine((v) => URL.canParse(v) && ['http:', 'https:', 'ws:', 'wss:'].includes(new URL(v).protocol), { message: 'must be an http(s) or ws(s) URL' })
      .optional(),
    doc: 'JSON-RPC endpoint of the chain; unset in development: a local chain (anvil) runs beside the server. Only its host and path are ever shown',
    secret: true,
  },
  chainId: {
    env: 'VEZA_NFT_CHAIN_ID',
    flag: 'nft-chain-id',
    schema: int(1, 2 ** 53 - 1).optional(),
    doc: 'Chain id the RPC endpoint must serve (refused at start when it serves another); required with an RPC URL',
  },
  operatorKey: {
    env: 'VEZA_NFT_OPERATOR_KEY',
    flag: 'nft-operator-key',
    schema: z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte hex private key').optional(),
    doc: 'Private key of the platform operator (deploys, mints, sets licences); secret, never shown. Development: the local chain\'s first account',
    secret: true,
  },
  walletSeed: {
    env: 'VEZA_NFT_WALLET_SEED',
    flag: 'nft-wallet-seed',
    schema: walletSeed,
    doc: 'BIP-39 mnemonic or hex seed the users\' custodial wallets are derived from; secret, never shown. Development: generated once into the data directory',
    secret: true,
  },
  contracts: {
    env: 'VEZA_NFT_CONTRACTS',
    flag: 'nft-contracts',
    schema: contractsJson,
    doc: 'Addresses of the deployed contracts, JSON {"editions","records","splitFactory","market","licences"}',
  },
  deploy: {
    env: 'VEZA_NFT_DEPLOY',
    flag: 'nft-deploy',
    schema: bool.default(false),
    doc: 'Deploy the contracts with the operator key when the chain has none recorded (development: always)',
  },
  confirmations: {
    env: 'VEZA_NFT_CONFIRMATIONS',
    flag: 'nft-confirmations',
    schema: int(0, 1000).optional(),
    doc: 'Blocks a chain event waits under the head before it is indexed (unset: 0 on the local chain, 2 elsewhere)',
  },
  pollMs: {
    env: 'VEZA_NFT_POLL_MS',
    flag: 'nft-poll-ms',
    schema: int(50, 600_000).default(1000),
    doc: 'Milliseconds between two reads of new chain events',
  },
  pinningUrl: {
    env: 'VEZA_NFT_PINNING_URL',
    flag: 'nft-pinning-url',
    schema: z
      .string()
      .refine((v) => URL.canParse(v) && ['http:', 'https:'].includes(new URL(v).protocol), { message: 'must be an http(s) URL' })
      .optional(),
    doc: 'IPFS Pinning Service API endpoint (`POST <url>/pins`): each new content id (audio, metadata) is pinned there too, retried on failure, never holding a mint back',
  },
  pinningToken: {
    env: 'VEZA_NFT_PINNING_TOKEN',
    flag: 'nft-pinning-token',
    schema: z.string().min(1).optional(),
    doc: 'Bearer token of the pinning service; secret, never shown',
    secret: true,
  },
} as const satisfies SettingsGroup;

export type NftSettings = SettingsOf<typeof nftSettings>;
