// What a WAV or FLAC upload is, read from its header in node: the answer ffprobe would give
// (container, codec, rate, channels, duration) without starting it. Anything else, or a header
// this does not fully understand (RF64, compressed WAV, a FLAC without its length, a data chunk
// longer than the file), returns null and ffprobe answers.
import { open } from 'node:fs/promises';

export interface HeaderInfo {
  container: 'wav' | 'flac';
  codec: string;
  sampleRate: number;
  channels: number;
  durationSeconds: number;
}

/** Bytes read from the start of the file: the chunks before a WAV's data are small. */
const HEAD_BYTES = 64 * 1024;

/** ffprobe prints durations to the microsecond. */
const micro = (seconds: number) => Number(seconds.toFixed(6));

const PCM_SUBTYPE_TAIL = '000000001000800000aa00389b71';

function wavCodec(tag: number, bits: number): string | null {
  if (tag === 1) return bits === 8 ? 'pcm_u8' : bits === 16 || bits === 24 || bits === 32 ? `pcm_s${bits}le` : null;
  if (tag === 3) return bits === 32 || bits === 64 ? `pcm_f${bits}le` : null;
  return null;
}

/** Where a PCM WAV's samples lie and how they are laid out. */
export interface WavLayout {
  codec: string;
  channels: number;
  sampleRate: number;
  bits: number;
  /** Bytes per frame. */
  blockAlign: number;
  dataStart: number;
  dataLength: number;
}

/** The layout of a WAV whose header is in `head` (of a file of `size` bytes), or null. */
export function wavLayout(head: Buffer, size: number): WavLayout | null {
  if (head.length < 12 || head.toString('ascii', 0, 4) !== 'RIFF' || head.toString('ascii', 8, 12) !== 'WAVE') return null;
  let at = 12;
  let format: Omit<WavLayout, 'dataStart' | 'dataLength'> | null = null;
  while (at + 8 <= head.length) {
    const id = head.toString('ascii', at, at + 4);
    const length = head.readUInt32LE(at + 4);
    const body = at + 8;
    if (id === 'fmt ') {
      if (length < 16 || body + length > head.length) return null;
      let tag = head.readUInt16LE(body);
      const bits = head.readUInt16LE(body + 14);
      if (tag === 0xfffe) {
        if (length < 40 || head.toString('hex', body + 26, body + 40) !== PCM_SUBTYPE_TAIL) return null;
        tag = head.readUInt16LE(body + 24);
      }
      const codec = wavCodec(tag, bits);
      const channels = head.readUInt16LE(body + 2);
      const blockAlign = head.readUInt16LE(body + 12);
      if (!codec || channels === 0 || blockAlign !== (channels * bits) / 8) return null;
      format = { codec, channels, sampleRate: head.readUInt32LE(body + 4), bits, blockAlign };
    } else if (id === 'data') {
      // The data chunk must be whole and of known size (no streaming WAV's 0 or 0xFFFFFFFF).
      if (!format || format.sampleRate === 0 || length === 0 || body + length > size) return null;
      return { ...format, dataStart: body, dataLength: length };
    }
    at = body + length + (length % 2);
  }
  return null;
}

function readWav(head: Buffer, size: number): HeaderInfo | null {
  const layout = wavLayout(head, size);
  if (!layout) return null;
  const frames = Math.floor(layout.dataLength / layout.blockAlign);
  return { container: 'wav', codec: layout.codec, sampleRate: layout.sampleRate, channels: layout.channels, durationSeconds: micro(frames / layout.sampleRate) };
}

/** The first bytes of `file` and its size; null when it cannot be opened. */
export async function fileHead(file: string): Promise<{ head: Buffer; size: number } | null> {
  const handle = await open(file, 'r').catch(() => null);
  if (!handle) return null;
  try {
    const size = (await handle.stat()).size;
    const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
    await handle.read(head, 0, head.length, 0);
    return { head, size };
  } finally {
    await handle.close();
  }
}

function readFlac(head: Buffer): HeaderInfo | null {
  // fLaC, then the STREAMINFO block first (type 0, 34 bytes).
  if (head.length < 42 || (head[4]! & 0x7f) !== 0 || head.readUIntBE(5, 3) !== 34) return null;
  const info = head.subarray(8, 42);
  const sampleRate = (info[10]! << 12) | (info[11]! << 4) | (info[12]! >> 4);
  const channels = ((info[12]! >> 1) & 0x7) + 1;
  const totalSamples = (info[13]! & 0x0f) * 2 ** 32 + info.readUInt32BE(14);
  if (sampleRate === 0 || totalSamples === 0) return null;
  return { container: 'flac', codec: 'flac', sampleRate, channels, durationSeconds: micro(totalSamples / sampleRate) };
}

/** The header's answer for a WAV or FLAC file, or null where ffprobe must answer. */
export async function probeHeader(file: string): Promise<HeaderInfo | null> {
  const read = await fileHead(file);
  if (!read) return null;
  const { head, size } = read;
  if (head.length >= 4 && head.toString('ascii', 0, 4) === 'fLaC') return readFlac(head);
  return readWav(head, size);
}
