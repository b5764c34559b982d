import { randomUUID } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import { z } from 'zod';
import type { Logger } from '../log.js';
import { canWrite, roleFor, type DocumentRole } from '../server/auth.js';
import { badRequest, CloseCode, forbidden, HttpError } from '../server/errors.js';
import { QuotaExceeded } from '../server/quota.js';
import type { VezaSocket, WebSocketRouter } from '../server/websocket.js';
import { DOC_ID_PATTERN } from '../shared/ids.js';
import { isCamera, MAX_CAMERAS, type LivePeer, type LiveRoom, type RoomKind } from './live-room.js';
import type { MediaPlane } from './plane.js';
import type { MediaWorkerBinary } from './worker-binary.js';

/** Per peer, so that one client cannot exhaust a worker's ports or memory. */
export const MEDIA_LIMITS = { transports: 4, producers: 8, consumers: 256 } as const;

interface MediaConnection {
  tenantId: string;
  roomId: string;
  kind: RoomKind;
  role: DocumentRole;
  peer: LivePeer | null;
  room: LiveRoom | null;
  /** Requests run one after another, in the order they arrived. */
  chain: Promise<void>;
  closed: boolean;
}

type MediaSocket = VezaSocket<MediaConnection>;

export class SignalingError extends Error {
  constructor(
    readonly code: 'bad-request' | 'not-found' | 'forbidden' | 'unknown-method' | 'cannot-consume' | 'limit' | 'room-full' | 'invalid-parameters' | 'media-error',
    message: string,
  ) {
    super(message);
    this.name = 'SignalingError';
  }
}

const envelope = z.object({ id: z.union([z.number().int(), z.string().max(100)]), method: z.string().max(100), data: z.unknown().optional() }).strict();

const id = z.string().min(1).max(100);
const loose = z.looseObject({});
const codecParameters = z.record(z.string(), z.unknown());
const rtcpFeedback = z.array(z.looseObject({ type: z.string(), parameter: z.string().optional() }));

