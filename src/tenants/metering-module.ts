import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createEvent, type VezaEvent } from '../events/catalog.js';
import type { ModuleContext } from '../modules/contract.js';
import { buildInvoice, periodBounds, periodOf, type Invoice } from './invoices.js';
import { UsageMeter } from './metering.js';
import { registerMeteringRoutes, type Metering } from './metering-routes.js';
import { UsageSettler, UsageStore } from './metering-store.js';
import { pricesFor } from './prices.js';
import { QuotaStore } from './quota-store.js';
import type { TenantRegistry } from './registry.js';

/** How often open connections' time and bytes reach the journal: what a `kill -9` can lose of them. */
export const METER_TICK_MS = 1000;
/** How often the meter's buckets reach the database and ended minutes are settled. */
export const METER_SETTLE_MS = 5000;

/** How long a claim on a counted event is kept. */
const CLAIM_DAYS = 7;

const MEDIA_EVENTS = ['stream.ended', 'recording.ended', 'stream.viewer.joined', 'stream.viewer.left'] as const;

/**
 * Metering of this node: the meter installed on the HTTP and WebSocket routers, media usage taken
 * from the bus (its own durable group, so nothing is missed across restarts), the journal ticking
 * every second, buckets settled every five, and an invoice published when a period ends.
 */
export async function startMetering(ctx: ModuleContext<unknown>, registry: TenantRegistry) {
  const { storage, bus, http, ws, logger, deployment } = ctx;
  const dir = path.join(deployment.dataDir, 'usage');
  mkdirSync(dir, { recursive: true });
  const node = nodeId(dir);
  const meter = new UsageMeter(path.join(dir, 'journal'));
  if (meter.replayed.amounts.length > 0 || meter.replayed.skipped > 0) {
    logger.info({ amounts: meter.replayed.amounts.length, skipped: meter.replayed.skipped }, 'usage journal replayed');
  }
  const store = new UsageStore(storage, node);
  const settler = new UsageSettler(meter, store, bus, (bucket) =>
    logger.warn({ tenant: bucket.tenant, minute: new Date(bucket.minute * 60_000).toISOString() }, 'usage of a tenant the database does not know was dropped'),
  );
  http.meterWith(meter);
  ws.meterWith(meter);
  // One consumer group for every node: each event goes to one node, which claims it in the
  // database before counting it, so a redelivery (to this node after a restart, or to another after
  // this one died before acknowledging) is not counted twice.
  const subscription = await bus.subscribe(
    'usage-meter',
    async (event) => void (await countOnce(meter, store, event)),
    { types: MEDIA_EVENTS },
  );

  // Billed at the prices of the plan the tenant's quotas follow.
  const plans = new QuotaStore(storage);
  const planOf = async (tenantId: string) => pricesFor((await plans.get(tenantId)).plan);
  const invoice = async (tenantId: string, period: string): Promise<Invoice> => {
    const bounds = periodBounds(period);
    if (!bounds) throw new Error(`invalid period ${period}`);
    const { plan, prices } = await planOf(tenantId);
    return buildInvoice({ tenantId, period, plan, prices, usage: await store.totals(tenantId, bounds.from, bounds.to), now: Date.now() });
  };

  // The oldest period whose invoices have not gone out, kept beside the journal: a restart neither
  // sends them again nor skips a month the node was down through.
  const periodFile = path.join(dir, 'invoiced-period');
  const stored = existsSync(periodFile) ? readFileSync(periodFile, 'utf8').trim() : '';
  let open = periodBounds(stored) ? stored : periodOf(Date.now());
  const closePeriods = async () => {
    const current = periodOf(Date.now());
    while (open < current) {
      for (const tenant of await registry.list()) {
        const data = await invoice(tenant.id, open);
        if (data.lines.every((line) => line.quantity === 0)) continue;
        const { period, plan, currency, total, lines } = data;
        await bus.publish(createEvent('usage.invoice', { id: `ui:${period}:${tenant.id}`, tenantId: tenant.id, payload: { period, plan, currency, total, lines } }));
      }
      open = periodOf(periodBounds(open)?.to.getTime() ?? Date.now());
      writeFileSync(periodFile, `${open}\n`);
    }
  };
  writeFileSync(periodFile, `${open}\n`);

  let pruned = 0;
  const settle = async () => {
    await settler.settle();
    await closePeriods();
    if (Date.now() - pruned > 3_600_000) {
      await store.pruneClaims(CLAIM_DAYS);
      pruned = Date.now();
    }
  };
  const tick = setInterval(() => {
    try {
      meter.tick();
    } catch (error) {
      logger.error({ err: error }, 'usage journal write failed');
    }
  }, METER_TICK_MS);
  tick.unref();
  let failures = 0;
  const settling = setInterval(() => {
    settle().then(
      () => (failures = 0),
      (error: unknown) => {
        if (failures++ === 0) logger.warn({ err: error }, 'usage could not be written to the database; retrying');
      },
    );
  }, METER_SETTLE_MS);
  settling.unref();

  const metering: Metering = {
    meter,
    node,
    settle,
    usage: (tenantId, from, to, granularity) => store.series(tenantId, from, to, granularity),
    invoice,
  };
  return {
    api: metering,
    routes: () => registerMeteringRoutes(http, metering, (id) => registry.get(id)),
    close: async () => {
      clearInterval(tick);
      clearInterval(settling);
      await subscription.close();
      await settle().catch((error: unknown) => logger.warn({ err: error }, 'usage not written at shutdown; the journal keeps it'));
      meter.close();
    },
  };
}

/** Counts a bus event on this node's meter unless this node or another counted it already. */
export async function countOnce(meter: UsageMeter, store: UsageStore, event: VezaEvent): Promise<boolean> {
  if (meter.counted(event.id)) return false;
  if (!(await store.claimEvent(event.id))) return false;
  meter.countEvent(event);
  return true;
}

/** This node's name in the usage table: made once per data directory, so a restart keeps it. */
function nodeId(dir: string): string {
  const file = path.join(dir, 'node');
  if (existsSync(file)) {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{12}$/.test(id)) return id;
  }
  const id = randomBytes(6).toString('hex');
  writeFileSync(file, `${id}\n`);
  return id;
}
