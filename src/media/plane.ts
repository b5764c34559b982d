import os from 'node:os';
import type { types as ms } from 'mediasoup';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';

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

type PlaneConfig = Pick<Config, 'mediaWorkers' | 'mediaListenIp' | 'mediaAnnouncedAddress' | 'mediaRtcMinPort' | 'mediaRtcMaxPort'>;

export interface MediaPlaneOptions {
  config: PlaneConfig;
  logger: Logger;
  /** The worker binary `locateMediaWorker()` found. */
  workerBin: string;
}

/** What a room tells one of its peers: a server notification on the signaling socket. */
export type Notify = (method: string, data: unknown) => void;

/** One participant of a live room and the mediasoup objects it owns. */
export interface LivePeer {
  readonly id: string;
  readonly userId: string;
  readonly canProduce: boolean;
  readonly transports: Map<string, ms.WebRtcTransport>;
  readonly producers: Map<string, ms.Producer>;
  readonly consumers: Map<string, ms.Consumer>;
  notify: Notify;
  /** Ends the peer's signaling connection (room closed, worker died). */
  disconnect(code: number, reason: string): void;
}

interface WorkerSlot {
  index: number;
  worker: ms.Worker;
  rooms: Set<LiveRoom>;
}

/**
 * One object per room, as in the mediasoup demo: the router, its peers and what they own, and the
 * observers that say who is speaking. Signaling handlers stay thin and call into it.
 */
export class LiveRoom {
  readonly peers = new Map<string, LivePeer>();
  private closedFlag = false;

  private constructor(
    readonly key: string,
    readonly router: ms.Router,
    readonly audioLevelObserver: ms.AudioLevelObserver,
    readonly activeSpeakerObserver: ms.ActiveSpeakerObserver,
    private readonly plane: MediaPlane,
    private readonly worker: ms.Worker,
  ) {
    activeSpeakerObserver.on('dominantspeaker', ({ producer }) => {
      this.broadcast(null, 'activeSpeaker', { peerId: (producer.appData as { peerId?: string }).peerId ?? null, producerId: producer.id });
    });
    // A dying worker closes its routers before it reports 'died'.
    router.observer.once('close', () => (worker.died ? this.close('media worker died', 1011) : this.close('media router closed', 1011)));
  }

