// Runs in headless Chromium (bundled by esbuild in bench/media-latency.ts). The publisher paints
// Date.now() into every video frame as black and white cells and publishes that canvas, with an
// oscillator as its audio, through mediasoup-client. Viewers play the room by WebRTC (/media
// signaling) or by HLS (hls.js, loaded by the page as the global `Hls`), read the stamp back from
// each presented frame and record how old it was. All pages share one browser, hence one clock.
import type { types } from 'mediasoup-client';
import { consume, join, transport, type Notification } from '../web/src/media-signaling.js';

type Track = types.Producer['track'] & object;

// The project's TypeScript settings carry no DOM library; these are the few browser APIs used here.
interface Stream {
  getAudioTracks(): Track[];
  getVideoTracks(): Track[];
}
interface CanvasContext {
  fillStyle: string;
  font: string;
  fillRect(x: number, y: number, w: number, h: number): void;
  fillText(text: string, x: number, y: number): void;
  drawImage(source: unknown, x: number, y: number, w: number, h: number): void;
  getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
}
interface Canvas {
  width: number;
  height: number;
  getContext(kind: '2d', options?: { willReadFrequently: boolean }): CanvasContext;
  captureStream(frameRate?: number): Stream;
}
interface FrameMetadata {
  expectedDisplayTime: number;
  width: number;
  height: number;
  /** WebRTC sources only: when the frame's last packet arrived (performance clock). */
  receiveTime?: number;
}
interface VideoElement {
  srcObject: Stream | null;
  muted: boolean;
  autoplay: boolean;
  playsInline: boolean;
  width: number;
  height: number;
  play(): Promise<void>;
  remove(): void;
  addEventListener(type: string, listener: () => void): void;
  requestVideoFrameCallback(callback: (now: number, meta: FrameMetadata) => void): number;
}
interface AudioNodeLike {
  connect(node: AudioNodeLike): void;
}
interface AudioContextLike {
  resume(): Promise<void>;
  close(): Promise<void>;
  createOscillator(): AudioNodeLike & { frequency: { value: number }; start(): void };
  createGain(): AudioNodeLike & { gain: { value: number } };
  createMediaStreamDestination(): AudioNodeLike & { stream: Stream };
}
/** The part of hls.js 1.7 used here (hls.min.js sets `window.Hls`). */
interface HlsPlayer {
  readonly latency: number;
  readonly currentLevel: number;
  readonly levels: { height: number; bitrate: number }[];
  loadSource(url: string): void;
  attachMedia(media: VideoElement): void;
  on(event: string, listener: (event: string, data: { fatal?: boolean; type?: string; details?: string }) => void): void;
  startLoad(): void;
  recoverMediaError(): void;
  destroy(): void;
}
interface HlsClass {
  new (config: Record<string, unknown>): HlsPlayer;
  isSupported(): boolean;
  readonly Events: { ERROR: string };
  readonly ErrorTypes: { NETWORK_ERROR: string; MEDIA_ERROR: string };
}
interface Browser {
  document: { createElement(tag: 'canvas'): Canvas; createElement(tag: 'video'): VideoElement; body: { append(node: unknown): void } };
  performance: { now(): number };
  requestAnimationFrame(callback: (now: number) => void): number;
  AudioContext: new () => AudioContextLike;
  MediaStream: new (tracks: Track[]) => Stream;
  Hls?: HlsClass;
}
const page = globalThis as unknown as Browser & Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// The stamp: 48 bits of Date.now() and a 16-bit Fletcher checksum of them, one bit per cell of an
// 8 × 8 grid that fills the left square of the frame (white is 1). Cells are an eighth of the
// frame's height, so they survive scaling to the 180-line HLS rendition and lossy encoding; the
// checksum rejects frames caught between two stamps or smeared by the encoder.

const GRID = 8;
const STAMP_BITS = 48;

function checksum(value: number): number {
  let a = 0;
  let b = 0;
  for (let shift = 40; shift >= 0; shift -= 8) {
    a = (a + Math.floor(value / 2 ** shift) % 256) % 255;
    b = (b + a) % 255;
  }
  return b * 256 + a;
}

function stampBits(value: number): boolean[] {
  const bits: boolean[] = [];
  for (let i = STAMP_BITS - 1; i >= 0; i--) bits.push(Math.floor(value / 2 ** i) % 2 === 1);
  const check = checksum(value);
  for (let i = 15; i >= 0; i--) bits.push(((check >> i) & 1) === 1);
  return bits;
}

/** The stamp in a picture whose left square is the grid, or null when the checksum fails. */
function readStamp(pixels: Uint8ClampedArray, width: number, cell: number): number | null {
  let value = 0;
  let check = 0;
  for (let index = 0; index < GRID * GRID; index++) {
    const cx = Math.floor(((index % GRID) + 0.5) * cell);
    const cy = Math.floor((Math.floor(index / GRID) + 0.5) * cell);
    let luma = 0;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const at = ((cy + dy) * width + cx + dx) * 4;
        luma += 0.299 * pixels[at]! + 0.587 * pixels[at + 1]! + 0.114 * pixels[at + 2]!;
      }
    }
    const bit = luma / 9 > 128 ? 1 : 0;
    if (index < STAMP_BITS) value = value * 2 + bit;
    else check = check * 2 + bit;
  }
  return checksum(value) === check ? value : null;
}


