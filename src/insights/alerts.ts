// Predictive alerts: a creator's plays in the last complete hour against the forecast for that hour
// (the mean of the same hour over the previous 7 days: listening has a strong daily rhythm). A count
// far outside what Poisson noise allows around the forecast is a spike or a drop. Each alert is
// stored once per creator, kind and hour, published as `insights.alert`, and POSTed to the creator's
// webhooks, signed, with retries that survive restarts.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { EventBus } from '../events/bus.js';
import { createEvent } from '../events/catalog.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/database.js';

export interface Anomaly {
  kind: 'plays-spike' | 'plays-drop';
  value: number;
  expected: number;
}

/** Forecasts below this many plays an hour are too small to call anything unusual. */
const MIN_EXPECTED = 5;
/** How many Poisson standard deviations from the forecast an hour must be. */
const SIGMAS = 4;

/**
 * `hourly` holds plays per hour, oldest first, ending with the hour to judge; it needs 7 days and that
 * hour (169 values). Returns the anomaly, or null for an ordinary hour or too little history.
 */
export function detectPlaysAnomaly(hourly: number[]): Anomaly | null {
  if (hourly.length < 169) return null;
  const value = hourly.at(-1)!;
  const sameHours = Array.from({ length: 7 }, (_, d) => hourly[hourly.length - 1 - 24 * (d + 1)]!);
  const expected = sameHours.reduce((s, v) => s + v, 0) / 7;
  const spread = SIGMAS * Math.sqrt(Math.max(expected, 1));
  if (Math.max(expected, value) < MIN_EXPECTED) return null;
  if (value > expected + spread && value >= 1.5 * expected) return { kind: 'plays-spike', value, expected };
  if (value < expected - spread && value <= 0.5 * expected) return { kind: 'plays-drop', value, expected };
  return null;
}

/** `x-veza-signature: sha256=<hex HMAC of the body with the webhook's secret>`. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface AlertOptions {
  storage: Storage;
  bus: EventBus;
  logger: Logger;
  /** Delivery attempts per webhook before the alert is given up on. */
  maxAttempts?: number;
  /** Delay before retry n (1-based). */
  retryDelayMs?: (attempt: number) => number;
  fetchTimeoutMs?: number;
  now?: () => number;
  /** The share of a creator's active listeners the churn model puts at risk (null: no model). */
  atRiskShare?: (tenantId: string, creatorId: string) => Promise<number | null>;
  /** At or above this share, a churn-risk alert (once a day). */
  atRiskAlertShare?: number;
}

