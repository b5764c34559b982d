// Media capacity: how many plain-RTP viewers one mediasoup worker (one core) feeds from one
// publisher before it saturates or loses packets, and its CPU per forwarded packet; beside it, in
// the same run, Janus 1.1.2 forwarding the same packets with VideoRoom `rtp_forward`.
// Usage: node --import tsx bench/media-capacity.ts [--viewers 25,50,...] [--servers mediasoup,janus] ...
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { types as ms } from 'mediasoup';
import { createLogger } from '../src/log.js';
import { MediaPlane } from '../src/media/plane.js';
import { locateMediaWorker } from '../src/media/worker-binary.js';
import { cpuSeconds, gitDescribe, machineBusySeconds, sleep } from './lib/servers.js';
import { REMOTE_SSRC, janusInstalled, startJanus } from './media-capacity-janus.js';
import type { SinkReply, SinkRequest, SinkSnapshot } from './media-capacity-sink.js';

const USAGE = `bench/media-capacity.ts: viewers per SFU core, CPU per forwarded packet, loss

  --servers LIST   mediasoup,janus (default: both; janus only if installed)
  --viewers LIST   viewers per step, each a video and an audio stream (25,50,100,200,400,500,...,1600)
  --kbps N         video bitrate of the publisher, kbit/s (1000); Opus is 64 kbit/s
  --seconds S      measured seconds per step (10)     --warmup S   seconds before measuring (3)
  --sinks N        UDP sink sockets, in one child process (8)
  --max-cpu P      a step above P % of one core is not counted as capacity (85)
  --no-nack        mediasoup consumers without NACK (no retransmission buffer), to see what it costs
`;

interface Options {
  servers: ('mediasoup' | 'janus')[];
  viewers: number[];
  kbps: number;
  seconds: number;
  warmupSeconds: number;
  sinks: number;
  maxCpu: number;
  nack: boolean;
}

/** One step: `viewers` receivers of the publisher's audio and video during the measured window. */
interface StepResult {
  viewers: number;
  streams: number;
  seconds: number;
  /** RTP packets and bytes the sinks received per second. */
  packetsPerSecond: number;
  mbitPerSecond: number;
  /** Packets the publisher's RTP reached the server with per second (mediasoup: its producers' counts). */
  ingestPerSecond?: number;
  /** Packets missing from the sequence numbers the sinks saw in the window, less those the sinks' own sockets dropped: the server's loss. */
  lost: number;
  lossFraction: number;
  /** % of one core: the SFU process (user+system), its system share, the sink process, this process, ffmpeg, the rest of the machine. */
  sfuCpu: number;
  sfuSystemCpu: number;
  sinkCpu: number;
  benchCpu: number;
  sourceCpu: number;
  otherCpu: number;
  /** % of one core the server's threads spent runnable but waiting for a CPU (taken by the sinks, ffmpeg or others). */
  sfuWaitCpu: number;
  cpuUsPerPacket: number;
  /** Packets per viewer per second against the first step's: under PACE_MIN the server fell behind its publisher. */
  pace: number;
  /** Datagrams the kernel dropped in the window for full receive buffers: at the server's ingest socket(s), at the sinks. */
  ingestDrops: number;
  sinkDrops: number;
  /** mediasoup only, over the step's whole life: packets its consumers say they sent, and how many of those no sink got. */
  sentBySfu?: number;
  notReceived?: number;
}

