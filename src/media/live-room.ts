// A live room on the media plane: its routers, peers and what they own, chat and the live camera.
// The plane (`plane.ts`) runs the workers the rooms live on and creates and forgets the rooms.
import type { types as ms } from 'mediasoup';
import type { DocumentRole } from '../server/auth.js';
import type { MediaSettings } from './settings.js';

/** Codecs every room's router offers: Opus for audio, VP8 and H.264 for video. */
export const MEDIA_CODECS: ms.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000, parameters: { 'x-google-start-bitrate': 1000 } },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
  },
];

/**
 * `live`: a DJ set or stream (`/media/<room>`): the owner publishes music and up to four cameras,
 * one of which is live; editors join as guests with voice; viewers watch.
 * `voice`: the voice chat of a studio session (`/voice/<session>`): audio only.
 */
export type RoomKind = 'live' | 'voice';

/** Chat lines a room keeps for those who join later (in memory, for the room's life). */
const CHAT_KEPT = 50;

/** Cameras the owner of a live room may publish at once. */
export const MAX_CAMERAS = 4;

/** What the room reports as it changes; LiveService turns these into events and awareness. */
export interface RoomObserver {
  peerJoined?(peer: LivePeer): void;
  peerLeft?(peer: LivePeer): void;
  producerAdded?(peer: LivePeer, producer: ms.Producer): void;
  producerClosed?(peer: LivePeer, producer: ms.Producer): void;
  /** The dominant speaker changed (null: everyone is silent). */
  activeSpeaker?(peer: LivePeer | null): void;
  /** Audio levels of those above the threshold in the last interval (dBov, -127..0); empty on silence. */
  volumes?(levels: { peer: LivePeer; volume: number }[]): void;
  liveCamera?(producerId: string | null): void;
  closed?(): void;
}

/** What a room tells one of its peers: a server notification on the signaling socket. */
export type Notify = (method: string, data: unknown) => void;

/** One participant of a live room and the mediasoup objects it owns. */
export interface LivePeer {
  readonly id: string;
  readonly userId: string;
  readonly role: DocumentRole;
  readonly canProduce: boolean;
  readonly transports: Map<string, ms.WebRtcTransport>;
  readonly producers: Map<string, ms.Producer>;
  readonly consumers: Map<string, ms.Consumer>;
  /** An ingest's plain RTP transport (see `LiveRoom.ingest`); closed when the peer leaves. */
  plain?: ms.PlainTransport;
  notify: Notify;
  /** Ends the peer's signaling connection (room closed, worker died). */
  disconnect(code: number, reason: string): void;
}

/** A mediasoup worker of the plane and the rooms on it. */
export interface WorkerSlot {
  index: number;
  worker: ms.Worker;
  rooms: Set<LiveRoom>;
}

/** A router of a room and the consumers placed on it (see `LiveRoom.routerFor`). */
interface RouterSlot {
  router: ms.Router;
  consumers: number;
  /** Producers of the origin router piped here, by id. */
  piped: Map<string, Promise<unknown>>;
}

export interface RoomInfo {
  tenantId: string;
  roomId: string;
  kind: RoomKind;
}

/** What a room asks of the plane it lives on (`MediaPlane`). */
export interface RoomPlane {
  readonly settings: Pick<MediaSettings, 'routerMaxConsumers' | 'listenIp' | 'announcedAddress'>;
  /** A worker for an overflow router: the least-loaded one other than the room's own. */
  workerForOverflow(own: ms.Worker): ms.Worker;
  /** Called by a room as it closes. */
  forget(room: LiveRoom): void;
}

export const isCamera = (producer: ms.Producer) => producer.kind === 'video' && (producer.appData as { source?: unknown }).source === 'camera';

