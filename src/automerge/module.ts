// Automerge documents through automerge-repo's WebSocket protocol, on the same storage and tokens.
import { collabModule } from '../collab/module.js';
import { defineModule } from '../modules/contract.js';
import { AutomergeService } from './service.js';

export const automergeModule = defineModule({
  name: 'automerge',
  settings: null,
  async start(ctx) {
    const { storage, ws, metrics, logger } = ctx;
    const maxBackpressureBytes = ctx.use(collabModule).settings.maxBackpressureBytes;
    const automerge = new AutomergeService({ storage, ws, metrics, logger, maxBackpressureBytes });
    return { api: automerge, routes: () => automerge.registerRoutes(), close: () => automerge.close() };
  },
});