interface ServerReport {
  server: 'mediasoup' | 'janus';
  version: string;
  skipped?: string;
  steps: StepResult[];
  stoppedBecause?: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      servers: { type: 'string' },
      viewers: { type: 'string' },
      kbps: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      sinks: { type: 'string' },
      'max-cpu': { type: 'string' },
      'no-nack': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const num = (raw: string | undefined, fallback: number, min: number, name: string) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!(Number.isFinite(n) && n >= min)) throw new Error(`--${name} must be a number ≥ ${min}`);
    return n;
  };
  const servers = (values.servers ?? 'mediasoup,janus').split(',').map((s) => s.trim());
  for (const s of servers) if (s !== 'mediasoup' && s !== 'janus') throw new Error(`unknown server ${s}; choose from mediasoup, janus`);
  const viewers = (values.viewers ?? '25,50,100,200,400,500,600,700,800,1000,1200,1400,1600').split(',').map(Number);
  if (!viewers.every((v, i) => Number.isInteger(v) && v > 0 && (i === 0 || v > viewers[i - 1]!))) throw new Error('--viewers must be increasing positive integers');
  return {
    servers: servers as Options['servers'],
    viewers,
    kbps: num(values.kbps, 1000, 50, 'kbps'),
    seconds: num(values.seconds, 10, 1, 'seconds'),
    warmupSeconds: num(values.warmup, 3, 0, 'warmup'),
    sinks: Math.floor(num(values.sinks, 8, 1, 'sinks')),
    maxCpu: num(values['max-cpu'], 85, 1, 'max-cpu'),
    nack: !values['no-nack'],
  };
}

// ---------------------------------------------------------------------------------------------
// The publisher: a clip encoded once, then replayed in real time by ffmpeg with `-c copy`, so the
// source costs little CPU and both servers get the same packets.

const PAYLOAD_TYPE = { audio: 111, video: 96 } as const;
/** A keyframe every 2 s: a new video consumer waits for one before it forwards anything. */
const KEYFRAME_SECONDS = 2;

function encodeClip(kbps: number): string {
  const file = path.join(tmpdir(), `veza-media-capacity-${kbps}k.webm`);
  if (existsSync(file)) return file;
  // Noise over the test pattern keeps VP8 at its target bitrate instead of far below it.
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '20', '-vf', 'noise=alls=12:allf=t',
    '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', `${kbps}k`, '-minrate', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps}k`,
    '-g', String(30 * KEYFRAME_SECONDS), '-keyint_min', String(30 * KEYFRAME_SECONDS), '-pix_fmt', 'yuv420p',
    '-c:a', 'libopus', '-b:a', '64k', '-ac', '2',
    `${file}.tmp.webm`,
  ]); // prettier-ignore
  renameSync(`${file}.tmp.webm`, file);
  return file;
}

interface RtpTarget {
  port: number;
  rtcpPort: number;
}

/** ffmpeg replaying the clip forever: audio and video as RTP with the SSRCs Janus expects. */
function startSource(clip: string, audio: RtpTarget, video: RtpTarget): ChildProcess {
  const output = (kind: 'audio' | 'video', to: RtpTarget) => [
    '-map', `0:${kind === 'audio' ? 'a' : 'v'}:0`, '-c', 'copy',
    '-payload_type', String(PAYLOAD_TYPE[kind]), '-ssrc', String(REMOTE_SSRC[kind]),
    '-f', 'rtp', `rtp://127.0.0.1:${to.port}?rtcpport=${to.rtcpPort}&pkt_size=1200`,
  ]; // prettier-ignore
  const ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', clip, ...output('audio', audio), ...output('video', video)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  ffmpeg.stderr!.resume();
  return ffmpeg;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

// ---------------------------------------------------------------------------------------------
// The sinks: UDP sockets in a child process (see media-capacity-sink.ts).

