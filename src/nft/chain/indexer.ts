// The indexer: reads the five contracts' events (and the payouts of the splits our factory made)
// from the stored cursor to the head less the confirmations, in ranges of at most 2000 blocks, into
// the chain tables, then publishes nft.minted / nft.sold / nft.licensed for the new facts.
//
// Reorganisations: the hashes of the last 64 blocks read are kept. Before each read the cursor's
// block is looked up again; when its hash changed, the newest kept block whose hash still matches is
// the fork point: what was indexed above it is dropped (the running figures moved back) and read
// again from the chain as it now is. Deeper than 64 blocks, everything is read again from the
// deployment block (writes are idempotent by chain id, tx hash and log index).
//
// Publication is an outbox: the facts that become events carry `published`, set once the event is
// on the bus. An event's id is `nft:<chainId>:<txHash>:<logIndex>`, so a retry after a crash reaches
// each consumer group once. A published fact whose block a reorganisation removed is retracted: the
// rollback records it (nft_retractions, an outbox too) and `nft.retracted` names the event's id; a
// fact retracted n times and mined again is published as a new event, its id ending in `:n`
// (consumers dedupe by id, so the same id would be dropped). A fact dropped before it was published
// and mined again is the same event.
import type { Log } from 'ethers';
import { createEvent, type VezaEvent } from '../../events/catalog.js';
import type { EventBus } from '../../events/bus.js';
import type { Logger } from '../../log.js';
import type { Storage } from '../../storage/database.js';
import { DEFAULT_TENANT } from '../../storage/schema.js';
import { plainError } from './errors.js';
import { CursorMoved, factEventId, knownSplits, readCursor, recentBlocks, retractionsOf, rollBack, writeRange, type ChainAddresses, type ChainFact } from './indexer-store.js';
import type { OpenedChain, TokenContract } from './types.js';

/** The tenant (and session) a token belongs to, as the NFT module recorded it; null when unknown. */
export type TenantOfToken = (contract: TokenContract, tokenId: bigint) => Promise<{ tenantId: string; sessionId?: string } | null>;

export interface IndexerOptions {
  chain: OpenedChain;
  storage: Storage;
  bus: EventBus;
  logger: Logger;
  tenantOfToken?: TenantOfToken;
  /** Most blocks one log query spans (default and ceiling: 2000, what public RPC providers accept). */
  maxRange?: number;
}

export interface Indexer {
  /** Resolves once what the chain held when it was called is indexed and published. */
  caughtUp(): Promise<void>;
  close(): Promise<void>;
}

export const MAX_RANGE = 2000;
const KEEP_BLOCKS = 64;
const SPLIT_BATCH = 500;
const FACT_KINDS = new Set<ChainFact['kind']>(['EditionCreated', 'EditionMinted', 'VoucherRedeemed', 'RecordMinted', 'SplitCreated', 'PaymentReleased', 'ERC20PaymentReleased', 'Listed', 'Sold', 'Cancelled', 'LicenceSet']);

export function startIndexer(options: IndexerOptions): Indexer {
  const indexer = new ChainIndexer(options);
  indexer.start();
  return indexer;
}

class ChainIndexer implements Indexer {
  private readonly chainId: number;
  private readonly addresses: ChainAddresses & { splitFactory: string };
  private splits: Set<string> | null = null;
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** The last block indexed and published, and whether the outbox was empty after it. */
  private reached = -1;
  private failures = 0;
  private readonly maxRange: number;

  constructor(private readonly o: IndexerOptions) {
    this.maxRange = Math.max(1, Math.min(o.maxRange ?? MAX_RANGE, MAX_RANGE));
    const info = o.chain.info();
    this.chainId = info.chainId;
    const lower = (a: string) => a.toLowerCase();
    this.addresses = { editions: lower(info.contracts.editions), records: lower(info.contracts.records), splitFactory: lower(info.contracts.splitFactory), market: lower(info.contracts.market), licences: lower(info.contracts.licences) };
  }

  start(): void {
    this.schedule(0);
  }

