// The platform's tenants (labels running their own Veza): created, suspended and resumed by the
// operator, through the CLI or the operator API. Every tenant's status is held in memory, so that
// admission (a token's tenant must exist and be active) is a map lookup: WebSocket upgrades are
// admitted synchronously inside uWS's handler.
import { z } from 'zod';
import { AuthError } from '../server/auth.js';
import type { Storage } from '../storage/database.js';
import { DEFAULT_TENANT, TENANT_ID_PATTERN } from '../storage/schema.js';

/** `deleting`: refused like a suspended tenant while its export is written and its grace period runs (see lifecycle.ts). */
export type TenantStatus = 'active' | 'suspended' | 'deleting';

/** On PostgreSQL without Redis, how often a node reads the tenants again (the CLI may change them). */
export const TENANT_RELOAD_MS = 10_000;

export interface Tenant {
  id: string;
  name: string;
  status: TenantStatus;
  createdAt: string;
  statusChangedAt: string;
}

export class TenantError extends Error {
  constructor(
    readonly code: 'not-found' | 'exists' | 'invalid' | 'protected',
    message: string,
  ) {
    super(message);
    this.name = 'TenantError';
  }
}

export const tenantInput = z.object({
  id: z.string().regex(TENANT_ID_PATTERN, 'a tenant id is 1-63 lowercase letters, digits and -, starting with a letter or digit'),
  name: z.string().trim().min(1).max(200),
});

export class TenantRegistry {
  private statuses = new Map<string, TenantStatus>();

  constructor(private readonly storage: Storage) {}

  /** Reads every tenant's status (at start, and on a schedule where no bus tells of changes); returns the tenants refused (suspended, deleting) since the last read. */
  async load(): Promise<string[]> {
    const rows = await this.storage.db.selectFrom('tenants').select(['id', 'status']).execute();
    const before = this.statuses;
    this.statuses = new Map(rows.map((r) => [r.id, r.status]));
    return rows.filter((r) => r.status !== 'active' && before.size > 0 && before.get(r.id) !== r.status).map((r) => r.id);
  }

  /** Reads one tenant's status again (a change notice named it). */
  async reload(id: string): Promise<void> {
    const row = await this.storage.db.selectFrom('tenants').select('status').where('id', '=', id).executeTakeFirst();
    if (row) this.statuses.set(id, row.status);
    else this.statuses.delete(id);
  }

  status(id: string): TenantStatus | undefined {
    return this.statuses.get(id);
  }

  /** Admission: throws AuthError (401 unknown, 403 suspended) for a tenant that may not enter. */
  admit(id: string): void {
    const status = this.statuses.get(id);
    if (status === 'active') return;
    if (status === 'suspended') throw new AuthError(`tenant ${id} is suspended`, 403);
    if (status === 'deleting') throw new AuthError(`tenant ${id} is being deleted`, 403);
    throw new AuthError(`tenant ${id} does not exist`);
  }

  async list(): Promise<Tenant[]> {
    const rows = await this.storage.db.selectFrom('tenants').selectAll().orderBy('id').execute();
    return rows.map(toTenant);
  }

  async get(id: string): Promise<Tenant> {
    const row = await this.storage.db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new TenantError('not-found', `no tenant ${id}`);
    return toTenant(row);
  }

  async create(input: { id: string; name: string }): Promise<Tenant> {
    const parsed = tenantInput.safeParse(input);
    if (!parsed.success) throw new TenantError('invalid', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    const row = await this.storage.db.insertInto('tenants').values(parsed.data).onConflict((c) => c.column('id').doNothing()).returningAll().executeTakeFirst();
    if (!row) throw new TenantError('exists', `tenant ${parsed.data.id} exists already`);
    this.statuses.set(row.id, row.status);
    return toTenant(row);
  }

  /** Suspends (its tokens are refused with 403, its open sockets closed by the caller), resumes or marks a tenant for deletion. */
  async setStatus(id: string, status: TenantStatus): Promise<Tenant> {
    if (id === DEFAULT_TENANT && status !== 'active') throw new TenantError('protected', `the default tenant cannot be ${status === 'suspended' ? 'suspended' : 'deleted'}`);
    const row = await this.storage.db
      .updateTable('tenants')
      .set({ status, status_changed_at: new Date() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new TenantError('not-found', `no tenant ${id}`);
    this.statuses.set(id, row.status);
    return toTenant(row);
  }
}

function toTenant(row: { id: string; name: string; status: TenantStatus; created_at: Date; status_changed_at: Date }): Tenant {
  return { id: row.id, name: row.name, status: row.status, createdAt: row.created_at.toISOString(), statusChangedAt: row.status_changed_at.toISOString() };
}
