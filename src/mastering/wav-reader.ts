// A 48 kHz mono or stereo PCM WAV read by node: the chain's rate already, so the decode run of
// ffmpeg (which would only convert the samples to float) is not started. Samples come out as ffmpeg
// converts them to 32-bit float (integers over 2^(bits−1), unsigned 8-bit around 128, 32-bit
// integers and 64-bit floats rounded to float), read a slice of the file at a time.
import { open } from 'node:fs/promises';
import { fileHead, wavLayout, type WavLayout } from './header-probe.js';
import type { Pcm } from './pcm.js';

const SLICE_BYTES = 1 << 20;

function convert(layout: WavLayout, bytes: Buffer, channels: Float32Array[], at: number): void {
  const n = layout.channels;
  const width = layout.bits / 8;
  const frames = bytes.length / layout.blockAlign;
  for (let c = 0; c < n; c++) {
    const to = channels[c]!;
    for (let f = 0, b = c * width; f < frames; f++, b += layout.blockAlign) {
      switch (layout.codec) {
        case 'pcm_s16le': to[at + f] = bytes.readInt16LE(b) / 32768; break;
        case 'pcm_s24le': to[at + f] = bytes.readIntLE(b, 3) / 8388608; break;
        case 'pcm_s32le': to[at + f] = Math.fround(bytes.readInt32LE(b)) / 2147483648; break;
        case 'pcm_u8': to[at + f] = (bytes[b]! - 128) / 128; break;
        case 'pcm_f32le': to[at + f] = bytes.readFloatLE(b); break;
        default: to[at + f] = bytes.readDoubleLE(b);
      }
    }
  }
}

/** The file's samples when it is a whole 48 kHz PCM WAV of one or two channels; null otherwise (ffmpeg decodes it). */
export async function readWav48(file: string): Promise<Pcm | null> {
  const read = await fileHead(file);
  const layout = read && wavLayout(read.head, read.size);
  if (!layout || layout.sampleRate !== 48000 || layout.channels > 2) return null;
  const frames = Math.floor(layout.dataLength / layout.blockAlign);
  const channels = Array.from({ length: layout.channels }, () => new Float32Array(frames));
  const handle = await open(file, 'r');
  try {
    const sliceFrames = Math.max(1, Math.floor(SLICE_BYTES / layout.blockAlign));
    const slice = Buffer.alloc(sliceFrames * layout.blockAlign);
    for (let at = 0; at < frames; at += sliceFrames) {
      const count = Math.min(sliceFrames, frames - at);
      const bytes = slice.subarray(0, count * layout.blockAlign);
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, layout.dataStart + at * layout.blockAlign);
      if (bytesRead < bytes.length) throw new Error('ffmpeg could not decode the audio: the WAV file ends inside its data');
      convert(layout, bytes, channels, at);
    }
  } finally {
    await handle.close();
  }
  return { sampleRate: 48000, channels };
}
