// From a bus event to what the sender delivers: one message (the body every attempt sends, made
// once) and one delivery per enabled endpoint of the event's tenant subscribed to its type, written
// in one transaction. A message is keyed by its event, so an event the bus delivers again (after a
// crash, on another node) makes nothing twice. Replays add a delivery of a stored message.
import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { VezaEvent } from '../events/catalog.js';
import type { Storage } from '../storage/database.js';
import { announces, isWebhookEventType } from './event-types.js';

export const deliveryId = () => `dlv_${randomBytes(12).toString('hex')}`;

/** The message id of an event: stable, so the receiver's `webhook-id` deduplicates redeliveries too. */
export function messageId(event: Pick<VezaEvent, 'tenantId' | 'id'>): string {
  return `msg_${createHash('sha256').update(`${event.tenantId}\u0000${event.id}`).digest('hex').slice(0, 32)}`;
}

/** The Standard Webhooks payload: `type`, `timestamp`, `data` (the event's payload), and which event. */
export function messageBody(event: VezaEvent): string {
  return JSON.stringify({
    type: event.type,
    timestamp: event.at,
    data: event.payload,
    event: { id: event.id, tenantId: event.tenantId, ...(event.actor === undefined ? {} : { actor: event.actor }) },
  });
}

export class WebhookOutbox {
  constructor(
    private readonly storage: Storage,
    /** Delay of the first attempt (the schedule's first step). */
    private readonly firstDelayMs: number,
  ) {}

  /** Writes the message and its deliveries; the number of deliveries made (0: nobody listens, or done before). */
  async enqueue(event: VezaEvent): Promise<number> {
    if (!isWebhookEventType(event.type) || !announces(event.type, event.payload)) return 0;
    const type = event.type;
    return this.storage.withTenant(event.tenantId, async (trx) => {
      const endpoints = await trx
        .selectFrom('wh_endpoints')
        .select('id')
        .where('enabled', '=', true)
        .where(sql<boolean>`event_types @> ${JSON.stringify([type])}::jsonb`)
        .execute();
      if (endpoints.length === 0) return 0;
      const id = messageId(event);
      const inserted = await trx
        .insertInto('wh_messages')
        .values({ tenant_id: event.tenantId, id, event_id: event.id, event_type: type, body: messageBody(event) })
        .onConflict((oc) => oc.columns(['tenant_id', 'event_id']).doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!inserted) return 0;
      const due = new Date(Date.now() + this.firstDelayMs);
      await trx
        .insertInto('wh_deliveries')
        .values(endpoints.map((e) => ({ tenant_id: event.tenantId, id: deliveryId(), message_id: id, endpoint_id: e.id, next_attempt_at: due, replay_of: null })))
        .execute();
      return endpoints.length;
    });
  }
}
