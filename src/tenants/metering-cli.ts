// `veza tenant invoice ID --period YYYY-MM [--format csv]`: a tenant's invoice for a month, read from the database of
// the flags (what the nodes have written of their usage), as JSON or CSV.
import type { Storage } from '../storage/database.js';
import { buildInvoice, invoiceCsv, periodBounds } from './invoices.js';
import { UsageStore } from './metering-store.js';
import { pricesFor } from './prices.js';
import { QuotaStore } from './quota-store.js';
import type { TenantRegistry } from './registry.js';

export async function invoiceText(storage: Storage, registry: TenantRegistry, id: string, period: string | undefined, format: string | undefined): Promise<string> {
  const bounds = period ? periodBounds(period) : null;
  if (!period || !bounds) throw new RangeError(`a period is a month, YYYY-MM; got ${JSON.stringify(period ?? '')}`);
  if (format !== undefined && format !== 'csv' && format !== 'json') throw new RangeError(`the format is csv or json; got ${JSON.stringify(format)}`);
  await registry.get(id);
  const { plan, prices } = pricesFor((await new QuotaStore(storage).get(id)).plan);
  const usage = await new UsageStore(storage, 'cli').totals(id, bounds.from, bounds.to);
  const invoice = buildInvoice({ tenantId: id, period, plan, prices, usage, now: Date.now() });
  return format === 'csv' ? invoiceCsv(invoice) : `${JSON.stringify(invoice)}\n`;
}
