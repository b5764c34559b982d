import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { types as ms } from 'mediasoup';
import { createLogger } from '../../src/log.js';
import type { LiveRoom } from '../../src/media/live-room.js';
import { MediaPlane } from '../../src/media/plane.js';
import type { DocumentRole } from '../../src/server/auth.js';

/** ffmpeg and ffprobe on PATH, or null (a printed skip; a failure with REQUIRE_SERVICES=1). */
export function ffmpegAvailable(): boolean {
  const ok = ['ffmpeg', 'ffprobe'].every((bin) => spawnSync(bin, ['-version'], { stdio: 'ignore' }).status === 0);
  if (ok) return true;
  const reason = 'no ffmpeg/ffprobe: apt-get install -y ffmpeg';
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`${reason} (REQUIRE_SERVICES=1)`);
  console.warn(`SKIP: ${reason}`);
  return false;
}

export interface RtpSource {
  producer: ms.Producer;
  transport: ms.PlainTransport;
  ffmpeg: ChildProcess;
  stop(): Promise<void>;
}

const SOURCES = {
  audio: {
    codec: { mimeType: 'audio/opus', payloadType: 101, clockRate: 48000, channels: 2 },
    ssrc: 11111111,
    args: ['-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-c:a', 'libopus', '-ac', '2', '-b:a', '64k'],
  },
  video: {
    codec: { mimeType: 'video/VP8', payloadType: 102, clockRate: 90000 },
    ssrc: 22222222,
    args: ['-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '400k', '-g', '25', '-pix_fmt', 'yuv420p'],
  },
} as const;

/**
 * A producer in the room fed by ffmpeg test sources over RTP into a comedia PlainTransport.
 * rtcpMux is off: ffmpeg sends RTCP from a second socket, and with a muxed comedia transport the
 * first packet (an RTCP SR) would latch that socket and every RTP packet would then be ignored.
 */
export async function startRtpSource(room: LiveRoom, kind: ms.MediaKind, as: { userId: string; role: DocumentRole } = { userId: 'ffmpeg', role: 'owner' }, options: { lavfi?: string } = {}): Promise<RtpSource> {
  const source = SOURCES[kind];
  // Another lavfi source (`color=red:size=320x240:rate=25`, say) tells cameras apart in a picture.
  const args = options.lavfi ? source.args.map((arg, i, all) => (all[i - 1] === '-i' ? options.lavfi! : arg)) : source.args;
  const { transport, producer } = await room.ingest({
    ...as,
    kind,
    rtpParameters: { codecs: [{ ...source.codec }], encodings: [{ ssrc: source.ssrc }] },
    // Video from the owner of a live room is a camera.
    appData: { source: kind === 'video' ? 'camera' : 'ffmpeg-test' },
  });
  const port = transport.tuple.localPort;
  const rtcpPort = transport.rtcpTuple?.localPort ?? port;
  const ffmpeg = spawn(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', ...args, '-payload_type', String(source.codec.payloadType), '-ssrc', String(source.ssrc), '-f', 'rtp', `rtp://127.0.0.1:${port}?rtcpport=${rtcpPort}&pkt_size=1200`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  ffmpeg.stderr?.resume();
  return {
    producer,
    transport,
    ffmpeg,
    async stop() {
      if (ffmpeg.exitCode === null && ffmpeg.signalCode === null) {
        const exited = new Promise((resolve) => ffmpeg.once('exit', resolve));
        ffmpeg.kill('SIGKILL');
        await exited;
      }
      transport.close();
    },
  };
}

/** A one-worker media plane with one room fed audio and video by ffmpeg test sources. */
export interface FedRoom {
  plane: MediaPlane;
  room: LiveRoom;
  sources: RtpSource[];
  stop(): Promise<void>;
}

export async function startFedRoom(workerBin: string, roomKey: string): Promise<FedRoom> {
  const plane = await MediaPlane.start({
    settings: { workers: 1, listenIp: '127.0.0.1', announcedAddress: undefined, rtcMinPort: 40000, rtcMaxPort: 49999, routerMaxConsumers: 300 },
    logger: createLogger({ logLevel: 'silent' }),
    workerBin,
  });
  const room = await plane.room({ tenantId: 'default', roomId: roomKey, kind: 'live' });
  const sources = [await startRtpSource(room, 'audio'), await startRtpSource(room, 'video')];
  return {
    plane,
    room,
    sources,
    stop: async () => {
      for (const source of sources) await source.stop();
      await plane.close();
    },
  };
}
