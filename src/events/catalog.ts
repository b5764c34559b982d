import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { TENANT_ID_PATTERN } from '../storage/schema.js';

/**
 * The contract between the core and the side modules. Every event type has a payload schema here;
 * an event whose type is not in this catalog cannot be built, published or delivered.
 */
const id = z.string().min(1).max(200);
const positionMs = z.number().int().min(0);
const money = { amount: z.number().int().positive(), currency: z.string().regex(/^[A-Z]{3}$/) };

export const payloadSchemas = {
  'session.opened': z.object({ sessionId: id }),
  'session.closed': z.object({ sessionId: id, durationMs: z.number().int().min(0) }),
  'session.updated': z.object({
    sessionId: id,
    author: id,
    bytes: z.number().int().min(0),
    changed: z.array(z.string().max(200)).max(100),
  }),
  'presence.joined': z.object({ sessionId: id, userId: id }),
  'presence.left': z.object({ sessionId: id, userId: id }),
  'track.played': z.object({
    trackId: id,
    startMs: positionMs.optional(),
    endMs: positionMs.optional(),
    durationMs: positionMs.optional(),
    source: z.string().max(100).optional(),
  }),
  'track.liked': z.object({ trackId: id }),
  'track.shared': z.object({ trackId: id, channel: z.string().max(100).optional() }),
  'track.purchased': z.object({ trackId: id, ...money }),
  'stream.started': z.object({ roomId: id, streamerId: id }),
  'stream.ended': z.object({ roomId: id, durationMs: z.number().int().min(0) }),
  'stream.viewer.joined': z.object({ roomId: id, viewerId: id }),
  'stream.viewer.left': z.object({ roomId: id, viewerId: id }),
  'stream.quality': z.object({
    roomId: id,
    /** One entry per consumer: what the SFU sends it and what its receiver reports back. */
    consumers: z
      .array(
        z.object({
          consumerId: id,
          userId: id,
          producerId: id,
          kind: z.enum(['audio', 'video']),
          /** Bits per second sent to the consumer over the last second. */
          bitrate: z.number().min(0),
          packetsSent: z.number().int().min(0),
          /** Cumulative and recent (0..1) loss the receiver reported in RTCP. */
          packetsLost: z.number().int(),
          fractionLost: z.number().min(0).max(1),
          /** Interarrival jitter of the incoming stream, milliseconds. */
          jitterMs: z.number().min(0),
          roundTripTimeMs: z.number().min(0).optional(),
          /** mediasoup's 0..10 quality score of the stream to this consumer. */
          score: z.number().min(0).max(10),
        }),
      )
      .max(500),
    /** Consumers left out past 500. */
    omitted: z.number().int().min(0),
  }),
  'voice.speaker.changed': z.object({ sessionId: id, userId: id.nullable() }),
  'recording.ended': z.object({
    roomId: id,
    outputId: id,
    kind: z.enum(['recording', 'hls']),
    status: z.enum(['finished', 'failed']),
    durationMs: z.number().int().min(0),
    bytes: z.number().int().min(0),
    error: z.string().max(2000).optional(),
  }),
  /** A tip (superchat) was paid in a live room; `tipId` names it in the ledger and for refunds. */
  'tip.sent': z.object({ roomId: id, fromUserId: id, toUserId: id, ...money, message: z.string().max(500).optional(), tipId: id.optional() }),
  /** A tip was paid back to its sender; its ledger entries are reversed. */
  'tip.refunded': z.object({ tipId: id, roomId: id, fromUserId: id, toUserId: id, ...money, reason: z.string().max(500).optional() }),
  /** A user earned an achievement (a rule's version, or a quest's reward: `quest:<id>`). */
  'achievement.unlocked': z.object({
    userId: id,
    achievementId: id,
    version: z.number().int().min(1),
    category: z.string().max(50),
    points: z.number().int().min(0),
    title: z.string().max(200),
  }),
  /** A user's points reached a new level. */
  'level.up': z.object({ userId: id, level: z.number().int().min(2), points: z.number().int().min(0) }),
  /** A community quest reached its goal: everyone who contributed, and those who gave enough to be rewarded. */
  'quest.completed': z.object({ questId: id, goal: z.number().int().min(1), progress: z.number().int().min(0), contributors: z.number().int().min(0), rewarded: z.number().int().min(0) }),
  /** A creator's numbers left their forecast (a spike or a drop in plays), churn risk crossed a threshold, or the weekly report is ready. */
  'insights.alert': z.object({
    alertId: id,
    creatorId: id,
    kind: z.enum(['plays-spike', 'plays-drop', 'churn-risk', 'weekly-report']),
    message: z.string().max(500),
    value: z.number(),
    expected: z.number(),
    subject: z.string().max(200),
  }),
  /** The actor follows a creator. */
  'user.followed': z.object({ userId: id }),
  /** A user was shown what an experiment's variant serves (the actor is the user). */
  'experiment.exposed': z.object({ experimentId: id, variant: id, context: z.string().max(100).optional(), items: z.array(id).max(200).optional() }),
  /** A user did what an experiment measures (a play, a like, a purchase of a recommended item). */
  'experiment.outcome': z.object({ experimentId: id, variant: id.optional(), metric: z.string().min(1).max(100), itemId: id.optional(), value: z.number().finite().optional() }),
  /** A tenant was created, suspended or resumed: every node updates whom it admits. */
  'tenant.changed': z.object({ status: z.enum(['active', 'suspended']) }),
} as const;