class Sinks {
  private readonly waiting: ((reply: SinkReply) => void)[] = [];

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: SinkReply) => this.waiting.shift()?.(reply));
  }

  static async start(count: number): Promise<{ sinks: Sinks; ports: number[] }> {
    const child = fork(fileURLToPath(new URL('./media-capacity-sink.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const sinks = new Sinks(child);
    const reply = await sinks.ask({ type: 'open', count });
    if (reply.type !== 'ports') throw new Error('sink process answered out of turn');
    return { sinks, ports: reply.ports };
  }

  get pid(): number {
    return this.child.pid!;
  }

  async snapshot(): Promise<SinkSnapshot> {
    const reply = await this.ask({ type: 'snapshot' });
    if (reply.type !== 'snapshot') throw new Error('sink process answered out of turn');
    return reply;
  }

  stop(): Promise<void> {
    return stopProcess(this.child);
  }

  private ask(request: SinkRequest): Promise<SinkReply> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.send(request);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring one window.

/**
 * Datagrams the kernel dropped because a socket's receive buffer was full, summed over the sockets
 * bound to `ports` (/proc/net/udp and udp6, last column). Tells a server too slow to read its input
 * from sinks too slow to read theirs.
 */
function socketDrops(ports: ReadonlySet<number>): number {
  let drops = 0;
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (!local || !ports.has(parseInt(local.slice(local.lastIndexOf(':') + 1), 16))) continue;
      drops += Number(fields.at(-1));
    }
  }
  return drops;
}

interface Sample {
  at: number;
  machine: number;
  sfu: { user: number; system: number };
  sfuWait: number;
  sink: number;
  source: number;
  bench: number;
  ingested?: number;
  ingestDrops: number;
  sinkDrops: number;
  delivered: SinkSnapshot;
}

interface Processes {
  sfu: number;
  sinks: Sinks;
  source: number;
  ingestPorts: ReadonlySet<number>;
  sinkPorts: ReadonlySet<number>;
}

/** Seconds the process's threads spent runnable but not running (/proc/<pid>/task/<tid>/schedstat, field 2, ns). */
function runQueueSeconds(pid: number): number {
  let waited = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      waited += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return waited;
}

async function sample(processes: Processes, sfu: Sfu): Promise<Sample> {
  const ingested = await sfu.ingestedPackets?.();
  const sinkSnapshot = await processes.sinks.snapshot();
  const sink = cpuSeconds(processes.sinks.pid);
  const source = cpuSeconds(processes.source);
  const own = process.cpuUsage();
  return {
    at: performance.now(),
    machine: machineBusySeconds(),
    sfu: cpuSeconds(processes.sfu),
    sfuWait: runQueueSeconds(processes.sfu),
    sink: sink.user + sink.system,
    source: source.user + source.system,
    bench: (own.user + own.system) / 1e6,
    ...(ingested === undefined ? {} : { ingested }),
    ingestDrops: socketDrops(processes.ingestPorts),
    sinkDrops: socketDrops(processes.sinkPorts),
    delivered: sinkSnapshot,
  };
}

/** Packets received, and packets the sequence numbers say should have been, between two snapshots. */
function delivery(a: SinkSnapshot, b: SinkSnapshot): { received: number; expected: number } {
  const before = new Map(a.streams.map(([ssrc, received, , highest]) => [ssrc, { received, highest }]));
  let received = 0;
  let expected = 0;
  for (const [ssrc, got, first, highest] of b.streams) {
    const start = before.get(ssrc) ?? { received: 0, highest: first - 1 };
    received += got - start.received;
    expected += highest - start.highest;
  }
  return { received, expected };
}

function measure(viewers: number, a: Sample, b: Sample): StepResult {
  const seconds = (b.at - a.at) / 1000;
  const percent = (core: number) => (100 * core) / seconds;
  const sfuUser = b.sfu.user - a.sfu.user;
  const sfuSystem = b.sfu.system - a.sfu.system;
  const sfu = sfuUser + sfuSystem;
  const sink = b.sink - a.sink;
  const source = b.source - a.source;
  const bench = b.bench - a.bench;
  const { received, expected } = delivery(a.delivered, b.delivered);
  const sinkDrops = b.sinkDrops - a.sinkDrops;
  const lost = Math.max(0, expected - received - sinkDrops);
  return {
    viewers,
    streams: 2 * viewers,
    seconds,
    packetsPerSecond: received / seconds,
    ...(a.ingested === undefined || b.ingested === undefined ? {} : { ingestPerSecond: (b.ingested - a.ingested) / seconds }),
    mbitPerSecond: (8 * (b.delivered.rtpBytes - a.delivered.rtpBytes)) / seconds / 1e6,
    lost,
    lossFraction: expected > 0 ? lost / expected : 0,
    sfuCpu: percent(sfu),
    sfuSystemCpu: percent(sfuSystem),
    sfuWaitCpu: percent(b.sfuWait - a.sfuWait),
    pace: Number.NaN,
    sinkCpu: percent(sink),
    benchCpu: percent(bench),
    sourceCpu: percent(source),
    otherCpu: Math.max(0, percent(b.machine - a.machine - sfu - sink - source - bench)),
    // What the sinks' sockets dropped, the server did send.
    cpuUsPerPacket: received > 0 ? (1e6 * sfu) / (received + sinkDrops) : Number.NaN,
    ingestDrops: b.ingestDrops - a.ingestDrops,
    sinkDrops,
  };
}

// ---------------------------------------------------------------------------------------------
// The servers under test.

interface Sfu {
  pid: number;
  version: string;
  /** Local ports of the sockets the publisher's RTP arrives on. */
  ingestPorts: number[];
  /** RTP packets the server says it received from the publisher so far; mediasoup only. */
  ingestedPackets?(): Promise<number>;
  /** Adds viewers `from`..`to - 1`, viewer i sending to `ports[i % ports.length]`. */
  addViewers(from: number, to: number, ports: number[]): Promise<void>;
  /** What the server says it sent and lost, measured with the source paused; mediasoup only. */
  account?(sinks: Sinks): Promise<{ sentBySfu: number; notReceived: number }>;
  stop(): Promise<void>;
}

async function startMediasoup(clip: string, nack: boolean): Promise<{ sfu: Sfu; source: ChildProcess }> {
  const worker = locateMediaWorker();
  if (!worker.available) throw new Error(`${worker.reason} (${worker.fix})`);
  const plane = await MediaPlane.start({
    settings: { workers: 1, listenIp: '127.0.0.1', announcedAddress: undefined, rtcMinPort: 40000, rtcMaxPort: 49999, routerMaxConsumers: 100_000 },
    logger: createLogger({ logLevel: 'silent' }),
    workerBin: worker.path,
  });
  const room = await plane.room({ tenantId: 'bench', roomId: 'media-capacity', kind: 'live' });
  // As test/helpers/rtp-source.ts: comedia ingest, rtcpMux off (ffmpeg sends RTCP from a second socket).
  const ingest = async (kind: ms.MediaKind) => {
    const codec = kind === 'audio' ? { mimeType: 'audio/opus', payloadType: PAYLOAD_TYPE.audio, clockRate: 48000, channels: 2 } : { mimeType: 'video/VP8', payloadType: PAYLOAD_TYPE.video, clockRate: 90000 };
    const { transport, producer } = await room.ingest({
      userId: 'bench',
      role: 'owner',
      kind,
      rtpParameters: { codecs: [codec], encodings: [{ ssrc: REMOTE_SSRC[kind] }] },
      appData: { source: kind === 'video' ? 'camera' : 'bench' },
    });
    return { producer, target: { port: transport.tuple.localPort, rtcpPort: transport.rtcpTuple!.localPort } };
  };
  const audio = await ingest('audio');
  const video = await ingest('video');
  const producers = [audio.producer, video.producer];
  const source = startSource(clip, audio.target, video.target);
  const consumers: ms.Consumer[] = [];
  // Without `nack` in the viewer's capabilities a consumer keeps no retransmission buffer.
  const capabilities: ms.RtpCapabilities = nack
    ? room.router.rtpCapabilities
    : { ...room.router.rtpCapabilities, codecs: room.router.rtpCapabilities.codecs!.map((codec) => ({ ...codec, rtcpFeedback: codec.rtcpFeedback?.filter((fb) => fb.type !== 'nack') ?? [] })) };

  const sfu: Sfu = {
    pid: plane.workers[0]!.pid,
    version: `mediasoup ${worker.version}${nack ? '' : ', consumers without NACK'}`,
    ingestPorts: [audio.target.port, video.target.port],
    async ingestedPackets() {
      let packets = 0;
      for (const producer of producers) for (const stat of await producer.getStats()) packets += stat.packetCount;
      return packets;
    },
    async addViewers(from, to, ports) {
      for (let i = from; i < to; i++) {
        const transport = await room.createPlainTransport({ rtcpMux: true, comedia: false });
        await transport.connect({ ip: '127.0.0.1', port: ports[i % ports.length]! });
        for (const producer of producers) consumers.push(await transport.consume({ producerId: producer.id, rtpCapabilities: capabilities }));
      }
    },
    async account(sinks) {
      // With the producers paused nothing is in flight, so every consumer's count can be matched
      // exactly against its sink's. Resuming makes video consumers wait for the next keyframe.
      for (const producer of producers) await producer.pause();
      await sleep(300);
      const sent = new Map<number, number>();
      for (let i = 0; i < consumers.length; i += 200) {
        const stats = await Promise.all(consumers.slice(i, i + 200).map((consumer) => consumer.getStats()));
        for (const [own] of stats) if (own?.type === 'outbound-rtp') sent.set(own.ssrc, own.packetCount);
      }
      const received = new Map((await sinks.snapshot()).streams.map(([ssrc, got]) => [ssrc, got]));
      let sentBySfu = 0;
      let notReceived = 0;
      for (const [ssrc, count] of sent) {
        sentBySfu += count;
        notReceived += Math.max(0, count - (received.get(ssrc) ?? 0));
      }
      for (const producer of producers) await producer.resume();
      return { sentBySfu, notReceived };
    },
    async stop() {
      await stopProcess(source);
      await plane.close();
    },
  };
  return { sfu, source };
}

async function startJanusSfu(clip: string): Promise<{ sfu: Sfu; source: ChildProcess }> {
  const janus = await startJanus();
  const source = startSource(clip, janus.ingest, janus.ingest);
  const sfu: Sfu = {
    pid: janus.pid,
    version: 'Janus 1.1.2 (Debian), VideoRoom remote publisher + rtp_forward',
    ingestPorts: [janus.ingest.port],
    async addViewers(from, to, ports) {
      // SSRCs apart from mediasoup's (random 32-bit) and from the publisher's 1000/1010.
      for (let i = from; i < to; i++) await janus.forward(ports[i % ports.length]!, 100_000 + 2 * i);
    },
    async stop() {
      await stopProcess(source);
      await janus.stop();
    },
  };
  return { sfu, source };
}

// ---------------------------------------------------------------------------------------------
// Running and reporting.

/**
 * A server that cannot keep up slows its publisher down instead of dropping: on loopback a datagram
 * stays charged to the sender's buffer until it is read, so ffmpeg blocks. Delivering under this
 * share of the first step's packets per viewer counts as falling behind (the clip's rate varies ±2 %).
 */
const PACE_MIN = 0.97;
/** Above this share of a core the sink process may be what loses packets, not the server. */
const BUSY = 85;
/** Above this share of a core used by other processes, a step's figures are suspect. */
const OTHER_BUSY = 15;

const fmt = (n: number | undefined, digits = 1) => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));

