// The `gamification` consumer group: every event goes through the rules engine (exactly once: each
// event is recorded as applied in the transaction that applies it), derived events leave through the
// outbox, and the leaderboard moves go to the main thread, whose store serves and pushes them.
// Events are gathered for a moment and applied in one transaction per tenant and batch; should a
// batch fail, its events are applied one by one, so one bad event does not take others with it.
import { SIDE_MODULE_BATCH_MS, TenantBatches } from '../consumers/batches.js';
import type { ConsumerModule } from '../consumers/contract.js';
import type { VezaEvent } from '../events/catalog.js';
import { GamificationEngine } from './engine.js';
import type { LeaderboardUpdate } from './leaderboards.js';
import { Outbox } from './outbox.js';

/** How often the outbox is swept for what a crash left unpublished. */
const SWEEP_EVERY_MS = 15_000;
const MAX_BATCH = 200;

export class EngineBatcher {
  private readonly batches: TenantBatches<VezaEvent>;

  constructor(
    private readonly engine: GamificationEngine,
    private readonly applyBoards: (updates: LeaderboardUpdate[]) => Promise<void>,
  ) {
    this.batches = new TenantBatches((tenantId, events) => this.apply(tenantId, events), { flushMs: SIDE_MODULE_BATCH_MS, maxBatch: MAX_BATCH });
  }

  /** Resolves once the event is applied and its leaderboard moves are handed over. */
  handle(event: VezaEvent): Promise<void> {
    return this.batches.add(event.tenantId, event);
  }

  flush(): Promise<void> {
    return this.batches.flush();
  }

  /** The whole batch in one transaction; should that fail, one event at a time, each with its own outcome. */
  private async apply(tenantId: string, events: VezaEvent[]): Promise<readonly unknown[] | void> {
    try {
      const updates = await this.engine.handleBatch(tenantId, events);
      const moves = [...updates.values()].flat();
      if (moves.length > 0) await this.applyBoards(moves);
      return;
    } catch {
      // The events that can be applied are; the one that cannot fails alone (and is retried, then parked, by the bus).
      const errors: unknown[] = [];
      for (const event of events) {
        try {
          const moves = await this.engine.handle(event);
          if (moves.length > 0) await this.applyBoards(moves);
          errors.push(undefined);
        } catch (error) {
          errors.push(error);
        }
      }
      return errors;
    }
  }
}

export const gamificationConsumer: ConsumerModule = {
  name: 'gamification',
  async start({ storage, bus, logger, host }) {
    const outbox = new Outbox(storage, bus, logger);
    const engine = new GamificationEngine(storage, outbox);
    host.handle('gamification.rules-changed', (tenantId) => engine.invalidate(tenantId));
    const batcher = new EngineBatcher(engine, (updates) => host.call('gamification.boards', updates));
    // Many in flight: each event waits for its batch.
    const subscription = await bus.subscribe('gamification', (event) => batcher.handle(event), { concurrency: 1000 });
    outbox.startSweeper(SWEEP_EVERY_MS);
    return {
      async close() {
        await subscription.close();
        await batcher.flush();
        outbox.stop();
      },
    };
  },
  // Derived events a crash left unpublished: the sweeper publishes them. Across tenants: the owner connection, as the sweep uses.
  async workWaiting({ storage }) {
    return (await storage.db.selectFrom('gam_outbox').select('event_id').where('published_at', 'is', null).limit(1).executeTakeFirst()) !== undefined;
  },
};
