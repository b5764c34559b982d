// Automerge documents through automerge-repo's WebSocket protocol, on the same storage, tokens,
// memory budget and Redis streams as the Yjs documents.
import { collabModule } from '../collab/module.js';
import { defineModule } from '../modules/contract.js';
import { AutomergeService } from './service.js';

export const automergeModule = defineModule({
  name: 'automerge',
  settings: 'automerge',
  async start(ctx) {
    const { settings, deployment, storage, ws, metrics, logger, auth } = ctx;
    const collab = ctx.use(collabModule);
    const automerge = await new AutomergeService({
      settings,
      maxBackpressureBytes: collab.settings.maxBackpressureBytes,
      redis: deployment.redisUrl ? { url: deployment.redisUrl, prefix: `${collab.settings.streamPrefix}automerge:` } : null,
      budget: collab.memoryBudget,
      expiresAt: (principal) => auth.expiresAt(principal),
      storage,
      ws,
      metrics,
      logger,
    }).start();
    return {
      api: automerge,
      routes: () => automerge.registerRoutes(),
      // Loaded documents and their memory; storage writes that fail, retried with backoff.
      health: [{ name: 'automerge', status: () => automerge.health() }],
      close: () => automerge.close(),
    };
  },
});
