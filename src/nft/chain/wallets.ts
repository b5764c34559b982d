// Custodial wallets: one per user of a tenant, derived from one seed (BIP-32) so that no key is
// stored per user. The path comes from a hash of the tenant and user ids: three hardened 31-bit
// levels under m/44'/60'/0'. It must never change, or every user would get a new, empty wallet.
// The seed: VEZA_NFT_WALLET_SEED (a mnemonic or hex seed); on the development chain without it, 32
// random bytes generated once into <dataDir>/nft/wallet-seed (mode 0600).
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HDNodeWallet, Mnemonic, type Provider } from 'ethers';

/** The HD path of a user's wallet (stable: see the file's comment). */
export function walletPath(tenantId: string, userId: string): string {
  const hash = createHash('sha256').update(`veza-wallet\0${tenantId}\0${userId}`).digest();
  const level = (i: number) => hash.readUInt32BE(i * 4) & 0x7fffffff;
  return `m/44'/60'/0'/${level(0)}'/${level(1)}'/${level(2)}'`;
}

/** The seed bytes a configured value stands for (a mnemonic's BIP-39 seed, or the hex itself). */
export function seedOf(value: string): string {
  const trimmed = value.trim();
  if (/^0x[0-9a-fA-F]+$/.test(trimmed)) return trimmed;
  return Mnemonic.fromPhrase(trimmed).computeSeed();
}

/** The development seed: read from the data directory, generated there the first time. */
export function devSeed(nftDir: string): string {
  const file = path.join(nftDir, 'wallet-seed');
  if (existsSync(file)) {
    const value = readFileSync(file, 'utf8').trim();
    if (!/^0x[0-9a-fA-F]{64}$/.test(value)) throw new Error(`the development wallet seed in ${path.basename(nftDir)}/wallet-seed is damaged`);
    chmodSync(file, 0o600);
    return value;
  }
  mkdirSync(nftDir, { recursive: true, mode: 0o700 });
  const value = `0x${randomBytes(32).toString('hex')}`;
  writeFileSync(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
  return value;
}

/** Derives and caches the wallets of users. */
export class CustodialWallets {
  private readonly root: HDNodeWallet;
  private readonly cache = new Map<string, HDNodeWallet>();

  constructor(seed: string, private readonly provider: Provider) {
    this.root = HDNodeWallet.fromSeed(seed);
  }

  wallet(tenantId: string, userId: string): HDNodeWallet {
    if (!tenantId || !userId) throw new Error('a wallet needs a tenant and a user');
    const key = `${tenantId}\0${userId}`;
    let wallet = this.cache.get(key);
    if (!wallet) {
      wallet = this.root.derivePath(walletPath(tenantId, userId)).connect(this.provider);
      if (this.cache.size >= 10_000) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, wallet);
    }
    return wallet;
  }

  address(tenantId: string, userId: string): string {
    return this.wallet(tenantId, userId).address;
  }
}
