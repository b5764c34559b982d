// `veza tenant create|list|show|suspend|resume|delete|invoice`: straight on the database of the flags, or,
// when a server holds the embedded database of the data directory, through that server's operator
// API (its URL recorded in the data directory, the operator token signed with the same secret); the
// output is the same JSON either way. With Redis, running servers hear of a direct change at once
// through the bus; without it, they read the tenants again within TENANT_RELOAD_MS.
import type { Config } from '../config.js';
import type { Storage } from '../storage/database.js';
import { createEvent, type VezaEvent } from '../events/catalog.js';
import { Authenticator } from '../server/auth.js';
import { readEndpointFile } from '../server/endpoint-file.js';
import { DatabaseInUseError } from '../storage/directory-lock.js';
import type { ExportProgress } from './export.js';
import type { Deletion } from './lifecycle.js';
import type { QuotaInput } from './quota-plans.js';
import { invoiceText } from './metering-cli.js';
import { quotaRequest, quotasDirect } from './quota-cli.js';
import { TenantError, TenantRegistry, type Tenant } from './registry.js';

export const TENANT_USAGE =
  'usage: veza tenant create ID --name NAME | list | show ID | suspend ID | resume ID | delete ID [--grace-seconds S] | quotas ID [--plan PLAN [--overrides JSON]] | invoice ID --period YYYY-MM [--format csv] | key ... | credentials ...';

/** Thrown for what the person typed (exit code 2). */
export class TenantUsageError extends Error {}

type Action = 'create' | 'list' | 'show' | 'suspend' | 'resume' | 'delete' | 'invoice' | 'quotas';
const ACTIONS = new Set<string>(['create', 'list', 'show', 'suspend', 'resume', 'delete', 'invoice', 'quotas']);

interface Input {
  name?: string | undefined;
  graceSeconds?: number | undefined;
  period?: string | undefined;
  format?: string | undefined;
  quotas?: QuotaInput | null;
}

/** Where progress of a long command goes (stderr on a terminal). */
export type ProgressOut = (line: string) => void;

export async function tenantCommand(config: Config, positionals: string[], options: Record<string, string>, progress: ProgressOut = (line) => process.stderr.write(line)): Promise<string> {
  const [given, id] = positionals;
  if (given === 'key' || given === 'credentials') {
    const { credentialsCommand, CredentialsUsageError } = await import('./credentials-cli.js');
    return credentialsCommand(config, positionals, options).catch((error: unknown) => {
      throw error instanceof CredentialsUsageError ? new TenantUsageError(error.message) : error;
    });
  }
  if (!given || !ACTIONS.has(given)) throw new TenantUsageError(TENANT_USAGE);
  const action = given as Action;
  if (action !== 'list' && !id) throw new TenantUsageError(`tenant ${action} needs the tenant's id; ${TENANT_USAGE}`);
  if (action === 'create' && !options.name) throw new TenantUsageError('tenant create needs --name NAME');
  let graceSeconds: number | undefined;
  if (options['grace-seconds'] !== undefined) {
    graceSeconds = Number(options['grace-seconds']);
    if (action !== 'delete') throw new TenantUsageError('--grace-seconds goes with tenant delete');
    if (!/^\d+$/.test(options['grace-seconds'])) throw new TenantUsageError('--grace-seconds needs a whole number of seconds (0 or more)');
  }
  let quotas: QuotaInput | null = null;
  if (action === 'quotas') {
    try {
      quotas = quotaRequest(options.plan, options.overrides);
    } catch (error) {
      throw new TenantUsageError(`tenant quotas refused: ${(error as Error).message}`);
    }
  }
  const input: Input = { name: options.name, graceSeconds, period: options.period, format: options.format, quotas };
  const { Storage } = await import('../storage/database.js');
  let storage: Storage;
  try {
    storage = await Storage.open(config.storage);
  } catch (error) {
    const server = error instanceof DatabaseInUseError ? readEndpointFile(config.storage.dataDir) : null;
    if (!server) throw error;
    return throughServer(config, server.url, action, id ?? '', input, progress);
  }
  try {
    await storage.migrate();
    return await direct(config, storage, action, id ?? '', input, progress);
  } catch (error) {
    if (error instanceof TenantError || error instanceof RangeError) throw new TenantUsageError(`tenant ${action} refused: ${error.message}`);
    throw error;
  } finally {
    await storage.close();
  }
}

