// Usage and invoices over HTTP: a tenant administrator (claim `adm`) reads its own tenant's, the
// platform operator (claim `op`) any tenant's.
import { z } from 'zod';
import { badRequest, forbidden, notFound } from '../server/errors.js';
import type { HttpContext, HttpReply, HttpRouter } from '../server/http.js';
import { invoiceCsv, periodBounds, type Invoice } from './invoices.js';
import type { UsageMeter } from './metering.js';
import type { Granularity, UsageTotals } from './metering-store.js';
import type { Tenant } from './registry.js';
import { tenantInvoiceReply, tenantUsageReply } from './reply-schemas.js';
import { operator } from './routes.js';

/** The node's metering, as the routes and tests reach it. */
export interface Metering {
  meter: UsageMeter;
  node: string;
  /** Writes the buckets to the database and settles the minutes that have ended (now, besides every five seconds). */
  settle(): Promise<void>;
  usage(tenantId: string, from: Date, to: Date, granularity: Granularity): Promise<{ start: string; usage: UsageTotals }[]>;
  invoice(tenantId: string, period: string): Promise<Invoice>;
}

const usageQuery = z.object({
  granularity: z.enum(['minute', 'hour', 'day']).optional().describe('hour by default'),
  from: z.string().optional().describe('ISO 8601 or epoch milliseconds; 24 hours before `to` by default'),
  to: z.string().optional().describe('ISO 8601 or epoch milliseconds; now by default'),
});
const invoiceQuery = z.object({ format: z.enum(['json', 'csv']).optional().describe('csv: the invoice as text/csv (so does Accept: text/csv)') });

const HOUR_MS = 3_600_000;
/** The most buckets one usage answer holds. */
const MAX_BUCKETS: Record<Granularity, number> = { minute: 24 * 60, hour: 93 * 24, day: 3 * 366 };
const SPAN_MS: Record<Granularity, number> = { minute: 60_000, hour: HOUR_MS, day: 24 * HOUR_MS };

function instant(ctx: HttpContext, name: string, fallback: number): Date {
  const value = ctx.query.get(name);
  if (value === null || value === '') return new Date(fallback);
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw badRequest(`${name} must be an ISO 8601 time or epoch milliseconds, got ${JSON.stringify(value)}`);
  return new Date(ms);
}

async function usageReply(ctx: HttpContext, metering: Metering, tenantId: string): Promise<HttpReply> {
  const granularity = (ctx.query.get('granularity') ?? 'hour') as Granularity;
  if (!Object.hasOwn(SPAN_MS, granularity)) throw badRequest('granularity must be minute, hour or day');
  const to = instant(ctx, 'to', Date.now());
  const from = instant(ctx, 'from', to.getTime() - 24 * HOUR_MS);
  if (from >= to) throw badRequest('from must be before to');
  if ((to.getTime() - from.getTime()) / SPAN_MS[granularity] > MAX_BUCKETS[granularity]) {
    throw badRequest(`at most ${MAX_BUCKETS[granularity]} buckets of a ${granularity} per answer; narrow from and to or choose a coarser granularity`);
  }
  const buckets = await metering.usage(tenantId, from, to, granularity);
  const totals: Record<string, number> = {};
  for (const bucket of buckets) for (const [metric, amount] of Object.entries(bucket.usage)) totals[metric] = (totals[metric] ?? 0) + amount;
  return { json: { tenantId, from: from.toISOString(), to: to.toISOString(), granularity, buckets, totals } };
}

async function invoiceReply(ctx: HttpContext, metering: Metering, tenantId: string): Promise<HttpReply> {
  const period = ctx.params.period ?? '';
  if (!periodBounds(period)) throw badRequest(`a period is a month, YYYY-MM; got ${JSON.stringify(period)}`);
  const invoice = await metering.invoice(tenantId, period);
  const format = ctx.query.get('format');
  if (format !== null && format !== 'csv' && format !== 'json') throw badRequest('format must be csv or json');
  const csv = format === 'csv' || (format === null && /\btext\/csv\b/i.test(ctx.headers.accept ?? ''));
  if (!csv) return { json: invoice };
  return {
    body: invoiceCsv(invoice),
    headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="invoice-${tenantId}-${period}.csv"` },
  };
}

function tenantAdmin(ctx: HttpContext): string {
  if (!ctx.principal?.admin) throw forbidden("the tenant administrator's credential (claim adm) is required");
  return ctx.principal.tenantId;
}

export function registerMeteringRoutes(http: HttpRouter, metering: Metering, tenant: (id: string) => Promise<Tenant>): void {
  const required = { auth: 'required' } as const;
  const tag = 'tenants';
  const operatorTenant = async (ctx: HttpContext) => {
    operator(ctx);
    const id = ctx.params.id ?? '';
    await tenant(id).catch(() => {
      throw notFound(`tenant ${id} does not exist`);
    });
    return id;
  };
  const usage = { ...required, tag, query: usageQuery, responses: { 200: tenantUsageReply } };
  const invoice = { ...required, tag, query: invoiceQuery, responses: { 200: tenantInvoiceReply } };
  http.route('GET', '/api/v1/tenant/usage', (ctx) => usageReply(ctx, metering, tenantAdmin(ctx)), { ...usage, summary: 'The caller\'s tenant\'s usage by minute, hour or day (its administrator)' });
  http.route('GET', '/api/v1/tenant/invoices/:period', (ctx) => invoiceReply(ctx, metering, tenantAdmin(ctx)), { ...invoice, summary: 'The caller\'s tenant\'s invoice for a month, JSON or CSV (its administrator)' });
  http.route('GET', '/api/v1/platform/tenants/:id/usage', async (ctx) => usageReply(ctx, metering, await operatorTenant(ctx)), { ...usage, summary: 'A tenant\'s usage by minute, hour or day (operator)' });
  http.route('GET', '/api/v1/platform/tenants/:id/invoices/:period', async (ctx) => invoiceReply(ctx, metering, await operatorTenant(ctx)), { ...invoice, summary: 'A tenant\'s invoice for a month, JSON or CSV (operator)' });
}
