// What the webhooks routes answer, as zod: the OpenAPI spec's schemas and, in test mode, the check
// of every reply (src/server/response-check.ts). They mirror EndpointView, MessageView and
// AttemptView (endpoints.ts, delivery-log.ts).
import { z } from 'zod';
import { WEBHOOK_EVENT_TYPES } from './event-types.js';

const secretView = z.object({ secret: z.string().describe('the signing secret, whsec_…'), createdAt: z.string(), expiresAt: z.string().nullable().describe('when a rotated-out secret stops signing; null for the current one') });

export const endpointView = z.object({
  id: z.string(),
  url: z.string(),
  description: z.string(),
  eventTypes: z.array(z.string()),
  enabled: z.boolean(),
  disabledReason: z.string().nullable().describe('why the server disabled it (null when enabled, or disabled by its administrator)'),
  failingSince: z.string().nullable().describe('since when every attempt has failed; null after a success'),
  secrets: z.array(secretView.omit({ secret: true })),
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** An endpoint with the secret that signs for it, shown once (creation, rotation). */
export const endpointWithSecret = z.object({ endpoint: endpointView, secret: z.string().describe('the new signing secret, shown only in this answer') });

export const attemptView = z.object({
  id: z.string(),
  deliveryId: z.string(),
  messageId: z.string(),
  endpointId: z.string(),
  attempt: z.number().int(),
  at: z.string(),
  status: z.enum(['succeeded', 'failed']),
  responseCode: z.number().int().nullable().describe('the receiver\'s HTTP status; null when none came'),
  durationMs: z.number(),
  error: z.string().nullable(),
  responseBody: z.string().nullable().describe('the start of the receiver\'s answer'),
});

export const messageView = z.object({
  id: z.string(),
  eventId: z.string(),
  eventType: z.string(),
  createdAt: z.string(),
  payload: z.unknown(),
  deliveries: z.array(
    z.object({
      id: z.string(),
      endpointId: z.string(),
      state: z.enum(['pending', 'delivered', 'failed']),
      attempts: z.number().int(),
      nextAttemptAt: z.string().nullable().describe('when the next attempt is due (pending only)'),
      replayOf: z.string().nullable().describe('the delivery this one replays'),
      createdAt: z.string(),
      finishedAt: z.string().nullable(),
    }),
  ),
});

export const webhookReplies = {
  eventTypes: z.object({ eventTypes: z.array(z.enum(WEBHOOK_EVENT_TYPES)) }),
  endpoints: z.object({ endpoints: z.array(endpointView) }),
  secrets: z.object({ secrets: z.array(secretView) }),
  attempts: z.object({ attempts: z.array(attemptView) }),
  messages: z.object({ messages: z.array(messageView) }),
  replay: z.object({ messageId: z.string(), deliveries: z.array(z.object({ id: z.string(), endpointId: z.string() })) }),
};
