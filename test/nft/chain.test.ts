import { statSync } from 'node:fs';
import path from 'node:path';
import { HDNodeWallet, Interface, JsonRpcProvider, Network, type Contract } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { FRAGMENTS, type ContractName } from '../../src/nft/chain/abi.js';
import { DEV_MNEMONIC, startLocalChain } from '../../src/nft/chain/anvil.js';
import { loadArtifact } from '../../src/nft/chain/artifacts.js';
import { errorsInterface, refusalOf } from '../../src/nft/chain/errors.js';
import { ChainRefusal, openChain, publicRpcUrl, type OpenedChain } from '../../src/nft/chain/index.js';
import type { Storage } from '../../src/storage/database.js';
import { tempDir } from '../helpers/services.js';
import { backends, capturingLogger, nftSettings } from './support.js';

/**
 * The chain API on the real local chain (anvil, spawned by openChain with its state in a temporary
 * data directory): deployment once per chain, kept across a restart with the tokens minted before
 * it; custodial wallets; every refusal decoded into its contract error; concurrent calls from one
 * wallet; a configured chain that serves another id refused; no secret in info() or the logs.
 */
const ana = { tenantId: 'default', userId: 'ana' };
const ben = { tenantId: 'default', userId: 'ben' };
const ETH = 10n ** 18n;

async function refusal(promise: Promise<unknown>): Promise<ChainRefusal> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, 'the call was refused').toBeInstanceOf(ChainRefusal);
  return error as ChainRefusal;
}

