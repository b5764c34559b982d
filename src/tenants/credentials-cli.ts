// `veza tenant key create|list|rotate|revoke` and `veza tenant credentials`: a tenant's API keys and
// identity provider, straight on the database of the flags, like the other tenant commands. With
// Redis, running servers hear of the change at once (a revoked key's sockets are closed); without
// it, they read the credentials again within TENANT_RELOAD_MS.
import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { createEvent, type EventPayload } from '../events/catalog.js';
import type { Storage } from '../storage/database.js';
import { ApiKeyError, ApiKeyStore } from './api-keys.js';
import { TenantRegistry } from './registry.js';
import { ProviderError, TenantTokenKeyStore } from './token-keys.js';

export const CREDENTIALS_USAGE = `veza tenant key create ID --name NAME --scopes AREA:read|write,... | key list ID | key rotate KEY [--overlap SECONDS] | key revoke KEY
  veza tenant credentials ID [--hs256-secret-file FILE | --jwks-file FILE] [--platform-tokens true|false] [--issuer ISS] [--audience AUD] | credentials ID --remove true`;

export class CredentialsUsageError extends Error {}

type Change = EventPayload<'tenant.credentials.changed'>;

export async function credentialsCommand(config: Config, positionals: string[], options: Record<string, string>): Promise<string> {
  const [, action, target] = positionals;
  const command = positionals[0];
  if (command === 'key' && !(action && target && ['create', 'list', 'rotate', 'revoke'].includes(action))) throw new CredentialsUsageError(`usage: ${CREDENTIALS_USAGE}`);
  if (command === 'credentials' && (!action || target)) throw new CredentialsUsageError(`usage: ${CREDENTIALS_USAGE}`);
  if (command === 'key' && action === 'create' && (!options.name || !options.scopes)) throw new CredentialsUsageError('tenant key create needs --name NAME and --scopes AREA:read|write,...');
  const { Storage } = await import('../storage/database.js');
  const storage = await Storage.open(config.storage);
  try {
    await storage.migrate();
    const registry = new TenantRegistry(storage);
    await registry.load();
    const run = command === 'key' ? keyAction(storage, registry, action!, target!, options) : providerAction(storage, registry, action!, options);
    const { out, change } = await run.catch((error: unknown) => {
      if (error instanceof ApiKeyError || error instanceof ProviderError) throw new CredentialsUsageError(`tenant ${command} refused: ${error.message}`);
      throw error;
    });
    if (change && config.events.redisUrl) await tellServers(config, storage, change.tenantId, change.payload);
    return `${JSON.stringify(out)}\n`;
  } finally {
    await storage.close();
  }
}

type Outcome = { out: unknown; change: { tenantId: string; payload: Change } | null };

function existing(registry: TenantRegistry, tenantId: string): string {
  if (registry.status(tenantId) === undefined) throw new CredentialsUsageError(`no tenant ${tenantId}`);
  return tenantId;
}

async function keyAction(storage: Storage, registry: TenantRegistry, action: string, target: string, options: Record<string, string>): Promise<Outcome> {
  const keys = new ApiKeyStore(storage);
  await keys.load();
  if (action === 'list') return { out: { keys: keys.list(existing(registry, target)) }, change: null };
  if (action === 'create') {
    const tenantId = existing(registry, target);
    const scopes = options.scopes!.split(',').map((s) => s.trim()).filter(Boolean);
    const parsed = (await import('./api-keys.js')).keyInput.safeParse({ name: options.name, scopes });
    if (!parsed.success) throw new CredentialsUsageError(`tenant key create refused: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const created = await keys.create(tenantId, parsed.data, 'operator:cli');
    return { out: created, change: { tenantId, payload: { change: 'key-created', keyId: created.key.id } } };
  }
  // rotate and revoke name the key; its tenant is the key's own.
  const tenantId = keys.tenantOf(target);
  if (!tenantId) throw new CredentialsUsageError(`tenant key ${action} refused: no API key ${target}`);
  if (action === 'revoke') return { out: await keys.revoke(tenantId, target), change: { tenantId, payload: { change: 'key-revoked', keyId: target } } };
  const overlap = options.overlap === undefined ? undefined : Number(options.overlap);
  if (overlap !== undefined && !(Number.isInteger(overlap) && overlap >= 0)) throw new CredentialsUsageError('--overlap is a whole number of seconds');
  const rotated = await keys.rotate(tenantId, target, overlap === undefined ? {} : { overlapSeconds: overlap });
  return { out: rotated, change: { tenantId, payload: { change: 'key-rotated', keyId: target } } };
}

async function providerAction(storage: Storage, registry: TenantRegistry, target: string, options: Record<string, string>): Promise<Outcome> {
  const tenantId = existing(registry, target);
  const providers = new TenantTokenKeyStore(storage);
  await providers.load();
  const change = { tenantId, payload: { change: 'provider' as const } };
  if (options.remove === 'true') return { out: { removed: await providers.remove(tenantId) }, change };
  const secretFile = options['hs256-secret-file'];
  const jwksFile = options['jwks-file'];
  if (!secretFile && !jwksFile) return { out: providers.view(tenantId) ?? { tenantId, kind: null }, change: null };
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new CredentialsUsageError(`cannot read ${file}: ${(error as Error).message}`);
    }
  };
  let jwks: unknown;
  if (jwksFile) {
    try {
      jwks = JSON.parse(read(jwksFile)) as unknown;
    } catch (error) {
      if (error instanceof CredentialsUsageError) throw error;
      throw new CredentialsUsageError(`${jwksFile} is not JSON: ${(error as Error).message}`);
    }
  }
  if (options['platform-tokens'] !== undefined && !['true', 'false'].includes(options['platform-tokens'])) throw new CredentialsUsageError('--platform-tokens is true or false');
  const input = {
    ...(secretFile ? { hs256Secret: read(secretFile).trim() } : {}),
    ...(jwksFile ? { jwks } : {}),
    ...(options['platform-tokens'] ? { platformTokens: options['platform-tokens'] === 'true' } : {}),
    ...(options.issuer ? { issuer: options.issuer } : {}),
    ...(options.audience ? { audience: options.audience } : {}),
  };
  return { out: await providers.set(tenantId, input), change };
}

/** Publishes the change on the nodes' Redis bus, so that they apply it at once. */
async function tellServers(config: Config, storage: Storage, tenantId: string, payload: Change): Promise<void> {
  const [{ RedisBus }, { DatabaseParkingLot }, { pino }] = await Promise.all([import('../events/redis-bus.js'), import('../events/parking.js'), import('pino')]);
  const bus = await new RedisBus({ url: config.events.redisUrl!, stream: config.events.stream, logger: pino({ level: 'silent' }), parking: new DatabaseParkingLot(storage) }).connect();
  try {
    await bus.publish(createEvent('tenant.credentials.changed', { tenantId, payload }));
  } finally {
    await bus.close();
  }
}
