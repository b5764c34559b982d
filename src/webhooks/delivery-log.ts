// What a tenant's administrator reads of its webhooks: the messages, each one's deliveries (pending,
// delivered, failed) and every attempt (when, the answer's status, how long it took, the error),
// and replay: a stored message delivered again, now, to one endpoint or to those it went to.
import type { Storage } from '../storage/database.js';
import { WebhookError } from './endpoints.js';
import { deliveryId } from './outbox.js';

export interface AttemptView {
  id: string;
  deliveryId: string;
  messageId: string;
  endpointId: string;
  attempt: number;
  at: string;
  status: 'succeeded' | 'failed';
  responseCode: number | null;
  durationMs: number;
  error: string | null;
  responseBody: string | null;
}

export interface DeliveryView {
  id: string;
  endpointId: string;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  /** When the next attempt is due (pending only). */
  nextAttemptAt: string | null;
  replayOf: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface MessageView {
  id: string;
  eventId: string;
  eventType: string;
  createdAt: string;
  payload: unknown;
  deliveries: DeliveryView[];
}

const iso = (at: Date | string | null) => (at === null ? null : new Date(at).toISOString());

type Trx = Parameters<Parameters<Storage['withTenant']>[1]>[0];
type MessageRow = { id: string; event_id: string; event_type: string; body: string; created_at: Date };

async function views(trx: Trx, messages: MessageRow[]): Promise<MessageView[]> {
  if (messages.length === 0) return [];
  const deliveries = await trx.selectFrom('wh_deliveries').selectAll().where('message_id', 'in', messages.map((m) => m.id)).orderBy('created_at').execute();
  return messages.map((m) => ({
    id: m.id,
    eventId: m.event_id,
    eventType: m.event_type,
    createdAt: iso(m.created_at)!,
    payload: JSON.parse(m.body) as unknown,
    deliveries: deliveries
      .filter((d) => d.message_id === m.id)
      .map((d) => ({
        id: d.id,
        endpointId: d.endpoint_id,
        state: d.state,
        attempts: d.attempts,
        nextAttemptAt: d.state === 'pending' ? iso(d.next_attempt_at) : null,
        replayOf: d.replay_of,
        createdAt: iso(d.created_at)!,
        finishedAt: iso(d.finished_at),
      })),
  }));
}

export class DeliveryLog {
  constructor(private readonly storage: Storage) {}

  /** The newest messages first, with their deliveries; `endpointId` keeps those that went to it. */
  async messages(tenantId: string, options: { endpointId?: string | undefined; limit: number }): Promise<MessageView[]> {
    return this.storage.withTenant(tenantId, async (trx) => {
      let query = trx.selectFrom('wh_messages').selectAll().orderBy('created_at', 'desc').orderBy('id').limit(options.limit);
      if (options.endpointId) query = query.where('id', 'in', trx.selectFrom('wh_deliveries').select('message_id').where('endpoint_id', '=', options.endpointId));
      return views(trx, await query.execute());
    });
  }

  async message(tenantId: string, id: string): Promise<MessageView> {
    const [found] = await this.storage.withTenant(tenantId, async (trx) => views(trx, await trx.selectFrom('wh_messages').selectAll().where('id', '=', id).execute()));
    if (!found) throw new WebhookError('not-found', `no webhook message ${id}`);
    return found;
  }

  /** Attempts, oldest first, of one message or to one endpoint. */
  async attempts(tenantId: string, filter: { messageId?: string; endpointId?: string }, limit = 200): Promise<AttemptView[]> {
    const rows = await this.storage.withTenant(tenantId, (trx) => {
      let query = trx.selectFrom('wh_attempts').selectAll().orderBy('at').orderBy('attempt').limit(limit);
      if (filter.messageId) query = query.where('message_id', '=', filter.messageId);
      if (filter.endpointId) query = query.where('endpoint_id', '=', filter.endpointId);
      return query.execute();
    });
    return rows.map((r) => ({
      id: r.id,
      deliveryId: r.delivery_id,
      messageId: r.message_id,
      endpointId: r.endpoint_id,
      attempt: r.attempt,
      at: iso(r.at)!,
      status: r.status,
      responseCode: r.response_code,
      durationMs: r.duration_ms,
      error: r.error,
      responseBody: r.response_body,
    }));
  }

  /** New deliveries of a stored message, due now: to `endpointId`, or to every endpoint it went to. */
  async replay(tenantId: string, messageId: string, endpointId?: string): Promise<{ messageId: string; deliveries: { id: string; endpointId: string }[] }> {
    const made = await this.storage.withTenant(tenantId, async (trx) => {
      const message = await trx.selectFrom('wh_messages').select('id').where('id', '=', messageId).executeTakeFirst();
      if (!message) throw new WebhookError('not-found', `no webhook message ${messageId}`);
      let targets: { endpointId: string; replayOf: string | null }[];
      if (endpointId) {
        const endpoint = await trx.selectFrom('wh_endpoints').select('id').where('id', '=', endpointId).executeTakeFirst();
        if (!endpoint) throw new WebhookError('not-found', `no webhook endpoint ${endpointId}`);
        const before = await trx.selectFrom('wh_deliveries').select('id').where('message_id', '=', messageId).where('endpoint_id', '=', endpointId).where('replay_of', 'is', null).executeTakeFirst();
        targets = [{ endpointId, replayOf: before?.id ?? null }];
      } else {
        const before = await trx
          .selectFrom('wh_deliveries')
          .innerJoin('wh_endpoints', (join) => join.onRef('wh_endpoints.id', '=', 'wh_deliveries.endpoint_id').onRef('wh_endpoints.tenant_id', '=', 'wh_deliveries.tenant_id'))
          .select(['wh_deliveries.id', 'wh_deliveries.endpoint_id'])
          .where('wh_deliveries.message_id', '=', messageId)
          .where('wh_deliveries.replay_of', 'is', null)
          .execute();
        targets = before.map((d) => ({ endpointId: d.endpoint_id, replayOf: d.id }));
        if (targets.length === 0) throw new WebhookError('invalid', `message ${messageId} went to no endpoint that still exists; name one (endpointId)`);
      }
      const rows = targets.map((t) => ({ tenant_id: tenantId, id: deliveryId(), message_id: messageId, endpoint_id: t.endpointId, next_attempt_at: new Date(), replay_of: t.replayOf }));
      await trx.insertInto('wh_deliveries').values(rows).execute();
      return rows.map((r) => ({ id: r.id, endpointId: r.endpoint_id }));
    });
    return { messageId, deliveries: made };
  }
}
