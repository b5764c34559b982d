import { USAGE_METRICS, type UsageMetric } from './metering.js';
import type { PlanPrices } from './prices.js';

/**
 * A tenant's invoice for a billing period (a calendar month, UTC) as data: one line per metric with
 * its raw quantity, the billed units, the units the plan includes and the amount in minor units.
 * Built from the usage the database holds; while the period runs, it is a running estimate
 * (`final: false`).
 */
export interface InvoiceLine {
  metric: UsageMetric;
  unit: string;
  quantity: number;
  units: number;
  included: number;
  billable: number;
  unitPrice: number;
  amount: number;
}

export interface Invoice {
  tenantId: string;
  period: string;
  from: string;
  to: string;
  plan: string;
  currency: string;
  final: boolean;
  lines: InvoiceLine[];
  total: number;
}

const PERIOD = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** The bounds of a period `YYYY-MM`, or null when it is not one. */
export function periodBounds(period: string): { from: Date; to: Date } | null {
  const match = PERIOD.exec(period);
  if (!match) return null;
  const year = Number(match[1]);
  const month = Number(match[2]) - 1;
  return { from: new Date(Date.UTC(year, month, 1)), to: new Date(Date.UTC(year, month + 1, 1)) };
}

export function periodOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

export function buildInvoice(input: { tenantId: string; period: string; plan: string; prices: PlanPrices; usage: Partial<Record<UsageMetric, number>>; now: number }): Invoice {
  const bounds = periodBounds(input.period);
  if (!bounds) throw new Error(`invalid period ${input.period}`);
  const lines = USAGE_METRICS.map((metric): InvoiceLine => {
    const price = input.prices.metrics[metric];
    const quantity = input.usage[metric] ?? 0;
    const units = Math.ceil(quantity / price.unitSize);
    const billable = Math.max(0, units - price.included);
    return { metric, unit: price.unit, quantity, units, included: price.included, billable, unitPrice: price.unitPrice, amount: billable * price.unitPrice };
  });
  return {
    tenantId: input.tenantId,
    period: input.period,
    from: bounds.from.toISOString(),
    to: bounds.to.toISOString(),
    plan: input.plan,
    currency: input.prices.currency,
    final: input.now >= bounds.to.getTime(),
    lines,
    total: lines.reduce((sum, line) => sum + line.amount, 0),
  };
}

export const INVOICE_CSV_HEADER = 'tenant,period,plan,currency,metric,unit,quantity,units,included,billable,unit_price,amount';

/** The invoice as CSV: a header, one row per line, and a `total` row. */
export function invoiceCsv(invoice: Invoice): string {
  const head = [invoice.tenantId, invoice.period, invoice.plan, invoice.currency];
  const rows = invoice.lines.map((l) => [...head, l.metric, l.unit, l.quantity, l.units, l.included, l.billable, l.unitPrice, l.amount].map(csvField).join(','));
  const total = [...head, 'total', '', '', '', '', '', '', invoice.total].map(csvField).join(',');
  return `${[INVOICE_CSV_HEADER, ...rows, total].join('\r\n')}\r\n`;
}

function csvField(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
