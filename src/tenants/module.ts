// Tenants: admission of a token's tenant (unknown: 401, suspended: 403, at every request and
// WebSocket upgrade), the operator API, and every node told of a change through the bus; each
// tenant's credentials (its identity provider and API keys) are started from credentials.ts.
import { createEvent } from '../events/catalog.js';
import { defineModule } from '../modules/contract.js';
import { CloseCode } from '../server/errors.js';
import { startCredentials } from './credentials.js';
import { startDomains } from './domain-routes.js';
import { startMetering } from './metering-module.js';
import { startQuotas } from './quota-routes.js';
import { startTenantLifecycle } from './lifecycle-routes.js';
import { TENANT_RELOAD_MS, TenantError, TenantRegistry, type TenantStatus } from './registry.js';
import { registerTenantRoutes } from './routes.js';

export const tenantsModule = defineModule({
  name: 'tenants',
  settings: 'tenants',
  async start(ctx) {
    const { storage, bus, auth, ws, logger } = ctx;
    const registry = new TenantRegistry(storage);
    await registry.load();
    auth.admitTenantsWith((tenantId) => registry.admit(tenantId));
    const credentials = await startCredentials(ctx, registry);
    const closeSuspended = (tenantId: string) => {
      const status = registry.status(tenantId);
      if (status !== 'suspended' && status !== 'deleting') return;
      const closed = ws.closeWhere((principal) => principal.tenantId === tenantId, CloseCode.forbidden, `tenant ${tenantId} ${status === 'deleting' ? 'is being deleted' : 'is suspended'}`);
      if (closed > 0) logger.info({ tenant: tenantId, closed, status }, 'closed the sockets of a refused tenant');
    };
    const subscription = await bus.subscribe(
      'tenants',
      async (event) => {
        await registry.reload(event.tenantId);
        closeSuspended(event.tenantId);
      },
      { types: ['tenant.changed'], ephemeral: true },
    );
    const changed = async (tenantId: string, status: TenantStatus | 'deleted') => {
      closeSuspended(tenantId);
      await bus.publish(createEvent('tenant.changed', { tenantId, payload: { status } }));
    };
    const deletion = startTenantLifecycle(ctx, registry, changed);
    const operations = {
      list: () => registry.list(),
      get: (id: string) => registry.get(id),
      create: async (input: { id: string; name: string }) => {
        const tenant = await registry.create(input);
        await changed(tenant.id, tenant.status);
        return tenant;
      },
      setStatus: async (id: string, status: TenantStatus) => {
        if (status === 'suspended' && registry.status(id) === 'deleting') throw new TenantError('exists', `tenant ${id} is being deleted; resume it to cancel the deletion`);
        const tenant = await registry.setStatus(id, status);
        if (status === 'active') await deletion.lifecycle.cancel(id);
        await changed(id, status);
        return tenant;
      },
    };
    // Without Redis, a change the CLI made in PostgreSQL reaches no bus: read the tenants again now and then.
    const reload =
      storage.kind === 'postgres' && !ctx.deployment.redisUrl
        ? setInterval(() => {
            registry.load().then(
              (suspended) => suspended.forEach(closeSuspended),
              (error: unknown) => logger.warn({ err: error }, 'could not read the tenants again'),
            );
          }, TENANT_RELOAD_MS)
        : null;
    reload?.unref();
    const domains = await startDomains(ctx, registry);
    const metering = await startMetering(ctx, registry);
    const quotas = await startQuotas(ctx, registry);
    return {
      api: { registry, lifecycle: deletion.lifecycle, ...operations, ...domains.api, metering: metering.api, credentials, quotas: quotas.quotas },
      routes: () => {
        registerTenantRoutes(ctx.http, operations);
        deletion.routes();
        credentials.routes();
        domains.routes();
        metering.routes();
        quotas.routes();
      },
      close: async () => {
        if (reload) clearInterval(reload);
        await deletion.close();
        await credentials.close();
        await domains.close();
        await subscription.close();
        await metering.close();
        await quotas.close();
      },
    };
  },
});