  private schedule(delay: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.tick().then(
        () => {
          this.failures = 0;
          this.schedule(this.o.chain.pollMs);
        },
        (error: unknown) => {
          this.failures++;
          if (!this.closed) this.o.logger.warn({ err: plainError(error).message, failures: this.failures }, 'nft indexer: reading the chain failed; trying again');
          this.schedule(Math.min(this.o.chain.pollMs * 2 ** Math.min(this.failures, 5), 60_000));
        },
      );
    }, delay);
  }

  /** One pass, never two at once: a caller during a pass waits for it, then runs its own. */
  private tick(): Promise<void> {
    const pass = (this.running ?? Promise.resolve()).then(() => (this.closed ? undefined : this.pass()));
    const settled = pass.catch(() => undefined);
    this.running = settled;
    void settled.then(() => {
      if (this.running === settled) this.running = null;
    });
    return pass;
  }

  async caughtUp(): Promise<void> {
    const target = (await this.o.chain.provider.getBlockNumber()) - this.o.chain.confirmations;
    while (this.reached < target) {
      if (this.closed) throw new Error('the indexer is closed');
      await this.tick();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  private async pass(): Promise<void> {
    try {
      await this.read();
    } catch (error) {
      // Another node indexes the same database: this pass stops, the next one starts from its cursor.
      if (!(error instanceof CursorMoved)) throw error;
      this.splits = null;
      return;
    }
    await this.publish();
  }

  private async read(): Promise<void> {
    const { provider, confirmations, deployedAt } = this.o.chain;
    const db = this.o.storage.db;
    const head = await provider.getBlockNumber();
    const safe = head - confirmations;
    let cursor = await readCursor(db, this.chainId);
    if (cursor) {
      const block = cursor.blockNumber <= head ? await provider.getBlock(cursor.blockNumber) : null;
      if (block?.hash !== cursor.blockHash) {
        await this.reorganised(head, cursor.blockNumber);
        cursor = await readCursor(db, this.chainId);
      }
    }
    let after = cursor?.blockNumber ?? null;
    let from = cursor ? cursor.blockNumber + 1 : deployedAt;
    while (from <= safe && !this.closed) {
      const to = Math.min(from + this.maxRange - 1, safe);
      await this.readRange(after, from, to, safe);
      after = to;
      from = to + 1;
    }
    this.reached = from - 1;
  }

  /** Finds the fork point among the kept hashes and drops what was indexed above it. */
  private async reorganised(head: number, cursorAt: number): Promise<void> {
    const { provider, deployedAt } = this.o.chain;
    const db = this.o.storage.db;
    const kept = await recentBlocks(db, this.chainId);
    for (const b of kept) {
      if (b.blockNumber > head) continue;
      const block = await provider.getBlock(b.blockNumber);
      if (block?.hash === b.blockHash) {
        this.o.logger.warn({ chainId: this.chainId, fork: b.blockNumber, dropped: (kept[0]?.blockNumber ?? b.blockNumber) - b.blockNumber }, 'nft indexer: the chain reorganised; reading the blocks after the fork again');
        await rollBack(db, this.chainId, cursorAt, b.blockNumber, b.blockHash, this.addresses);
        this.splits = null;
        this.reached = Math.min(this.reached, b.blockNumber);
        return;
      }
    }
    // Deeper than the kept hashes: everything from the deployment is dropped and read again.
    const fork = deployedAt - 1;
    this.o.logger.warn({ chainId: this.chainId, fork }, 'nft indexer: the chain reorganised beyond the kept blocks; reading it again from the deployment');
    await rollBack(db, this.chainId, cursorAt, fork, null, this.addresses);
    this.splits = null;
    this.reached = -1;
  }

  private async readRange(after: number | null, from: number, to: number, safe: number): Promise<void> {
    const { provider, interfaces } = this.o.chain;
    const a = this.addresses;
    const contracts = [a.editions, a.records, a.splitFactory, a.market, a.licences];
    const logs: Log[] = await provider.getLogs({ address: contracts, fromBlock: from, toBlock: to });
    this.splits ??= new Set(await knownSplits(this.o.storage.db, this.chainId));
    const splits = new Set(this.splits);
    for (const log of logs) {
      if (log.address.toLowerCase() !== a.splitFactory) continue;
      const parsed = interfaces.splitFactory.parseLog(log);
      if (parsed?.name === 'SplitCreated') splits.add(String(parsed.args.getValue('split')).toLowerCase());
    }
    const releaseTopics = [interfaces.split.getEvent('PaymentReleased')!.topicHash, interfaces.split.getEvent('ERC20PaymentReleased')!.topicHash];
    const list = [...splits];
    for (let i = 0; i < list.length; i += SPLIT_BATCH) {
      logs.push(...(await provider.getLogs({ address: list.slice(i, i + SPLIT_BATCH), topics: [releaseTopics], fromBlock: from, toBlock: to })));
    }
    logs.sort((x, y) => x.blockNumber - y.blockNumber || x.index - y.index);

    // The hashes kept: the cursor's block, and the last 64 below the safe head.
    const blocks: { blockNumber: number; blockHash: string }[] = [];
    const first = to < safe - KEEP_BLOCKS ? to : Math.max(from, safe - KEEP_BLOCKS + 1);
    for (let n = first; n <= to; n++) {
      const block = await provider.getBlock(n);
      if (!block?.hash) throw new Error(`block ${n} is gone: the chain changed while it was read`);
      blocks.push({ blockNumber: n, blockHash: block.hash });
    }
    const hashes = new Map(blocks.map((b) => [b.blockNumber, b.blockHash]));
    const facts: ChainFact[] = [];
    for (const log of logs) {
      if (log.removed) continue;
      const known = hashes.get(log.blockNumber);
      if (known && known !== log.blockHash) throw new Error(`block ${log.blockNumber} changed while it was read`);
      const fact = this.decode(log, splits);
      if (fact) facts.push(fact);
    }
    await writeRange(this.o.storage.db, this.chainId, after, facts, blocks, a, KEEP_BLOCKS);
    this.splits = splits;
  }

  private decode(log: Log, splits: Set<string>): ChainFact | null {
    const address = log.address.toLowerCase();
    const { interfaces } = this.o.chain;
    const a = this.addresses;
    const iface =
      address === a.editions ? interfaces.editions
      : address === a.records ? interfaces.records
      : address === a.splitFactory ? interfaces.splitFactory
      : address === a.market ? interfaces.market
      : address === a.licences ? interfaces.licences
      : splits.has(address) ? interfaces.split
      : null;
    const parsed = iface?.parseLog(log);
    if (!parsed || !FACT_KINDS.has(parsed.name as ChainFact['kind'])) return null;
    const args: Record<string, unknown> = {};
    parsed.fragment.inputs.forEach((input, i) => (args[input.name] = parsed.args[i]));
    return { kind: parsed.name as ChainFact['kind'], address, blockNumber: log.blockNumber, txHash: log.transactionHash, logIndex: log.index, args };
  }

  /** Publishes the facts not yet on the bus, oldest first, marking each once it is. */
  private async publish(): Promise<void> {
    const db = this.o.storage.db;
    const chain = String(this.chainId);
    // Retractions first: a consumer hears that a fact left the chain before it hears of what replaced it.
    for (;;) {
      const retractions = await db.selectFrom('nft_retractions').selectAll().where('chain_id', '=', chain).where('published', '=', false).orderBy('retracted_at').orderBy('block_number', 'desc').limit(200).execute();
      if (retractions.length === 0) break;
      for (const r of retractions) {
        if (this.closed) return;
        const event = await this.retracted(r);
        if (event) await this.o.bus.publish(event);
        await db.updateTable('nft_retractions').set({ published: true }).where('chain_id', '=', chain).where('event_id', '=', r.event_id).execute();
      }
    }
    for (;;) {
      const [mints, sales, licences] = await Promise.all([
        db.selectFrom('nft_mints').selectAll().where('chain_id', '=', chain).where('published', '=', false).orderBy('block_number').orderBy('log_index').limit(200).execute(),
        db.selectFrom('nft_sales').selectAll().where('chain_id', '=', chain).where('published', '=', false).orderBy('block_number').orderBy('log_index').limit(200).execute(),
        db.selectFrom('nft_licences').selectAll().where('chain_id', '=', chain).where('published', '=', false).orderBy('block_number').orderBy('log_index').limit(200).execute(),
      ]);
      const pending = [
        ...mints.map((row) => ({ table: 'nft_mints' as const, row, build: () => this.minted(row) })),
        ...sales.map((row) => ({ table: 'nft_sales' as const, row, build: () => this.sold(row) })),
        ...licences.map((row) => ({ table: 'nft_licences' as const, row, build: () => this.licensed(row) })),
      ].sort((x, y) => Number(x.row.block_number) - Number(y.row.block_number) || x.row.log_index - y.row.log_index);
      if (pending.length === 0) return;
      for (const p of pending) {
        if (this.closed) return;
        const event = await p.build();
        if (event) await this.o.bus.publish(event);
        await db.updateTable(p.table).set({ published: true }).where('chain_id', '=', chain).where('tx_hash', '=', p.row.tx_hash).where('log_index', '=', p.row.log_index).execute();
      }
    }
  }

  private contractKey(address: string): TokenContract | null {
    return address === this.addresses.editions ? 'editions' : address === this.addresses.records ? 'records' : null;
  }

  /** The envelope and the common part of the payload; null for a token that is not ours. */
  private async base(contractAddress: string, tokenId: string, row: { tx_hash: string; log_index: number; block_number: unknown }) {
    const contract = this.contractKey(contractAddress);
    if (!contract) return null;
    const owner = (await this.o.tenantOfToken?.(contract, BigInt(tokenId))) ?? null;
    const generation = await retractionsOf(this.o.storage.db, String(this.chainId), row.tx_hash, row.log_index);
    return {
      id: factEventId(this.chainId, row.tx_hash, row.log_index, generation),
      tenantId: owner?.tenantId ?? DEFAULT_TENANT,
      common: { chainId: this.chainId, contract, tokenId, txHash: row.tx_hash, logIndex: row.log_index, blockNumber: Number(row.block_number), ...(owner?.sessionId ? { sessionId: owner.sessionId } : {}) },
    };
  }

  private async retracted(row: { event_id: string; event_type: 'nft.minted' | 'nft.sold' | 'nft.licensed'; contract: string; token_id: string; tx_hash: string; log_index: number; block_number: unknown }): Promise<VezaEvent | null> {
    const b = await this.base(row.contract, row.token_id, row);
    return b && createEvent('nft.retracted', { id: `nft-retracted:${row.event_id}`, tenantId: b.tenantId, payload: { ...b.common, retractedId: row.event_id, retractedType: row.event_type } });
  }

  private async minted(row: { contract: string; token_id: string; to_address: string; amount: string; paid: string; tx_hash: string; log_index: number; block_number: unknown }): Promise<VezaEvent | null> {
    const b = await this.base(row.contract, row.token_id, row);
    return b && createEvent('nft.minted', { id: b.id, tenantId: b.tenantId, payload: { ...b.common, to: row.to_address, amount: row.amount, paid: row.paid } });
  }

  private async sold(row: { token: string; token_id: string; listing_id: string; seller: string; buyer: string; amount: string; currency: string; paid: string; royalty_receiver: string; royalty_paid: string; tx_hash: string; log_index: number; block_number: unknown }): Promise<VezaEvent | null> {
    const b = await this.base(row.token, row.token_id, row);
    return (
      b &&
      createEvent('nft.sold', {
        id: b.id,
        tenantId: b.tenantId,
        payload: { ...b.common, listingId: row.listing_id, seller: row.seller, buyer: row.buyer, amount: row.amount, currency: row.currency, paid: row.paid, royaltyReceiver: row.royalty_receiver, royaltyPaid: row.royalty_paid },
      })
    );
  }

  private async licensed(row: { token: string; token_id: string; terms: number; audio_hash: string; state_hash: string; tx_hash: string; log_index: number; block_number: unknown }): Promise<VezaEvent | null> {
    const b = await this.base(row.token, row.token_id, row);
    return b && createEvent('nft.licensed', { id: b.id, tenantId: b.tenantId, payload: { ...b.common, terms: row.terms, audioHash: row.audio_hash, stateHash: row.state_hash } });
  }
}
