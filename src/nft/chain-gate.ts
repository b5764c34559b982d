// The chain as the module's routes reach it. A configured chain (VEZA_NFT_RPC_URL) is opened when
// the module starts; the local development chain (anvil beside the server) starts at its first use,
// so a server whose users never mint runs no second process and deploys nothing. Either way one
// opening is shared by every caller, and a chain that cannot be opened turns the module off with the
// reason (its routes answer 503).
import type { HttpError } from '../server/errors.js';
import { AnvilMissing, type OpenedChain } from './chain/index.js';
import { unavailable } from './routes.js';

export interface Off {
  reason: string;
  fix?: string;
}

/** Why the chain could not be opened, as the start-up report and /healthz say it. */
export function offFor(error: unknown): Off {
  if (error instanceof AnvilMissing) return { reason: 'anvil is not installed for the local chain', fix: 'npm install (it brings @foundry-rs/anvil)' };
  return { reason: error instanceof Error ? error.message : String(error), fix: 'set VEZA_NFT_RPC_URL and VEZA_NFT_CHAIN_ID (see docs/nft.md)' };
}

export class ChainGate {
  private chain: OpenedChain | null = null;
  private opening: Promise<OpenedChain> | null = null;

  /**
   * @param open opens the chain (called once)
   * @param opened runs once the chain is open (the indexer starts there)
   * @param off set when the module is off before any opening (turned off by a setting)
   */
  constructor(
    private readonly open: () => Promise<OpenedChain>,
    private readonly opened: (chain: OpenedChain) => void,
    private off: Off | null,
  ) {}

  /** The open chain, or null while it has not been opened (or cannot be). */
  current(): OpenedChain | null {
    return this.chain;
  }

  /** Why the module is off; null while it is on (opened or not yet). */
  reason(): Off | null {
    return this.off;
  }

  /** Marks the module off for a reason found after start (bounces unavailable). */
  turnOff(off: Off): void {
    this.off = off;
  }

  /** The chain, opened now if it was not; a 503 problem when the module is off or the opening fails. */
  async get(): Promise<OpenedChain> {
    if (this.off) throw this.refusal();
    if (this.chain) return this.chain;
    this.opening ??= this.open().then(
      (chain) => {
        this.chain = chain;
        this.opened(chain);
        return chain;
      },
      (error: unknown) => {
        this.off = offFor(error);
        throw this.refusal();
      },
    );
    return this.opening;
  }

  /** Waits for an opening under way (shutdown closes what it opened). */
  async settled(): Promise<OpenedChain | null> {
    return this.opening ? this.opening.catch(() => null) : this.chain;
  }

  private refusal(): HttpError {
    return unavailable(this.off);
  }
}
