// Creator insights: queries over the rollups, reports, churn scores and live dashboards. The rollups'
// writer and the alerts run with the event consumers; the dashboards move with what they store.
import { defineModule } from '../modules/contract.js';
import { registerInsightsRoutes } from './routes.js';
import { InsightsService } from './service.js';

export const insightsModule = defineModule({
  name: 'insights',
  settings: 'insights',
  async start(ctx) {
    const insights = new InsightsService({ storage: ctx.storage, bus: ctx.bus, logger: ctx.logger });
    return {
      api: insights,
      routes: () => registerInsightsRoutes(ctx.http, ctx.ws, insights),
      close: () => insights.close(),
    };
  },
});