const dtlsParameters = z
  .object({
    role: z.enum(['auto', 'client', 'server']).optional(),
    fingerprints: z.array(z.object({ algorithm: z.enum(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']), value: z.string().min(1).max(200) })).min(1).max(10),
  })
  .strict();

const rtpParameters = z.looseObject({
  mid: z.string().max(32).optional(),
  codecs: z
    .array(z.looseObject({ mimeType: z.string().min(1).max(100), payloadType: z.number().int().min(0).max(127), clockRate: z.number().int().positive(), channels: z.number().int().positive().optional(), parameters: codecParameters.optional(), rtcpFeedback: rtcpFeedback.optional() }))
    .min(1)
    .max(32),
  headerExtensions: z.array(z.looseObject({ uri: z.string().max(300), id: z.number().int().min(1).max(255) })).max(32).optional(),
  encodings: z.array(loose).max(16).optional(),
  rtcp: loose.optional(),
});

const rtpCapabilities = z.looseObject({
  codecs: z.array(z.looseObject({ kind: z.enum(['audio', 'video']), mimeType: z.string().min(1).max(100), clockRate: z.number().int().positive() })).max(64).optional(),
  headerExtensions: z.array(loose).max(64).optional(),
});

const requests = {
  getRouterRtpCapabilities: z.object({}).strict().optional(),
  createWebRtcTransport: z.object({ producing: z.boolean(), consuming: z.boolean() }).strict(),
  connectWebRtcTransport: z.object({ transportId: id, dtlsParameters }).strict(),
  produce: z.object({ transportId: id, kind: z.enum(['audio', 'video']), rtpParameters, appData: z.record(z.string(), z.unknown()).optional() }).strict(),
  consume: z.object({ transportId: id, producerId: id, rtpCapabilities }).strict(),
  resumeConsumer: z.object({ consumerId: id }).strict(),
  pauseConsumer: z.object({ consumerId: id }).strict(),
  pauseProducer: z.object({ producerId: id }).strict(),
  resumeProducer: z.object({ producerId: id }).strict(),
  closeProducer: z.object({ producerId: id }).strict(),
  setPreferredLayers: z.object({ consumerId: id, spatialLayer: z.number().int().min(0).max(15), temporalLayer: z.number().int().min(0).max(15).optional() }).strict(),
  setLiveCamera: z.object({ producerId: id }).strict(),
  chat: z.object({ text: z.string().trim().min(1).max(500) }).strict(),
} as const;

type Method = keyof typeof requests;
interface HandlerContext {
  maxViewers: number;
}
type Handler<M extends Method> = (room: LiveRoom, peer: LivePeer, data: z.output<(typeof requests)[M]>, context: HandlerContext) => Promise<unknown>;

function transportOf(peer: LivePeer, transportId: string): ms.WebRtcTransport {
  const transport = peer.transports.get(transportId);
  if (!transport) throw new SignalingError('not-found', `no transport ${transportId} on this connection`);
  return transport;
}

function producerOf(peer: LivePeer, producerId: string): ms.Producer {
  const producer = peer.producers.get(producerId);
  if (!producer) throw new SignalingError('not-found', `no producer ${producerId} on this connection`);
  return producer;
}

function consumerOf(peer: LivePeer, consumerId: string): ms.Consumer {
  const consumer = peer.consumers.get(consumerId);
  if (!consumer) throw new SignalingError('not-found', `no consumer ${consumerId} on this connection`);
  return consumer;
}

function mayProduce(peer: LivePeer): void {
  if (!peer.canProduce) throw new SignalingError('forbidden', 'viewers may only consume');
}

/**
 * What each room kind lets a peer publish: voice rooms carry audio only; in a live room the owner
 * (the DJ) sends music and up to MAX_CAMERAS cameras, and guests (editors) send their voice.
 */
function mayPublish(room: LiveRoom, peer: LivePeer, kind: 'audio' | 'video', appData: Record<string, unknown>): void {
  if (kind === 'audio') return;
  if (room.info.kind === 'voice') throw new SignalingError('forbidden', 'a studio voice room carries audio only');
  if (peer.role !== 'owner') throw new SignalingError('forbidden', 'guests join a live room with voice only; video is the owner\'s');
  if (appData.source !== 'camera') throw new SignalingError('bad-request', 'video in a live room is a camera: appData.source must be "camera"');
  if (room.cameraCount() >= MAX_CAMERAS) throw new SignalingError('limit', `at most ${MAX_CAMERAS} cameras per live room`);
}

/** One small handler per request; the room holds the state. */
const handlers: { [M in Method]: Handler<M> } = {
  getRouterRtpCapabilities: async (room) => room.router.rtpCapabilities,
  createWebRtcTransport: async (room, peer, { producing, consuming }, { maxViewers }) => {
    if (producing) mayProduce(peer);
    if (consuming && peer.role === 'viewer' && maxViewers > 0 && room.info.kind === 'live') {
      const watching = [...room.peers.values()].filter((p) => p !== peer && p.role === 'viewer' && [...p.transports.values()].some((t) => (t.appData as { consuming?: boolean }).consuming)).length;
      // Past the room's WebRTC audience: the client watches the HLS stream (and may stay for chat).
      if (watching >= maxViewers) throw new SignalingError('room-full', `room full: ${maxViewers} WebRTC viewers; watch the HLS stream (GET /api/v1/rooms/${room.info.roomId}/hls)`);
    }
    if (peer.transports.size >= MEDIA_LIMITS.transports) throw new SignalingError('limit', `at most ${MEDIA_LIMITS.transports} transports per connection`);
    const transport = await room.createWebRtcTransport(peer, { producing, consuming });
    return { id: transport.id, iceParameters: transport.iceParameters, iceCandidates: transport.iceCandidates, dtlsParameters: transport.dtlsParameters };
  },
  connectWebRtcTransport: async (_room, peer, { transportId, dtlsParameters }) => {
    await transportOf(peer, transportId).connect({ dtlsParameters: dtlsParameters as ms.DtlsParameters });
    return {};
  },
  produce: async (room, peer, { transportId, kind, rtpParameters, appData }) => {
    mayProduce(peer);
    const transport = transportOf(peer, transportId);
    if (!(transport.appData as { producing?: boolean }).producing) throw new SignalingError('bad-request', `transport ${transportId} was not created for producing`);
    const foreign = rtpParameters.codecs.find((codec) => !codec.mimeType.toLowerCase().startsWith(`${kind}/`));
    if (foreign) throw new SignalingError('bad-request', `produce: codec ${foreign.mimeType} is not a ${kind} codec`);
    if (peer.producers.size >= MEDIA_LIMITS.producers) throw new SignalingError('limit', `at most ${MEDIA_LIMITS.producers} producers per connection`);
    mayPublish(room, peer, kind, appData ?? {});
    const producer = await room.produce(peer, transport, { kind, rtpParameters: rtpParameters as ms.RtpParameters, appData: appData ?? {} });
    return { id: producer.id };
  },
  consume: async (room, peer, { transportId, producerId, rtpCapabilities }) => {
    const transport = transportOf(peer, transportId);
    if (!(transport.appData as { consuming?: boolean }).consuming) throw new SignalingError('bad-request', `transport ${transportId} was not created for consuming`);
    if (peer.consumers.size >= MEDIA_LIMITS.consumers) throw new SignalingError('limit', `at most ${MEDIA_LIMITS.consumers} consumers per connection`);
    const owner = [...room.peers.values()].find((other) => other.producers.has(producerId));
    if (!owner) throw new SignalingError('not-found', `no producer ${producerId} in this room`);
    if (!room.router.canConsume({ producerId, rtpCapabilities: rtpCapabilities as ms.RtpCapabilities })) {
      throw new SignalingError('cannot-consume', `these rtpCapabilities cannot receive producer ${producerId}`);
    }
    const consumer = await room.consume(peer, transport, producerId, rtpCapabilities as ms.RtpCapabilities);
    return { id: consumer.id, producerId, peerId: owner.id, kind: consumer.kind, rtpParameters: consumer.rtpParameters, type: consumer.type, producerPaused: consumer.producerPaused };
  },
  resumeConsumer: async (room, peer, { consumerId }) => {
    const consumer = consumerOf(peer, consumerId);
    await room.resumeConsumer(peer, consumer);
    // `paused` true: a camera that is not live; it starts when the DJ switches to it.
    return { paused: consumer.paused };
  },
  pauseConsumer: async (room, peer, { consumerId }) => {
    await room.pauseConsumer(consumerOf(peer, consumerId));
    return {};
  },
  setPreferredLayers: async (_room, peer, { consumerId, spatialLayer, temporalLayer }) => {
    const consumer = consumerOf(peer, consumerId);
    if (consumer.type !== 'simulcast' && consumer.type !== 'svc') throw new SignalingError('bad-request', `consumer ${consumerId} is ${consumer.type}, not simulcast or svc`);
    await consumer.setPreferredLayers({ spatialLayer, ...(temporalLayer === undefined ? {} : { temporalLayer }) });
    return { preferredLayers: consumer.preferredLayers ?? null };
  },
  chat: async (room, peer, { text }) => {
    room.chat(peer, text);
    return {};
  },
  setLiveCamera: async (room, peer, { producerId }) => {
    if (room.info.kind !== 'live') throw new SignalingError('bad-request', 'only live rooms have cameras');
    if (peer.role !== 'owner') throw new SignalingError('forbidden', 'only the room\'s owner switches the live camera');
    const camera = room.producers().find(({ producer }) => producer.id === producerId)?.producer;
    if (!camera) throw new SignalingError('not-found', `no producer ${producerId} in this room`);
    if (!isCamera(camera)) throw new SignalingError('bad-request', `producer ${producerId} is not a camera`);
    room.setLiveCamera(producerId);
    return { producerId };
  },
  pauseProducer: async (_room, peer, { producerId }) => {
    await producerOf(peer, producerId).pause();
    return {};
  },
  resumeProducer: async (_room, peer, { producerId }) => {
    await producerOf(peer, producerId).resume();
    return {};
  },
  closeProducer: async (_room, peer, { producerId }) => {
    producerOf(peer, producerId).close();
    return {};
  },
};

export interface MediaSignalingDeps {
  ws: WebSocketRouter;
  logger: Logger;
  /** Viewers one live room sends media to over WebRTC; past it `room-full` (0: no limit). */
  maxViewers: number;
}


/**
 * `ws://HOST/media/<room>?token=…`: mediasoup signaling as JSON requests `{id, method, data}`,
 * answered `{id, ok: true, data}` or `{id, ok: false, error: {code, message}}`, and notifications
 * `{method, data}`. Owners and editors of `<room>` may produce; viewers only consume. The routes
 * answer 503 until a media plane is attached.
 */
export class MediaSignaling {
  private plane: MediaPlane | null = null;
  private unavailable: { reason: string; fix: string } = { reason: 'the media plane is starting', fix: 'retry in a moment' };
  private readonly sockets = new Set<MediaSocket>();

  constructor(private readonly deps: MediaSignalingDeps) {}

  attach(plane: MediaPlane): void {
    this.plane = plane;
  }

  /** Why media cannot be used, for the 503 at upgrade. */
  markUnavailable(media: Extract<MediaWorkerBinary, { available: false }> | { reason: string; fix: string }): void {
    this.plane = null;
    this.unavailable = { reason: media.reason, fix: media.fix };
  }

  /**
   * `/media/<room>`: a live room (DJ set, stream), roles on `<room>`. `/voice/<session>`: the voice
   * chat of a studio session, with the caller's role on that session's document. Registered once
   * the module has started, before the server listens.
   */
  registerRoutes(): void {
    for (const [pattern, kind] of [['/media/:room', 'live'], ['/voice/:room', 'voice']] as const) {
      this.deps.ws.route<MediaConnection>(pattern, {
        authorize: ({ params, principal }) => {
          if (!this.plane) {
            throw new HttpError(503, 'media-unavailable', `media is unavailable: ${this.unavailable.reason}; fix: ${this.unavailable.fix}`);
          }
          const roomId = params.room ?? '';
          if (!DOC_ID_PATTERN.test(roomId)) throw badRequest(`${kind === 'voice' ? 'session' : 'room'} id must be 1-200 characters of letters, digits and ._:-`);
          const role = roleFor(principal, roomId);
          if (!role) throw forbidden(`no role on ${kind === 'voice' ? 'session' : 'room'} ${roomId}`);
          return { tenantId: principal.tenantId, roomId, kind, role, peer: null, room: null, chain: Promise.resolve(), closed: false };
        },
        open: (ws) => this.onOpen(ws),
        message: (ws, data, isBinary) => this.onMessage(ws, data, isBinary),
        close: (ws) => this.onClose(ws),
      });
    }
  }

  private onOpen(ws: MediaSocket): void {
    const { state: conn, principal } = ws.getUserData();
    const plane = this.plane;
    this.sockets.add(ws);
    const peer: LivePeer = {
      id: randomUUID(),
      userId: principal.userId,
      role: conn.role,
      canProduce: canWrite(conn.role),
      transports: new Map(),
      producers: new Map(),
      consumers: new Map(),
      notify: (method, data) => send(ws, conn, { method, data }),
      disconnect: (code, reason) => {
        if (!conn.closed) ws.end(code, reason.slice(0, 120));
      },
    };
    conn.peer = peer;
    if (!plane) {
      ws.end(CloseCode.tryAgainLater, 'media is unavailable');
      return;
    }
    conn.chain = this.join(plane, conn, peer).catch((error: unknown) => {
      if (error instanceof QuotaExceeded) return void (conn.closed || ws.end(CloseCode.rateLimited, error.closeReason));
      this.deps.logger.error({ err: error, room: conn.roomId, tenant: conn.tenantId }, 'live room could not be joined');
      if (!conn.closed) ws.end(CloseCode.internalError, 'live room could not be joined; retry later');
    });
  }

  /** A room that closes (emptied, its worker died) while this peer waits is replaced by a new one. */
  private async join(plane: MediaPlane, conn: MediaConnection, peer: LivePeer): Promise<void> {
    const quotas = this.deps.ws.quotas;
    for (let attempt = 0; attempt < 3; attempt++) {
      const info = { tenantId: conn.tenantId, roomId: conn.roomId, kind: conn.kind };
      if (!plane.existing(info)) quotas.admit(conn.tenantId, 'rooms');
      const room = await plane.room(info);
      if (conn.closed) {
        if (room.peers.size === 0) room.close('empty');
        return;
      }
      if (room.closed) continue;
      try {
        quotas.admit(conn.tenantId, 'participantsPerRoom', room.peers.size);
      } catch (error) {
        if (room.peers.size === 0) room.close('empty');
        throw error;
      }
      conn.room = room;
      room.join(peer);
      return;
    }
    throw new Error('the live room closed while joining, three times');
  }

  private onMessage(ws: MediaSocket, data: ArrayBuffer, isBinary: boolean): void {
    const conn = ws.getUserData().state;
    if (isBinary) {
      ws.end(CloseCode.protocolError, 'binary frames are not accepted; send JSON text');
      return;
    }
    let request: z.output<typeof envelope>;
    try {
      const parsed = envelope.safeParse(JSON.parse(Buffer.from(data).toString('utf8')));
      if (!parsed.success) throw new Error(`not a request {id, method, data}: ${describeIssues(parsed.error)}`);
      request = parsed.data;
    } catch (error) {
      ws.end(CloseCode.protocolError, `malformed request: ${(error as Error).message}`.slice(0, 120));
      return;
    }
    conn.chain = conn.chain
      .then(() => this.answer(ws, conn, request))
      .catch((error: unknown) => this.deps.logger.error({ err: error, method: request.method }, 'media request could not be answered'));
  }

  private async answer(ws: MediaSocket, conn: MediaConnection, request: z.output<typeof envelope>): Promise<void> {
    if (conn.closed) return;
    try {
      const { room, peer } = conn;
      if (!room || !peer || room.closed) throw new SignalingError('not-found', 'not in a live room');
      if (!Object.hasOwn(requests, request.method)) throw new SignalingError('unknown-method', `unknown method ${JSON.stringify(request.method)}`);
      const method = request.method as Method;
      const parsed = requests[method].safeParse(request.data);
      if (!parsed.success) throw new SignalingError('bad-request', `${method}: ${describeIssues(parsed.error)}`);
      const result = await (handlers[method] as Handler<Method>)(room, peer, parsed.data, { maxViewers: this.deps.maxViewers });
      send(ws, conn, { id: request.id, ok: true, data: result });
    } catch (error) {
      const refusal = asSignalingError(error);
      if (refusal.code === 'media-error') this.deps.logger.warn({ err: error, method: request.method }, 'media request failed');
      send(ws, conn, { id: request.id, ok: false, error: { code: refusal.code, message: refusal.message } });
    }
  }

  private onClose(ws: MediaSocket): void {
    const conn = ws.getUserData().state;
    conn.closed = true;
    this.sockets.delete(ws);
    if (conn.room && conn.peer) conn.room.leave(conn.peer);
  }
}

function send(ws: MediaSocket, conn: MediaConnection, message: unknown): void {
  if (conn.closed) return;
  ws.send(JSON.stringify(message), false);
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

/** mediasoup answers bad parameters with TypeError (its own checks) or Error (the worker's). */
function asSignalingError(error: unknown): SignalingError {
  if (error instanceof SignalingError) return error;
  if (error instanceof TypeError || (error instanceof Error && error.name === 'UnsupportedError')) return new SignalingError('invalid-parameters', error.message);
  if (error instanceof Error) return new SignalingError('media-error', error.message);
  return new SignalingError('media-error', String(error));
}