export class InsightsAlerts {
  private readonly maxAttempts: number;
  private readonly retryDelayMs: (attempt: number) => number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly o: AlertOptions) {
    this.maxAttempts = o.maxAttempts ?? 6;
    this.retryDelayMs = o.retryDelayMs ?? ((n) => Math.min(300_000, 1000 * 4 ** (n - 1)));
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  async addWebhook(tenantId: string, creatorId: string, url: string): Promise<{ id: string; secret: string }> {
    const id = randomUUID();
    const secret = randomBytes(24).toString('base64url');
    await this.o.storage.withTenant(tenantId, (trx) =>
      trx.insertInto('ins_webhooks').values({ tenant_id: tenantId, id, creator_id: creatorId, url, secret, created_at: new Date(this.now()) }).execute(),
    );
    return { id, secret };
  }

  async webhooks(tenantId: string, creatorId: string): Promise<{ id: string; url: string; createdAt: Date }[]> {
    const rows = await this.o.storage.withTenant(tenantId, (trx) => trx.selectFrom('ins_webhooks').select(['id', 'url', 'created_at']).where('creator_id', '=', creatorId).orderBy('created_at').execute());
    return rows.map((r) => ({ id: r.id, url: r.url, createdAt: r.created_at }));
  }

  async removeWebhook(tenantId: string, creatorId: string, id: string): Promise<boolean> {
    const row = await this.o.storage.withTenant(tenantId, (trx) => trx.deleteFrom('ins_webhooks').where('id', '=', id).where('creator_id', '=', creatorId).returning('id').executeTakeFirst());
    return row !== undefined;
  }

  async alerts(tenantId: string, creatorId: string, limit = 50) {
    const rows = await this.o.storage.withTenant(tenantId, (trx) =>
      trx.selectFrom('ins_alerts').selectAll().where('creator_id', '=', creatorId).orderBy('raised_at', 'desc').limit(limit).execute(),
    );
    return rows.map((r) => ({ id: r.id, kind: r.kind, subject: r.subject, raisedAt: r.raised_at, payload: r.payload, attempts: r.attempts, deliveredAt: r.delivered_at, lastError: r.last_error }));
  }

  /**
   * Judges the last complete hour of every creator with a webhook, raises what is new, and retries
   * undelivered alerts. Run on a timer; returns the alerts raised.
   */
  async evaluate(): Promise<{ tenantId: string; creatorId: string; kind: string }[]> {
    const raised: { tenantId: string; creatorId: string; kind: string }[] = [];
    const hourNow = Math.floor(this.now() / 3_600_000);
    const last = hourNow - 1;
    const tenants = (await this.o.storage.db.selectFrom('tenants').select('id').execute()).map((t) => t.id);
    for (const tenantId of tenants) {
      const creators = await this.o.storage.withTenant(tenantId, (trx) => trx.selectFrom('ins_webhooks').select('creator_id').distinct().execute());
      for (const { creator_id: creatorId } of creators) {
        // Monday to Monday (UTC): once the week is over, its report is announced (rendered on request).
        const today = Math.floor(this.now() / 86_400_000);
        const lastMonday = today - ((new Date(today * 86_400_000).getUTCDay() + 6) % 7) - 7;
        const week = new Date(lastMonday * 86_400_000).toISOString().slice(0, 10);
        const reportPath = `/api/v1/insights/report?creator_id=${encodeURIComponent(creatorId)}&week=${week}&format=pdf`;
        if (await this.raise(tenantId, creatorId, 'weekly-report', week, `your weekly report for the week of ${week} is ready: ${reportPath}`, 0, 0)) {
          raised.push({ tenantId, creatorId, kind: 'weekly-report' });
        }
        const share = await this.o.atRiskShare?.(tenantId, creatorId);
        const threshold = this.o.atRiskAlertShare ?? 0.3;
        if (share !== undefined && share !== null && share >= threshold) {
          const day = new Date(this.now()).toISOString().slice(0, 10);
          const message = `${Math.round(share * 100)}% of your active listeners may stop listening in the next 28 days (alert threshold ${Math.round(threshold * 100)}%)`;
          if (await this.raise(tenantId, creatorId, 'churn-risk', day, message, share, threshold)) raised.push({ tenantId, creatorId, kind: 'churn-risk' });
        }
        const hourly = await this.hourlyPlays(tenantId, creatorId, last - 168, last);
        const anomaly = detectPlaysAnomaly(hourly);
        if (!anomaly) continue;
        const subject = new Date(last * 3_600_000).toISOString();
        const verb = anomaly.kind === 'plays-spike' ? 'spiked to' : 'dropped to';
        const message = `plays ${verb} ${anomaly.value} in the hour from ${subject.slice(11, 16)} UTC, against ${anomaly.expected.toFixed(1)} expected from the last 7 days`;
        if (await this.raise(tenantId, creatorId, anomaly.kind, subject, message, anomaly.value, anomaly.expected)) raised.push({ tenantId, creatorId, kind: anomaly.kind });
      }
      await this.retryPending(tenantId);
    }
    return raised;
  }

  /** Stores the alert unless it exists, publishes it and delivers it. False when it was raised before. */
  async raise(tenantId: string, creatorId: string, kind: 'plays-spike' | 'plays-drop' | 'churn-risk' | 'weekly-report', subject: string, message: string, value: number, expected: number): Promise<boolean> {
    const id = randomUUID();
    const payload = { alertId: id, creatorId, kind, message, value, expected, subject };
    const inserted = await this.o.storage.withTenant(tenantId, (trx) =>
      trx
        .insertInto('ins_alerts')
        .values({ tenant_id: tenantId, id, creator_id: creatorId, kind, subject, raised_at: new Date(this.now()), payload: JSON.stringify(payload) })
        .onConflict((oc) => oc.columns(['tenant_id', 'creator_id', 'kind', 'subject']).doNothing())
        .returning('id')
        .executeTakeFirst(),
    );
    if (!inserted) return false;
    await this.o.bus.publish(createEvent('insights.alert', { tenantId, payload }));
    await this.deliver(tenantId, id);
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async hourlyPlays(tenantId: string, creatorId: string, fromHour: number, toHour: number): Promise<number[]> {
    const rows = await this.o.storage.withTenant(tenantId, (trx) =>
      trx
        .selectFrom('ins_track_hours as h')
        .innerJoin('rec_items as i', (j) => j.onRef('i.tenant_id', '=', 'h.tenant_id').onRef('i.item_id', '=', 'h.track_id'))
        .select(['h.hour', (eb) => eb.fn.sum<string>('h.plays').as('plays')])
        .where('i.artist_id', '=', creatorId)
        .where('h.hour', '>=', new Date(fromHour * 3_600_000))
        .where('h.hour', '<=', new Date(toHour * 3_600_000))
        .groupBy('h.hour')
        .execute(),
    );
    const out = Array<number>(toHour - fromHour + 1).fill(0);
    for (const r of rows) out[Math.floor(new Date(r.hour).getTime() / 3_600_000) - fromHour] = Number(r.plays);
    return out;
  }

  private async retryPending(tenantId: string): Promise<void> {
    const pending = await this.o.storage.withTenant(tenantId, (trx) =>
      trx.selectFrom('ins_alerts').select('id').where('delivered_at', 'is', null).where('attempts', '<', this.maxAttempts).execute(),
    );
    for (const { id } of pending) await this.deliver(tenantId, id);
  }

  /** One delivery attempt to every webhook of the alert's creator; schedules the next on failure. */
  private async deliver(tenantId: string, alertId: string): Promise<void> {
    if (this.closed) return;
    const alert = await this.o.storage.withTenant(tenantId, (trx) => trx.selectFrom('ins_alerts').selectAll().where('id', '=', alertId).executeTakeFirst());
    if (!alert || alert.delivered_at || alert.attempts >= this.maxAttempts) return;
    const hooks = await this.o.storage.withTenant(tenantId, (trx) => trx.selectFrom('ins_webhooks').select(['url', 'secret']).where('creator_id', '=', alert.creator_id).execute());
    const body = JSON.stringify({ type: 'insights.alert', tenantId, ...(alert.payload as object) });
    const errors: string[] = [];
    for (const hook of hooks) {
      try {
        const res = await fetch(hook.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-veza-signature': signature(hook.secret, body), 'x-veza-alert': alertId },
          body,
          signal: AbortSignal.timeout(this.o.fetchTimeoutMs ?? 10_000),
          redirect: 'manual',
        });
        if (res.status < 200 || res.status >= 300) errors.push(`${hook.url}: HTTP ${res.status}`);
        await res.body?.cancel();
      } catch (error) {
        errors.push(`${hook.url}: ${(error as Error).message}`);
      }
    }
    const attempts = alert.attempts + 1;
    await this.o.storage.withTenant(tenantId, (trx) =>
      trx
        .updateTable('ins_alerts')
        .set({ attempts: sql<number>`attempts + 1`, delivered_at: errors.length === 0 ? new Date(this.now()) : null, last_error: errors.length ? errors.join('; ').slice(0, 2000) : null })
        .where('id', '=', alertId)
        .execute(),
    );
    if (errors.length === 0) return;
    if (attempts >= this.maxAttempts) {
      this.o.logger.warn({ tenantId, alertId, attempts, errors }, 'insights alert not delivered; giving up');
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.deliver(tenantId, alertId).catch((error: unknown) => this.o.logger.warn({ err: error, alertId }, 'alert delivery failed'));
    }, this.retryDelayMs(attempts));
    timer.unref();
    this.timers.add(timer);
  }
}