const tableHeader = [
  'viewers'.padStart(8), 'streams'.padStart(8), 'in pkt/s'.padStart(9), 'pkt/s'.padStart(8), 'Mbit/s'.padStart(7), 'lost'.padStart(7), 'sfu %'.padStart(6), '(sys)'.padStart(6),
  'wait'.padStart(5), 'µs/pkt'.padStart(7), 'pace'.padStart(5), 'sink %'.padStart(7), 'src %'.padStart(6), 'bench %'.padStart(8), 'other %'.padStart(8), 'in.drop'.padStart(8), 'sink.drop'.padStart(10), '  sent by sfu / not received',
].join(''); // prettier-ignore

function stepLine(s: StepResult): string {
  const accounting = s.sentBySfu === undefined ? '  –' : `  ${s.sentBySfu} / ${s.notReceived}`;
  const notes = [s.sinkCpu > BUSY || s.sinkDrops > 0 ? 'sinks overrun' : '', s.otherCpu > OTHER_BUSY ? 'noisy machine' : ''].filter(Boolean);
  return [
    String(s.viewers).padStart(8), String(s.streams).padStart(8), fmt(s.ingestPerSecond, 1).padStart(9), fmt(s.packetsPerSecond, 0).padStart(8), fmt(s.mbitPerSecond, 1).padStart(7), String(s.lost).padStart(7),
    fmt(s.sfuCpu, 0).padStart(6), fmt(s.sfuSystemCpu, 0).padStart(6), fmt(s.sfuWaitCpu, 0).padStart(5), fmt(s.cpuUsPerPacket, 2).padStart(7), fmt(100 * s.pace, 0).padStart(5), fmt(s.sinkCpu, 0).padStart(7), fmt(s.sourceCpu, 0).padStart(6),
    fmt(s.benchCpu, 0).padStart(8), fmt(s.otherCpu, 0).padStart(8), String(s.ingestDrops).padStart(8), String(s.sinkDrops).padStart(10), accounting,
    notes.length ? `  (${notes.join(', ')})` : '',
  ].join(''); // prettier-ignore
}