export type EventType = keyof typeof payloadSchemas;
export type EventPayload<T extends EventType> = z.output<(typeof payloadSchemas)[T]>;
export const eventTypes = Object.keys(payloadSchemas) as EventType[];

/** Types a signed-in client may report itself through the HTTP API (the rest come from the server). */
export const clientReportableTypes = ['track.played', 'track.liked', 'track.shared', 'user.followed', 'experiment.outcome'] as const satisfies readonly EventType[];

export interface VezaEventOf<T extends EventType> {
  id: string;
  type: T;
  tenantId: string;
  /** ISO 8601 time at which it happened. */
  at: string;
  actor?: string;
  payload: EventPayload<T>;
}

export type VezaEvent = { [T in EventType]: VezaEventOf<T> }[EventType];

const envelope = z.object({
  id: z.string().min(1).max(100),
  type: z.enum(eventTypes as [EventType, ...EventType[]]),
  tenantId: z.string().regex(TENANT_ID_PATTERN),
  at: z.iso.datetime({ offset: true }),
  actor: z.string().min(1).max(200).optional(),
  payload: z.unknown(),
});

export type ParseResult = { ok: true; event: VezaEvent } | { ok: false; error: string };

/** Validates an event from anywhere untrusted (a client, another node, a stream entry). */
export function parseEvent(input: unknown): ParseResult {
  const head = envelope.safeParse(input);
  if (!head.success) return { ok: false, error: formatIssues(head.error) };
  const payload = payloadSchemas[head.data.type].safeParse(head.data.payload);
  if (!payload.success) return { ok: false, error: formatIssues(payload.error, 'payload') };
  const { actor, ...rest } = head.data;
  const event = { ...rest, ...(actor === undefined ? {} : { actor }), payload: payload.data } as VezaEvent;
  return { ok: true, event };
}

/**
 * Events built by `createEvent` were validated when built: publishing one checks it again only when
 * it did not come from there (the realtime thread builds its events once and pays for one check).
 * Such events are frozen (the envelope and the payload), so what was checked is what is published.
 */
const validated = new WeakSet<object>();

/** `parseEvent`, skipped for an event `createEvent` built and validated. */
export function checkEvent(input: unknown): ParseResult {
  if (typeof input === 'object' && input !== null && validated.has(input)) return { ok: true, event: input as VezaEvent };
  return parseEvent(input);
}

export interface NewEvent<T extends EventType> {
  tenantId: string;
  actor?: string;
  payload: EventPayload<T>;
  id?: string;
  at?: Date;
}

/** Builds and validates an event; throws when the payload does not match its type's schema. */
export function createEvent<T extends EventType>(type: T, init: NewEvent<T>): VezaEventOf<T> {
  const parsed = parseEvent({
    id: init.id ?? randomUUID(),
    type,
    tenantId: init.tenantId,
    at: (init.at ?? new Date()).toISOString(),
    actor: init.actor,
    payload: init.payload,
  });
  if (!parsed.ok) throw new Error(`invalid ${type} event: ${parsed.error}`);
  Object.freeze(parsed.event.payload);
  validated.add(Object.freeze(parsed.event));
  return parsed.event as VezaEventOf<T>;
}

export function formatIssues(error: z.ZodError, prefix?: string): string {
  return error.issues
    .map((i) => {
      const where = [prefix, ...i.path.map(String)].filter(Boolean).join('.');
      return where ? `${where}: ${i.message}` : i.message;
    })
    .join('; ');
}
