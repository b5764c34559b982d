// Tenants: admission of a token's tenant (unknown: 401, suspended: 403, at every request and
// WebSocket upgrade), the operator API, and every node told of a change through the bus.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createEvent } from '../events/catalog.js';
import { defineModule } from '../modules/contract.js';
import { CloseCode } from '../server/errors.js';
import { TENANT_RELOAD_MS, TenantRegistry, type TenantStatus } from './registry.js';
import { registerTenantRoutes } from './routes.js';

export const tenantsModule = defineModule({
  name: 'tenants',
  settings: null,
  async start(ctx) {
    const { storage, bus, auth, ws, logger } = ctx;
    const registry = new TenantRegistry(storage);
    await registry.load();
    auth.admitTenantsWith((tenantId) => registry.admit(tenantId));
    const closeSuspended = (tenantId: string) => {
      const closed = ws.closeWhere((principal) => principal.tenantId === tenantId, CloseCode.forbidden, `tenant ${tenantId} is suspended`);
      if (closed > 0) logger.info({ tenant: tenantId, closed }, 'closed the sockets of a suspended tenant');
    };
    // This node's own group: every node hears every change (the CLI's too, through Redis).
    const group = `tenants.${hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const subscription = await bus.subscribe(
      group,
      async (event) => {
        await registry.reload(event.tenantId);
        if (registry.status(event.tenantId) === 'suspended') closeSuspended(event.tenantId);
      },
      { types: ['tenant.changed'], ephemeral: true },
    );
    const changed = async (tenantId: string, status: TenantStatus) => {
      if (status === 'suspended') closeSuspended(tenantId);
      await bus.publish(createEvent('tenant.changed', { tenantId, payload: { status } }));
    };
    const operations = {
      list: () => registry.list(),
      get: (id: string) => registry.get(id),
      create: async (input: { id: string; name: string }) => {
        const tenant = await registry.create(input);
        await changed(tenant.id, tenant.status);
        return tenant;
      },
      setStatus: async (id: string, status: TenantStatus) => {
        const tenant = await registry.setStatus(id, status);
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
    return {
      api: { registry, ...operations },
      routes: () => registerTenantRoutes(ctx.http, operations),
      close: async () => {
        if (reload) clearInterval(reload);
        await subscription.close();
      },
    };
  },
});
