// The GraphQL API for the mobile and web clients: queries over HTTP at /graphql (POST, and GET for
// persisted queries), subscriptions over WebSocket at /graphql/ws. It reads through the services the
// REST routes use (collab's documents, the studio's sessions, gamification, recommendations), so the
// same tenant scoping applies; subscriptions follow the bus. Listed after the modules it reads.
import { collabModule } from '../collab/module.js';
import { gamificationModule } from '../gamification/module.js';
import { defineModule } from '../modules/contract.js';
import { recommendationsModule } from '../recommendations/module.js';
import { studioModule } from '../studio/module.js';
import type { GraphqlServices } from './context.js';
import { SessionContentCache } from './content-cache.js';
import { GraphqlEngine } from './engine.js';
import { LiveEvents } from './live-events.js';
import { loadManifest, PersistedQueries } from './persisted.js';
import { resolvers } from './resolvers.js';
import { registerGraphqlRoutes } from './routes.js';
import { buildVezaSchema } from './schema.js';
import { SessionListCache } from './session-list-cache.js';
import { registerGraphqlSocket } from './subscriptions.js';

/** A module's API when it runs in this process (tests start a few modules only), else null. */
function optional<A>(use: () => A): A | null {
  try {
    return use();
  } catch {
    return null;
  }
}

export const graphqlModule = defineModule({
  name: 'graphql',
  settings: 'graphql',
  async start(ctx) {
    const { settings } = ctx;
    const collab = ctx.use(collabModule);
    const { replay } = ctx.use(studioModule);
    const manifest = loadManifest(settings.manifest);
    if (settings.operations === 'allow-list' && manifest.size === 0) ctx.logger.warn('GraphQL runs in allow-list mode with no operations manifest: every operation is refused (build the web client)');
    const live = await new LiveEvents().start(ctx.bus);
    const contents = await new SessionContentCache(settings.contentCacheMax).follow(collab.writer, ctx.bus);
    // Tenants whose newest-sessions lists are kept (each list a few rows per limit asked for).
    const lists = await new SessionListCache(settings.contentCacheMax === 0 ? 0 : 1000).follow(collab.writer, ctx.bus);
    const services: GraphqlServices = {
      // A list of the tenant's newest sessions is kept; the rows of named sessions are read each time.
      sessions: (tenantId, limit, ids) => (ids === undefined ? lists.load(tenantId, limit, () => replay.sessions(tenantId, limit)) : replay.sessions(tenantId, limit, ids)),
      states: (tenantId, ids) => collab.states(tenantId, ids),
      gamification: optional(() => ctx.use(gamificationModule)),
      recommendations: optional(() => ctx.use(recommendationsModule)),
      live,
      contents,
      lists,
    };
    const persisted = new PersistedQueries(manifest, settings.persistedMax);
    const engine = new GraphqlEngine(buildVezaSchema(resolvers), persisted, settings);
    return {
      api: { engine, services, live },
      routes: () => {
        registerGraphqlRoutes(ctx.http, engine, services, settings.maxBatch);
        registerGraphqlSocket(ctx.ws, engine, services, (error) => ctx.logger.error({ err: error }, 'GraphQL socket failed'));
      },
      report: () => [
        {
          name: 'GraphQL',
          state: { on: true, detail: `/graphql and /graphql/ws; ${settings.operations === 'allow-list' ? `only the ${manifest.size} operations of the manifest` : `any operation, ${manifest.size} from the manifest`}` },
        },
      ],
      close: async () => {
        await live.close();
        await contents.close();
        await lists.close();
      },
    };
  },
});
