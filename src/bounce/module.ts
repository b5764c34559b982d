// Bounces: a session rendered to audio (fluidsynth + a GM soundfont, then FLAC through ffmpeg) at a
// moment, stored content-addressed. Editions are minted from bounces; mastering starts from them.
// Off, with the reason and the install command, where the tools are missing.
import { collabModule } from '../collab/module.js';
import { defineModule } from '../modules/contract.js';
import { historyModule } from '../history/module.js';
import { ContentStore } from '../nft/content.js';
import { studioModule } from '../studio/module.js';
import { registerBounceRoutes } from './routes.js';
import { BounceService } from './service.js';
import { locateBounceTools, type BounceTools } from './tools.js';

export const bounceModule = defineModule({
  name: 'bounce',
  settings: null,
  async start(ctx) {
    const collab = ctx.use(collabModule);
    const { versions } = ctx.use(historyModule);
    const { replay } = ctx.use(studioModule);
    const tools: BounceTools = locateBounceTools();
    const content = new ContentStore(ctx.storage, ctx.deployment.dataDir, ctx.logger);
    const bounces = tools.available ? new BounceService({ storage: ctx.storage, versions, replay, content, tools, logger: ctx.logger, persisted: (tenantId, sessionId) => collab.persisted(tenantId, sessionId), bus: ctx.bus }) : null;
    const off = tools.available ? null : { reason: tools.reason, fix: tools.fix };
    if (off) ctx.logger.warn(off, 'bounces are off');
    return {
      api: { bounces, content, off },
      routes: () => registerBounceRoutes(ctx.http, { bounces, content, off }),
      health: [{ name: 'bounce', status: () => (tools.available ? { on: true, soundfont: tools.soundfont.split('/').at(-1) } : { on: false, reason: tools.reason, fix: tools.fix }) }],
      report: () => [{ name: 'bounce', state: tools.available ? { on: true, detail: `fluidsynth with ${tools.soundfont.split('/').at(-1)}, FLAC through ffmpeg` } : { on: false, reason: tools.reason, fix: tools.fix } }],
      close: async () => {
        await bounces?.drain();
        content.close();
      },
    };
  },
});
