import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { types as ms } from 'mediasoup';
import type { LiveRoom } from './live-room.js';
import { ffmpegCommand, ffprobeCommand } from '../shared/ffmpeg-binary.js';

/** ffmpeg's RTP input (libavformat/rtsp.c) gives up after this long without a packet on any stream. */
const INPUT_TIMEOUT_MS = 10_000;

/**
 * Why ffprobe cannot read the file, or null when it reads it with a duration. ffmpeg stopped while
 * it still probes its input (the first second or two) exits "normally" with a file that holds only
 * part of a header.
 */
function unreadable(file: string): Promise<string | null> {
  return new Promise((resolve) => {
    const probe = spawn(ffprobeCommand(), ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    probe.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    probe.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    probe.once('error', (error) => resolve(`the file could not be checked: ${error.message}`));
    probe.once('close', (code) => {
      const duration = Number(out.trim());
      if (code === 0 && Number.isFinite(duration) && duration > 0) resolve(null);
      else resolve(`the file ffmpeg left is not readable media (stopped too early?): ${err.trim().split('\n').slice(-2).join(' | ') || `ffprobe exit ${String(code)}, duration ${out.trim() || 'none'}`}`);
    });
  });
}

/** A free even UDP port whose successor is free too (ffmpeg's RTP demuxer takes RTCP on port + 1). */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + 2 * Math.floor(Math.random() * 10000);
    const ok = await Promise.all([port, port + 1].map((p) => new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind(p, '127.0.0.1', () => socket.close(() => resolve(true)));
    })));
    if (ok.every(Boolean)) return port;
  }
  throw new Error('no free UDP port pair for ffmpeg');
}

/**
 * Whether every port of `ports` has a UDP socket bound to it on this machine, read from the kernel's
 * socket tables (/proc/net/udp and udp6, read only: nothing is bound to find out); null where those
 * tables cannot be read (not Linux).
 */
async function udpPortsBound(ports: number[]): Promise<boolean | null> {
  const tables = await Promise.all(['/proc/net/udp', '/proc/net/udp6'].map((file) => readFile(file, 'utf8').catch(() => null)));
  if (tables.every((table) => table === null)) return null;
  const bound = new Set<number>();
  for (const table of tables) {
    // "  sl  local_address rem_address ...": the local address is "<hex ip>:<hex port>".
    for (const line of (table ?? '').split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      if (local) bound.add(parseInt(local.slice(local.lastIndexOf(':') + 1), 16));
    }
  }
  return ports.every((port) => bound.has(port));
}

/** How long ffmpeg may take to bind its RTP sockets before media is let through anyway. */
const BIND_WAIT_MS = 15_000;

interface Leg {
  transport: ms.PlainTransport;
  consumer: ms.Consumer;
  port: number;
}

/** The SDP ffmpeg reads: one m-line per consumer, with the payload type and SSRC mediasoup sends. */
export function sdpFor(legs: Leg[]): string {
  const lines = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=veza', 'c=IN IP4 127.0.0.1', 't=0 0'];
  for (const { consumer, port } of legs) {
    const codec = consumer.rtpParameters.codecs[0]!;
    const name = codec.mimeType.split('/')[1]!;
    lines.push(`m=${consumer.kind} ${port} RTP/AVP ${codec.payloadType}`);
    lines.push(`a=rtpmap:${codec.payloadType} ${name}/${codec.clockRate}${codec.channels ? `/${codec.channels}` : ''}`);
    if (codec.parameters && Object.keys(codec.parameters).length > 0) {
      lines.push(`a=fmtp:${codec.payloadType} ${Object.entries(codec.parameters).map(([k, v]) => `${k}=${String(v)}`).join(';')}`);
    }
    lines.push('a=recvonly');
  }
  return `${lines.join('\r\n')}\r\n`;
}

export interface RecordingResult {
  status: 'finished' | 'failed';
  error: string | null;
  bytes: number;
  durationMs: number;
  /** Why a recording ended by itself without failing (the room went quiet). */
  note?: string;
}

export interface RecordingOptions {
  /** Output file; its extension picks the container (.webm/.mkv copies Opus and VP8 as they are). */
  file: string;
  /** Extra ffmpeg output arguments (HLS); default: copy the streams. */
  outputArgs?: string[];
  /** Called when a recorded producer pauses, resumes or closes (its stream stops or starts again). */
  onSourceChange?: (change: 'pause' | 'resume' | 'close', producerId: string) => void;
  /** Keep ffmpeg's stdin open for runtime filter commands (`Recording.command`). */
  interactive?: boolean;
  /** Check the finished file with ffprobe, and report an unreadable one as failed (recordings, not HLS). */
  validate?: boolean;
  /** Called once when ffmpeg exits on its own (crash, killed) before stop(). */
  onUnexpectedExit?: (result: RecordingResult) => void;
}

