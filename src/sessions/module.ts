// Sessions as files: export and import of a whole session (bundles), and the example sessions a new
// user finds on the embedded database.
import { collabModule } from '../collab/module.js';
import { defineModule } from '../modules/contract.js';
import { importExampleSessions, type ExampleSessions } from './examples.js';
import { registerSessionBundleRoutes } from './routes.js';
import { SessionBundles } from './store.js';

export const sessionsModule = defineModule({
  name: 'sessions',
  settings: 'sessions',
  async start(ctx) {
    const collab = ctx.use(collabModule);
    const bundles = new SessionBundles(ctx.storage, (tenantId, docId) => collab.persisted(tenantId, docId));
    const wanted = ctx.settings.examples === 'auto' ? ctx.deployment.dev && ctx.storage.kind === 'pglite' : ctx.settings.examples;
    const examples: ExampleSessions | null = wanted ? await importExampleSessions(bundles, ctx.logger) : null;
    // A bundle holds the document's updates base64-encoded in JSON, with room for its metadata.
    const maxBundleBytes = Math.ceil(collab.settings.maxDocBytes * 1.4) + (1 << 20);
    return {
      api: { bundles, examples },
      routes: () => registerSessionBundleRoutes(ctx.http, { bundles, maxBundleBytes }),
    };
  },
});
