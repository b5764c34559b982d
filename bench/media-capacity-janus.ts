// Janus 1.1.2 (Debian's package) as the anchor of bench/media-capacity.ts: its VideoRoom plugin takes
// the same ffmpeg RTP as a "remote publisher" (plain RTP in, no WebRTC) and copies it to each
// viewer's UDP sink with `rtp_forward`, the closest analogue of a mediasoup plain consumer.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, sleep } from './lib/servers.js';

const LIBRARY_DIR = '/usr/lib/x86_64-linux-gnu/janus';

/**
 * A remote publisher's streams are told apart by SSRC: 1000 + 10 × mindex (+ simulcast layer), the
 * numbering Janus's own `publish_remotely` uses. The bench's ffmpeg sends with these SSRCs to
 * mediasoup too, so both servers get the very same packets.
 */
export const REMOTE_SSRC = { audio: 1000, video: 1010 } as const;

export interface JanusServer {
  pid: number;
  /** Where the publisher's RTP goes (one port for both streams; RTCP port only for latching). */
  ingest: { port: number; rtcpPort: number };
  /** Forwards both streams to `port`, SSRCs `ssrcBase` (audio) and `ssrcBase + 1` (video). */
  forward(port: number, ssrcBase: number): Promise<void>;
  outputTail(): string;
  stop(): Promise<void>;
}

export function janusInstalled(): boolean {
  // `janus --version` prints its version and then fails on the unknown option; `--help` exits 0.
  return spawnSync('janus', ['--help'], { stdio: 'ignore' }).status === 0;
}

interface JanusReply {
  janus: string;
  data?: { id: number };
  error?: { code: number; reason: string };
  plugindata?: { data: Record<string, unknown> };
}

/** One Janus process on a fresh configuration: VideoRoom and the HTTP transport only. */
export async function startJanus(): Promise<JanusServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'veza-janus-'));
  const httpPort = await freePort();
  const plugins = ['audiobridge', 'duktape', 'echotest', 'lua', 'nosip', 'recordplay', 'sip', 'streaming', 'textroom', 'videocall', 'voicemail'];
  const transports = ['mqtt', 'nanomsg', 'pfunix', 'rabbitmq', 'websockets'];
  writeFileSync(
    path.join(dir, 'janus.jcfg'),
    `general: {
  configs_folder = "${dir}"
  plugins_folder = "${LIBRARY_DIR}/plugins"
  transports_folder = "${LIBRARY_DIR}/transports"
  events_folder = "${LIBRARY_DIR}/events"
  loggers_folder = "${LIBRARY_DIR}/loggers"
  debug_level = 3
  session_timeout = 0
}
media: { rtp_port_range = "30000-39999" }
plugins: { disable = "${plugins.map((p) => `libjanus_${p}.so`).join(',')}" }
transports: { disable = "${transports.map((t) => `libjanus_${t}.so`).join(',')}" }
events: { broadcast = false }
`,
  );
  writeFileSync(path.join(dir, 'janus.plugin.videoroom.jcfg'), 'general: {\n}\n');
  writeFileSync(path.join(dir, 'janus.transport.http.jcfg'), `general: {\n  base_path = "/janus"\n  http = true\n  port = ${httpPort}\n  ip = "127.0.0.1"\n  https = false\n}\nadmin: {\n  admin_http = false\n}\n`);

  const child: ChildProcess = spawn('janus', ['-F', dir, '-C', path.join(dir, 'janus.jcfg'), '-o'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const base = `http://127.0.0.1:${httpPort}/janus`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  let transaction = 0;
  const call = async (url: string, body: Record<string, unknown>): Promise<JanusReply> => {
    const response = await fetch(url, { method: 'POST', body: JSON.stringify({ ...body, transaction: `t${++transaction}` }) });
    const reply = (await response.json()) as JanusReply;
    if (reply.janus === 'error') throw new Error(`janus: ${reply.error?.reason ?? 'error'}`);
    return reply;
  };
  try {
    let session: number | undefined;
    for (let attempt = 0; session === undefined; attempt++) {
      if (child.exitCode !== null) throw new Error(`janus exited with ${child.exitCode}: ${output.slice(-500)}`);
      try {
        session = (await call(base, { janus: 'create' })).data!.id;
      } catch (error) {
        if (attempt > 100) throw error;
        await sleep(100);
      }
    }
    const handle = (await call(`${base}/${session}`, { janus: 'attach', plugin: 'janus.plugin.videoroom' })).data!.id;
    const videoroom = async (body: Record<string, unknown>) => {
      const data = (await call(`${base}/${session}/${handle}`, { janus: 'message', body })).plugindata?.data ?? {};
      if (data.videoroom === 'event' && data.error) throw new Error(`videoroom ${String(body.request)}: ${String(data.error)}`);
      return data;
    };
    const room = 1234;
    await videoroom({ request: 'create', room, publishers: 1, audiocodec: 'opus', videocodec: 'vp8', bitrate: 0, fir_freq: 0 });
    const remote = await videoroom({
      request: 'add_remote_publisher',
      room,
      iface: '127.0.0.1',
      display: 'bench',
      streams: [
        { type: 'audio', mindex: 0, mid: '0', codec: 'opus', stereo: true },
        { type: 'video', mindex: 1, mid: '1', codec: 'vp8' },
      ],
    });
    const publisherId = remote.id as number;
    return {
      pid: child.pid!,
      ingest: { port: remote.port as number, rtcpPort: remote.rtcp_port as number },
      async forward(port, ssrcBase) {
        await videoroom({
          request: 'rtp_forward',
          room,
          publisher_id: publisherId,
          host: '127.0.0.1',
          streams: [
            { mid: '0', port, ssrc: ssrcBase },
            { mid: '1', port, ssrc: ssrcBase + 1 },
          ],
        });
      },
      outputTail: () => output,
      stop,
    };
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${output.slice(-1500)}`);
  }
}
