// The `gamification` consumer group: every event goes through the rules engine (one transaction per
// event that concerns a rule or quest, exactly once), derived events leave through the outbox, and
// the leaderboard moves go to the main thread, whose store serves and pushes them.
import type { ConsumerModule } from '../consumers/contract.js';
import { GamificationEngine } from './engine.js';
import { Outbox } from './outbox.js';

/** Events applied at once (each in its own transaction). */
const CONCURRENCY = 8;
/** How often the outbox is swept for what a crash left unpublished. */
const SWEEP_EVERY_MS = 15_000;

export const gamificationConsumer: ConsumerModule = {
  name: 'gamification',
  async start({ storage, bus, logger, host }) {
    const outbox = new Outbox(storage, bus, logger);
    const engine = new GamificationEngine(storage, outbox);
    host.handle('gamification.rules-changed', (tenantId) => engine.invalidate(tenantId));
    const subscription = await bus.subscribe(
      'gamification',
      async (event) => {
        const updates = await engine.handle(event);
        if (updates.length > 0) await host.call('gamification.boards', updates);
      },
      { concurrency: CONCURRENCY },
    );
    outbox.startSweeper(SWEEP_EVERY_MS);
    return {
      async close() {
        await subscription.close();
        outbox.stop();
      },
    };
  },
};
