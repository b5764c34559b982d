// Sending transactions: one queue per signer, so that concurrent calls from one wallet take
// successive nonces (ethers' NonceManager counts them; the queue keeps a refused call from leaving
// a gap). Each call is estimated first, so a revert is refused (and decoded) before anything is
// signed; then the wallet's balance is checked against value + gas at the current fee.
import { ContractFactory, isError, NonceManager, type Contract, type Interface, type InterfaceAbi, type Provider, type Signer, type TransactionReceipt } from 'ethers';
import { ChainRefusal, plainError, refusalOf } from './errors.js';

export interface TxResult {
  hash: string;
  blockNumber: number;
  gasUsed: bigint;
}

interface Lane {
  signer: NonceManager;
  tail: Promise<unknown>;
}

export class Sender {
  private readonly lanes = new Map<string, Lane>();

  constructor(
    private readonly provider: Provider,
    private readonly errors: Interface,
  ) {}

  private lane(signer: Signer & { address: string }): Lane {
    let lane = this.lanes.get(signer.address);
    if (!lane) {
      lane = { signer: new NonceManager(signer), tail: Promise.resolve() };
      this.lanes.set(signer.address, lane);
    }
    return lane;
  }

  /** Refuses with InsufficientFunds [needed, balance] when `address` cannot pay `needed`. */
  async ensureFunds(address: string, needed: bigint): Promise<void> {
    const balance = await this.provider.getBalance(address);
    if (balance < needed) throw new ChainRefusal('InsufficientFunds', [needed, balance]);
  }

  /** A read call, its revert decoded. */
  async read<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw refusalOf(error, this.errors) ?? plainError(error);
    }
  }

  /**
   * Calls `method` of `contract` as `signer` with `value` wei, waits for the receipt and returns it
   * with the transaction's result; reverts become ChainRefusal.
   */
  async send(signer: Signer & { address: string }, contract: Contract, method: string, args: unknown[], value = 0n): Promise<{ tx: TxResult; receipt: TransactionReceipt }> {
    const lane = this.lane(signer);
    // A nonce taken meanwhile by another sender of the same key (another node, a tool): counted again once.
    const attempt = () => this.submit(lane.signer, signer.address, contract, method, args, value);
    const run = lane.tail
      .then(() =>
        attempt().catch((error: unknown) => {
          if (isError(error, 'NONCE_EXPIRED')) return attempt();
          throw error;
        }),
      )
      .catch((error: unknown) => {
        throw plainError(error);
      });
    // The next call of this signer starts once this one was sent (or refused), not mined.
    lane.tail = run.then(
      () => undefined,
      () => undefined,
    );
    const sent = await run;
    let receipt: TransactionReceipt | null;
    try {
      receipt = await sent.wait();
    } catch (error) {
      throw refusalOf(error, this.errors) ?? plainError(error);
    }
    if (!receipt) throw new Error(`transaction ${sent.hash} has no receipt`);
    return { tx: { hash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed }, receipt };
  }

  /** Sends `value` wei from `signer` to `to`; refused when the wallet cannot pay it and the gas. */
  async transfer(signer: Signer & { address: string }, to: string, value: bigint): Promise<TxResult> {
    const lane = this.lane(signer);
    const run = lane.tail.then(async () => {
      try {
        const gasLimit = 21_000n;
        const fees = await this.provider.getFeeData();
        await this.ensureFunds(signer.address, value + gasLimit * (fees.maxFeePerGas ?? fees.gasPrice ?? 0n));
        return await lane.signer.sendTransaction({ to, value, gasLimit });
      } catch (error) {
        lane.signer.reset();
        throw refusalOf(error, this.errors) ?? plainError(error);
      }
    });
    lane.tail = run.then(
      () => undefined,
      () => undefined,
    );
    const receipt = await (await run).wait();
    if (!receipt) throw new Error('the transfer has no receipt');
    return { hash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed };
  }

  /** Deploys a contract as `signer`, in its lane (its nonce counted with the signer's other sends). */
  async deploy(signer: Signer & { address: string }, abi: InterfaceAbi, bytecode: string): Promise<{ address: string; tx: TxResult }> {
    const lane = this.lane(signer);
    const run = lane.tail.then(async () => {
      try {
        return await new ContractFactory(abi, bytecode, lane.signer).deploy();
      } catch (error) {
        lane.signer.reset();
        throw refusalOf(error, this.errors) ?? plainError(error);
      }
    });
    lane.tail = run.then(
      () => undefined,
      () => undefined,
    );
    const contract = await run;
    const receipt = await contract.deploymentTransaction()?.wait();
    if (!receipt) throw new Error('the deployment has no receipt');
    return { address: await contract.getAddress(), tx: { hash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed } };
  }

  private async submit(signer: NonceManager, from: string, contract: Contract, method: string, args: unknown[], value: bigint) {
    const fn = (contract.connect(signer) as Contract).getFunction(method);
    try {
      if (value > 0n) await this.ensureFunds(from, value);
      const gas = await fn.estimateGas(...args, { value });
      const gasLimit = gas + gas / 5n;
      const fees = await this.provider.getFeeData();
      const perGas = fees.maxFeePerGas ?? fees.gasPrice ?? 0n;
      await this.ensureFunds(from, value + gasLimit * perGas);
      return await fn.send(...args, { value, gasLimit });
    } catch (error) {
      // A call that was not sent must not hold a nonce.
      signer.reset();
      const refusal = refusalOf(error, this.errors);
      if (refusal?.error === 'InsufficientFunds' && refusal.args.length === 0) {
        const balance = await this.provider.getBalance(from);
        throw new ChainRefusal('InsufficientFunds', [value, balance]);
      }
      throw refusal ?? error;
    }
  }
}