/**
 * One object per room, as in the mediasoup demo: the router, its peers and what they own, and the
 * observers that say who is speaking. Signaling handlers stay thin and call into it.
 *
 * Producers live on the origin router. When it carries `routerMaxConsumers` consumers, new
 * receiving transports go to another router (on the least-loaded other worker) and the producers
 * they consume are piped there with `pipeToRouter`, so one room can outgrow one worker.
 *
 * In a live room, a viewer's consumers of cameras other than the live one are held paused by the
 * server whatever the client asks, so each viewer receives the music and one camera; switching the
 * live camera pauses the old camera's consumers and resumes the new one's (mediasoup asks the
 * camera for a keyframe on resume).
 */
export class LiveRoom {
  readonly peers = new Map<string, LivePeer>();
  private closedFlag = false;
  private readonly observers = new Set<RoomObserver>();
  private readonly origin: RouterSlot;
  private readonly extra: RouterSlot[] = [];
  private liveCameraId: string | null = null;
  /** The room's latest chat lines, sent to whoever joins. */
  private readonly chatLog: { userId: string; text: string; at: number }[] = [];

  private constructor(
    readonly key: string,
    readonly info: RoomInfo,
    readonly router: ms.Router,
    readonly audioLevelObserver: ms.AudioLevelObserver,
    readonly activeSpeakerObserver: ms.ActiveSpeakerObserver,
    private readonly plane: RoomPlane,
    readonly worker: ms.Worker,
  ) {
    this.origin = { router, consumers: 0, piped: new Map() };
    activeSpeakerObserver.on('dominantspeaker', ({ producer }) => {
      const peer = this.owner(producer);
      this.broadcast(null, 'activeSpeaker', { peerId: peer?.id ?? null, userId: peer?.userId ?? null, producerId: producer.id });
      this.emit((o) => o.activeSpeaker?.(peer));
    });
    audioLevelObserver.on('volumes', (volumes) => {
      const levels = volumes.flatMap(({ producer, volume }) => {
        const peer = this.owner(producer);
        return peer ? [{ peer, volume }] : [];
      });
      this.emit((o) => o.volumes?.(levels));
    });
    audioLevelObserver.on('silence', () => this.emit((o) => o.volumes?.([])));
    this.watchRouter(router, worker);
  }