  static async create(key: string, slot: WorkerSlot, plane: MediaPlane): Promise<LiveRoom> {
    const router = await slot.worker.createRouter({ mediaCodecs: MEDIA_CODECS, appData: { room: key } });
    try {
      const audioLevelObserver = await router.createAudioLevelObserver({ maxEntries: 1, threshold: -80, interval: 800 });
      const activeSpeakerObserver = await router.createActiveSpeakerObserver({ interval: 300 });
      return new LiveRoom(key, router, audioLevelObserver, activeSpeakerObserver, plane, slot.worker);
    } catch (error) {
      router.close();
      throw error;
    }
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  join(peer: LivePeer): void {
    if (this.closedFlag) throw new Error('room is closed');
    this.peers.set(peer.id, peer);
    // What is already being sent, so the newcomer can consume it.
    for (const other of this.peers.values()) {
      if (other === peer) continue;
      for (const producer of other.producers.values()) peer.notify('newProducer', producerInfo(other, producer));
    }
  }

  /** Closes what the peer owned (consumers of its producers close with them) and forgets it. */
  leave(peer: LivePeer): void {
    if (this.peers.get(peer.id) !== peer) return;
    this.peers.delete(peer.id);
    for (const transport of peer.transports.values()) transport.close();
    peer.transports.clear();
    if (this.peers.size === 0) this.close('empty');
  }

  async createWebRtcTransport(peer: LivePeer, options: { producing: boolean; consuming: boolean }): Promise<ms.WebRtcTransport> {
    const { config } = this.plane;
    const transport = await this.router.createWebRtcTransport({
      listenIps: [{ ip: config.mediaListenIp, ...(config.mediaAnnouncedAddress ? { announcedIp: config.mediaAnnouncedAddress } : {}) }],
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      initialAvailableOutgoingBitrate: 1_000_000,
      appData: { peerId: peer.id, ...options },
    });
    if (this.closedFlag || !this.peers.has(peer.id)) {
      transport.close();
      throw new Error('peer left');
    }
    peer.transports.set(transport.id, transport);
    transport.observer.once('close', () => peer.transports.delete(transport.id));
    return transport;
  }

  /** A plain RTP transport on the router (recording, egress); the caller owns and closes it. */
  createPlainTransport(options: { rtcpMux?: boolean; comedia?: boolean } = {}): Promise<ms.PlainTransport> {
    const { config } = this.plane;
    return this.router.createPlainTransport({
      listenIp: { ip: config.mediaListenIp, ...(config.mediaAnnouncedAddress ? { announcedIp: config.mediaAnnouncedAddress } : {}) },
      rtcpMux: options.rtcpMux ?? true,
      comedia: options.comedia ?? false,
    });
  }

  async produce(peer: LivePeer, transport: ms.WebRtcTransport, options: { kind: ms.MediaKind; rtpParameters: ms.RtpParameters; appData: Record<string, unknown> }): Promise<ms.Producer> {
    const producer = await transport.produce({ kind: options.kind, rtpParameters: options.rtpParameters, appData: { ...options.appData, peerId: peer.id } });
    peer.producers.set(producer.id, producer);
    producer.observer.once('close', () => {
      peer.producers.delete(producer.id);
      this.broadcast(peer, 'producerClosed', { producerId: producer.id, peerId: peer.id });
    });
    if (producer.kind === 'audio') {
      // Observers only fail when the router is gone, which closes the room anyway.
      this.audioLevelObserver.addProducer({ producerId: producer.id }).catch(() => undefined);
      this.activeSpeakerObserver.addProducer({ producerId: producer.id }).catch(() => undefined);
    }
    this.broadcast(peer, 'newProducer', producerInfo(peer, producer));
    return producer;
  }

  async consume(peer: LivePeer, transport: ms.WebRtcTransport, producerId: string, rtpCapabilities: ms.RtpCapabilities): Promise<ms.Consumer> {
    const consumer = await transport.consume({ producerId, rtpCapabilities, paused: true, appData: { peerId: peer.id } });
    peer.consumers.set(consumer.id, consumer);
    consumer.observer.once('close', () => peer.consumers.delete(consumer.id));
    consumer.on('producerclose', () => {
      peer.consumers.delete(consumer.id);
      peer.notify('consumerClosed', { consumerId: consumer.id, producerId });
    });
    return consumer;
  }

  /** Closes the router (and with it every transport) and disconnects the peers still in it. */
  close(reason: string, code = 1001): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    const peers = [...this.peers.values()];
    this.peers.clear();
    if (!this.router.closed) this.router.close();
    for (const peer of peers) peer.disconnect(code, `room closed: ${reason}`);
    this.plane.forget(this);
  }

  private broadcast(from: LivePeer | null, method: string, data: unknown): void {
    for (const peer of this.peers.values()) if (peer !== from) peer.notify(method, data);
  }
}

function producerInfo(peer: LivePeer, producer: ms.Producer): { producerId: string; peerId: string; userId: string; kind: ms.MediaKind; appData: unknown } {
  const appData = { ...(producer.appData as Record<string, unknown>) };
  delete appData.peerId;
  return { producerId: producer.id, peerId: peer.id, userId: peer.userId, kind: producer.kind, appData };
}

/**
 * The mediasoup workers and the live rooms on them. A worker that dies is logged, the rooms on it
 * are closed (their peers are disconnected with 1011 and reconnect), and a new worker takes its
 * place; the process keeps running.
 */
export class MediaPlane {
  private readonly slots: WorkerSlot[] = [];
  private readonly rooms = new Map<string, Promise<LiveRoom>>();
  /** The rooms above once created, so that a closing room is forgotten at once. */
  private readonly created = new Map<string, LiveRoom>();
  private mediasoup!: typeof import('mediasoup');
  private closing = false;

  private constructor(
    readonly config: PlaneConfig,
    private readonly logger: Logger,
  ) {}

