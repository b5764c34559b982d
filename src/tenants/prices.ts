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

/** What each metric is billed by: the same units on every plan. */
const UNITS: Readonly<Record<UsageMetric, Pick<MetricPrice, 'unit' | 'unitSize'>>> = {
  api_calls: { unit: '1000 API calls', unitSize: 1000 },
  egress_bytes: { unit: 'GB of egress', unitSize: GB },
  connection_ms: { unit: '1000 connection minutes', unitSize: 1000 * MINUTE },
  participant_ms: { unit: 'participant minute', unitSize: MINUTE },
  stream_ms: { unit: 'stream minute', unitSize: MINUTE },
  recording_ms: { unit: 'recording minute', unitSize: MINUTE },
  storage_bytes: { unit: 'GB of storage written', unitSize: GB },
};

/** A plan in euros: per metric, [price per unit, units included]. */
const EUR = (prices: Record<UsageMetric, [unitPrice: number, included: number]>): PlanPrices => ({
  currency: 'EUR',
  metrics: Object.fromEntries(Object.entries(prices).map(([metric, [unitPrice, included]]) => [metric, { ...UNITS[metric as UsageMetric], unitPrice, included }])) as Record<UsageMetric, MetricPrice>,
});

export const PLAN_PRICES: Readonly<Record<PlanName, PlanPrices>> = {
  free: EUR({ api_calls: [2, 100], egress_bytes: [8, 10], connection_ms: [10, 10], participant_ms: [1, 1000], stream_ms: [2, 100], recording_ms: [1, 100], storage_bytes: [3, 5] }),
  studio: EUR({ api_calls: [1, 2000], egress_bytes: [5, 200], connection_ms: [6, 500], participant_ms: [1, 50_000], stream_ms: [1, 5000], recording_ms: [1, 5000], storage_bytes: [2, 100] }),
  label: EUR({ api_calls: [1, 50_000], egress_bytes: [3, 5000], connection_ms: [4, 20_000], participant_ms: [1, 2_000_000], stream_ms: [1, 200_000], recording_ms: [1, 200_000], storage_bytes: [1, 2000] }),
  unlimited: EUR({ api_calls: [2, 0], egress_bytes: [8, 0], connection_ms: [10, 0], participant_ms: [1, 0], stream_ms: [2, 0], recording_ms: [1, 0], storage_bytes: [3, 0] }),
};

export function pricesFor(plan: string | undefined): { plan: PlanName; prices: PlanPrices } {
  const name = plan !== undefined && Object.hasOwn(PLANS, plan) ? (plan as PlanName) : DEFAULT_PLAN;
  return { plan: name, prices: PLAN_PRICES[name] };
}