/** Warm-up (new video consumers wait for a keyframe), then the measured window, then the accounting. */
async function runStep(viewers: number, sfu: Sfu, processes: Processes, options: Options): Promise<StepResult> {
  await sleep(options.warmupSeconds * 1000);
  const before = await sample(processes, sfu);
  await sleep(options.seconds * 1000);
  const step = measure(viewers, before, await sample(processes, sfu));
  if (sfu.account) Object.assign(step, await sfu.account(processes.sinks));
  return step;
}

async function benchServer(name: ServerReport['server'], clip: string, options: Options): Promise<ServerReport> {
  const log = (line: string) => process.stdout.write(`[${name}] ${line}\n`);
  const report: ServerReport = { server: name, version: '', steps: [] };
  const { sinks, ports } = await Sinks.start(options.sinks);
  let started: { sfu: Sfu; source: ChildProcess };
  try {
    started = name === 'mediasoup' ? await startMediasoup(clip, options.nack) : await startJanusSfu(clip);
  } catch (error) {
    await sinks.stop();
    report.skipped = `failed to start: ${(error as Error).message}`;
    log(`skipped, ${report.skipped}`);
    return report;
  }
  const { sfu, source } = started;
  report.version = sfu.version;
  const processes: Processes = { sfu: sfu.pid, sinks, source: source.pid!, ingestPorts: new Set(sfu.ingestPorts), sinkPorts: new Set(ports) };
  try {
    log(`${sfu.version}, pid ${sfu.pid}; sinks pid ${sinks.pid} (${ports.length} sockets)`);
    log(tableHeader);
    let viewers = 0;
    for (const target of options.viewers) {
      const adding = performance.now();
      await sfu.addViewers(viewers, target, ports);
      viewers = target;
      log(`${target} viewers up (${fmt((performance.now() - adding) / 1000, 1)} s to add); warming up ${options.warmupSeconds} s, measuring ${options.seconds} s`);
      const reference = report.steps[0];
      const run = async () => {
        const step = await runStep(target, sfu, processes, options);
        step.pace = reference ? step.packetsPerSecond / step.viewers / (reference.packetsPerSecond / reference.viewers) : 1;
        return step;
      };
      let step = await run();
      // Other processes share this machine: a step that failed while they were busy runs again.
      if ((step.lost > 0 || step.sinkDrops > 0 || step.pace < PACE_MIN) && step.otherCpu > OTHER_BUSY) {
        log(`${stepLine(step)}  (repeating: other processes used ${fmt(step.otherCpu, 0)} % of a core)`);
        step = await run();
      }
      report.steps.push(step);
      log(stepLine(step));
      if (source.exitCode !== null) {
        report.stoppedBecause = `ffmpeg exited (${source.exitCode})`;
        break;
      }
      const why = step.lost > 0 ? 'loss' : step.pace < PACE_MIN ? `fell behind the publisher (pace ${fmt(100 * step.pace, 0)} %)` : step.sfuCpu >= 95 ? `server at ${fmt(step.sfuCpu, 0)} % of a core` : null;
      if (why) {
        report.stoppedBecause = `${why} at ${target} viewers`;
        break;
      }
      if (step.sinkDrops > 0.01 * step.packetsPerSecond * step.seconds) {
        report.stoppedBecause = `the sinks dropped ${step.sinkDrops} packets at ${target} viewers: beyond what this bench can receive on this machine`;
        break;
      }
    }
    if (report.stoppedBecause) log(`stopped: ${report.stoppedBecause}`);
    return report;
  } finally {
    await sfu.stop();
    await sinks.stop();
  }
}

