import type { UsageMetric } from './metering.js';
import { DEFAULT_PLAN, PLANS, type PlanName } from './quota-plans.js';

/**
 * What each plan charges for usage, in minor units of its currency (cents for EUR). A metric is
 * billed in whole units of `unitSize` of its raw quantity (rounded up once per invoice line), the
 * first `included` units free. The plans are the quotas' plans (quota-plans.ts): a tenant is billed at
 * the prices of the plan it is on, and a tenant never placed on one at those of `unlimited`
 * (pay as you go, nothing included).
 */
export interface MetricPrice {
  /** The billed unit, as shown on invoices. */
  unit: string;
  /** Raw quantity (calls, bytes, milliseconds) per billed unit. */
  unitSize: number;
  /** Minor units of the currency per billed unit. */
  unitPrice: number;
  /** Billed units included in the plan each period. */
  included: number;
}

export interface PlanPrices {
  currency: string;
  metrics: Record<UsageMetric, MetricPrice>;
}

const MINUTE = 60_000;
const GB = 1_000_000_000;

const EUR = (metrics: Record<UsageMetric, MetricPrice>): PlanPrices => ({ currency: 'EUR', metrics });

export const PLAN_PRICES: Readonly<Record<PlanName, PlanPrices>> = {
  free: EUR({
    api_calls: { unit: '1000 API calls', unitSize: 1000, unitPrice: 2, included: 100 },
    egress_bytes: { unit: 'GB of egress', unitSize: GB, unitPrice: 8, included: 10 },
    connection_ms: { unit: '1000 connection minutes', unitSize: 1000 * MINUTE, unitPrice: 10, included: 10 },
    participant_ms: { unit: 'participant minute', unitSize: MINUTE, unitPrice: 1, included: 1000 },
    stream_ms: { unit: 'stream minute', unitSize: MINUTE, unitPrice: 2, included: 100 },
    recording_ms: { unit: 'recording minute', unitSize: MINUTE, unitPrice: 1, included: 100 },
    storage_bytes: { unit: 'GB of storage written', unitSize: GB, unitPrice: 3, included: 5 },
  }),
  studio: EUR({
    api_calls: { unit: '1000 API calls', unitSize: 1000, unitPrice: 1, included: 2000 },
    egress_bytes: { unit: 'GB of egress', unitSize: GB, unitPrice: 5, included: 200 },
    connection_ms: { unit: '1000 connection minutes', unitSize: 1000 * MINUTE, unitPrice: 6, included: 500 },
    participant_ms: { unit: 'participant minute', unitSize: MINUTE, unitPrice: 1, included: 50_000 },
    stream_ms: { unit: 'stream minute', unitSize: MINUTE, unitPrice: 1, included: 5000 },
    recording_ms: { unit: 'recording minute', unitSize: MINUTE, unitPrice: 1, included: 5000 },
    storage_bytes: { unit: 'GB of storage written', unitSize: GB, unitPrice: 2, included: 100 },
  }),
  label: EUR({
    api_calls: { unit: '1000 API calls', unitSize: 1000, unitPrice: 1, included: 50_000 },
    egress_bytes: { unit: 'GB of egress', unitSize: GB, unitPrice: 3, included: 5000 },
    connection_ms: { unit: '1000 connection minutes', unitSize: 1000 * MINUTE, unitPrice: 4, included: 20_000 },
    participant_ms: { unit: 'participant minute', unitSize: MINUTE, unitPrice: 1, included: 2_000_000 },
    stream_ms: { unit: 'stream minute', unitSize: MINUTE, unitPrice: 1, included: 200_000 },
    recording_ms: { unit: 'recording minute', unitSize: MINUTE, unitPrice: 1, included: 200_000 },
    storage_bytes: { unit: 'GB of storage written', unitSize: GB, unitPrice: 1, included: 2000 },
  }),
  unlimited: EUR({
    api_calls: { unit: '1000 API calls', unitSize: 1000, unitPrice: 2, included: 0 },
    egress_bytes: { unit: 'GB of egress', unitSize: GB, unitPrice: 8, included: 0 },
    connection_ms: { unit: '1000 connection minutes', unitSize: 1000 * MINUTE, unitPrice: 10, included: 0 },
    participant_ms: { unit: 'participant minute', unitSize: MINUTE, unitPrice: 1, included: 0 },
    stream_ms: { unit: 'stream minute', unitSize: MINUTE, unitPrice: 2, included: 0 },
    recording_ms: { unit: 'recording minute', unitSize: MINUTE, unitPrice: 1, included: 0 },
    storage_bytes: { unit: 'GB of storage written', unitSize: GB, unitPrice: 3, included: 0 },
  }),
};

export function pricesFor(plan: string | undefined): { plan: PlanName; prices: PlanPrices } {
  const name = plan !== undefined && Object.hasOwn(PLANS, plan) ? (plan as PlanName) : DEFAULT_PLAN;
  return { plan: name, prices: PLAN_PRICES[name] };
}
