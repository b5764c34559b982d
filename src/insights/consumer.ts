// The insights module's consumer: the rollups' writer as the `insights` consumer group, and the
// periodic alert checks. Stored events go back to the main thread, whose live dashboards they move.
import type { ConsumerModule } from '../consumers/contract.js';
import { InsightsService } from './service.js';

export const insightsConsumer: ConsumerModule = {
  name: 'insights',
  async start({ config, storage, bus, logger, host }) {
    const service = new InsightsService({ storage, bus, logger, alertIntervalS: config.insights.alertIntervalS, onStored: (events) => host.notify('insights.stored', events) });
    const consuming = await service.consume();
    return {
      async close() {
        await consuming.close();
        await service.close();
      },
    };
  },
  // Alerts are checked on a timer for the creators with a webhook, whether or not events come. Across tenants: the owner connection.
  async workWaiting({ config, storage }) {
    if (config.insights.alertIntervalS === 0) return false;
    return (await storage.db.selectFrom('ins_webhooks').select('id').limit(1).executeTakeFirst()) !== undefined;
  },
};
