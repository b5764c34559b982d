// Runs in headless Chromium (bundled by esbuild, see test/helpers/browser.ts): the DJ and the
// viewers of a live room, each a real mediasoup-client Device speaking Veza's /media signaling.
// `window.vezaDj` publishes (fake devices, or audio/video marks generated in the page) and
// subscribes (any number of viewers per page, each with its own socket, Device and recv transport),
// and reports receive statistics and the times at which marks were seen and heard.
import type { Device, types } from 'mediasoup-client';
import { consume, join, transport, type Notification, type Signaling } from '../../web/src/media-signaling.js';

type Transport = types.Transport;
type Producer = types.Producer;
type Consumer = types.Consumer;
type Track = Producer['track'] & object;

// The project's TypeScript settings carry no DOM library; these are the few browser APIs used here.
interface Stream {
  getAudioTracks(): Track[];
  getVideoTracks(): Track[];
}
interface CanvasContext {
  fillStyle: string;
  fillRect(x: number, y: number, w: number, h: number): void;
  drawImage(source: unknown, x: number, y: number, w: number, h: number): void;
  getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
}
interface Canvas {
  width: number;
  height: number;
  getContext(kind: '2d', options?: { willReadFrequently: boolean }): CanvasContext;
  captureStream(frameRate?: number): Stream;
}
interface MediaElement {
  srcObject: Stream | null;
  muted: boolean;
  autoplay: boolean;
  playsInline: boolean;
  width: number;
  height: number;
  play(): Promise<void>;
  remove(): void;
  requestVideoFrameCallback(callback: (now: number, meta: { expectedDisplayTime: number; presentedFrames: number }) => void): number;
}
interface AudioParamLike {
  value: number;
  setValueAtTime(value: number, time: number): void;
}
interface AudioNodeLike {
  connect(node: AudioNodeLike): void;
}
interface AudioContextLike {
  readonly currentTime: number;
  readonly sampleRate: number;
  readonly baseLatency: number;
  readonly outputLatency: number;
  readonly destination: AudioNodeLike;
  readonly audioWorklet: { addModule(url: string): Promise<void> };
  resume(): Promise<void>;
  close(): Promise<void>;
  getOutputTimestamp(): { contextTime?: number; performanceTime?: number };
  createOscillator(): AudioNodeLike & { frequency: AudioParamLike; start(): void };
  createGain(): AudioNodeLike & { gain: AudioParamLike };
  createMediaStreamDestination(): AudioNodeLike & { stream: Stream };
  createMediaStreamSource(stream: Stream): AudioNodeLike;
}
interface Browser {
  navigator: { mediaDevices: { getUserMedia(constraints: unknown): Promise<Stream> } };
  document: { createElement(tag: 'canvas'): Canvas; createElement(tag: 'video' | 'audio'): MediaElement; body: { append(node: unknown): void } };
  performance: { now(): number; readonly timeOrigin: number };
  requestAnimationFrame(callback: (now: number) => void): number;
  AudioContext: new () => AudioContextLike;
  AudioWorkletNode: new (context: AudioContextLike, name: string) => AudioNodeLike & { port: { onmessage: ((event: { data: unknown }) => void) | null } };
  MediaStream: new (tracks: Track[]) => Stream;
  Blob: new (parts: string[], options: { type: string }) => unknown;
  URL: { createObjectURL(blob: unknown): string };
}
const page = globalThis as unknown as Browser & Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// The DJ

export interface PublishOptions {
  /** `fake`: Chromium's fake microphone and camera. `marks`: a white frame and a beep together every `markPeriodMs`. */
  media: 'fake' | 'marks';
  /** Camera producers (`appData.source: 'camera'`), each its own track; 0 publishes audio only. */
  cameras?: number;
  /** Three simulcast encodings per camera instead of one. */
  simulcast?: boolean;
  width?: number;
  height?: number;
  frameRate?: number;
  markPeriodMs?: number;
}

export interface Published {
  producers: { id: string; kind: string; source: string }[];
}

