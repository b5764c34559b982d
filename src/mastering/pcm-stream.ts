// Samples read from an ffmpeg pipe as they arrive: each chunk is split into planar float channels
// at once (no whole-output buffer joined and copied at the end), and samples written to ffmpeg's
// stdin a slice at a time. A float WAV pipe's header is read from its first bytes; raw pipes carry
// 32-bit float, 16-bit or 24-bit integer samples, interleaved.
import type { Writable } from 'node:stream';
import type { Pcm } from './pcm.js';

/** How an output pipe's bytes are read: a float WAV (rate and channels from its header) or raw samples. */
export type PipeFormat = { kind: 'wav' } | { kind: 'raw'; sample: 'f32le' | 's16le' | 's24le'; sampleRate: number; channels: number };
type Raw = Extract<PipeFormat, { kind: 'raw' }>;

const WIDTH = { f32le: 4, s16le: 2, s24le: 3 } as const;
/** Frames per block after the first: about 5 s at 48 kHz. */
const BLOCK_FRAMES = 1 << 18;

/** A float array whose contents are not zeroed first (every sample handed back is written before). */
const unfilled = (length: number) => {
  const bytes = Buffer.allocUnsafeSlow(4 * length);
  return new Float32Array(bytes.buffer, bytes.byteOffset, length);
};

/** Planar samples gathered from a pipe's chunks; `finish` hands them back. */
export class PcmCollector {
  private raw: Raw | null;
  private header = Buffer.alloc(0);
  /** Bytes of a frame split across two chunks. */
  private pending = Buffer.alloc(0);
  /**
   * Blocks of samples, channel by channel, filled chunk after chunk: the first as long as the frames
   * expected, the next ones a few seconds each; joined once at the end (a single block is handed back as it is).
   */
  private blocks: Float32Array[][] = [];
  /** Frames in each block. */
  private filled: number[] = [];
  private frames = 0;

  constructor(
    format: PipeFormat,
    private readonly expectedFrames = 0,
  ) {
    this.raw = format.kind === 'raw' ? format : null;
  }

  /** Where the next `frames` frames go: the last block, or a new one when they do not fit. */
  private room(frames: number, channels: number): { block: Float32Array[]; at: number } {
    const last = this.blocks.at(-1);
    if (last && this.filled.at(-1)! + frames <= last[0]!.length) return { block: last, at: this.filled.at(-1)! };
    const size = Math.max(frames, this.blocks.length === 0 && this.expectedFrames > 0 ? this.expectedFrames + 4096 : BLOCK_FRAMES);
    const block = Array.from({ length: channels }, () => unfilled(size));
    this.blocks.push(block);
    this.filled.push(0);
    return { block, at: 0 };
  }

  push(chunk: Buffer): void {
    if (!this.raw) {
      this.header = Buffer.concat([this.header, chunk]);
      const found = readWavHeader(this.header);
      if (!found) return;
      this.raw = found.format;
      chunk = this.header.subarray(found.dataStart);
      this.header = Buffer.alloc(0);
    }
    const format = this.raw;
    const n = format.channels;
    const frameBytes = WIDTH[format.sample] * n;
    if (this.pending.length) {
      chunk = Buffer.concat([this.pending, chunk]);
      this.pending = Buffer.alloc(0);
    }
    const frames = Math.floor(chunk.length / frameBytes);
    if (frames * frameBytes < chunk.length) this.pending = Buffer.from(chunk.subarray(frames * frameBytes));
    if (frames === 0) return;
    const { block: piece, at } = this.room(frames, n);
    if (format.sample === 's24le') {
      for (let c = 0; c < n; c++) {
        const channel = piece[c]!;
        for (let f = 0, b = 3 * c; f < frames; f++, b += frameBytes) {
          // Three bytes, little-endian, sign from the top one.
          channel[at + f] = (chunk[b]! | (chunk[b + 1]! << 8) | ((chunk[b + 2]! << 24) >> 8)) / 8388608;
        }
      }
    } else {
      const width = WIDTH[format.sample];
      // A view where the chunk is aligned to the sample width (pipe chunks usually are), a copy otherwise.
      const bytes = chunk.byteOffset % width === 0 ? chunk : Buffer.from(chunk);
      const count = frames * n;
      if (format.sample === 'f32le') {
        const interleaved = new Float32Array(bytes.buffer, bytes.byteOffset, count);
        for (let c = 0; c < n; c++) {
          const channel = piece[c]!;
          for (let f = 0, i = c; f < frames; f++, i += n) channel[at + f] = interleaved[i]!;
        }
      } else {
        const interleaved = new Int16Array(bytes.buffer, bytes.byteOffset, count);
        for (let c = 0; c < n; c++) {
          const channel = piece[c]!;
          for (let f = 0, i = c; f < frames; f++, i += n) channel[at + f] = interleaved[i]! / 32768;
        }
      }
    }
    this.filled[this.filled.length - 1]! += frames;
    this.frames += frames;
  }

