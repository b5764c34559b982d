// Recommendations: interaction signals, scheduled and on-demand training, ONNX serving, experiments.
// Its event consumer (the signals writer) runs with the other consumers, off the realtime thread.
import { defineModule } from '../modules/contract.js';
import { registerRecommendationRoutes } from './routes.js';
import { RecommendationService } from './service.js';

export const recommendationsModule = defineModule({
  name: 'recommendations',
  settings: 'recommendations',
  async start(ctx) {
    const { settings, deployment, storage, bus, logger } = ctx;
    const recommendations = await new RecommendationService({ settings, dataDir: deployment.dataDir, storage, bus, logger, keep: (text) => ctx.http.keep(text) }).start();
    return {
      api: recommendations,
      routes: () => registerRecommendationRoutes(ctx.http, recommendations, settings.maxImportBytes),
      close: () => recommendations.close(),
    };
  },
});
