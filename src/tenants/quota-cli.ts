// `veza tenant quotas ID [--plan P] [--overrides JSON]` on the database of the flags: shows the
// tenant's plan and effective limits, or places it on a plan (the same validation as the operator's
// `PUT …/quotas`). The live usage is only in the servers' answer (`GET …/quotas`).
import type { Storage } from '../storage/database.js';
import { effectiveLimits, quotaInput, type QuotaInput } from './quota-plans.js';
import { QuotaStore } from './quota-store.js';
import type { TenantRegistry } from './registry.js';

/** The body of `PUT …/quotas` from the command's flags; null when they ask only to show. Throws RangeError for what is wrong. */
export function quotaRequest(plan: string | undefined, overrides: string | undefined): QuotaInput | null {
  if (plan === undefined) {
    if (overrides !== undefined) throw new RangeError('--overrides goes with --plan');
    return null;
  }
  let parsedOverrides: unknown = {};
  if (overrides !== undefined) {
    try {
      parsedOverrides = JSON.parse(overrides);
    } catch {
      throw new RangeError(`--overrides is a JSON object of limits, e.g. '{"connections":500}'; got ${JSON.stringify(overrides)}`);
    }
  }
  const parsed = quotaInput.safeParse({ plan, overrides: parsedOverrides });
  if (!parsed.success) throw new RangeError(parsed.error.issues.map((i) => `${i.path.join('.') || 'plan'}: ${i.message}`).join('; '));
  return parsed.data;
}

/** Shows (request null) or sets the tenant's plan; `told` is called after a change is stored. */
export async function quotasDirect(storage: Storage, registry: TenantRegistry, id: string, request: QuotaInput | null, told: (plan: string) => Promise<void>): Promise<unknown> {
  await registry.get(id);
  const store = new QuotaStore(storage);
  if (request) {
    await store.set(id, request.plan, request.overrides);
    await told(request.plan);
  }
  const plan = await store.get(id);
  return { tenant: id, ...plan, limits: effectiveLimits(plan.plan, plan.overrides) };
}
