// The events a tenant's webhook endpoints may subscribe to: what the bus announces of interest
// outside the platform (a session ended, a recording is ready, money moved, a token sold, a fan
// earned something). Internal traffic (every update, presence, usage counts, cache invalidations)
// never leaves through a webhook.
import type { EventType } from '../events/catalog.js';

export const WEBHOOK_EVENT_TYPES = [
  'session.closed',
  'session.versioned',
  'stream.started',
  'stream.ended',
  'recording.ended',
  'bounce.progress',
  'tip.sent',
  'tip.refunded',
  'track.purchased',
  'user.followed',
  'achievement.unlocked',
  'level.up',
  'quest.completed',
  'insights.alert',
  'nft.minted',
  'nft.sold',
  'nft.licensed',
] as const satisfies readonly EventType[];

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

const PUBLIC = new Set<string>(WEBHOOK_EVENT_TYPES);

export function isWebhookEventType(type: string): type is WebhookEventType {
  return PUBLIC.has(type);
}

/** Whether an event of this type reaches an endpoint: bounce progress only when the bounce has ended. */
export function announces(type: WebhookEventType, payload: unknown): boolean {
  if (type !== 'bounce.progress') return true;
  const state = (payload as { state?: string }).state;
  return state === 'done' || state === 'failed';
}