describe.each(await backends())('the chain on $name', ({ open }) => {
  const data = tempDir('nft-chain');
  let storage: Storage;
  let drop: () => Promise<void>;
  let chain: OpenedChain;
  const { logger, lines } = capturingLogger();

  beforeAll(async () => {
    ({ storage, drop } = await open(data.dir));
    chain = await openChain(nftSettings(), { dataDir: data.dir, dev: true, storage }, logger);
    await chain.fund(chain.walletOf(ana.tenantId, ana.userId), ETH);
    await chain.fund(chain.walletOf(ben.tenantId, ben.userId), ETH);
  }, 120_000);

  afterAll(async () => {
    await chain?.close();
    await storage?.close();
    await drop?.();
    data.remove();
  });

  it('runs the local chain, deploys the contracts and records them by chain id', async () => {
    const info = chain.info();
    expect(info.local).toBe(true);
    expect(info.chainId).toBe(31337);
    expect(info.rpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const rows = await storage.db.selectFrom('nft_deployments').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(Number(rows[0]!.chain_id)).toBe(31337);
    expect(rows[0]!.contracts).toEqual(info.contracts);
    for (const address of Object.values(info.contracts)) expect(await chain.provider.getCode(address)).not.toBe('0x');
  });

  it('derives one stable custodial wallet per tenant and user, and keeps the development seed private', () => {
    const a = chain.walletOf('default', 'ana');
    expect(a).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(chain.walletOf('default', 'ana')).toBe(a);
    expect(chain.walletOf('other', 'ana')).not.toBe(a);
    expect(chain.walletOf('default', 'ben')).not.toBe(a);
    expect(statSync(path.join(data.dir, 'nft', 'wallet-seed')).mode & 0o777).toBe(0o600);
  });

  it('creates editions, mints them for what they cost and pays the split', async () => {
    const { split, tx } = await chain.createSplit([
      { address: chain.walletOf('default', 'ben'), bps: 4000 },
      { address: chain.walletOf('default', 'ana'), bps: 6000 },
    ]);
    expect(tx).not.toBeNull();
    // The same recipients in another order are the same split, created once.
    expect(await chain.createSplit([{ address: chain.walletOf('default', 'ana'), bps: 6000 }, { address: chain.walletOf('default', 'ben'), bps: 4000 }])).toEqual({ split, tx: null });
    const { tokenId } = await chain.createEdition({ creator: chain.walletOf('default', 'ana'), payoutTo: split, maxSupply: 3, priceWei: 1000n, royaltyBps: 1000, uri: 'ipfs://edition' });
    const before = await chain.balanceOf(split);
    const minted = await chain.mintEdition(ben, tokenId, 2);
    expect(minted.blockNumber).toBeGreaterThan(0);
    expect(minted.gasUsed).toBeGreaterThan(0n);
    expect((await chain.balanceOf(split)) - before).toBe(2000n);
    expect(await chain.releasable(split, chain.walletOf('default', 'ana'))).toBe(1200n);
    // Sold out: the decoded error names the token and what is left.
    const soldOut = await refusal(chain.mintEdition(ben, tokenId, 2));
    expect(soldOut.error).toBe('SoldOut');
    expect(soldOut.args).toEqual([tokenId, 1n]);
  });

  it('decodes every refusal into the contract error and its arguments', async () => {
    const future = Math.floor(Date.now() / 1000) + 86_400;
    const { tokenId: later } = await chain.createEdition({ creator: chain.walletOf('default', 'ana'), payoutTo: chain.walletOf('default', 'ana'), maxSupply: 0, mintStart: future, priceWei: 1n, royaltyBps: 0, uri: 'ipfs://later' });
    const notStarted = await refusal(chain.mintEdition(ben, later, 1));
    expect([notStarted.error, notStarted.args]).toEqual(['MintNotStarted', [later, BigInt(future)]]);

    const tooHigh = await refusal(chain.createEdition({ creator: chain.walletOf('default', 'ana'), payoutTo: chain.walletOf('default', 'ana'), maxSupply: 1, priceWei: 1n, royaltyBps: 5001, uri: 'x' }));
    expect([tooHigh.error, tooHigh.args]).toEqual(['RoyaltyTooHigh', [5001n]]);

    const badSplit = await refusal(chain.createSplit([{ address: chain.walletOf('default', 'ana'), bps: 5000 }, { address: chain.walletOf('default', 'ben'), bps: 4000 }]));
    expect(badSplit.error).toBe('InvalidSplit');
    expect(String(badSplit.args[0])).not.toBe('');

    const unknown = await refusal(chain.mintEdition(ben, 999n, 1));
    expect([unknown.error, unknown.args]).toEqual(['UnknownToken', [999n]]);

    const terms = await refusal(chain.setLicence({ token: 'editions', tokenId: later, terms: 8, audioHash: 'ab'.repeat(32), stateHash: 'cd'.repeat(32) }));
    expect([terms.error, terms.args]).toEqual(['InvalidTerms', [8n]]);

    // A listing cancelled by someone other than its seller.
    const { tokenId: open } = await chain.createEdition({ creator: chain.walletOf('default', 'ana'), payoutTo: chain.walletOf('default', 'ana'), maxSupply: 0, priceWei: 10n, royaltyBps: 500, uri: 'ipfs://open' });
    await chain.mintEdition(ana, open, 2);
    const { listingId } = await chain.list(ana, { token: 'editions', tokenId: open, amount: 2, priceWei: 100n });
    const notSeller = await refusal(chain.cancel(ben, listingId));
    expect([notSeller.error, notSeller.args]).toEqual(['NotSeller', [listingId]]);
    const tooMany = await refusal(chain.buy(ben, listingId, 3));
    expect([tooMany.error, tooMany.args]).toEqual(['NotEnoughListed', [2n]]);
    await chain.cancel(ana, listingId);
    const inactive = await refusal(chain.buy(ben, listingId, 1));
    expect([inactive.error, inactive.args]).toEqual(['ListingNotActive', [listingId]]);

    // A payment the API would never send, straight to the contract: still decoded.
    const abis = await Promise.all((['VezaEditions', 'VezaRecords', 'SplitFactory', 'VezaMarket', 'LicenceRegistry', 'VezaSplit'] as const).map(async (n) => (await loadArtifact(n)).abi));
    const direct = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, "m/44'/60'/0'/0/1").connect(chain.provider);
    const error = await (chain.contracts.editions.connect(direct) as Contract).getFunction('mint')(direct.address, open, 1, { value: 11n }).catch((e: unknown) => e);
    const wrong = refusalOf(error, errorsInterface(abis));
    expect([wrong?.error, wrong?.args]).toEqual(['WrongPayment', [10n, 11n]]);
  });

  it('refuses a wallet that cannot pay, before anything is sent, with what was needed and what it holds', async () => {
    const { tokenId } = await chain.createEdition({ creator: chain.walletOf('default', 'ana'), payoutTo: chain.walletOf('default', 'ana'), maxSupply: 0, priceWei: 5000n, royaltyBps: 0, uri: 'ipfs://dear' });
    const poor = { tenantId: 'default', userId: 'poor' };
    const empty = await refusal(chain.mintEdition(poor, tokenId, 2));
    expect([empty.error, empty.args]).toEqual(['InsufficientFunds', [10_000n, 0n]]);
    // Enough for the price, not for the gas.
    const address = chain.walletOf(poor.tenantId, poor.userId);
    await chain.fund(address, 10_000n);
    const noGas = await refusal(chain.mintEdition(poor, tokenId, 2));
    expect(noGas.error).toBe('InsufficientFunds');
    expect(noGas.args[0] as bigint).toBeGreaterThan(10_000n);
    expect(noGas.args[1]).toBe(10_000n);
    expect(await chain.provider.getTransactionCount(address)).toBe(0);
  });

  it('sends concurrent calls of one wallet with successive nonces', async () => {
    const { tokenId } = await chain.createEdition({ creator: chain.walletOf('default', 'ana'), payoutTo: chain.walletOf('default', 'ana'), maxSupply: 0, priceWei: 1n, royaltyBps: 0, uri: 'ipfs://many' });
    const address = chain.walletOf(ben.tenantId, ben.userId);
    const nonce = await chain.provider.getTransactionCount(address);
    // One refused in the middle must not leave a gap that blocks the ones after it.
    const results = await Promise.allSettled([chain.mintEdition(ben, tokenId, 1), chain.mintEdition(ben, tokenId, 1), chain.mintEdition(ben, 999n, 1), chain.mintEdition(ben, tokenId, 1), chain.mintEdition(ben, tokenId, 1)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(await chain.provider.getTransactionCount(address)).toBe(nonce + 4);
    const edition = (await chain.contracts.editions.getFunction('edition').staticCall(tokenId)) as { minted: bigint };
    expect(edition.minted).toBe(4n);
  });

  it('takes the next nonce when another sender of the same key used the one it counted on', async () => {
    await chain.createEdition({ creator: chain.walletOf('default', 'ana'), payoutTo: chain.walletOf('default', 'ana'), maxSupply: 0, priceWei: 1n, royaltyBps: 0, uri: 'ipfs://one' });
    // Another process holding the operator key sends a transaction of its own.
    const elsewhere = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, "m/44'/60'/0'/0/0").connect(chain.provider);
    await (await elsewhere.sendTransaction({ to: elsewhere.address, value: 0n })).wait();
    const { tokenId } = await chain.createEdition({ creator: chain.walletOf('default', 'ana'), payoutTo: chain.walletOf('default', 'ana'), maxSupply: 0, priceWei: 1n, royaltyBps: 0, uri: 'ipfs://two' });
    expect(tokenId).toBeGreaterThan(0n);
  });

  it('mints records and sets and reads their licences', async () => {
    const { tokenId } = await chain.mintRecord({ to: chain.walletOf('default', 'ana'), payoutTo: chain.walletOf('default', 'ana'), royaltyBps: 500, uri: 'ipfs://record' });
    expect(tokenId).toBeGreaterThan(0n);
    expect(await chain.licenceOf('records', tokenId)).toBeNull();
    await chain.setLicence({ token: 'records', tokenId, terms: 1 | 4, audioHash: `0x${'ab'.repeat(32)}`, stateHash: 'CD'.repeat(32) });
    const licence = await chain.licenceOf('records', tokenId);
    expect(licence).toMatchObject({ terms: 5, audioHash: `0x${'ab'.repeat(32)}`, stateHash: `0x${'cd'.repeat(32)}` });
    expect(licence!.setAt).toBeGreaterThan(0);
    await expect(chain.setLicence({ token: 'records', tokenId, terms: 1, audioHash: 'short', stateHash: 'cd'.repeat(32) })).rejects.toThrow(/audioHash must be 32 bytes/);
  });

  it('keeps the chain and its deployment across a restart: the same contracts, the tokens minted before', async () => {
    const { tokenId } = await chain.createEdition({ creator: chain.walletOf('default', 'ana'), payoutTo: chain.walletOf('default', 'ana'), maxSupply: 0, priceWei: 7n, royaltyBps: 0, uri: 'ipfs://kept' });
    await chain.mintEdition(ben, tokenId, 3);
    const contracts = chain.info().contracts;
    const deployedAt = chain.deployedAt;
    const benAddress = chain.walletOf(ben.tenantId, ben.userId);
    const benBalance = await chain.balanceOf(benAddress);
    await chain.close();

    chain = await openChain(nftSettings(), { dataDir: data.dir, dev: true, storage }, logger);
    expect(chain.info().contracts).toEqual(contracts);
    expect(chain.deployedAt).toBe(deployedAt);
    expect(await storage.db.selectFrom('nft_deployments').selectAll().execute()).toHaveLength(1);
    expect(chain.walletOf(ben.tenantId, ben.userId)).toBe(benAddress);
    expect(await chain.balanceOf(benAddress)).toBe(benBalance);
    expect(await chain.contracts.editions.getFunction('balanceOf').staticCall(benAddress, tokenId)).toBe(3n);
    // The chain goes on from there: the next edition takes the next id, and the wallet can still send.
    const next = await chain.createEdition({ creator: benAddress, payoutTo: benAddress, maxSupply: 0, priceWei: 1n, royaltyBps: 0, uri: 'ipfs://after' });
    expect(next.tokenId).toBe(tokenId + 1n);
    await chain.mintEdition(ben, next.tokenId, 1);
  }, 60_000);

  it('refuses a configured chain that serves another chain id, and never shows the URL\'s secrets', async () => {
    const local = new URL(chain.info().rpcUrl);
    const rpcUrl = `http://user:hunter2-password@${local.host}/?apikey=SECRETKEY`;
    const operatorKey = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, "m/44'/60'/0'/0/0").privateKey;
    const walletSeed = `0x${'11'.repeat(32)}`;
    const settings = (env: Record<string, string>) => nftSettings({ VEZA_NFT_RPC_URL: rpcUrl, VEZA_NFT_OPERATOR_KEY: operatorKey, VEZA_NFT_WALLET_SEED: walletSeed, VEZA_NFT_CONTRACTS: JSON.stringify(chain.info().contracts), ...env });
    const other = tempDir('nft-remote');
    try {
      const wrong = await openChain(settings({ VEZA_NFT_CHAIN_ID: '1' }), { dataDir: other.dir, dev: false, storage }, logger).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(wrong?.message).toMatch(/^wrong chain: http:\/\/127\.0\.0\.1:\d+ serves chain id 31337, VEZA_NFT_CHAIN_ID is 1$/);

      // The same endpoint named with its right id: a configured (not local) chain on the configured contracts.
      const remote = await openChain(settings({ VEZA_NFT_CHAIN_ID: '31337' }), { dataDir: other.dir, dev: false, storage }, logger);
      try {
        expect(remote.info()).toMatchObject({ chainId: 31337, local: false, contracts: chain.info().contracts });
        expect(remote.info().rpcUrl).toBe(`http://${local.host}`);
        await expect(remote.fund(remote.walletOf('default', 'ana'), 1n)).rejects.toThrow(/only sent on the local development chain/);
        expect(await remote.balanceOf(chain.walletOf('default', 'ana'))).toBe(await chain.balanceOf(chain.walletOf('default', 'ana')));
      } finally {
        await remote.close();
      }
      const logs = lines.join('\n');
      for (const secret of ['hunter2', 'SECRETKEY', operatorKey.slice(2), walletSeed.slice(2)]) {
        expect(logs).not.toContain(secret);
        expect(JSON.stringify(remote.info())).not.toContain(secret);
      }
    } finally {
      other.remove();
    }
  }, 60_000);

  it('refuses a configured chain without what it needs, naming the setting', async () => {
    const base = { VEZA_NFT_RPC_URL: chain.info().rpcUrl };
    const other = tempDir('nft-missing');
    try {
      await expect(openChain(nftSettings(base), { dataDir: other.dir, dev: false, storage }, logger)).rejects.toThrow('VEZA_NFT_CHAIN_ID is required with VEZA_NFT_RPC_URL');
      await expect(openChain(nftSettings({ ...base, VEZA_NFT_CHAIN_ID: '31337' }), { dataDir: other.dir, dev: false, storage }, logger)).rejects.toThrow('VEZA_NFT_OPERATOR_KEY is required');
      await expect(openChain(nftSettings(), { dataDir: other.dir, dev: false, storage }, logger)).rejects.toThrow(/VEZA_NFT_RPC_URL is not set/);
    } finally {
      other.remove();
    }
  });
});