/**
 * Consumes producers of a room through PlainTransports (rtcpMux off, comedia off: the server
 * connects each transport to the port ffmpeg listens on) into ffmpeg reading an SDP file.
 * Consumers start paused and are resumed once ffmpeg is listening; video gets a keyframe request.
 */
export class Recording {
  private stopped = false;
  private stopping: Promise<RecordingResult> | null = null;
  private killTimer: NodeJS.Timeout | undefined;
  private killAt = Infinity;
  /** Set when stop() had to SIGKILL ffmpeg: how long it had been given to finish. */
  private killedAfterMs: number | null = null;
  private readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stderr = '';
  private readonly startedAt = Date.now();

  private constructor(
    readonly file: string,
    private readonly legs: Leg[],
    readonly ffmpeg: ChildProcess,
    private readonly options: RecordingOptions,
  ) {
    // Writes after ffmpeg exited fail with EPIPE; the exit is reported on its own.
    ffmpeg.stdin?.on('error', () => undefined);
    ffmpeg.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    this.exit = new Promise((resolve) => ffmpeg.once('exit', (code, signal) => resolve({ code, signal })));
    void this.exit.then(async () => {
      if (this.stopped) return;
      this.closeLegs();
      this.options.onUnexpectedExit?.(await this.result('ffmpeg exited before the recording was stopped'));
    });
  }