// ---------------------------------------------------------------------------------------------
// The publisher

export interface PublishOptions {
  width: number;
  height: number;
  frameRate: number;
}

let painted = 0;

/** Paints the stamp (and the same time as text, for people looking at a frame) at `frameRate`. */
function stampedCanvas(options: PublishOptions): Canvas {
  const canvas = page.document.createElement('canvas');
  canvas.width = options.width;
  canvas.height = options.height;
  const paint = canvas.getContext('2d');
  const cell = options.height / GRID;
  const frameMs = 1000 / options.frameRate;
  let last = 0;
  const tick = (now: number) => {
    page.requestAnimationFrame(tick);
    if (now - last < frameMs - 2) return;
    last = now;
    const stamp = Date.now();
    paint.fillStyle = '#000';
    paint.fillRect(0, 0, options.width, options.height);
    paint.fillStyle = '#fff';
    stampBits(stamp).forEach((bit, index) => {
      if (bit) paint.fillRect((index % GRID) * cell, Math.floor(index / GRID) * cell, cell, cell);
    });
    paint.font = `${Math.round(cell / 2)}px monospace`;
    paint.fillText(String(stamp % 100_000).padStart(5, '0'), options.height + cell / 2, cell);
    painted++;
  };
  page.requestAnimationFrame(tick);
  return canvas;
}

async function publish(url: string, options: PublishOptions): Promise<{ producers: string[] }> {
  const { signaling, device } = await join(url);
  const send = await transport(signaling, device, 'send');
  const audio = new page.AudioContext();
  const tone = audio.createOscillator();
  tone.frequency.value = 440;
  const level = audio.createGain();
  level.gain.value = 0.2;
  const output = audio.createMediaStreamDestination();
  tone.connect(level);
  level.connect(output);
  tone.start();
  await audio.resume();
  const video = stampedCanvas(options).captureStream(options.frameRate);
  const producers = [
    await send.produce({ track: output.stream.getAudioTracks()[0]!, appData: { source: 'music' } }),
    await send.produce({ track: video.getVideoTracks()[0]!, appData: { source: 'camera' } }),
  ];
  return { producers: producers.map((p) => `${p.kind}:${p.id}`) };
}

// ---------------------------------------------------------------------------------------------
// Viewers

export interface LatencySample {
  /** Wall-clock ms at which the frame was to be shown. */
  at: number;
  /** Display time minus the stamp painted into the frame. */
  latencyMs: number;
  /** WebRTC: display time minus the arrival of the frame's last packet (jitter buffer, decode, render). */
  afterReceiveMs?: number;
  /** HLS: hls.js's own latency estimate (from the playlist's timeline) at that moment, in ms. */
  playerEstimateMs?: number;
  /** The decoded picture's height (the HLS rendition, or what WebRTC's encoder chose). */
  height: number;
  /** The publisher's Date.now() painted into the frame. */
  stamp: number;
}

export interface ViewerReport {
  samples: LatencySample[];
  /** Presented frames whose stamp could not be read (checksum failed). */
  unreadable: number;
  /** Presented frames that showed the same picture as the frame before, left out. */
  repeated: number;
  /** `waiting` events of the <video> (playback stalled on an empty buffer). */
  stalls: number;
  errors: string[];
}

/**
 * Reads the stamp of every frame the <video> presents (requestVideoFrameCallback) and takes the
 * display time from the callback's metadata. A picture shown again (HLS: ffmpeg repeats a frame
 * where its input skipped one, to keep 30 fps) counts once, at its first showing. Headless Chromium
 * has no screen: the display time follows its simulated 60 Hz frames, so a sample is good to one
 * such frame (~17 ms).
 */
class Viewer {
  private readonly samples: LatencySample[] = [];
  private lastStamp = 0;
  private unreadable = 0;
  private repeated = 0;
  private stalls = 0;
  readonly errors: string[] = [];
  readonly video: VideoElement;
  estimate: () => number | undefined = () => undefined;
  /** WebRTC: the audio receiver's cumulative jitter buffer delay (s) and samples emitted, from getStats(). */
  audioJitterBuffer: () => Promise<{ delaySeconds: number; emitted: number }> = () => Promise.resolve({ delaySeconds: 0, emitted: 0 });

