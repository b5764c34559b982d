// Tenants' plans and overrides in the database (`tenant_quotas`, migration 0013), and the usage that
// is read from the database rather than counted per message: documents, bytes stored, minutes
// recorded this month.
import { sql } from 'kysely';
import type { Storage } from '../storage/database.js';
import { DEFAULT_PLAN, overridesSchema, type Overrides, type PlanName, PLANS } from './quota-plans.js';
import type { StoredUsage } from './quota-state.js';
import { TenantError } from './registry.js';

export interface TenantPlan {
  plan: PlanName;
  overrides: Overrides;
  updatedAt: string | null;
}

export class QuotaStore {
  constructor(private readonly storage: Storage) {}

  /** Every tenant placed on a plan; the others have DEFAULT_PLAN and no overrides. */
  async all(): Promise<Map<string, TenantPlan>> {
    const rows = await this.storage.db.selectFrom('tenant_quotas').selectAll().execute();
    return new Map(rows.map((row) => [row.tenant_id, toPlan(row)]));
  }

  async get(tenantId: string): Promise<TenantPlan> {
    const row = await this.storage.db.selectFrom('tenant_quotas').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
    return row ? toPlan(row) : { plan: DEFAULT_PLAN, overrides: {}, updatedAt: null };
  }

  async set(tenantId: string, plan: PlanName, overrides: Overrides): Promise<TenantPlan> {
    const exists = await this.storage.db.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst();
    if (!exists) throw new TenantError('not-found', `no tenant ${tenantId}`);
    const values = { plan, overrides: JSON.stringify(overrides), updated_at: new Date() };
    const row = await this.storage.db
      .insertInto('tenant_quotas')
      .values({ tenant_id: tenantId, ...values })
      .onConflict((c) => c.column('tenant_id').doUpdateSet(values))
      .returningAll()
      .executeTakeFirstOrThrow();
    return toPlan(row);
  }

  /** The usage counted from the database, under the tenant's row-level security. */
  async usage(tenantId: string, now = new Date()): Promise<StoredUsage> {
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    return this.storage.withTenant(tenantId, async (trx) => {
      const documents = await trx.selectFrom('documents').select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow();
      const updates = await trx.selectFrom('document_updates').select(sql<string>`coalesce(sum(size), 0)`.as('n')).executeTakeFirstOrThrow();
      const snapshots = await trx.selectFrom('document_snapshots').select(sql<string>`coalesce(sum(octet_length(state)), 0)`.as('n')).executeTakeFirstOrThrow();
      const outputs = await trx.selectFrom('media_outputs').select(sql<string>`coalesce(sum(bytes), 0)`.as('n')).executeTakeFirstOrThrow();
      // Running recordings count up to now; finished ones by their duration (or their span).
      const recorded = await trx
        .selectFrom('media_outputs')
        .select(sql<string>`coalesce(sum(extract(epoch from (coalesce(ended_at, ${now}) - greatest(started_at, ${monthStart})))), 0)`.as('seconds'))
        .where('kind', '=', 'recording')
        .where((eb) => eb.or([eb('ended_at', 'is', null), eb('ended_at', '>=', monthStart)]))
        .executeTakeFirstOrThrow();
      return {
        documents: Number(documents.n),
        storageBytes: Number(updates.n) + Number(snapshots.n) + Number(outputs.n),
        recordingMinutes: Math.floor(Math.max(0, Number(recorded.seconds)) / 60),
        readAt: now.getTime(),
      };
    });
  }
}

function toPlan(row: { plan: string; overrides: unknown; updated_at: Date }): TenantPlan {
  const plan = (row.plan in PLANS ? row.plan : DEFAULT_PLAN) as PlanName;
  const raw: unknown = typeof row.overrides === 'string' ? JSON.parse(row.overrides) : row.overrides;
  const overrides = overridesSchema.safeParse(raw);
  return { plan, overrides: overrides.success ? overrides.data : {}, updatedAt: row.updated_at.toISOString() };
}
