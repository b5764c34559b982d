// The `webhooks` consumer group: each public event (event-types.ts) becomes a stored message and a
// delivery per subscribed endpoint (outbox.ts), then the sender, running beside it, sends what is
// due. Both live where the consumers live (their thread, or their own processes with Redis), off
// the realtime path; the sender picks up after a restart whatever the database still holds.
import type { ConsumerModule } from '../consumers/contract.js';
import { WEBHOOK_EVENT_TYPES } from './event-types.js';
import { WebhookOutbox } from './outbox.js';
import { WebhookSender } from './sender.js';

export const webhooksConsumer: ConsumerModule = {
  name: 'webhooks',
  async start({ config, storage, bus, logger }) {
    const settings = config.webhooks;
    const log = logger.child({ module: 'webhooks' });
    const sender = new WebhookSender(storage, settings, log);
    const outbox = new WebhookOutbox(storage, settings.retrySchedule[0] ?? 0);
    const subscription = await bus.subscribe(
      'webhooks',
      async (event) => {
        if ((await outbox.enqueue(event)) > 0) sender.nudge();
      },
      { types: WEBHOOK_EVENT_TYPES, concurrency: 8 },
    );
    sender.start();
    return {
      close: async () => {
        await subscription.close();
        await sender.close();
      },
    };
  },
  // Deliveries still pending (a restart, or retries scheduled before it): the sender has work before
  // any new event. Across tenants: the owner connection, as the sender's claim uses.
  async workWaiting({ storage }) {
    return (await storage.db.selectFrom('wh_deliveries').select('id').where('state', '=', 'pending').limit(1).executeTakeFirst()) !== undefined;
  },
};