/** A white frame and a 1 kHz beep, started in the same task; black and silence in between. */
class MarkSource {
  readonly flashes: number[] = [];
  private readonly audio: AudioContextLike;
  private readonly gain: ReturnType<AudioContextLike['createGain']>;
  private readonly output: ReturnType<AudioContextLike['createMediaStreamDestination']>;
  private readonly canvas: Canvas;
  private readonly paint: CanvasContext;
  private readonly video: Stream;
  private stopped = false;

  constructor(private readonly options: { width: number; height: number; frameRate: number; periodMs: number }) {
    this.audio = new page.AudioContext();
    const tone = this.audio.createOscillator();
    tone.frequency.value = 1000;
    this.gain = this.audio.createGain();
    this.gain.gain.value = 0;
    this.output = this.audio.createMediaStreamDestination();
    tone.connect(this.gain);
    this.gain.connect(this.output);
    tone.start();
    this.canvas = page.document.createElement('canvas');
    this.canvas.width = options.width;
    this.canvas.height = options.height;
    this.paint = this.canvas.getContext('2d');
    this.video = this.canvas.captureStream(options.frameRate);
  }

  get audioTrack(): Track {
    return this.output.stream.getAudioTracks()[0]!;
  }

  get videoTrack(): Track {
    return this.video.getVideoTracks()[0]!;
  }

  async start(): Promise<void> {
    await this.audio.resume();
    const frameMs = 1000 / this.options.frameRate;
    let lastFrame = 0;
    let nextMark = page.performance.now() + this.options.periodMs;
    let frame = 0;
    const tick = (now: number) => {
      if (this.stopped) return;
      page.requestAnimationFrame(tick);
      if (now - lastFrame < frameMs - 2) return;
      lastFrame = now;
      frame++;
      const flash = now >= nextMark;
      this.paint.fillStyle = flash ? '#fff' : '#000';
      this.paint.fillRect(0, 0, this.options.width, this.options.height);
      // A small moving block keeps every frame distinct, so each one is captured and encoded.
      this.paint.fillStyle = '#333';
      this.paint.fillRect((frame * 4) % this.options.width, 0, 4, 4);
      if (!flash) return;
      nextMark += this.options.periodMs;
      const at = this.audio.currentTime;
      this.gain.gain.setValueAtTime(0.8, at);
      this.gain.gain.setValueAtTime(0, at + 0.06);
      this.flashes.push(page.performance.now());
    };
    page.requestAnimationFrame(tick);
  }

  stop(): void {
    this.stopped = true;
    void this.audio.close();
  }
}

class Dj {
  producers: Producer[] = [];
  marks: MarkSource | null = null;

  private constructor(private readonly signaling: Signaling) {}

  static async publish(url: string, options: PublishOptions): Promise<Dj> {
    const { signaling, device } = await join(url);
    const dj = new Dj(signaling);
    const send = await transport(signaling, device, 'send');
    const width = options.width ?? 320;
    const height = options.height ?? 240;
    const frameRate = options.frameRate ?? (options.media === 'marks' ? 30 : 15);
    let audio: Track;
    let video: Track;
    if (options.media === 'marks') {
      dj.marks = new MarkSource({ width, height, frameRate, periodMs: options.markPeriodMs ?? 1000 });
      await dj.marks.start();
      audio = dj.marks.audioTrack;
      video = dj.marks.videoTrack;
    } else {
      const stream = await page.navigator.mediaDevices.getUserMedia({ audio: true, video: { width, height, frameRate } });
      audio = stream.getAudioTracks()[0]!;
      video = stream.getVideoTracks()[0]!;
    }
    dj.producers.push(await send.produce({ track: audio, appData: { source: 'music' } }));
    const cameras = options.cameras ?? 1;
    for (let index = 0; index < cameras; index++) {
      dj.producers.push(
        await send.produce({
          track: index === 0 ? video : video.clone(),
          appData: { source: 'camera', camera: index },
          ...(options.simulcast ? { encodings: [{ scaleResolutionDownBy: 4, maxBitrate: 150_000 }, { scaleResolutionDownBy: 2, maxBitrate: 500_000 }, { maxBitrate: 1_500_000 }] } : {}),
        }),
      );
    }
    return dj;
  }

