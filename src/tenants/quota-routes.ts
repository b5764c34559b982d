// Quotas as the operator sets them and a tenant administrator reads them, and `startQuotas`, which
// the tenants module calls: the gate installed into the server's seam, the plan changes heard from
// every node through the bus, the metric of refusals.
import { Counter } from 'prom-client';
import { createEvent } from '../events/catalog.js';
import type { ModuleContext } from '../modules/contract.js';
import { forbidden, notFound } from '../server/errors.js';
import type { HttpRouter } from '../server/http.js';
import { LIMIT_MEANING, PLANS, quotaInput } from './quota-plans.js';
import { QuotaCluster } from './quota-cluster.js';
import { QuotaStore } from './quota-store.js';
import { TenantQuotas } from './quotas.js';
import { TenantError, type TenantRegistry } from './registry.js';
import { plansReply, quotaReply } from './reply-schemas.js';
import { operator } from './routes.js';

export interface StartedQuotas {
  quotas: TenantQuotas;
  routes(): void;
  close(): Promise<void>;
}

export async function startQuotas(ctx: ModuleContext<unknown>, registry: TenantRegistry): Promise<StartedQuotas> {
  const { storage, bus, logger, metrics, deployment } = ctx;
  const store = new QuotaStore(storage);
  const cluster = deployment.redisUrl ? await new QuotaCluster(deployment.redisUrl, `${deployment.eventsStream}:quotas`, logger).connect() : null;
  const refusals = new Counter({ name: 'veza_tenant_quota_refusals_total', help: 'Refusals over a tenant quota, by tenant and limit', labelNames: ['tenant', 'limit'], registers: [metrics.registry] });
  const quotas = await new TenantQuotas({ store, cluster, logger, refused: (tenant, limit) => refusals.inc({ tenant, limit }) }).start();
  const seams = new Set([ctx.http.quotas, ctx.ws.quotas]);
  for (const seam of seams) seam.install(quotas);
  const subscription = await bus.subscribe('quotas', (event) => quotas.changed(event.tenantId), { types: ['tenant.quotas_changed'], ephemeral: true });
  const view = async (tenantId: string) => {
    await registry.get(tenantId).catch(answer);
    return { tenant: tenantId, ...quotas.plan(tenantId), usage: quotas.usage(tenantId) };
  };
  return {
    quotas,
    routes: () =>
      registerQuotaRoutes(ctx.http, {
        view,
        set: async (tenantId, input) => {
          await store.set(tenantId, input.plan, input.overrides).catch(answer);
          await quotas.changed(tenantId);
          await bus.publish(createEvent('tenant.quotas_changed', { tenantId, payload: { plan: input.plan } }));
          return view(tenantId);
        },
      }),
    close: async () => {
      for (const seam of seams) seam.install(null);
      await subscription.close();
      await quotas.close();
    },
  };
}

function answer(error: unknown): never {
  if (error instanceof TenantError && error.code === 'not-found') throw notFound(error.message);
  throw error;
}

interface QuotaRouteDeps {
  view(tenantId: string): Promise<unknown>;
  set(tenantId: string, input: ReturnType<typeof quotaInput.parse>): Promise<unknown>;
}

function registerQuotaRoutes(http: HttpRouter, deps: QuotaRouteDeps): void {
  const required = { auth: 'required' } as const;
  const tag = 'tenants';
  http.route(
    'GET',
    '/api/v1/platform/plans',
    (ctx) => {
      operator(ctx);
      return { json: { plans: PLANS, limits: LIMIT_MEANING } };
    },
    { ...required, tag, summary: 'The plans and what each limit counts (operator)', responses: { 200: plansReply } },
  );
  http.route(
    'GET',
    '/api/v1/platform/tenants/:id/quotas',
    async (ctx) => {
      operator(ctx);
      return { json: await deps.view(ctx.params.id ?? '') };
    },
    { ...required, tag, summary: 'A tenant\'s plan, effective limits and usage (operator)', responses: { 200: quotaReply } },
  );
  http.route(
    'PUT',
    '/api/v1/platform/tenants/:id/quotas',
    async (ctx) => {
      operator(ctx);
      const input = await ctx.json(quotaInput);
      return { json: await deps.set(ctx.params.id ?? '', input) };
    },
    { ...required, tag, summary: 'Place a tenant on a plan, with overrides (operator)', body: quotaInput, responses: { 200: quotaReply } },
  );
  // A tenant's administrator reads its own limits and usage.
  http.route(
    'GET',
    '/api/v1/tenant/quotas',
    async (ctx) => {
      if (!ctx.principal?.admin) throw forbidden('a tenant administrator\'s credential is required');
      return { json: await deps.view(ctx.principal.tenantId) };
    },
    { ...required, tag, summary: 'The caller\'s tenant\'s plan, limits and usage (its administrator)', responses: { 200: quotaReply } },
  );
}
