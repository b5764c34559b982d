import type { types as ms } from 'mediasoup';
import type { CollabService } from '../collab/service.js';
import type { EventBus } from '../events/bus.js';
import { createEvent, type EventPayload, type EventType, type VezaEvent } from '../events/catalog.js';
import type { Logger } from '../log.js';
import type { LivePeer, LiveRoom } from './live-room.js';
import type { MediaPlane } from './plane.js';
import type { MediaSettings } from './settings.js';

export interface LiveServiceDeps {
  settings: Pick<MediaSettings, 'statsIntervalMs'>;
  plane: MediaPlane;
  bus: EventBus;
  /** For studio voice: who talks shows in the session's awareness. */
  collab: Pick<CollabService, 'setPresence'>;
  logger: Logger;
}

/** Quality entries per stream.quality event; the rest are counted in `omitted`. */
const MAX_QUALITY_ENTRIES = 500;
/** A voice counts as speaking at this average level or louder (dBov over the observer's 500 ms; it reports -70 and louder). */
const SPEAKING_DB = -50;

/** Counts connections per user, so that a user with two tabs joins once and leaves once. */
class Attendance {
  private readonly count = new Map<string, { n: number; since: number }>();

  /** True when this is the user's first connection. */
  add(userId: string): boolean {
    const entry = this.count.get(userId);
    if (entry) entry.n++;
    else this.count.set(userId, { n: 1, since: Date.now() });
    return entry === undefined;
  }

  /** True when this was the user's last connection. */
  remove(userId: string): boolean {
    const entry = this.count.get(userId);
    if (entry && entry.n > 1) {
      entry.n--;
      return false;
    }
    this.count.delete(userId);
    return true;
  }

  /** Milliseconds since the user's first connection (0 for a user not here). */
  present(userId: string): number {
    const entry = this.count.get(userId);
    return entry ? Date.now() - entry.since : 0;
  }

  users(): string[] {
    return [...this.count.keys()];
  }
}

/**
 * What live rooms mean to the rest of the platform. For a live room: `stream.started` when its
 * owner starts publishing, `stream.ended` when the owner stops or the room closes, viewers joining
 * and leaving, and `stream.quality` every `settings.statsIntervalMs`. For a studio voice room: the
 * session's awareness carries the server's entry `{ voice: { inCall, speaking, activeSpeaker } }`
 * (user ids), and `voice.speaker.changed` events follow the dominant speaker.
 */
export class LiveService {
  private readonly statsTimer: NodeJS.Timeout | null;

  constructor(private readonly deps: LiveServiceDeps) {
    deps.plane.onRoom((room) => (room.info.kind === 'live' ? this.watchLive(room) : this.watchVoice(room)));
    const interval = deps.settings.statsIntervalMs;
    this.statsTimer = interval > 0 ? setInterval(() => void this.reportQuality(), interval) : null;
    this.statsTimer?.unref();
  }

  close(): void {
    if (this.statsTimer) clearInterval(this.statsTimer);
  }

  /** One stream.quality event per open room with consumers; returns what was published. */
  async reportQuality(): Promise<EventPayload<'stream.quality'>[]> {
    const published: EventPayload<'stream.quality'>[] = [];
    for (const room of this.deps.plane.openRooms()) {
      const consumers = [...room.peers.values()].flatMap((peer) => [...peer.consumers.values()].map((consumer) => ({ peer, consumer })));
      if (consumers.length === 0) continue;
      const entries = await Promise.all(consumers.slice(0, MAX_QUALITY_ENTRIES).map(({ peer, consumer }) => qualityOf(peer, consumer)));
      const payload = { roomId: room.info.roomId, consumers: entries.filter((entry) => entry !== null), omitted: Math.max(0, consumers.length - MAX_QUALITY_ENTRIES) };
      if (payload.consumers.length === 0) continue;
      this.publish('stream.quality', room.info.tenantId, undefined, payload);
      published.push(payload);
    }
    return published;
  }

