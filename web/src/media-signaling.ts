// The browser side of Veza's /media and /voice signaling (JSON requests by id, notifications) and
// mediasoup-client transports wired to it: used by the web client's voice chat and DJ room, and by
// the test and bench pages (test/media/browser-peer.ts, dj-peer.ts, bench/media-latency-page.ts).
import { Device } from 'mediasoup-client';
import type { types } from 'mediasoup-client';

type Transport = types.Transport;

export interface Notification {
  method: string;
  data: Record<string, unknown>;
}

export class Signaling {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (data: unknown) => void; reject: (error: Error) => void }>();
  readonly notifications: Notification[] = [];
  onNotification: (n: Notification) => void = () => undefined;
  /** The server closed the connection (1013 "room full" in a live room past its WebRTC audience, say). */
  onClose: (code: number, reason: string) => void = () => undefined;

  private constructor(private readonly ws: WebSocket) {
    ws.onclose = (event) => {
      // Requests still waiting will never be answered.
      for (const waiter of this.pending.values()) waiter.reject(new Error(`signaling closed ${event.code}: ${event.reason}`));
      this.pending.clear();
      this.onClose(event.code, event.reason);
    };
    ws.onmessage = (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; ok?: boolean; data?: unknown; error?: { code: string; message: string }; method?: string };
      if (message.id !== undefined) {
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.ok) waiter?.resolve(message.data);
        else waiter?.reject(new Error(`${message.error?.code}: ${message.error?.message}`));
      } else if (message.method) {
        const n = { method: message.method, data: (message.data ?? {}) as Record<string, unknown> };
        this.notifications.push(n);
        this.onNotification(n);
      }
    };
  }

  /** `protocols`: the sign-in as subprotocols (the web client's way), or none when the URL has `?token=`. */
  static open(url: string, protocols: string[] = []): Promise<Signaling> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols);
      const signaling = new Signaling(ws);
      ws.onopen = () => resolve(signaling);
      // The browser does not say why an upgrade was refused: the server's health says whether
      // media is on. Only the URL's path is ever part of the message.
      ws.onerror = () => void whyNotConnected(url).then((reason) => reject(new Error(reason)));
    });
  }

  request<T = Record<string, unknown>>(method: string, data: unknown = {}): Promise<T> {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, method, data }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve: resolve as (data: unknown) => void, reject }));
  }

  close(): void {
    this.ws.close();
  }
}

export async function join(url: string, protocols: string[] = []): Promise<{ signaling: Signaling; device: Device }> {
  const signaling = await Signaling.open(url, protocols);
  const device = new Device();
  await device.load({ routerRtpCapabilities: await signaling.request('getRouterRtpCapabilities') });
  return { signaling, device };
}

export async function transport(signaling: Signaling, device: Device, direction: 'send' | 'recv'): Promise<Transport> {
  const params = await signaling.request<{ id: string; iceParameters: never; iceCandidates: never; dtlsParameters: never }>('createWebRtcTransport', {
    producing: direction === 'send',
    consuming: direction === 'recv',
  });
  const created = direction === 'send' ? device.createSendTransport(params) : device.createRecvTransport(params);
  created.on('connect', ({ dtlsParameters }, done, fail) => {
    signaling.request('connectWebRtcTransport', { transportId: created.id, dtlsParameters }).then(() => done(), fail);
  });
  if (direction === 'send') {
    created.on('produce', ({ kind, rtpParameters, appData }, done, fail) => {
      signaling.request<{ id: string }>('produce', { transportId: created.id, kind, rtpParameters, appData }).then(done, fail);
    });
  }
  return created;
}

/**
 * Asks the server for a consumer of `producerId` and creates it on `recv` (paused on the server
 * until `resumeConsumer`). `streamId` groups tracks for lip sync: the same id for audio and video.
 */
export async function consume(signaling: Signaling, device: Device, recv: Transport, producerId: string, streamId?: string): Promise<types.Consumer> {
  const params = await signaling.request<{ id: string; producerId: string; kind: 'audio' | 'video'; rtpParameters: never }>('consume', {
    transportId: recv.id,
    producerId,
    rtpCapabilities: device.rtpCapabilities,
  });
  return recv.consume({ id: params.id, producerId: params.producerId, kind: params.kind, rtpParameters: params.rtpParameters, ...(streamId ? { streamId } : {}) });
}

/** A short sentence for a media socket that did not open: media off (and why), or the route refused. */
export async function whyNotConnected(url: string): Promise<string> {
  const where = decodeURIComponent(new URL(url).pathname);
  try {
    const health = (await (await fetch('/healthz')).json()) as { media?: { available?: boolean; reason?: string; fix?: string } };
    if (health.media?.available === false) return `live media is off on this server: ${health.media.reason ?? 'no reason given'}${health.media.fix ? ` (to turn it on: ${health.media.fix})` : ''}`;
    return `the server refused the connection to ${where} (signed out, no role in this room, or too many connections)`;
  } catch {
    return `the server cannot be reached (${where})`;
  }
}
