// Session history: versions of a session (named and automatic), opening one read-only, restoring one
// as a branch or into the session; who made what (authorship) and what changed between two moments
// (diffs), read from the update log. The automatic versions and the authorship of closed sessions
// are the `history` consumer's.
import { collabModule } from '../collab/module.js';
import { defineModule } from '../modules/contract.js';
import { studioModule } from '../studio/module.js';
import { registerAuthorshipRoutes } from './routes.js';
import { HistoryService } from './service.js';
import { registerVersionRoutes } from './version-routes.js';
import { VersionStore } from './versions.js';

export const historyModule = defineModule({
  name: 'history',
  settings: 'history',
  async start(ctx) {
    const collab = ctx.use(collabModule);
    const { replay } = ctx.use(studioModule);
    const versions = new VersionStore(ctx.storage, replay, (tenantId, sessionId) => collab.persisted(tenantId, sessionId));
    const history = new HistoryService(replay, ctx.storage);
    // A diff between versions: each ends at a log id (null: the empty session).
    const resolveVersion = async (tenantId: string, sessionId: string, versionId: string) => {
      const version = await versions.get(tenantId, sessionId, versionId);
      return version ? { uptoId: version.uptoId, at: version.at ?? Date.parse(version.createdAt) } : null;
    };
    return {
      api: { versions, history },
      routes: () => {
        registerVersionRoutes(ctx.http, { versions, collab, bus: ctx.bus, quotas: ctx.ws.quotas, logger: ctx.logger });
        registerAuthorshipRoutes(ctx.http, { history, resolveVersion });
      },
      close: async () => history.clear(),
    };
  },
});