  private watchLive(room: LiveRoom): void {
    const { roomId, tenantId } = room.info;
    const viewers = new Attendance();
    let stream: { startedAt: number; streamerId: string } | null = null;
    const ownerPublishing = () => [...room.peers.values()].some((peer) => peer.role === 'owner' && peer.producers.size > 0);
    const end = () => {
      if (!stream) return;
      this.publish('stream.ended', tenantId, stream.streamerId, { roomId, durationMs: Date.now() - stream.startedAt });
      stream = null;
    };
    room.observe({
      peerJoined: (peer) => {
        if (peer.role !== 'owner' && viewers.add(peer.userId)) this.publish('stream.viewer.joined', tenantId, peer.userId, { roomId, viewerId: peer.userId });
      },
      peerLeft: (peer) => {
        if (peer.role !== 'owner') {
          const watchedMs = viewers.present(peer.userId);
          if (viewers.remove(peer.userId)) this.publish('stream.viewer.left', tenantId, peer.userId, { roomId, viewerId: peer.userId, watchedMs });
        }
        // The owner's producers closed with its transports, after producerClosed saw them.
        if (peer.role === 'owner' && !ownerPublishing()) end();
      },
      producerAdded: (peer) => {
        if (peer.role !== 'owner' || stream) return;
        stream = { startedAt: Date.now(), streamerId: peer.userId };
        this.publish('stream.started', tenantId, peer.userId, { roomId, streamerId: peer.userId });
      },
      producerClosed: (peer) => {
        if (peer.role === 'owner' && !ownerPublishing()) end();
      },
      closed: () => {
        end();
        for (const userId of viewers.users()) this.publish('stream.viewer.left', tenantId, userId, { roomId, viewerId: userId, watchedMs: viewers.present(userId) });
      },
    });
  }

  private watchVoice(room: LiveRoom): void {
    const { roomId: sessionId, tenantId } = room.info;
    const inCall = new Attendance();
    let speaking: string[] = [];
    let activeSpeaker: string | null = null;
    const show = () => this.deps.collab.setPresence(tenantId, sessionId, { voice: { inCall: inCall.users(), speaking, activeSpeaker } });
    room.observe({
      peerJoined: (peer) => {
        if (inCall.add(peer.userId)) show();
      },
      peerLeft: (peer) => {
        if (!inCall.remove(peer.userId)) return;
        speaking = speaking.filter((userId) => userId !== peer.userId);
        if (activeSpeaker === peer.userId) {
          activeSpeaker = null;
          this.publish('voice.speaker.changed', tenantId, undefined, { sessionId, userId: null });
        }
        show();
      },
      activeSpeaker: (peer) => {
        const userId = peer?.userId ?? null;
        if (userId === activeSpeaker) return;
        activeSpeaker = userId;
        this.publish('voice.speaker.changed', tenantId, userId ?? undefined, { sessionId, userId });
        show();
      },
      volumes: (levels) => {
        const now = [...new Set(levels.filter(({ volume }) => volume >= SPEAKING_DB).map(({ peer }) => peer.userId))].sort();
        if (now.join('\n') === speaking.join('\n')) return;
        speaking = now;
        show();
      },
      closed: () => {
        if (activeSpeaker) this.publish('voice.speaker.changed', tenantId, undefined, { sessionId, userId: null });
        this.deps.collab.setPresence(tenantId, sessionId, null);
      },
    });
  }

  private publish<T extends EventType>(type: T, tenantId: string, actor: string | undefined, payload: EventPayload<T>): void {
    let event: VezaEvent;
    try {
      event = createEvent(type, { tenantId, ...(actor ? { actor } : {}), payload }) as VezaEvent;
    } catch (error) {
      this.deps.logger.error({ err: error, type }, 'media event could not be built');
      return;
    }
    this.deps.bus.publish(event).catch((error: unknown) => this.deps.logger.warn({ err: error, type }, 'media event could not be published'));
  }
}

/** One consumer's quality entry, or null if it closed while being asked. */
async function qualityOf(peer: LivePeer, consumer: ms.Consumer): Promise<EventPayload<'stream.quality'>['consumers'][number] | null> {
  let stats: ms.ConsumerStat[];
  try {
    stats = await consumer.getStats();
  } catch {
    return null;
  }
  const sent = stats.find((s) => s.type === 'outbound-rtp');
  // The producer's incoming stream, as the consumer's stats report it (mediasoup 3.12 has no per-consumer jitter).
  const incoming = stats.find((s) => s.type === 'inbound-rtp') as (ms.ConsumerStat & { jitter?: number }) | undefined;
  if (!sent) return null;
  const clockRate = consumer.rtpParameters.codecs[0]?.clockRate ?? 90000;
  return {
    consumerId: consumer.id,
    userId: peer.userId,
    producerId: consumer.producerId,
    kind: consumer.kind,
    bitrate: sent.bitrate,
    packetsSent: sent.packetCount,
    packetsLost: sent.packetsLost,
    fractionLost: Math.min(1, Math.max(0, sent.fractionLost)),
    jitterMs: incoming?.jitter ? (incoming.jitter / clockRate) * 1000 : 0,
    ...(sent.roundTripTime === undefined ? {} : { roundTripTimeMs: sent.roundTripTime }),
    score: sent.score,
  };
}