  static async start(room: LiveRoom, producers: ms.Producer[], options: RecordingOptions): Promise<Recording> {
    if (producers.length === 0) throw new Error('nothing to record: the room has no producers');
    await mkdir(path.dirname(options.file), { recursive: true });
    const legs: Leg[] = [];
    try {
      for (const producer of producers) {
        const transport = await room.createPlainTransport({ rtcpMux: false, comedia: false });
        const port = await freePortPair();
        await transport.connect({ ip: '127.0.0.1', port, rtcpPort: port + 1 });
        const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: room.router.rtpCapabilities, paused: true });
        legs.push({ transport, consumer, port });
        const changed = options.onSourceChange;
        if (changed) {
          consumer.on('producerpause', () => changed('pause', producer.id));
          consumer.on('producerresume', () => changed('resume', producer.id));
          consumer.on('producerclose', () => changed('close', producer.id));
        }
      }
      const sdpFile = `${options.file}.sdp`;
      await writeFile(sdpFile, sdpFor(legs));
      const ffmpeg = spawn(
        ffmpegCommand(),
        [
          '-hide_banner', '-loglevel', 'warning', ...(options.interactive ? [] : ['-nostdin']),
          '-protocol_whitelist', 'file,udp,rtp', '-analyzeduration', '2000000', '-fflags', '+genpts',
          '-i', sdpFile,
          ...(options.outputArgs ?? ['-map', '0', '-c', 'copy', '-y', options.file]),
        ],
        { stdio: [options.interactive ? 'pipe' : 'ignore', 'ignore', 'pipe'] },
      );
      const recording = new Recording(options.file, legs, ffmpeg, options);
      // ffmpeg binds its sockets once it has started and read the SDP: media let through before that
      // is lost, the keyframe asked for with it too, and a camera sends the next one only when asked
      // again. So the consumers resume once ffmpeg's ports are bound (a slow start on a busy machine
      // takes seconds), and no sooner than half a second after the start: resuming at the moment
      // the ports appear, while ffmpeg still sets up its input, was seen to fail now and then.
      await Promise.all([recording.waitForSockets(legs.flatMap((leg) => [leg.port, leg.port + 1])), new Promise((resolve) => setTimeout(resolve, 500))]);
      for (const leg of legs) {
        await leg.consumer.resume();
        if (leg.consumer.kind === 'video') await leg.consumer.requestKeyFrame();
      }
      return recording;
    } catch (error) {
      for (const leg of legs) leg.transport.close();
      throw error;
    }
  }

  /** Resolves once ffmpeg has bound `ports`, has exited, or BIND_WAIT_MS have passed; at once where the socket tables cannot be read. */
  private async waitForSockets(ports: number[]): Promise<void> {
    const until = Date.now() + BIND_WAIT_MS;
    while (this.running && Date.now() < until) {
      const bound = await udpPortsBound(ports);
      if (bound === null || bound) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  get running(): boolean {
    return !this.stopped && this.ffmpeg.exitCode === null && this.ffmpeg.signalCode === null;
  }

  /**
   * Sends a command to a named filter of the running ffmpeg through its interactive stdin (`c`,
   * then `<target> -1 <command> <argument>`: applied at once), e.g. `streamselect@cams map 2`.
   */
  command(target: string, command: string, argument: string): boolean {
    const stdin = this.ffmpeg.stdin;
    if (!this.running || !stdin || stdin.destroyed) return false;
    stdin.write(`c${target} -1 ${command} ${argument}\n`);
    return true;
  }

  /** Asks a keyframe again (a segmenter starting a new rendition). */
  async requestKeyFrames(): Promise<void> {
    for (const leg of this.legs) if (leg.consumer.kind === 'video' && !leg.consumer.closed) await leg.consumer.requestKeyFrame();
  }

  /**
   * Stops ffmpeg and reports what was written. SIGINT makes ffmpeg finish the file at its next
   * packet; when no media flows any more (the producers left), it only notices once its RTP input
   * times out, 10 s after the last packet, and then finishes the file too. A second SIGINT would
   * not help: it also aborts writing the trailer. SIGKILL is the last resort, past that, or
   * after `killAfterMs` (shutdown cannot wait for the input to time out).
   */
  stop(options: { killAfterMs?: number } = {}): Promise<RecordingResult> {
    const killAfterMs = options.killAfterMs ?? INPUT_TIMEOUT_MS + 3000;
    // A stop already under way gets the earlier of its deadline and this one (shutdown hurries it).
    if (this.stopping) this.killAfter(killAfterMs);
    this.stopping ??= this.finish(killAfterMs);
    return this.stopping;
  }

  private async finish(killAfterMs: number): Promise<RecordingResult> {
    const wasRunning = this.running;
    this.stopped = true;
    if (wasRunning) {
      this.ffmpeg.kill('SIGINT');
      this.killAfter(killAfterMs);
      await this.exit;
      clearTimeout(this.killTimer);
    }
    this.closeLegs();
    return this.result(wasRunning ? null : 'ffmpeg exited before the recording was stopped');
  }

  /** SIGKILL in `ms` unless ffmpeg has exited by then, or an earlier kill is already due. */
  private killAfter(ms: number): void {
    const at = Date.now() + Math.max(0, ms);
    if (this.killAt <= at || this.ffmpeg.exitCode !== null || this.ffmpeg.signalCode !== null) return;
    clearTimeout(this.killTimer);
    this.killAt = at;
    this.killTimer = setTimeout(() => {
      this.killedAfterMs = ms;
      this.ffmpeg.kill('SIGKILL');
    }, Math.max(0, ms));
  }

  private closeLegs(): void {
    for (const leg of this.legs) leg.transport.close();
  }

  private async result(early: string | null): Promise<RecordingResult> {
    const { code, signal } = await this.exit;
    const durationMs = Date.now() - this.startedAt;
    const bytes = await stat(this.file).then((s) => s.size, () => 0);
    const tail = this.stderr.trim().split('\n').slice(-3).join(' | ');
    // ffmpeg exits 255 on SIGINT after finishing the file cleanly.
    const finishedFile = code === 0 || code === 255 || signal === 'SIGINT';
    // Nobody sent media for INPUT_TIMEOUT_MS: ffmpeg ended the file itself, which is an end, not a failure.
    const wentQuiet = early !== null && finishedFile && /Connection timed out/.test(this.stderr) && bytes > 0;
    const clean = (early === null || wentQuiet) && finishedFile;
    let error: string | null = null;
    if (this.killedAfterMs !== null) error = `ffmpeg did not finish within ${this.killedAfterMs} ms of being stopped and was killed; the file holds what it had written${tail ? `: ${tail}` : ''}`;
    else if (!clean) error = `${early ?? 'ffmpeg failed'} (code ${String(code)}, signal ${String(signal)})${tail ? `: ${tail}` : ''}`;
    else if (bytes === 0) error = `no media was written (no packets reached ffmpeg)${tail ? `: ${tail}` : ''}`;
    else if (this.options.validate) error = await unreadable(this.file);
    return { status: error ? 'failed' : 'finished', error, bytes, durationMs, ...(wentQuiet ? { note: `the room sent no media for ${INPUT_TIMEOUT_MS / 1000} s, so the recording ended` } : {}) };
  }
}