  describe(): Published {
    return { producers: this.producers.map((p) => ({ id: p.id, kind: p.kind, source: String(p.appData.source) })) };
  }

  /** Asks the server to stop forwarding (the producers keep sending; the SFU drops). */
  async pauseOnServer(): Promise<void> {
    for (const producer of this.producers) await this.signaling.request('pauseProducer', { producerId: producer.id });
  }

  /** Any other signaling request of the DJ (e.g. switching the live camera). */
  request(method: string, data: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.signaling.request(method, data);
  }

  leave(): void {
    this.marks?.stop();
    this.signaling.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Viewers

export interface SubscribeOptions {
  /** `shared`: audio and video in one MediaStream (Chromium lip-syncs them); `separate`: one stream each. */
  streams?: 'shared' | 'separate';
  /** Play what arrives and record when marks are shown and heard. */
  detectMarks?: boolean;
  /**
   * Holds audio this long in the receiver's jitter buffer (RTCRtpReceiver.jitterBufferTarget), as a
   * congested path would: with one stream Chromium delays the video to match; with separate streams not.
   */
  audioDelayMs?: number;
}

export interface ConsumerStats {
  consumerId: string;
  producerId: string;
  kind: string;
  packetsReceived: number;
  packetsLost: number;
  bytesReceived: number;
  framesDecoded: number;
  /** Width of the last decoded frame (video): which simulcast layer arrives. */
  frameWidth: number;
  nackCount: number;
  jitterMs: number;
  /** Mean time a frame or sample spent in the jitter buffer, and the mean of its target over the session (lip sync raises it). */
  jitterBufferMs: number;
  jitterBufferTargetMs: number;
}

export interface MarkTimes {
  /** performance.now() of the presentation of each white frame (rVFC expectedDisplayTime); wall time once out of the page. */
  video: number[];
  /** performance.now() at which each beep's first loud sample leaves the AudioContext. */
  audio: number[];
  audioOutputLatencyMs: number;
}

// Finds the first loud sample after at least half a second of quiet, sample accurate.
const ONSET_WORKLET = `
registerProcessor('onset', class extends AudioWorkletProcessor {
  constructor() { super(); this.quietFrames = sampleRate; }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      if (Math.abs(channel[i]) > 0.2) {
        if (this.quietFrames >= sampleRate / 2) this.port.postMessage(currentFrame + i);
        this.quietFrames = 0;
      } else {
        this.quietFrames++;
      }
    }
    return true;
  }
});`;

class MarkDetector {
  readonly times: MarkTimes = { video: [], audio: [], audioOutputLatencyMs: 0 };
  private readonly elements: MediaElement[] = [];
  private audio: AudioContextLike | null = null;

  async start(audioTrack: Track, videoTrack: Track, streams: 'shared' | 'separate'): Promise<void> {
    // The elements play the media as a viewer's page would (and what Chromium lip-syncs is their
    // playback); the AudioContext below taps the same audio track to time the beeps.
    const video = this.element('video', streams === 'shared' ? [audioTrack, videoTrack] : [videoTrack]);
    if (streams === 'separate') this.element('audio', [audioTrack]);
    const canvas = page.document.createElement('canvas');
    canvas.width = 8;
    canvas.height = 8;
    const paint = canvas.getContext('2d', { willReadFrequently: true });
    let bright = false;
    const onFrame = (_now: number, meta: { expectedDisplayTime: number }) => {
      paint.drawImage(video, 0, 0, 8, 8);
      const pixels = paint.getImageData(0, 0, 8, 8).data;
      let luma = 0;
      for (let i = 0; i < pixels.length; i += 4) luma += 0.299 * pixels[i]! + 0.587 * pixels[i + 1]! + 0.114 * pixels[i + 2]!;
      luma /= pixels.length / 4;
      if (luma > 128 && !bright) this.times.video.push(meta.expectedDisplayTime);
      bright = luma > 128;
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);

    const audio = new page.AudioContext();
    this.audio = audio;
    await audio.audioWorklet.addModule(page.URL.createObjectURL(new page.Blob([ONSET_WORKLET], { type: 'text/javascript' })));
    const onset = new page.AudioWorkletNode(audio, 'onset');
    onset.port.onmessage = ({ data }) => {
      const stamp = audio.getOutputTimestamp();
      if (stamp.contextTime === undefined || stamp.performanceTime === undefined) return;
      const contextTime = (data as number) / audio.sampleRate;
      this.times.audio.push(stamp.performanceTime + (contextTime - stamp.contextTime) * 1000);
    };
    audio.createMediaStreamSource(new page.MediaStream([audioTrack])).connect(onset);
    const mute = audio.createGain();
    mute.gain.value = 0;
    onset.connect(mute);
    mute.connect(audio.destination);
    await audio.resume();
    this.times.audioOutputLatencyMs = (audio.outputLatency || audio.baseLatency) * 1000;
  }

  stop(): void {
    for (const element of this.elements) element.remove();
    void this.audio?.close();
  }

  private element(tag: 'video' | 'audio', tracks: Track[]): MediaElement {
    const element = page.document.createElement(tag);
    element.autoplay = true;
    element.playsInline = true;
    element.width = 160;
    element.height = 120;
    element.srcObject = new page.MediaStream(tracks);
    page.document.body.append(element);
    void element.play().catch(() => undefined);
    this.elements.push(element);
    return element;
  }
}

class Viewer {
  readonly consumers: Consumer[] = [];
  readonly errors: string[] = [];
  detector: MarkDetector | null = null;

  private constructor(
    private readonly signaling: Signaling,
    private readonly device: Device,
    private readonly recv: Transport,
    private readonly options: SubscribeOptions,
  ) {}

  static async subscribe(url: string, options: SubscribeOptions): Promise<Viewer> {
    const { signaling, device } = await join(url);
    const viewer = new Viewer(signaling, device, await transport(signaling, device, 'recv'), options);
    const seen = (n: Notification) => {
      if (n.method === 'newProducer') viewer.consume(String(n.data.producerId)).catch((error: Error) => viewer.errors.push(error.message));
    };
    for (const n of signaling.notifications) seen(n);
    signaling.onNotification = seen;
    return viewer;
  }

  get notifications(): Notification[] {
    return this.signaling.notifications;
  }

  private async consume(producerId: string): Promise<void> {
    const kind = this.signaling.notifications.find((n) => n.method === 'newProducer' && n.data.producerId === producerId)?.data.kind;
    const streamId = this.options.streams === 'separate' ? `${String(kind)}-${producerId}` : 'dj';
    const consumer = await consume(this.signaling, this.device, this.recv, producerId, streamId);
    if (consumer.kind === 'audio' && this.options.audioDelayMs) (consumer.rtpReceiver as { jitterBufferTarget: number | null }).jitterBufferTarget = this.options.audioDelayMs;
    this.consumers.push(consumer);
    await this.signaling.request('resumeConsumer', { consumerId: consumer.id });
    if (this.options.detectMarks) await this.maybeDetect();
  }

  private async maybeDetect(): Promise<void> {
    const audio = this.consumers.find((c) => c.kind === 'audio');
    const video = this.consumers.find((c) => c.kind === 'video');
    if (!audio || !video || this.detector) return;
    this.detector = new MarkDetector();
    await this.detector.start(audio.track, video.track, this.options.streams ?? 'shared');
  }

  async stats(): Promise<ConsumerStats[]> {
    return Promise.all(
      this.consumers.map(async (consumer) => {
        const out: ConsumerStats = { consumerId: consumer.id, producerId: consumer.producerId, kind: consumer.kind, packetsReceived: 0, packetsLost: 0, bytesReceived: 0, framesDecoded: 0, frameWidth: 0, nackCount: 0, jitterMs: 0, jitterBufferMs: 0, jitterBufferTargetMs: 0 };
        type Inbound = { type: string; frameWidth?: number; packetsReceived?: number; packetsLost?: number; bytesReceived?: number; framesDecoded?: number; nackCount?: number; jitter?: number; jitterBufferDelay?: number; jitterBufferEmittedCount?: number; jitterBufferTargetDelay?: number };
        (await consumer.getStats()).forEach((entry: Inbound) => {
          if (entry.type !== 'inbound-rtp') return;
          out.packetsReceived += entry.packetsReceived ?? 0;
          out.packetsLost += entry.packetsLost ?? 0;
          out.bytesReceived += entry.bytesReceived ?? 0;
          out.framesDecoded += entry.framesDecoded ?? 0;
          out.frameWidth = Math.max(out.frameWidth, entry.frameWidth ?? 0);
          out.nackCount += entry.nackCount ?? 0;
          out.jitterMs = Math.max(out.jitterMs, (entry.jitter ?? 0) * 1000);
          const emitted = entry.jitterBufferEmittedCount ?? 0;
          if (emitted > 0) {
            out.jitterBufferMs = ((entry.jitterBufferDelay ?? 0) / emitted) * 1000;
            out.jitterBufferTargetMs = ((entry.jitterBufferTargetDelay ?? 0) / emitted) * 1000;
          }
        });
        return out;
      }),
    );
  }

  /** Any other signaling request of this viewer (e.g. choosing a simulcast layer). */
  request(method: string, data: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.signaling.request(method, data);
  }

  leave(): void {
    this.detector?.stop();
    this.signaling.close();
  }
}

// ---------------------------------------------------------------------------------------------
// What the tests call through page.evaluate: plain data in and out.

let dj: Dj | null = null;
const viewers: Viewer[] = [];

const api = {
  async publish(url: string, options: PublishOptions): Promise<Published> {
    dj = await Dj.publish(url, options);
    return dj.describe();
  },
  /** Sender-side wall time (ms since the epoch) of every flash; the beep starts in the same task. */
  flashes: (): number[] => (dj?.marks?.flashes ?? []).map((t) => page.performance.timeOrigin + t),
  pauseOnServer: (): Promise<void> => dj!.pauseOnServer(),
  djRequest: (method: string, data: Record<string, unknown> = {}): Promise<Record<string, unknown>> => dj!.request(method, data),
  leaveDj(): void {
    dj?.leave();
    dj = null;
  },
  /** Adds a viewer to this page; answers its index. */
  async subscribe(url: string, options: SubscribeOptions = {}): Promise<number> {
    viewers.push(await Viewer.subscribe(url, options));
    return viewers.length - 1;
  },
  stats: (viewer: number): Promise<ConsumerStats[]> => viewers[viewer]!.stats(),
  viewerRequest: (viewer: number, method: string, data: Record<string, unknown> = {}): Promise<Record<string, unknown>> => viewers[viewer]!.request(method, data),
  allStats: (): Promise<ConsumerStats[][]> => Promise.all(viewers.map((v) => v.stats())),
  report: (viewer: number): { notifications: Notification[]; errors: string[]; consumers: number } => ({
    notifications: viewers[viewer]!.notifications,
    errors: viewers[viewer]!.errors,
    consumers: viewers[viewer]!.consumers.length,
  }),
  /** When this viewer saw and heard the marks, as wall time (ms since the epoch). */
  marks(viewer: number): MarkTimes | null {
    const times = viewers[viewer]!.detector?.times;
    if (!times) return null;
    const wall = (t: number) => page.performance.timeOrigin + t;
    return { video: times.video.map(wall), audio: times.audio.map(wall), audioOutputLatencyMs: times.audioOutputLatencyMs };
  },
  leaveViewers(): void {
    for (const viewer of viewers.splice(0)) viewer.leave();
  },
};

export type DjApi = typeof api;
page.vezaDj = api;
