// A real local chain for tests: anvil (from the @foundry-rs/anvil-linux-amd64 package) on a free port,
// its ten funded accounts (anvil's default mnemonic) as ethers Wallets, the compiled contracts deployed by
// name, and the clock controls a test of timed windows needs. One chain per test file: start it in
// beforeAll, stop it in afterAll. The gas bench uses it too, so it imports nothing from the test runner.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import assert from 'node:assert/strict';
import {
  Contract,
  ContractFactory,
  HDNodeWallet,
  JsonRpcProvider,
  Mnemonic,
  type BaseContract,
  type BaseContractMethod,
  type ContractTransactionResponse,
  type TransactionReceipt,
} from 'ethers';
import { buildContracts, loadArtifact } from '../../src/nft/chain/artifacts.js';
import { freePort } from './ports.js';

export const ANVIL_BIN = path.resolve(import.meta.dirname, '../../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil');
/** anvil's default development mnemonic: its accounts hold 10,000 test ETH each. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';
export const ANVIL_CHAIN_ID = 31337;
/**
 * For the beforeAll that calls start(): on a fresh checkout the first start compiles the contracts
 * (20 s or so alone, longer beside other test files), which the default hook timeout may not allow.
 */
export const CHAIN_SETUP_TIMEOUT = 180_000;

/**
 * A deployed contract whose methods `M` are callable without a check for undefined (ethers types its
 * methods by an index signature, which strict index access reads as possibly missing).
 */
export type Deployed<M extends string = never> = Contract & Record<M, BaseContractMethod>;

export interface AnvilChain {
  url: string;
  provider: JsonRpcProvider;
  /** anvil's ten funded accounts, connected to the provider. */
  accounts: HDNodeWallet[];
  /** Deploys a compiled contract (contracts/out) from `from` (default: accounts[0]). */
  deploy<M extends string = never>(name: string, args?: unknown[], from?: HDNodeWallet): Promise<Deployed<M>>;
  /** A compiled contract's ABI at an address (e.g. a split clone), connected to `from`. */
  at<M extends string = never>(name: string, address: string, from?: HDNodeWallet): Promise<Deployed<M>>;
  /** The timestamp of the latest block, in seconds. */
  now(): Promise<number>;
  /** The next mined block gets this timestamp. */
  setNextTimestamp(seconds: number): Promise<void>;
  /** Moves the clock forward and mines a block. */
  increaseTime(seconds: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts anvil on a free port and resolves once it answers JSON-RPC and the contracts are compiled. */
export async function start(): Promise<AnvilChain> {
  const built = buildContracts();
  built.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled
  const port = await freePort();
  const child: ChildProcess = spawn(ANVIL_BIN, ['--port', String(port), '--silent', '--chain-id', String(ANVIL_CHAIN_ID)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = once(child, 'exit');
  const url = `http://127.0.0.1:${port}`;
  const provider = new JsonRpcProvider(url, ANVIL_CHAIN_ID, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 50 });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`anvil exited with ${child.exitCode}: ${stderr}`);
    try {
      await provider.send('eth_chainId', []);
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`anvil did not answer on ${url} within 20 s: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    await built;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const mnemonic = Mnemonic.fromPhrase(ANVIL_MNEMONIC);
  const accounts = Array.from({ length: 10 }, (_, i) => HDNodeWallet.fromMnemonic(mnemonic, `m/44'/60'/0'/0/${i}`).connect(provider));
  const chain: AnvilChain = {
    url,
    provider,
    accounts,
    async deploy<M extends string = never>(name: string, args: unknown[] = [], from = accounts[0]!) {
      const artifact = await loadArtifact(name);
      const factory = new ContractFactory(artifact.abi, artifact.bytecode, from);
      const contract = await factory.deploy(...args);
      await contract.waitForDeployment();
      return new Contract(await contract.getAddress(), artifact.abi, from) as Deployed<M>;
    },
    async at<M extends string = never>(name: string, address: string, from = accounts[0]!) {
      const artifact = await loadArtifact(name);
      return new Contract(address, artifact.abi, from) as Deployed<M>;
    },
    async now() {
      const block = await provider.getBlock('latest');
      return block!.timestamp;
    },
    async setNextTimestamp(seconds) {
      await provider.send('evm_setNextBlockTimestamp', [seconds]);
    },
    async increaseTime(seconds) {
      await provider.send('evm_increaseTime', [seconds]);
      await provider.send('evm_mine', []);
    },
    async stop() {
      provider.destroy();
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
  return chain;
}

/** Sends a transaction and waits for its receipt. */
export async function mined(tx: Promise<ContractTransactionResponse>): Promise<TransactionReceipt> {
  const receipt = await (await tx).wait();
  if (!receipt) throw new Error('transaction has no receipt');
  return receipt;
}

/** The revert data of a failed call or transaction, as ethers reports it. */
function revertData(error: unknown): string {
  const e = error as { data?: unknown; info?: { error?: { data?: unknown } } };
  const data = typeof e.data === 'string' ? e.data : e.info?.error?.data;
  if (typeof data !== 'string') throw new Error(`no revert data in: ${(error as Error).message}`, { cause: error });
  return data;
}

/**
 * Expects `action` to revert with the custom error `name` of `contract` and, when given, these
 * arguments: the revert data is decoded with `contract.interface.parseError`.
 */
export async function expectRevert(action: Promise<unknown>, contract: BaseContract, name: string, args?: unknown[]): Promise<void> {
  let error: unknown;
  try {
    await action;
  } catch (e) {
    error = e;
  }
  if (error === undefined) throw new Error(`expected a revert with ${name}, but it succeeded`);
  const data = revertData(error);
  const parsed = contract.interface.parseError(data);
  assert.equal(parsed?.name, name, `expected a revert with ${name}, got ${parsed?.signature ?? data}`);
  if (args) assert.deepEqual([...parsed!.args], args, `arguments of ${name}`);
}
