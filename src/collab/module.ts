// Collaborative documents: y-websocket's protocol on /collab/:doc, the rooms and their group-commit
// writer. Other modules add message types to its protocol (the studio's beat clock).
import { defineModule } from '../modules/contract.js';
import { CollabService } from './service.js';

export const collabModule = defineModule({
  name: 'collab',
  settings: 'collab',
  async start(ctx) {
    const { settings, deployment, storage, bus, ws, metrics, logger } = ctx;
    const collab = new CollabService({ settings, dataDir: deployment.dataDir, redisUrl: deployment.redisUrl, storage, bus, ws, metrics, logger });
    await collab.start();
    return {
      api: collab,
      routes: () => collab.registerRoutes(),
      // Tenants whose update log writes fail: their updates wait in memory, retried with backoff.
      health: [{ name: 'collab', status: () => ({ documentsLoaded: collab.loadedRooms, memoryBytes: collab.memoryUsed(), memoryBudgetBytes: collab.settings.memoryBudgetBytes, failingTenants: collab.writer.failingTenants() }) }],
      close: async (deadline) => {
        if (!(await collab.close(deadline))) throw new Error('document updates were not all stored before the deadline');
      },
    };
  },
});