/** The largest step without loss and under `maxCpu`, and the CPU per packet extrapolated to `maxCpu`. */
function capacity(report: ServerReport, maxCpu: number): { step?: StepResult; extrapolated?: number } {
  const fit = report.steps.filter((s) => s.lost === 0 && s.pace >= PACE_MIN && s.sfuCpu < maxCpu);
  const step = fit.at(-1);
  if (!step) return {};
  // CPU per viewer from the largest fitting step (fixed costs matter least there).
  const cpuPerViewer = step.sfuCpu / step.viewers;
  return { step, extrapolated: Math.floor(maxCpu / cpuPerViewer) };
}

function printReport(reports: ServerReport[], options: Options): void {
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out();
  out(`=== one publisher (VP8 ${options.kbps} kbit/s + Opus 64 kbit/s) → N plain-RTP viewers, ${options.seconds} s per step ===`);
  out('in pkt/s = RTP the server got from ffmpeg (mediasoup\'s producer counts, read late when the worker is saturated); pkt/s = RTP the sinks got; lost = gaps in the sinks\'');
  out('sequence numbers less what the sinks\' own sockets dropped (sink.drop, a limit of this bench, not of the server);');
  out(`pace = packets per viewer against the first step (under ${100 * PACE_MIN} %: the server fell behind); wait = % of a core the`);
  out('server was runnable but had no CPU;');
  out('sfu/sink/src/bench/other % = share of one core used by the server, the UDP sinks, ffmpeg, this process and everything else;');
  out('µs/pkt = server CPU per packet the sinks received; in.drop / sink.drop = datagrams the kernel dropped for a full receive');
  out('buffer at the server\'s ingest socket(s) / at the sinks; sent by sfu / not received: the consumers\' own packet counts, whole step');
  for (const r of reports) {
    out();
    out(`${r.server}${r.version ? ` (${r.version})` : ''}`);
    if (r.skipped) {
      out(`  skipped: ${r.skipped}`);
      continue;
    }
    out(`  ${tableHeader}`);
    for (const s of r.steps) out(`  ${stepLine(s)}`);
    const { step, extrapolated } = capacity(r, options.maxCpu);
    out(
      step
        ? `  → ${step.viewers} viewers (${step.streams} streams) without loss under ${options.maxCpu} % of a core, ${fmt(step.cpuUsPerPacket, 2)} µs per forwarded packet; ` +
            `linear extrapolation to ${options.maxCpu} %: ~${extrapolated} viewers`
        : `  → no step was without loss under ${options.maxCpu} % of a core`,
    );
    if (r.stoppedBecause) out(`  stopped: ${r.stoppedBecause}`);
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = new Date();
  const servers = options.servers.filter((s) => s !== 'janus' || janusInstalled() || (process.stdout.write('janus is not installed (apt-get install -y janus): skipped\n'), false));
  process.stdout.write(`media capacity bench: ${servers.join(', ')}; viewers ${options.viewers.join(', ')}; VP8 ${options.kbps} kbit/s + Opus; ${options.warmupSeconds} s warm-up + ${options.seconds} s per step\n`);
  process.stdout.write('encoding the publisher clip (once per bitrate, cached in the temp folder)...\n');
  const clip = encodeClip(options.kbps);
  const reports: ServerReport[] = [];
  for (const name of servers) reports.push(await benchServer(name, clip, options));
  printReport(reports, options);

  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}media-capacity-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`;
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, totalMemoryBytes: totalmem(), node: process.version, commit: gitDescribe() };
  writeFileSync(file, `${JSON.stringify({ startedAt, argv: process.argv.slice(2), options, machine, reports }, null, 2)}\n`);
  process.stdout.write(`\nresults: ${path.relative(process.cwd(), file)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
