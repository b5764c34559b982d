// The studio on top of collab: the beat clock's message type, the update log read as a replay (HTTP
// reads and a /replay/:doc player), MIDI import and export.
import { collabModule } from '../collab/module.js';
import { defineModule } from '../modules/contract.js';
import { answerClockRequest, CLOCK_MESSAGE, preciseNow } from './clock.js';
import { ReplayService } from './replay-service.js';
import { ReplayStore } from './replay-store.js';
import { registerStudioRoutes } from './routes.js';

export const studioModule = defineModule({
  name: 'studio',
  settings: null,
  async start(ctx) {
    const collab = ctx.use(collabModule);
    // Clients sample the server's time over their session's socket.
    collab.registerMessageType(CLOCK_MESSAGE, (request) => answerClockRequest(request, preciseNow()));
    const replay = new ReplayStore(ctx.storage, undefined, undefined, (tenantId, docId) => collab.persisted(tenantId, docId));
    let player: ReplayService | null = null;
    return {
      api: { replay },
      routes: () => {
        registerStudioRoutes(ctx.http, { collab, replay });
        player = new ReplayService(replay, ctx.ws, ctx.logger, collab.settings.maxDocBytes);
      },
      close: async () => player?.close(),
    };
  },
});