describe('the local chain', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('writes its state when stopped with %s, and loads it at the next start', async (signal) => {
    const data = tempDir('nft-anvil');
    const sink = '0x000000000000000000000000000000000000dEaD';
    try {
      // No periodic dump: what the next start finds was written at the stop.
      const first = await startLocalChain(data.dir, { stateIntervalS: 3600 });
      const provider = new JsonRpcProvider(first.rpcUrl, Network.from(31337), { staticNetwork: true, cacheTimeout: -1 });
      const operator = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, "m/44'/60'/0'/0/0").connect(provider);
      await (await operator.sendTransaction({ to: sink, value: 4242n })).wait();
      provider.destroy();
      await first.stop(10_000, signal);
      const second = await startLocalChain(data.dir, { stateIntervalS: 3600 });
      const again = new JsonRpcProvider(second.rpcUrl, Network.from(31337), { staticNetwork: true, cacheTimeout: -1 });
      try {
        expect(await again.getBalance(sink)).toBe(4242n);
        expect(await again.getBlockNumber()).toBe(1);
      } finally {
        again.destroy();
        await second.stop();
      }
    } finally {
      data.remove();
    }
  }, 60_000);
});

describe('the nft settings', () => {
  it('never print a secret value in a configuration error', () => {
    const key = `0x${'ab'.repeat(31)}`;
    let error: unknown;
    try {
      loadConfig({ VEZA_NFT_OPERATOR_KEY: key, VEZA_NFT_WALLET_SEED: 'not a seed', VEZA_NFT_RPC_URL: 'ftp://user:pw@host/x' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/VEZA_NFT_OPERATOR_KEY=\(hidden\): must be a 0x-prefixed 32-byte hex private key/);
    expect(message).toMatch(/VEZA_NFT_WALLET_SEED=\(hidden\)/);
    expect(message).toMatch(/VEZA_NFT_RPC_URL=\(hidden\)/);
    expect(message).not.toContain(key);
    expect(message).not.toContain('pw@');
  });

  it('read the contracts as JSON of five addresses, and refuse anything else', () => {
    const contracts = { editions: `0x${'1'.repeat(40)}`, records: `0x${'2'.repeat(40)}`, splitFactory: `0x${'3'.repeat(40)}`, market: `0x${'4'.repeat(40)}`, licences: `0x${'5'.repeat(40)}` };
    expect(nftSettings({ VEZA_NFT_CONTRACTS: JSON.stringify(contracts) }).contracts).toEqual(contracts);
    expect(() => nftSettings({ VEZA_NFT_CONTRACTS: '{not json' })).toThrow(/VEZA_NFT_CONTRACTS=.*must be JSON/);
    expect(() => nftSettings({ VEZA_NFT_CONTRACTS: JSON.stringify({ ...contracts, market: 'nowhere' }) })).toThrow(/VEZA_NFT_CONTRACTS=/);
    expect(nftSettings()).toMatchObject({ enabled: true, pollMs: 1000, deploy: false });
    expect(nftSettings({ VEZA_NFT_ENABLED: 'false' }).enabled).toBe(false);
  });

  it('shows an RPC URL without user info, query or key-like path segments', () => {
    expect(publicRpcUrl('https://u:p@eth-mainnet.g.alchemy.com/v2/AbCdEfGhIjKlMnOpQrStUvWxYz012345?x=1#f')).toBe('https://eth-mainnet.g.alchemy.com/v2/***');
    expect(publicRpcUrl('http://127.0.0.1:8545')).toBe('http://127.0.0.1:8545');
    expect(publicRpcUrl('wss://node.example/ws')).toBe('wss://node.example/ws');
  });

  it('name in their fragments only what the compiled contracts have', async () => {
    for (const [name, fragments] of Object.entries(FRAGMENTS) as [ContractName, readonly string[]][]) {
      const compiled = new Interface((await loadArtifact(name)).abi);
      for (const fragment of new Interface(fragments as string[]).fragments) {
        const signature = fragment.format('sighash');
        const found = compiled.fragments.find((f) => f.type === fragment.type && f.format('sighash') === signature);
        expect(found, `${name}: ${signature}`).toBeDefined();
      }
    }
  });
});
