// Works through the deliveries that have come due, across tenants: claims a few at a time (a claim
// moves `next_attempt_at` past the attempt's time limit, so a process that dies mid-attempt leaves
// them due again a little later, and several senders never take the same one), makes one attempt
// each, logs it, and schedules the next attempt on the retry schedule or ends the delivery. An
// endpoint that has failed without a single success for `disableAfterS` is disabled. Everything it
// needs is in the database, so a restarted process carries on where the last one stopped.
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/database.js';
import type { WebhookSecret } from '../storage/schema-webhooks.js';
import { attemptDelivery, type AttemptResult } from './attempt.js';
import { activeSecrets } from './endpoints.js';
import type { WebhooksSettings } from './settings.js';
import { signedHeaders } from './signing.js';

const CLAIM_BATCH = 16;
/** How often messages past the retention are removed. */
const PURGE_EVERY_MS = 3_600_000;
/** How long past the attempt's time limit a claim holds a delivery. */
const CLAIM_MARGIN_MS = 5_000;

interface Claimed {
  tenant_id: string;
  id: string;
  message_id: string;
  endpoint_id: string;
  attempts: number;
}

export class WebhookSender {
  private timer: NodeJS.Timeout | null = null;
  private purger: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private closed = false;

  constructor(
    private readonly storage: Storage,
    private readonly settings: WebhooksSettings,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.nudge(), this.settings.pollMs);
    this.timer.unref();
    this.purger = setInterval(() => void this.purge().catch((error: unknown) => this.logger.warn({ err: error }, 'webhook log purge failed')), PURGE_EVERY_MS);
    this.purger.unref();
    this.nudge();
  }

  /** Removes the messages older than the retention, with their deliveries (pending ones too) and attempts; how many messages. */
  async purge(now = Date.now()): Promise<number> {
    const cutoff = new Date(now - this.settings.retentionDays * 86_400_000);
    // Across tenants: the owner connection.
    return this.storage.db.transaction().execute(async (trx) => {
      const old = trx.selectFrom('wh_messages').select('id').where('created_at', '<', cutoff);
      await trx.deleteFrom('wh_attempts').where('message_id', 'in', old).execute();
      await trx.deleteFrom('wh_deliveries').where('message_id', 'in', old).execute();
      const removed = await trx.deleteFrom('wh_messages').where('created_at', '<', cutoff).executeTakeFirst();
      return Number(removed.numDeletedRows);
    });
  }

  /** Looks for due deliveries now (a new message was written), or once the pass in hand ends. */
  nudge(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((error: unknown) => this.logger.warn({ err: error }, 'webhook delivery pass failed'))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.nudge();
        }
      });
  }

  /** Stops claiming; attempts in hand finish (each within its time limit). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.purger) clearInterval(this.purger);
    await this.running;
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const claimed = await this.claim();
      await Promise.all(claimed.map((delivery) => this.deliver(delivery)));
      if (claimed.length < CLAIM_BATCH) return;
    }
  }

  private async claim(): Promise<Claimed[]> {
    const now = new Date();
    const until = new Date(now.getTime() + this.settings.attemptTimeoutMs + CLAIM_MARGIN_MS);
    // Across tenants: the owner connection, as the platform's maintenance uses.
    const result = await sql<Claimed>`
      UPDATE wh_deliveries SET next_attempt_at = ${until}
      WHERE (tenant_id, id) IN (
        SELECT d.tenant_id, d.id FROM wh_deliveries d
        JOIN wh_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
        WHERE d.state = 'pending' AND d.next_attempt_at <= ${now} AND e.enabled
        ORDER BY d.next_attempt_at
        LIMIT ${CLAIM_BATCH}
        FOR UPDATE OF d SKIP LOCKED)
      RETURNING tenant_id, id, message_id, endpoint_id, attempts`.execute(this.storage.db);
    return result.rows;
  }

  private async deliver(delivery: Claimed): Promise<void> {
    const { tenant_id: tenantId } = delivery;
    const target = await this.storage.withTenant(tenantId, async (trx) => {
      const message = await trx.selectFrom('wh_messages').select('body').where('id', '=', delivery.message_id).executeTakeFirst();
      const endpoint = await trx.selectFrom('wh_endpoints').select(['url', 'secrets']).where('id', '=', delivery.endpoint_id).executeTakeFirst();
      return message && endpoint ? { body: message.body, url: endpoint.url, secrets: endpoint.secrets as WebhookSecret[] } : null;
    });
    const at = new Date();
    const result: AttemptResult = target
      ? await attemptDelivery({
          url: target.url,
          body: target.body,
          headers: signedHeaders(
            activeSecrets(target.secrets, at.getTime()).map((s) => s.secret),
            delivery.message_id,
            target.body,
            at.getTime(),
          ),
          timeoutMs: this.settings.attemptTimeoutMs,
          allowPrivate: this.settings.allowPrivate,
        })
      : { ok: false, status: null, durationMs: 0, error: 'the message or the endpoint no longer exists', responseBody: null };
    await this.record(delivery, at, result, target === null);
  }

  /** Logs the attempt and moves the delivery (and the endpoint's failure streak) on, in one transaction. */
  private async record(delivery: Claimed, at: Date, result: AttemptResult, gone: boolean): Promise<void> {
    const schedule = this.settings.retrySchedule;
    const attempt = delivery.attempts + 1;
    const now = new Date();
    const last = gone || attempt >= schedule.length;
    const disabled = await this.storage.withTenant(delivery.tenant_id, async (trx) => {
      await trx
        .insertInto('wh_attempts')
        .values({
          tenant_id: delivery.tenant_id,
          id: `atm_${randomBytes(12).toString('hex')}`,
          delivery_id: delivery.id,
          message_id: delivery.message_id,
          endpoint_id: delivery.endpoint_id,
          attempt,
          at,
          status: result.ok ? 'succeeded' : 'failed',
          response_code: result.status,
          duration_ms: result.durationMs,
          error: result.error?.slice(0, 500) ?? null,
          response_body: result.responseBody,
        })
        .execute();
      const next = result.ok || last ? { state: result.ok ? ('delivered' as const) : ('failed' as const), finished_at: now } : { next_attempt_at: new Date(now.getTime() + schedule[attempt]!) };
      await trx.updateTable('wh_deliveries').set({ attempts: attempt, ...next }).where('id', '=', delivery.id).execute();
      if (gone) return false;
      if (result.ok) {
        await trx.updateTable('wh_endpoints').set({ failing_since: null }).where('id', '=', delivery.endpoint_id).where('failing_since', 'is not', null).execute();
        return false;
      }
      const endpoint = await trx
        .updateTable('wh_endpoints')
        .set({ failing_since: sql<Date>`coalesce(failing_since, ${at})` })
        .where('id', '=', delivery.endpoint_id)
        .returning(['failing_since', 'enabled'])
        .executeTakeFirst();
      if (!endpoint?.enabled || !endpoint.failing_since) return false;
      const since = new Date(endpoint.failing_since);
      if (now.getTime() - since.getTime() < this.settings.disableAfterS * 1000) return false;
      await trx
        .updateTable('wh_endpoints')
        .set({ enabled: false, disabled_reason: `every attempt failed since ${since.toISOString()}`, updated_at: now })
        .where('id', '=', delivery.endpoint_id)
        .execute();
      return true;
    });
    if (disabled) this.logger.warn({ tenant: delivery.tenant_id, endpoint: delivery.endpoint_id }, 'webhook endpoint disabled after failing without a break');
  }
}
