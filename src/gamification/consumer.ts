// The `gamification` consumer group: every event goes through the rules engine (exactly once: each
// event is recorded as applied in the transaction that applies it), derived events leave through the
// outbox, and the leaderboard moves go to the main thread, whose store serves and pushes them.
// Events are gathered for a moment and applied in one transaction per tenant and batch; should a
// batch fail, its events are applied one by one, so one bad event does not take others with it.
import type { ConsumerModule } from '../consumers/contract.js';
import type { VezaEvent } from '../events/catalog.js';
import { GamificationEngine } from './engine.js';
import type { LeaderboardUpdate } from './leaderboards.js';
import { Outbox } from './outbox.js';

/** How often the outbox is swept for what a crash left unpublished. */
const SWEEP_EVERY_MS = 15_000;
const BATCH_MS = 25;
const MAX_BATCH = 200;

interface Waiting {
  event: VezaEvent;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class EngineBatcher {
  private pending = new Map<string, Waiting[]>();
  private size = 0;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly engine: GamificationEngine,
    private readonly applyBoards: (updates: LeaderboardUpdate[]) => Promise<void>,
  ) {}

  /** Resolves once the event is applied and its leaderboard moves are handed over. */
  handle(event: VezaEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      const list = this.pending.get(event.tenantId) ?? [];
      list.push({ event, resolve, reject });
      this.pending.set(event.tenantId, list);
      if (++this.size >= MAX_BATCH) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), BATCH_MS);
    });
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const pending = this.pending;
    this.pending = new Map();
    this.size = 0;
    this.chain = this.chain.then(async () => {
      for (const [tenantId, list] of pending) await this.apply(tenantId, list);
    });
    return this.chain;
  }

  private async apply(tenantId: string, list: Waiting[]): Promise<void> {
    try {
      const updates = await this.engine.handleBatch(tenantId, list.map((w) => w.event));
      const moves = [...updates.values()].flat();
      if (moves.length > 0) await this.applyBoards(moves);
      list.forEach((w) => w.resolve());
    } catch {
      // One by one: the events that can be applied are, the one that cannot fails alone (and is retried, then parked, by the bus).
      for (const w of list) {
        try {
          const moves = await this.engine.handle(w.event);
          if (moves.length > 0) await this.applyBoards(moves);
          w.resolve();
        } catch (error) {
          w.reject(error);
        }
      }
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
};
