// Creator insights: queries over the rollups, reports, churn scores and live dashboards. The rollups'
// writer and the alerts run with the event consumers; the dashboards move with what they store.
import { defineModule } from '../modules/contract.js';
import { tenantsModule } from '../tenants/module.js';
import { registerInsightsRoutes, type ReportBrandSource } from './routes.js';
import { InsightsService } from './service.js';

export const insightsModule = defineModule({
  name: 'insights',
  settings: 'insights',
  async start(ctx) {
    const insights = new InsightsService({ storage: ctx.storage, bus: ctx.bus, logger: ctx.logger });
    // Reports wear the tenant's theme where the tenants module runs (side-module tests start without it).
    let brandFor: ReportBrandSource | undefined;
    try {
      const tenants = ctx.use(tenantsModule);
      brandFor = (tenantId, report) => tenants.reportBrand(tenantId, report);
    } catch {
      brandFor = undefined;
    }
    return {
      api: insights,
      routes: () => registerInsightsRoutes(ctx.http, ctx.ws, insights, brandFor),
      close: () => insights.close(),
    };
  },
});