  constructor() {
    this.video = page.document.createElement('video');
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.video.muted = true;
    this.video.width = 320;
    this.video.height = 180;
    this.video.addEventListener('waiting', () => this.stalls++);
    page.document.body.append(this.video);
    // A small copy of each frame: a 16 × 9 canvas per grid cell is plenty to read the cells' centres.
    const reader = page.document.createElement('canvas');
    const cell = 9;
    reader.height = GRID * cell;
    reader.width = Math.round((reader.height * 16) / 9);
    const paint = reader.getContext('2d', { willReadFrequently: true });
    const onFrame = (_now: number, meta: FrameMetadata) => {
      this.video.requestVideoFrameCallback(onFrame);
      // The frame's display time on the wall clock (expectedDisplayTime is on the performance clock).
      const shownAt = Date.now() + (meta.expectedDisplayTime - page.performance.now());
      // Frames are drawn at the reader's aspect; a 16:9 source fills it, and the grid is its left square.
      paint.drawImage(this.video, 0, 0, reader.width, reader.height);
      const stamp = readStamp(paint.getImageData(0, 0, reader.width, reader.height).data, reader.width, cell);
      if (stamp === null) {
        this.unreadable++;
        return;
      }
      if (stamp === this.lastStamp) {
        this.repeated++;
        return;
      }
      this.lastStamp = stamp;
      const sample: LatencySample = { at: shownAt, latencyMs: shownAt - stamp, height: meta.height, stamp };
      if (meta.receiveTime !== undefined) sample.afterReceiveMs = meta.expectedDisplayTime - meta.receiveTime;
      const estimate = this.estimate();
      if (estimate !== undefined) sample.playerEstimateMs = estimate;
      this.samples.push(sample);
    };
    this.video.requestVideoFrameCallback(onFrame);
  }

  /** What was seen since the last call. */
  take(): ViewerReport {
    const report = { samples: this.samples.splice(0), unreadable: this.unreadable, repeated: this.repeated, stalls: this.stalls, errors: this.errors.splice(0) };
    this.unreadable = 0;
    this.repeated = 0;
    this.stalls = 0;
    return report;
  }

  play(): void {
    this.video.play().catch((error: Error) => this.errors.push(`play: ${error.message}`));
  }
}

const viewers = new Map<string, Viewer>();

/**
 * A WebRTC viewer: consumes the room's video, and its audio too unless `videoOnly`; audio and video
 * play as one stream, so Chromium delays the earlier of the two to keep them in sync.
 */
async function watchWebRtc(name: string, url: string, videoOnly = false): Promise<void> {
  const viewer = new Viewer();
  viewers.set(name, viewer);
  const { signaling, device } = await join(url);
  const recv = await transport(signaling, device, 'recv');
  const tracks: Track[] = [];
  const take = async (producerId: string) => {
    const consumer = await consume(signaling, device, recv, producerId);
    tracks.push(consumer.track);
    viewer.video.srcObject = new page.MediaStream(tracks);
    viewer.play();
    await signaling.request('resumeConsumer', { consumerId: consumer.id });
  };
  const seen = (n: Notification) => {
    if (n.method === 'newProducer' && !(videoOnly && n.data.kind === 'audio')) take(String(n.data.producerId)).catch((error: Error) => viewer.errors.push(`consume: ${error.message}`));
  };
  signaling.notifications.forEach(seen);
  signaling.onNotification = seen;
  viewer.audioJitterBuffer = async () => {
    const total = { delaySeconds: 0, emitted: 0 };
    (await recv.getStats()).forEach((entry: { type: string; kind?: string; jitterBufferDelay?: number; jitterBufferEmittedCount?: number }) => {
      if (entry.type !== 'inbound-rtp' || entry.kind !== 'audio') return;
      total.delaySeconds += entry.jitterBufferDelay ?? 0;
      total.emitted += entry.jitterBufferEmittedCount ?? 0;
    });
    return total;
  };
}

/** An HLS viewer: hls.js with `config` on top of its defaults (its ABR picks the rendition). */
function watchHls(name: string, playlistUrl: string, config: Record<string, unknown>): void {
  const Hls = page.Hls;
  if (!Hls?.isSupported()) throw new Error('hls.js is not loaded or has no MediaSource here');
  const viewer = new Viewer();
  viewers.set(name, viewer);
  const hls = new Hls(config);
  viewer.estimate = () => (Number.isFinite(hls.latency) && hls.latency > 0 ? hls.latency * 1000 : undefined);
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (!data.fatal) return;
    viewer.errors.push(`hls.js ${data.type}/${data.details}`);
    // The usual recovery: reload after network errors, rebuild the buffer after media errors.
    if (data.type === Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad();
    else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
  });
  hls.loadSource(playlistUrl);
  hls.attachMedia(viewer.video);
  viewer.play();
}

function viewer(name: string): Viewer {
  const found = viewers.get(name);
  if (!found) throw new Error(`no viewer ${name}`);
  return found;
}

const take = (name: string): ViewerReport => viewer(name).take();
const audioJitterBuffer = (name: string) => viewer(name).audioJitterBuffer();

/** Frames painted by the publisher since the last call. */
function paintedFrames(): number {
  const count = painted;
  painted = 0;
  return count;
}

const api = { publish, watchWebRtc, watchHls, take, audioJitterBuffer, paintedFrames };
export type LatencyPageApi = typeof api;
page.vezaLatency = api;
