// Decoded audio as planar float samples: what the meter and the analysis read. ffmpeg decodes any
// input to 32-bit float WAV on a pipe (mono stays mono, more than two channels fold to stereo).
import { spawn } from 'node:child_process';
import { ffmpegFor, ffmpegStarted } from './ffmpeg.js';

export interface Pcm {
  sampleRate: number;
  /** One array per channel (one or two). */
  channels: Float32Array[];
}

export const durationOf = (pcm: Pcm) => (pcm.channels[0]?.length ?? 0) / pcm.sampleRate;

/** Decodes `file` to float samples at `sampleRate` (default: 48 kHz, the meter's and the chain's rate). */
export async function decode(file: string, sampleRate = 48000): Promise<Pcm> {
  const ffmpeg = ffmpegFor();
  const args = ['-nostdin', '-v', 'error', '-i', file, '-vn', '-af', 'aformat=channel_layouts=mono|stereo', '-ar', String(sampleRate), '-c:a', 'pcm_f32le', '-f', 'wav', 'pipe:1'];
  const child = spawn(ffmpeg.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  ffmpegStarted(child);
  const chunks: Buffer[] = [];
  let errors = '';
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  child.stderr.on('data', (c: Buffer) => (errors += c.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`ffmpeg could not decode the audio: ${errors.trim().split('\n').pop() ?? `exit code ${code}`}`);
  return parseFloatWav(Buffer.concat(chunks));
}

/** Reads a 32-bit float WAV (as ffmpeg writes it to a pipe: sizes may be unknown). */
export function parseFloatWav(wav: Buffer): Pcm {
  if (wav.length < 12 || wav.toString('ascii', 0, 4) !== 'RIFF' || wav.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a WAV stream');
  let at = 12;
  let channelCount = 0;
  let sampleRate = 0;
  while (at + 8 <= wav.length) {
    const id = wav.toString('ascii', at, at + 4);
    const size = wav.readUInt32LE(at + 4);
    if (id === 'fmt ') {
      channelCount = wav.readUInt16LE(at + 10);
      sampleRate = wav.readUInt32LE(at + 12);
    } else if (id === 'data') {
      const start = at + 8;
      const bytes = Math.min(wav.length - start, size === 0xffffffff || size === 0 ? Infinity : size);
      const frames = Math.floor(bytes / (4 * channelCount));
      // A copy, so the samples are 4-byte aligned whatever the header's length.
      const interleaved = new Float32Array(wav.buffer.slice(wav.byteOffset + start, wav.byteOffset + start + frames * channelCount * 4));
      const channels = Array.from({ length: channelCount }, () => new Float32Array(frames));
      for (let c = 0; c < channelCount; c++) {
        const channel = channels[c]!;
        for (let f = 0, i = c; f < frames; f++, i += channelCount) channel[f] = interleaved[i]!;
      }
      return { sampleRate, channels };
    }
    at += 8 + size + (size % 2);
  }
  throw new Error('the WAV stream has no data');
}
