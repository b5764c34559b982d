// `veza tenant create|list|show|suspend|resume`: straight on the database of the flags (the embedded
// one only while no server runs on it). With Redis, running servers hear of the change at once
// through the bus; without it, they read the tenants again within TENANT_RELOAD_MS.
import type { Config } from '../config.js';
import type { Storage } from '../storage/database.js';
import { createEvent } from '../events/catalog.js';
import { TenantError, TenantRegistry, type Tenant } from './registry.js';

export const TENANT_USAGE = 'usage: veza tenant create ID --name NAME | list | show ID | suspend ID | resume ID';

/** Thrown for what the person typed (exit code 2). */
export class TenantUsageError extends Error {}

export async function tenantCommand(config: Config, positionals: string[], options: Record<string, string>): Promise<string> {
  const [action, id] = positionals;
  const needsId = action === 'create' || action === 'show' || action === 'suspend' || action === 'resume';
  if (!action || !(needsId || action === 'list')) throw new TenantUsageError(TENANT_USAGE);
  if (needsId && !id) throw new TenantUsageError(`tenant ${action} needs the tenant's id; ${TENANT_USAGE}`);
  if (action === 'create' && !options.name) throw new TenantUsageError('tenant create needs --name NAME');
  const { Storage } = await import('../storage/database.js');
  const storage = await Storage.open(config.storage);
  try {
    await storage.migrate();
    const registry = new TenantRegistry(storage);
    let changed: Tenant | null = null;
    let out: unknown;
    try {
      if (action === 'list') out = { tenants: await registry.list() };
      else if (action === 'show') out = await registry.get(id!);
      else if (action === 'create') out = changed = await registry.create({ id: id!, name: options.name! });
      else out = changed = await registry.setStatus(id!, action === 'suspend' ? 'suspended' : 'active');
    } catch (error) {
      if (error instanceof TenantError) throw new TenantUsageError(`tenant ${action} refused: ${error.message}`);
      throw error;
    }
    if (changed && config.events.redisUrl) await tellServers(config, storage, changed);
    return `${JSON.stringify(out)}\n`;
  } finally {
    await storage.close();
  }
}

/** Publishes the change on the nodes' Redis bus, so that they admit or refuse the tenant at once. */
async function tellServers(config: Config, storage: Storage, tenant: Tenant): Promise<void> {
  const [{ RedisBus }, { DatabaseParkingLot }, { pino }] = await Promise.all([import('../events/redis-bus.js'), import('../events/parking.js'), import('pino')]);
  const bus = await new RedisBus({ url: config.events.redisUrl!, stream: config.events.stream, logger: pino({ level: 'silent' }), parking: new DatabaseParkingLot(storage) }).connect();
  try {
    await bus.publish(createEvent('tenant.changed', { tenantId: tenant.id, payload: { status: tenant.status } }));
  } finally {
    await bus.close();
  }
}