  static async create(key: string, info: RoomInfo, slot: WorkerSlot, plane: RoomPlane): Promise<LiveRoom> {
    const router = await slot.worker.createRouter({ mediaCodecs: MEDIA_CODECS, appData: { room: key } });
    try {
      const audioLevelObserver = await router.createAudioLevelObserver({ maxEntries: 16, threshold: -70, interval: 500 });
      const activeSpeakerObserver = await router.createActiveSpeakerObserver({ interval: 300 });
      return new LiveRoom(key, info, router, audioLevelObserver, activeSpeakerObserver, plane, slot.worker);
    } catch (error) {
      router.close();
      throw error;
    }
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** The producer currently shown to viewers of a live room, or null. */
  get liveCamera(): string | null {
    return this.liveCameraId;
  }

  /** Routers of the room: the origin first, then those consumers were moved to. */
  get routers(): readonly ms.Router[] {
    return [this.router, ...this.extra.map((slot) => slot.router)];
  }

  /** Adds an observer; the returned function removes it. */
  observe(observer: RoomObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Every producer of the room with the peer that owns it, oldest first. */
  producers(): { peer: LivePeer; producer: ms.Producer }[] {
    return [...this.peers.values()].flatMap((peer) => [...peer.producers.values()].map((producer) => ({ peer, producer })));
  }

  join(peer: LivePeer): void {
    if (this.closedFlag) throw new Error('room is closed');
    this.peers.set(peer.id, peer);
    // What is already being sent, so the newcomer can consume it.
    for (const other of this.peers.values()) {
      if (other === peer) continue;
      for (const producer of other.producers.values()) peer.notify('newProducer', producerInfo(other, producer));
    }
    if (this.liveCameraId) peer.notify('liveCamera', { producerId: this.liveCameraId });
    for (const line of this.chatLog) peer.notify('chat', line);
    this.emit((o) => o.peerJoined?.(peer));
    this.broadcastAudience();
  }

  /** Everyone connected to the room (the DJ, guests, WebRTC and HLS viewers with the room's chat), told to everyone. */
  private broadcastAudience(): void {
    this.broadcast(null, 'audience', { peers: this.peers.size });
  }

  /** Closes what the peer owned (consumers of its producers close with them) and forgets it. */
  leave(peer: LivePeer): void {
    if (this.peers.get(peer.id) !== peer) return;
    this.peers.delete(peer.id);
    for (const transport of peer.transports.values()) transport.close();
    peer.transports.clear();
    peer.plain?.close();
    this.emit((o) => o.peerLeft?.(peer));
    if (this.peers.size === 0) this.close('empty');
    else this.broadcastAudience();
  }

  async createWebRtcTransport(peer: LivePeer, options: { producing: boolean; consuming: boolean }): Promise<ms.WebRtcTransport> {
    const { settings } = this.plane;
    // Producers stay on the origin router; a receive-only transport goes where there is room.
    const slot = options.producing ? this.origin : await this.routerFor();
    if (this.closedFlag) throw new Error('room is closed');
    const transport = await slot.router.createWebRtcTransport({
      listenIps: [{ ip: settings.listenIp, ...(settings.announcedAddress ? { announcedIp: settings.announcedAddress } : {}) }],
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      initialAvailableOutgoingBitrate: 1_000_000,
      appData: { peerId: peer.id, ...options, routerId: slot.router.id },
    });
    if (this.closedFlag || !this.peers.has(peer.id)) {
      transport.close();
      throw new Error('peer left');
    }
    peer.transports.set(transport.id, transport);
    transport.observer.once('close', () => peer.transports.delete(transport.id));
    return transport;
  }

  /** A plain RTP transport on the origin router (recording, egress); the caller owns and closes it. */
  createPlainTransport(options: { rtcpMux?: boolean; comedia?: boolean } = {}): Promise<ms.PlainTransport> {
    const { settings } = this.plane;
    return this.router.createPlainTransport({
      listenIp: { ip: settings.listenIp, ...(settings.announcedAddress ? { announcedIp: settings.announcedAddress } : {}) },
      rtcpMux: options.rtcpMux ?? true,
      comedia: options.comedia ?? false,
    });
  }

  /**
   * A participant that sends over plain RTP instead of WebRTC (a hardware encoder, OBS or ffmpeg
   * pushing a DJ set): a comedia PlainTransport and one producer, counted as `userId`'s with
   * `role`, so that events, recordings and viewers treat it like a browser's. It leaves the room
   * when its transport closes.
   */
  async ingest(options: { userId: string; role: DocumentRole; kind: ms.MediaKind; rtpParameters: ms.RtpParameters; appData?: Record<string, unknown>; rtcpMux?: boolean }): Promise<{ peer: LivePeer; transport: ms.PlainTransport; producer: ms.Producer }> {
    const transport = await this.createPlainTransport({ rtcpMux: options.rtcpMux ?? false, comedia: true });
    const peer: LivePeer = {
      id: `ingest-${transport.id}`,
      userId: options.userId,
      role: options.role,
      canProduce: true,
      transports: new Map(),
      producers: new Map(),
      consumers: new Map(),
      plain: transport,
      notify: () => undefined,
      disconnect: () => transport.close(),
    };
    try {
      this.join(peer);
      const producer = await this.produce(peer, transport, { kind: options.kind, rtpParameters: options.rtpParameters, appData: options.appData ?? {} });
      transport.observer.once('close', () => this.leave(peer));
      return { peer, transport, producer };
    } catch (error) {
      transport.close();
      this.leave(peer);
      throw error;
    }
  }

  async produce(peer: LivePeer, transport: ms.WebRtcTransport | ms.PlainTransport, options: { kind: ms.MediaKind; rtpParameters: ms.RtpParameters; appData: Record<string, unknown> }): Promise<ms.Producer> {
    const producer = await transport.produce({ kind: options.kind, rtpParameters: options.rtpParameters, appData: { ...options.appData, peerId: peer.id } });
    peer.producers.set(producer.id, producer);
    producer.observer.once('close', () => {
      peer.producers.delete(producer.id);
      for (const slot of this.extra) slot.piped.delete(producer.id);
      this.broadcast(peer, 'producerClosed', { producerId: producer.id, peerId: peer.id });
      if (producer.id === this.liveCameraId) {
        const next = this.producers().find(({ producer: other }) => isCamera(other));
        this.switchLiveCamera(next?.producer.id ?? null);
      }
      this.emit((o) => o.producerClosed?.(peer, producer));
    });
    if (producer.kind === 'audio') {
      // Observers only fail when the router is gone, which closes the room anyway.
      this.audioLevelObserver.addProducer({ producerId: producer.id }).catch(() => undefined);
      this.activeSpeakerObserver.addProducer({ producerId: producer.id }).catch(() => undefined);
    }
    this.broadcast(peer, 'newProducer', producerInfo(peer, producer));
    if (isCamera(producer) && this.liveCameraId === null) this.switchLiveCamera(producer.id);
    this.emit((o) => o.producerAdded?.(peer, producer));
    return producer;
  }

  /** Cameras the room has now (for the limit on cameras per room). */
  cameraCount(): number {
    return this.producers().filter(({ producer }) => isCamera(producer)).length;
  }

  async consume(peer: LivePeer, transport: ms.WebRtcTransport, producerId: string, rtpCapabilities: ms.RtpCapabilities): Promise<ms.Consumer> {
    const slot = this.slotOf(transport);
    if (slot !== this.origin) await this.pipe(slot, producerId);
    const consumer = await transport.consume({ producerId, rtpCapabilities, paused: true, appData: { peerId: peer.id, wanted: false } });
    slot.consumers++;
    peer.consumers.set(consumer.id, consumer);
    consumer.observer.once('close', () => {
      slot.consumers--;
      peer.consumers.delete(consumer.id);
    });
    consumer.on('producerclose', () => {
      peer.consumers.delete(consumer.id);
      peer.notify('consumerClosed', { consumerId: consumer.id, producerId });
    });
    consumer.on('layerschange', (layers) => peer.notify('consumerLayersChanged', { consumerId: consumer.id, spatialLayer: layers?.spatialLayer ?? null, temporalLayer: layers?.temporalLayer ?? null }));
    return consumer;
  }

  /** The client wants the consumer to flow; a camera that is not live stays paused until it is. */
  async resumeConsumer(peer: LivePeer, consumer: ms.Consumer): Promise<void> {
    (consumer.appData as { wanted: boolean }).wanted = true;
    await this.applyGate(peer, consumer);
  }

  async pauseConsumer(consumer: ms.Consumer): Promise<void> {
    (consumer.appData as { wanted: boolean }).wanted = false;
    await consumer.pause();
  }

  /** A chat line from a peer (anyone in the room, viewers too), to everyone, the sender included. */
  chat(peer: LivePeer, text: string): void {
    const line = { userId: peer.userId, text, at: Date.now() };
    this.chatLog.push(line);
    if (this.chatLog.length > CHAT_KEPT) this.chatLog.shift();
    this.broadcast(null, 'chat', line);
  }

  /** Makes a camera of the room the live one (the owner's director switch). */
  setLiveCamera(producerId: string): void {
    const camera = this.producers().find(({ producer }) => producer.id === producerId);
    if (!camera) throw new Error(`no producer ${producerId} in this room`);
    if (!isCamera(camera.producer)) throw new TypeError(`producer ${producerId} is not a camera (video with appData.source "camera")`);
    this.switchLiveCamera(producerId);
  }

  /** Closes the routers (and with them every transport) and disconnects the peers still in it. */
  close(reason: string, code = 1001): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    const peers = [...this.peers.values()];
    this.peers.clear();
    for (const slot of [this.origin, ...this.extra]) if (!slot.router.closed) slot.router.close();
    for (const peer of peers) peer.disconnect(code, `room closed: ${reason}`);
    this.emit((o) => o.closed?.());
    this.plane.forget(this);
  }

  private switchLiveCamera(producerId: string | null): void {
    if (this.liveCameraId === producerId) return;
    this.liveCameraId = producerId;
    for (const peer of this.peers.values()) {
      for (const consumer of peer.consumers.values()) {
        // A gate that fails means the consumer closed meanwhile; nothing to undo.
        this.applyGate(peer, consumer).catch(() => undefined);
      }
    }
    this.broadcast(null, 'liveCamera', { producerId });
    this.emit((o) => o.liveCamera?.(producerId));
  }

  private gated(peer: LivePeer, consumer: ms.Consumer): boolean {
    if (this.info.kind !== 'live' || consumer.kind !== 'video' || peer.role === 'owner') return false;
    const producer = this.producers().find(({ producer: p }) => p.id === consumer.producerId)?.producer;
    return producer !== undefined && isCamera(producer) && producer.id !== this.liveCameraId;
  }

  private async applyGate(peer: LivePeer, consumer: ms.Consumer): Promise<void> {
    if (consumer.closed) return;
    const flow = (consumer.appData as { wanted: boolean }).wanted && !this.gated(peer, consumer);
    if (flow && consumer.paused) await consumer.resume();
    else if (!flow && !consumer.paused) await consumer.pause();
  }

  private owner(producer: ms.Producer): LivePeer | null {
    return this.peers.get((producer.appData as { peerId?: string }).peerId ?? '') ?? null;
  }

  private slotOf(transport: ms.WebRtcTransport): RouterSlot {
    const routerId = (transport.appData as { routerId?: string }).routerId;
    return this.extra.find((slot) => slot.router.id === routerId) ?? this.origin;
  }

  /** The router a new receiving transport goes to: the first with room, or a new one. */
  private async routerFor(): Promise<RouterSlot> {
    const limit = this.plane.settings.routerMaxConsumers;
    const roomy = [this.origin, ...this.extra].find((slot) => limit <= 0 || slot.consumers < limit);
    if (roomy) return roomy;
    const worker = this.plane.workerForOverflow(this.worker);
    const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS, appData: { room: this.key, overflow: true } });
    if (this.closedFlag) {
      router.close();
      throw new Error('room is closed');
    }
    const slot: RouterSlot = { router, consumers: 0, piped: new Map() };
    this.extra.push(slot);
    this.watchRouter(router, worker);
    return slot;
  }

  private pipe(slot: RouterSlot, producerId: string): Promise<unknown> {
    let piped = slot.piped.get(producerId);
    if (!piped) {
      piped = this.router.pipeToRouter({ producerId, router: slot.router, listenIp: this.plane.settings.listenIp });
      piped.catch(() => slot.piped.delete(producerId));
      slot.piped.set(producerId, piped);
    }
    return piped;
  }

  private watchRouter(router: ms.Router, worker: ms.Worker): void {
    // A dying worker closes its routers before it reports 'died'.
    router.observer.once('close', () => (worker.died ? this.close('media worker died', 1011) : this.close('media router closed', 1011)));
  }

  private broadcast(from: LivePeer | null, method: string, data: unknown): void {
    for (const peer of this.peers.values()) if (peer !== from) peer.notify(method, data);
  }

  private emit(call: (observer: RoomObserver) => void): void {
    for (const observer of this.observers) call(observer);
  }
}

function producerInfo(peer: LivePeer, producer: ms.Producer): { producerId: string; peerId: string; userId: string; kind: ms.MediaKind; appData: unknown } {
  const appData = { ...(producer.appData as Record<string, unknown>) };
  delete appData.peerId;
  return { producerId: producer.id, peerId: peer.id, userId: peer.userId, kind: producer.kind, appData };
}