  /** Starts `mediaWorkers` workers (0: one per core, at least one). */
  static async start(options: MediaPlaneOptions): Promise<MediaPlane> {
    // mediasoup 3.12 reads the binary's path from the environment once, when first imported.
    process.env.MEDIASOUP_WORKER_BIN ||= options.workerBin;
    const plane = new MediaPlane(options.config, options.logger);
    plane.mediasoup = await import('mediasoup');
    const count = options.config.mediaWorkers > 0 ? options.config.mediaWorkers : Math.max(1, os.availableParallelism());
    try {
      for (let index = 0; index < count; index++) plane.slots.push(await plane.spawn(index));
    } catch (error) {
      await plane.close();
      throw error;
    }
    options.logger.info({ workers: count, bin: plane.mediasoup.workerBin }, 'media plane started');
    return plane;
  }

  get workers(): readonly ms.Worker[] {
    return this.slots.map((slot) => slot.worker);
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  /** The live room, created on the least-loaded worker on first use. */
  room(key: string): Promise<LiveRoom> {
    if (this.closing) return Promise.reject(new Error('media plane is closing'));
    let room = this.rooms.get(key);
    if (!room) {
      const live = this.slots.filter((slot) => !slot.worker.died && !slot.worker.closed);
      if (live.length === 0) return Promise.reject(new Error('no mediasoup worker is running; one is being restarted'));
      const slot = live.reduce((best, candidate) => (candidate.rooms.size < best.rooms.size ? candidate : best));
      room = LiveRoom.create(key, slot, this).then(
        (created) => {
          slot.rooms.add(created);
          this.created.set(key, created);
          return created;
        },
        (error: unknown) => {
          this.rooms.delete(key);
          throw error;
        },
      );
      this.rooms.set(key, room);
    }
    return room;
  }

  /** Called by a room as it closes. */
  forget(room: LiveRoom): void {
    // A dead worker's slot keeps its rooms until 'died' has logged them.
    for (const slot of this.slots) if (!slot.worker.died) slot.rooms.delete(room);
    if (this.created.get(room.key) === room) {
      this.created.delete(room.key);
      this.rooms.delete(room.key);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    const rooms = await Promise.allSettled([...this.rooms.values()]);
    for (const result of rooms) if (result.status === 'fulfilled') result.value.close('server shutting down', 1001);
    this.rooms.clear();
    this.created.clear();
    const exits = this.slots.map((slot) => new Promise<void>((resolve) => (slot.worker.closed ? resolve() : slot.worker.observer.once('close', () => resolve()))));
    for (const slot of this.slots) slot.worker.close();
    await Promise.all(exits);
  }

  private async spawn(index: number): Promise<WorkerSlot> {
    const worker = await this.mediasoup.createWorker({
      logLevel: 'warn',
      rtcMinPort: this.config.mediaRtcMinPort,
      rtcMaxPort: this.config.mediaRtcMaxPort,
      appData: { index },
    });
    const slot: WorkerSlot = { index, worker, rooms: new Set() };
    worker.on('died', (error) => this.onWorkerDied(slot, error));
    return slot;
  }

  private onWorkerDied(slot: WorkerSlot, error: Error): void {
    const rooms = [...slot.rooms];
    this.logger.error({ err: error, worker: slot.index, pid: slot.worker.pid, rooms: rooms.map((room) => room.key) }, 'mediasoup worker died; closing its rooms and starting a new one');
    for (const room of rooms) room.close('media worker died', 1011);
    slot.rooms.clear();
    if (this.closing) return;
    this.restart(slot.index, 0);
  }

  private restart(index: number, attempt: number): void {
    const delay = Math.min(5000, 100 * 2 ** attempt);
    setTimeout(() => {
      if (this.closing) return;
      this.spawn(index).then(
        (slot) => {
          if (this.closing) {
            slot.worker.close();
            return;
          }
          const position = this.slots.findIndex((existing) => existing.index === index);
          this.slots[position] = slot;
          this.logger.info({ worker: index, pid: slot.worker.pid }, 'mediasoup worker restarted');
        },
        (error: unknown) => {
          this.logger.error({ err: error, worker: index }, 'mediasoup worker could not be restarted; retrying');
          this.restart(index, attempt + 1);
        },
      );
    }, attempt === 0 ? 0 : delay).unref();
  }
}