async function direct(config: Config, storage: Storage, action: Action, id: string, input: Input, progress: ProgressOut): Promise<string> {
  const registry = new TenantRegistry(storage);
  await registry.load();
  if (action === 'invoice') return invoiceText(storage, registry, id, input.period, input.format);
  const tell = (tenantId: string, status: string) => (config.events.redisUrl ? tellServers(config, storage, createEvent('tenant.changed', { tenantId, payload: { status: status as 'active' } })) : Promise.resolve());
  if (action === 'quotas') {
    const told = (plan: string) => (config.events.redisUrl ? tellServers(config, storage, createEvent('tenant.quotas_changed', { tenantId: id, payload: { plan } })) : Promise.resolve());
    return json(await quotasDirect(storage, registry, id, input.quotas ?? null, told));
  }
  if (action === 'list') return json({ tenants: await registry.list() });
  if (action === 'show') return json(await registry.get(id));
  const [{ TenantLifecycle }, { pino }] = await Promise.all([import('./lifecycle.js'), import('pino')]);
  const lifecycle = new TenantLifecycle({ storage, dataDir: config.storage.dataDir, registry, logger: pino({ level: 'silent' }), changed: tell, defaultGraceSeconds: config.tenants.deletionGraceDays * 86_400, onProgress: (p) => progress(progressLine(id, p)) });
  let changed: Tenant;
  if (action === 'create') changed = await registry.create({ id, name: input.name! });
  else if (action === 'delete') {
    const { exported } = await lifecycle.request(id, { by: 'veza-cli', graceSeconds: input.graceSeconds });
    return json(await exported);
  } else {
    if (action === 'suspend' && registry.status(id) === 'deleting') throw new TenantError('exists', `tenant ${id} is being deleted; resume it to cancel the deletion`);
    changed = await registry.setStatus(id, action === 'suspend' ? 'suspended' : 'active');
    if (action === 'resume') await lifecycle.cancel(id);
  }
  await tell(changed.id, changed.status);
  return json(changed);
}

/** The same commands through a running server's operator API. */
async function throughServer(config: Config, base: string, action: Action, id: string, input: Input, progress: ProgressOut): Promise<string> {
  const auth = await Authenticator.create({ settings: config.auth, dataDir: config.storage.dataDir });
  const token = await auth.sign({ sub: 'veza-cli', operator: true, ttlSeconds: 3600 });
  const tenant = `/api/v1/platform/tenants/${encodeURIComponent(id)}`;
  const call = async (method: string, path: string, body?: unknown, as: 'json' | 'text' = 'json'): Promise<unknown> => {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new Error(`the server of this data directory (${base}) holds its database but does not answer: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const text = await response.text();
    if (!response.ok) {
      let detail = text;
      try {
        detail = (JSON.parse(text) as { detail?: string }).detail ?? text;
      } catch {
        // not a problem body
      }
      throw new TenantUsageError(`tenant ${action} refused: ${detail}`);
    }
    return as === 'text' ? text : (JSON.parse(text) as unknown);
  };
  if (action === 'list') return json(await call('GET', '/api/v1/platform/tenants'));
  if (action === 'quotas') return json(await call(input.quotas ? 'PUT' : 'GET', `${tenant}/quotas`, input.quotas ?? undefined));
  if (action === 'invoice') {
    const format = input.format === 'csv' ? '?format=csv' : '';
    if (input.format !== undefined && input.format !== 'csv' && input.format !== 'json') throw new TenantUsageError(`tenant invoice refused: the format is csv or json; got ${JSON.stringify(input.format)}`);
    const text = (await call('GET', `${tenant}/invoices/${encodeURIComponent(input.period ?? '')}${format}`, undefined, 'text')) as string;
    return format ? text : json(JSON.parse(text));
  }
  if (action === 'show') return json(await call('GET', tenant));
  if (action === 'create') return json(await call('POST', '/api/v1/platform/tenants', { id, name: input.name }));
  if (action === 'suspend' || action === 'resume') return json(await call('POST', `${tenant}/${action}`));
  let deletion = (await call('DELETE', tenant, input.graceSeconds === undefined ? {} : { graceSeconds: input.graceSeconds })) as Deletion;
  let shown = '';
  // With no grace period the server purges right after the export; wait for that too (bounded:
  // a purge that fails is retried by the server's sweep, and the pending deletion is printed).
  const purgeBy = Date.now() + 30_000;
  const purging = (d: Deletion) => d.state === 'pending' && d.graceSeconds === 0 && Date.now() < purgeBy;
  while (deletion.state === 'exporting' || purging(deletion)) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    deletion = (await call('GET', `${tenant}/deletion`)) as Deletion;
    const line = deletion.progress ? progressLine(id, deletion.progress) : '';
    if (line && line !== shown) progress((shown = line));
  }
  return json(deletion);
}

function progressLine(id: string, p: ExportProgress): string {
  return p.step === 'done' ? `export of ${id}: written\n` : `export of ${id}: ${p.step} ${p.done}/${p.total}${p.item ? ` (${p.item})` : ''}\n`;
}

function json(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/** Publishes a change on the nodes' Redis bus, so that they apply it at once. */
async function tellServers(config: Config, storage: Storage, event: VezaEvent): Promise<void> {
  const [{ RedisBus }, { DatabaseParkingLot }, { pino }] = await Promise.all([import('../events/redis-bus.js'), import('../events/parking.js'), import('pino')]);
  const bus = await new RedisBus({ url: config.events.redisUrl!, stream: config.events.stream, logger: pino({ level: 'silent' }), parking: new DatabaseParkingLot(storage) }).connect();
  try {
    await bus.publish(event);
  } finally {
    await bus.close();
  }
}
