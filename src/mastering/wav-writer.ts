// A WAV master written by node from the float samples it holds, where no limiter runs (every peak
// is under the ceiling already): no ffmpeg start for the file, and the samples the file holds come
// back without reading it again. Samples are converted exactly as ffmpeg converts 32-bit floats for
// its pcm_s16le and pcm_s24le encoders (no dither): 16 bits round(x · 2^15) with ties to even,
// clipped; 24 bits round(x · 2^31) with ties to even, clipped to 32 bits, then shifted right by 8
// (toward −∞). The header is what ffmpeg's WAV muxer writes for these: a plain PCM `fmt ` chunk
// for 16 bits, WAVE_FORMAT_EXTENSIBLE for 24, and the tags in a LIST INFO chunk.
import { writeFile } from 'node:fs/promises';
import type { Pcm } from './pcm.js';

/** RIFF INFO ids for the tags a master carries, in the order ffmpeg writes them. */
const INFO: [string, string][] = [
  ['IART', 'artist'],
  ['ICMT', 'comment'],
  ['ICRD', 'date'],
  ['IGNR', 'genre'],
  ['INAM', 'title'],
  ['IPRD', 'album'],
  ['ITCH', 'encoded_by'],
];

/** Round half to even, as the FPU's default mode (lrintf) does; never −0 (an integer has no sign of zero). */
function rint(x: number): number {
  const r = Math.round(x);
  return (r - x === 0.5 && r % 2 !== 0 ? r - 1 : r) + 0;
}

/** One float sample as the 16-bit integer ffmpeg writes for it. */
export function toS16(x: number): number {
  return Math.max(-32768, Math.min(32767, rint(x * 32768)));
}

/** One float sample as the 24-bit integer ffmpeg writes for it (via 32 bits, shifted right by 8). */
export function toS24(x: number): number {
  return Math.floor(Math.max(-2147483648, Math.min(2147483647, rint(x * 2147483648))) / 256);
}

function infoChunk(metadata: Record<string, string>): Buffer {
  const entries = INFO.flatMap(([id, key]) => {
    const value = metadata[key]?.replace(/[\r\n]+/g, ' ').slice(0, 500);
    if (!value) return [];
    const text = Buffer.from(`${value}\0`, 'utf8');
    const head = Buffer.alloc(8);
    head.write(id, 0, 'ascii');
    head.writeUInt32LE(text.length, 4);
    return [head, text, Buffer.alloc(text.length % 2)];
  });
  if (entries.length === 0) return Buffer.alloc(0);
  const body = Buffer.concat([Buffer.from('INFO', 'ascii'), ...entries]);
  const head = Buffer.alloc(8);
  head.write('LIST', 0, 'ascii');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body]);
}

function fmtChunk(bits: 16 | 24, channels: number, sampleRate: number): Buffer {
  const extensible = bits > 16;
  const chunk = Buffer.alloc(8 + (extensible ? 40 : 16));
  chunk.write('fmt ', 0, 'ascii');
  chunk.writeUInt32LE(extensible ? 40 : 16, 4);
  chunk.writeUInt16LE(extensible ? 0xfffe : 1, 8);
  chunk.writeUInt16LE(channels, 10);
  chunk.writeUInt32LE(sampleRate, 12);
  chunk.writeUInt32LE((sampleRate * channels * bits) / 8, 16);
  chunk.writeUInt16LE((channels * bits) / 8, 20);
  chunk.writeUInt16LE(bits, 22);
  if (extensible) {
    chunk.writeUInt16LE(22, 24);
    chunk.writeUInt16LE(bits, 26);
    chunk.writeUInt32LE(channels === 1 ? 0x4 : 0x3, 28);
    // KSDATAFORMAT_SUBTYPE_PCM: 00000001-0000-0010-8000-00aa00389b71.
    Buffer.from('0100000000001000800000aa00389b71', 'hex').copy(chunk, 32);
  }
  return chunk;
}

/**
 * Writes `pcm` to `output` as a `bits`-bit WAV with `metadata`; resolves with the samples the file
 * holds (each integer over 2^15 or 2^23), as the chain measures them.
 */
export async function writeWavMaster(pcm: Pcm, bits: 16 | 24, output: string, metadata: Record<string, string>): Promise<Pcm> {
  const channels = pcm.channels.length;
  const frames = pcm.channels[0]?.length ?? 0;
  const width = bits / 8;
  const data = Buffer.alloc(8 + frames * channels * width + ((frames * channels * width) % 2));
  data.write('data', 0, 'ascii');
  data.writeUInt32LE(frames * channels * width, 4);
  const held = pcm.channels.map(() => new Float32Array(frames));
  for (let c = 0; c < channels; c++) {
    const from = pcm.channels[c]!;
    const to = held[c]!;
    for (let f = 0, at = 8 + c * width; f < frames; f++, at += channels * width) {
      if (bits === 16) {
        const v = toS16(from[f]!);
        data.writeInt16LE(v, at);
        to[f] = v / 32768;
      } else {
        const v = toS24(from[f]!);
        data.writeIntLE(v, at, 3);
        to[f] = v / 8388608;
      }
    }
  }
  const chunks = [fmtChunk(bits, channels, pcm.sampleRate), infoChunk(metadata), data];
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'ascii');
  riff.writeUInt32LE(4 + chunks.reduce((n, c) => n + c.length, 0), 4);
  riff.write('WAVE', 8, 'ascii');
  await writeFile(output, Buffer.concat([riff, ...chunks]));
  return { sampleRate: pcm.sampleRate, channels: held };
}
