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
/** Chain facts: amounts in wei and token ids are uint256, as decimal strings. */
const uint256 = z.string().regex(/^\d{1,78}$/);
const chainAddress = z.string().regex(/^0x[0-9a-fA-F]{40}$/);
const onChain = {
  chainId: z.number().int().positive(),
  /** Which of the platform's token contracts. */
  contract: z.enum(['editions', 'records']),
  tokenId: uint256,
  txHash: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
  logIndex: z.number().int().min(0),
  blockNumber: z.number().int().min(0),
  /** The session the token was made from, when the NFT module knows it. */
  sessionId: id.optional(),
};

export const payloadSchemas = {
  'session.opened': z.object({ sessionId: id }),
  'session.closed': z.object({ sessionId: id, durationMs: z.number().int().min(0) }),
  'session.updated': z.object({
    sessionId: id,
    author: id,
    bytes: z.number().int().min(0),
    changed: z.array(z.string().max(200)).max(100),
  }),
  /** A version of the session was taken: named by a user, or automatically (`reason`). */
  'session.versioned': z.object({
    sessionId: id,
    versionId: id,
    kind: z.enum(['named', 'auto']),
    reason: z.enum(['session-end', 'bounce', 'mint', 'interval', 'before-restore']).nullable(),
    updates: z.number().int().min(0),
  }),
  /** A new session was made from a version of another (its log up to the version copied). */
  'session.branched': z.object({ sessionId: id, sourceSessionId: id, versionId: id }),
  /** Who made a session, as it was when it closed (log id `uptoId`): per user, live notes and tracks they created and updates they made; the 200 users with most updates, `omitted` the rest. */
  'session.authorship': z.object({
    sessionId: id,
    uptoId: z.string().regex(/^\d{1,20}$/),
    shares: z.array(z.object({ userId: id, notes: z.number().int().min(0), tracks: z.number().int().min(0), edits: z.number().int().min(0) })).max(200),
    omitted: z.number().int().min(0),
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
  /** `watchedMs`: from the viewer's first connection to the room to its last one closing. */
  'stream.viewer.left': z.object({ roomId: id, viewerId: id, watchedMs: z.number().int().min(0).optional() }),
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
  /** The recommendations signals writer committed these users' signals (and co-edits of these sessions): every node drops what it keeps of them. */
  'recommendations.signals.stored': z.object({ users: z.array(id).max(1000), sessions: z.array(id).max(1000) }),
  /** A tenant was created, suspended, resumed, put to deletion (`deleting`) or purged (`deleted`): every node updates whom it admits. */
  'tenant.changed': z.object({ status: z.enum(['active', 'suspended', 'deleting', 'deleted']) }),
  /** A tenant's domain was added, verified or removed: every node reads it again for its Host map. */
  'tenant.domain.changed': z.object({ domain: z.string().min(1).max(253), verified: z.boolean(), removed: z.boolean() }),
  /** A tenant's theme changed: every node forgets the one it holds. */
  'tenant.branding.changed': z.object({ etag: z.string().max(100) }),
  /** What one node counted for a tenant in a minute that has ended (each node reports its own share; the id names node, minute and tenant). */
  'usage.minute': z.object({
    minute: z.iso.datetime(),
    node: z.string().regex(/^[0-9a-f]{12}$/),
    usage: z.record(z.string().regex(/^[a-z_]{1,40}$/), z.number().int().min(0)),
  }),
  /** A billing period ended: the tenant's invoice, amounts in minor units of `currency`. */
  'usage.invoice': z.object({
    period: z.string().regex(/^\d{4}-\d{2}$/),
    plan: z.string().max(100),
    currency: z.string().regex(/^[A-Z]{3}$/),
    total: z.number().int().min(0),
    lines: z
      .array(
        z.object({
          metric: z.string().max(40),
          unit: z.string().max(100),
          quantity: z.number().int().min(0),
          units: z.number().int().min(0),
          included: z.number().int().min(0),
          billable: z.number().int().min(0),
          unitPrice: z.number().int().min(0),
          amount: z.number().int().min(0),
        }),
      )
      .max(50),
  }),
  /** A tenant's identity provider was set or removed, or one of its API keys created, rotated or revoked: every node reads its credentials again. */
  'tenant.credentials.changed': z.object({ change: z.enum(['provider', 'key-created', 'key-rotated', 'key-revoked']), keyId: z.string().max(100).optional() }),
  /** The operator set a tenant's plan or overrides: every node applies its new limits. */
  'tenant.quotas_changed': z.object({ plan: z.string().min(1).max(40) }),
  /** A bounce (a session rendered to audio) moved on: `progress` 0..1 as its steps finish; `state` done or failed at its end, with the audio's content id when done. */
  'bounce.progress': z.object({
    sessionId: id,
    bounceId: z.string().regex(/^bnc_[0-9a-f]{32}$/),
    progress: z.number().min(0).max(1),
    state: z.enum(['running', 'done', 'failed']),
    audioCid: z.string().regex(/^b[a-z2-7]{20,100}$/).optional(),
  }),
  /** Tokens came into being on chain: an edition minted (bought, `paid` wei, or the creators' own copies, 0) or a 1/1 record. */
  'nft.minted': z.object({ ...onChain, to: chainAddress, amount: uint256, paid: uint256 }),
  /** A listing of the market sold `amount` units: `paid` wei in all, of which `royaltyPaid` to `royaltyReceiver`. */
  'nft.sold': z.object({
    ...onChain,
    listingId: uint256,
    seller: chainAddress,
    buyer: chainAddress,
    amount: uint256,
    /** 0x000…0: ETH; else the ERC-20 token paid. */
    currency: chainAddress,
    paid: uint256,
    royaltyReceiver: chainAddress,
    royaltyPaid: uint256,
  }),
  /** A token's licence was set on chain: `terms` bits (1 personal, 2 sync, 4 commercial, 8 exclusive), the audio's and session state's sha-256. */
  'nft.licensed': z.object({ ...onChain, terms: z.number().int().min(0).max(255), audioHash: z.string().regex(/^0x[0-9a-f]{64}$/), stateHash: z.string().regex(/^0x[0-9a-f]{64}$/) }),
  /** A chain reorganisation removed the block of a fact already published: `retractedId` and `retractedType` name that event (`nft.minted`, `nft.sold` or `nft.licensed`); its txHash, logIndex and blockNumber are where it had been seen. Mined again later, the fact is published again under a new id. */
  'nft.retracted': z.object({ ...onChain, retractedId: z.string().min(1).max(200), retractedType: z.enum(['nft.minted', 'nft.sold', 'nft.licensed']) }),
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
