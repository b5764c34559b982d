// Credentials per tenant: its own identity provider (the Authenticator verifies its tokens with its
// keys) and the API keys of its servers. Both are held in memory on every node and read again when
// the bus tells of a change (`tenant.credentials.changed`), so that a revocation reaches every node
// at once: the key is refused, and the sockets it opened are closed with 4401. A sweep closes the
// sockets of a rotated secret once its overlap ends; last-used times are written in batches.
import { createEvent, type EventPayload } from '../events/catalog.js';
import type { ModuleContext } from '../modules/contract.js';
import type { Principal } from '../server/auth.js';
import { CloseCode } from '../server/errors.js';
import { ApiKeyStore } from './api-keys.js';
import { registerCredentialRoutes } from './credential-routes.js';
import { TENANT_RELOAD_MS, type TenantRegistry } from './registry.js';
import { TenantTokenKeyStore } from './token-keys.js';

/** How often sockets opened by a rotated secret are checked against the end of its overlap. */
export const KEY_SWEEP_MS = 500;
/** How often the last-used times gathered in memory are written. */
export const LAST_USED_FLUSH_MS = 5_000;

type Change = EventPayload<'tenant.credentials.changed'>;

export interface Credentials {
  keys: ApiKeyStore;
  providers: TenantTokenKeyStore;
  routes(): void;
  close(): Promise<void>;
}

export async function startCredentials(ctx: ModuleContext<unknown>, registry: TenantRegistry): Promise<Credentials> {
  const { storage, bus, auth, ws, logger } = ctx;
  const keys = new ApiKeyStore(storage);
  const providers = new TenantTokenKeyStore(storage);
  await Promise.all([keys.load(), providers.load()]);
  auth.verifyApiKeysWith((credential) => keys.verify(credential));
  auth.resolveTenantKeysWith((tenantId) => providers.keysFor(tenantId));

  const revoked = (principal: Principal) => principal.keyId !== undefined && !keys.stillValid(principal);
  const closeRevoked = (tenantId?: string) => {
    const closed = ws.closeWhere((p) => (tenantId === undefined || p.tenantId === tenantId) && revoked(p), CloseCode.credentialRevoked, 'the API key was revoked or its secret rotated');
    if (closed > 0) logger.info({ tenant: tenantId, closed }, 'closed the sockets of revoked API keys');
  };
  // Sockets opened with a token whose key the tenant's new identity provider no longer holds.
  const closeUnsigned = (tenantId: string) => {
    const closed = ws.closeWhere((p) => p.tenantId === tenantId && p.keyId === undefined && !auth.stillSigned(p), CloseCode.credentialRevoked, "the tenant's identity provider changed; sign in again");
    if (closed > 0) logger.info({ tenant: tenantId, closed }, 'closed the sockets of tokens the new identity provider does not verify');
  };
  const apply = async (tenantId: string, change: Change) => {
    if (change.change === 'provider') {
      await providers.reload(tenantId);
      auth.forgetTenant(tenantId);
      closeUnsigned(tenantId);
    } else {
      await keys.reload(tenantId);
      closeRevoked(tenantId);
    }
  };
  const subscription = await bus.subscribe(
    'tenant-credentials',
    async (event) => {
      if (event.type === 'tenant.credentials.changed') await apply(event.tenantId, event.payload);
    },
    { types: ['tenant.credentials.changed'], ephemeral: true },
  );
  const changed = async (tenantId: string, change: Change) => {
    if (change.change === 'provider') {
      auth.forgetTenant(tenantId);
      closeUnsigned(tenantId);
    } else closeRevoked(tenantId);
    await bus.publish(createEvent('tenant.credentials.changed', { tenantId, payload: change }));
  };

  const sweep = setInterval(() => closeRevoked(), KEY_SWEEP_MS);
  sweep.unref();
  const flush = () =>
    keys.flushLastUsed().catch((error: unknown) => {
      logger.warn({ err: error }, 'could not record when API keys were last used');
      return 0;
    });
  const flusher = setInterval(() => void flush(), LAST_USED_FLUSH_MS);
  flusher.unref();
  // Without Redis, a change made through another node reaches no bus: read the credentials again now and then.
  const reload =
    storage.kind === 'postgres' && !ctx.deployment.redisUrl
      ? setInterval(() => {
          Promise.all([keys.load(), providers.load()]).then(
            () => closeRevoked(),
            (error: unknown) => logger.warn({ err: error }, 'could not read the tenants\' credentials again'),
          );
        }, TENANT_RELOAD_MS)
      : null;
  reload?.unref();

  const exists = (tenantId: string) => registry.status(tenantId) !== undefined;
  const operations = {
    exists,
    listKeys: (tenantId: string) => keys.list(tenantId),
    createKey: async (tenantId: string, input: { name: string; scopes: string[] }, createdBy: string) => {
      const created = await keys.create(tenantId, input, createdBy);
      await changed(tenantId, { change: 'key-created', keyId: created.key.id });
      return created;
    },
    rotateKey: async (tenantId: string, id: string, input: { overlapSeconds?: number }) => {
      const rotated = await keys.rotate(tenantId, id, input);
      await changed(tenantId, { change: 'key-rotated', keyId: id });
      return rotated;
    },
    revokeKey: async (tenantId: string, id: string) => {
      const key = await keys.revoke(tenantId, id);
      await changed(tenantId, { change: 'key-revoked', keyId: id });
      return key;
    },
    provider: (tenantId: string) => providers.view(tenantId),
    setProvider: async (tenantId: string, input: unknown) => {
      const view = await providers.set(tenantId, input);
      await changed(tenantId, { change: 'provider' });
      return view;
    },
    removeProvider: async (tenantId: string) => {
      const removed = await providers.remove(tenantId);
      await changed(tenantId, { change: 'provider' });
      return removed;
    },
  };

  return {
    keys,
    providers,
    routes: () => registerCredentialRoutes(ctx.http, operations),
    close: async () => {
      clearInterval(sweep);
      clearInterval(flusher);
      if (reload) clearInterval(reload);
      await subscription.close();
      await flush();
    },
  };
}