  finish(): Pcm {
    if (!this.raw) throw new Error(this.header.length >= 12 && this.header.toString('ascii', 0, 4) === 'RIFF' ? 'the WAV stream has no data' : 'not a WAV stream');
    const channels = Array.from({ length: this.raw.channels }, (_, c) => {
      if (this.blocks.length <= 1) return (this.blocks[0]?.[c] ?? new Float32Array(0)).subarray(0, this.frames);
      const joined = unfilled(this.frames);
      let at = 0;
      this.blocks.forEach((block, k) => {
        joined.set(block[c]!.subarray(0, this.filled[k]), at);
        at += this.filled[k]!;
      });
      return joined;
    });
    this.blocks = [];
    this.filled = [];
    return { sampleRate: this.raw.sampleRate, channels };
  }
}

/** The format and where the samples start, once a float WAV header has arrived in full (null before). */
function readWavHeader(wav: Buffer): { format: Raw; dataStart: number } | null {
  if (wav.length < 12) return null;
  if (wav.toString('ascii', 0, 4) !== 'RIFF' || wav.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a WAV stream');
  let at = 12;
  let channels = 0;
  let sampleRate = 0;
  while (at + 8 <= wav.length) {
    const id = wav.toString('ascii', at, at + 4);
    const size = wav.readUInt32LE(at + 4);
    if (id === 'data') return { format: { kind: 'raw', sample: 'f32le', sampleRate, channels }, dataStart: at + 8 };
    if (at + 8 + size > wav.length) return null;
    if (id === 'fmt ') {
      channels = wav.readUInt16LE(at + 10);
      sampleRate = wav.readUInt32LE(at + 12);
    }
    at += 8 + size + (size % 2);
  }
  return null;
}

/** Frames per slice written to ffmpeg's stdin. */
const SLICE_FRAMES = 32768;

/** Writes `pcm` interleaved as raw f32le to `stream`, a slice at a time (waiting while the pipe is full), then ends it. */
export async function writeInterleaved(pcm: Pcm, stream: Writable): Promise<void> {
  const channels = pcm.channels;
  const n = channels.length;
  const frames = channels[0]?.length ?? 0;
  for (let start = 0; start < frames && !stream.destroyed; start += SLICE_FRAMES) {
    const count = Math.min(SLICE_FRAMES, frames - start);
    const out = new Float32Array(count * n);
    for (let c = 0; c < n; c++) {
      const channel = channels[c]!;
      for (let f = 0, i = c; f < count; f++, i += n) out[i] = channel[start + f]!;
    }
    if (!stream.write(Buffer.from(out.buffer, out.byteOffset, out.byteLength))) {
      await new Promise<void>((resolve) => {
        const done = () => {
          stream.off('drain', done);
          stream.off('close', done);
          resolve();
        };
        stream.on('drain', done);
        stream.on('close', done);
      });
    }
  }
  stream.end();
}

