// UDP sinks for bench/media-capacity.ts, in a process of their own so that the CPU spent receiving
// is measured apart from the SFU's and from the bench's. Started with `fork`; speaks over IPC:
//   { type: 'open', count }  → { type: 'ports', ports }     opens `count` sockets on 127.0.0.1
//   { type: 'snapshot' }     → { type: 'snapshot', ... }    what every RTP stream delivered so far
import dgram from 'node:dgram';

/** What one RTP stream (one SSRC) delivered: packets, and the span of sequence numbers they cover. */
interface Stream {
  received: number;
  /** First and highest extended sequence numbers seen; their span is what should have arrived. */
  first: number;
  highest: number;
}

export type SinkRequest = { type: 'open'; count: number } | { type: 'snapshot' };

export interface SinkSnapshot {
  type: 'snapshot';
  rtpPackets: number;
  rtpBytes: number;
  rtcpPackets: number;
  /** [ssrc, received, first, highest] per stream. */
  streams: [number, number, number, number][];
}

export type SinkReply = { type: 'ports'; ports: number[] } | SinkSnapshot;

/** Large enough for a burst of one video frame to every viewer (net.core.rmem_max caps it). */
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

const streams = new Map<number, Stream>();
const totals = { rtpPackets: 0, rtpBytes: 0, rtcpPackets: 0 };

function count(packet: Buffer): void {
  if (packet.length < 12) return;
  // With rtcpMux the consumers' sender reports arrive here too: RTCP packet types are 192–223.
  const secondByte = packet[1]!;
  if (secondByte >= 192 && secondByte <= 223) {
    totals.rtcpPackets++;
    return;
  }
  totals.rtpPackets++;
  totals.rtpBytes += packet.length;
  const seq = packet.readUInt16BE(2);
  const ssrc = packet.readUInt32BE(8);
  const stream = streams.get(ssrc);
  if (!stream) {
    streams.set(ssrc, { received: 1, first: seq, highest: seq });
    return;
  }
  stream.received++;
  // Extend the 16-bit sequence number across wraps; an older (reordered) packet leaves it alone.
  const delta = (seq - (stream.highest & 0xffff)) & 0xffff;
  if (delta < 0x8000) stream.highest += delta;
}

async function open(total: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < total; i++) {
    const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: RECEIVE_BUFFER_BYTES });
    socket.on('message', count);
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    ports.push(socket.address().port);
  }
  return ports;
}

function snapshot(): SinkSnapshot {
  return { type: 'snapshot', ...totals, streams: [...streams].map(([ssrc, s]) => [ssrc, s.received, s.first, s.highest]) };
}

process.on('message', (request: SinkRequest) => {
  const reply = (message: SinkReply) => process.send!(message);
  if (request.type === 'open') open(request.count).then((ports) => reply({ type: 'ports', ports }));
  else reply(snapshot());
});
process.on('disconnect', () => process.exit(0));
