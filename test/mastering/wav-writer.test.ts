import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Pcm } from '../../src/mastering/pcm.js';
import { exportMaster } from '../../src/mastering/render.js';
import { writeWavMaster } from '../../src/mastering/wav-writer.js';
import { ffmpegDecode, materialMissing, sample } from './support.js';

/** A channel's own bytes (a view may sit in a larger buffer). */
const bytesOf = (samples: Float32Array) => Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);

/**
 * A WAV master written by node is the file ffmpeg writes from the same float samples (no dither,
 * ffmpeg's rounding), byte for byte once ffmpeg leaves out its own name (`-fflags +bitexact`; without
 * it ffmpeg adds an ISFT "Lavf…" entry to the LIST INFO chunk, the only difference); the samples it
 * hands back are the ones the file holds.
 */
const dir = mkdtempSync(path.join(os.tmpdir(), 'veza-wav-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const metadata = { comment: 'Mastered to -23 LUFS, true peak at most -1 dBTP', title: 'Été', artist: 'Veza' };

function ffmpegWav(pcm: Pcm, bits: 16 | 24, out: string): Buffer {
  const n = pcm.channels.length;
  const frames = pcm.channels[0]!.length;
  const interleaved = new Float32Array(n * frames);
  for (let c = 0; c < n; c++) for (let f = 0; f < frames; f++) interleaved[f * n + c] = pcm.channels[c]![f]!;
  const tags = Object.entries(metadata).flatMap(([k, v]) => ['-metadata', `${k}=${v}`]);
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'f32le', '-ar', String(pcm.sampleRate), '-ac', String(n), '-i', 'pipe:0', '-map', '0:a', '-c:a', `pcm_s${bits}le`, '-map_metadata', '-1', ...tags, '-fflags', '+bitexact', '-f', 'wav', '-y', out], { input: Buffer.from(interleaved.buffer) });
  return readFileSync(out);
}

/** Rounding ties at 16 and at 32 bits, full scale, past full scale, the smallest values. */
const EDGES = [1, -1, 2, -2, 0.99999994, 0.5 / 32768, 1.5 / 32768, 2.5 / 32768, -0.5 / 32768, -1.5 / 32768, 0.5 / 2 ** 31, 1.5 / 2 ** 31, -0.5 / 2 ** 31, 3.5 / 2 ** 23, -3.5 / 2 ** 23, 1e-9, -1e-9, 0];

describe.skipIf(materialMissing)('WAV written by node', () => {
  it.each([16, 24] as const)('equals ffmpeg\'s %i-bit WAV of the same floats byte for byte, stereo and mono, and hands back what the file holds', async (bits) => {
    const mix = await ffmpegDecode(sample('loop_amen_full'));
    const loud = mix.channels.map((c) => c.map((x, i) => (i < EDGES.length ? EDGES[i]! : x * 3.3)));
    for (const pcm of [{ sampleRate: 48000, channels: loud }, { sampleRate: 44100, channels: [loud[0]!] }]) {
      const ours = path.join(dir, `node-${bits}-${pcm.channels.length}.wav`);
      const held = await writeWavMaster(pcm, bits, ours, metadata);
      const theirs = ffmpegWav(pcm, bits, path.join(dir, `ffmpeg-${bits}-${pcm.channels.length}.wav`));
      expect(readFileSync(ours).equals(theirs)).toBe(true);
      // ffmpeg reads the file back as the samples handed back (integers over 2^15 or 2^23, exact in float).
      const read = await ffmpegDecode(ours, pcm.sampleRate);
      expect(read.channels.length).toBe(pcm.channels.length);
      for (let c = 0; c < held.channels.length; c++) expect(bytesOf(read.channels[c]!).equals(bytesOf(held.channels[c]!))).toBe(true);
    }
  });

  it('is what exportMaster writes for WAV, with its tags, and the ffmpeg export\'s samples', async () => {
    const pcm = { sampleRate: 48000, channels: (await ffmpegDecode(sample('guit_em9'))).channels.map((c) => c.map((x) => x * 0.5)) };
    const out = path.join(dir, 'export.wav');
    const held = await exportMaster(pcm, out, 'wav24', metadata);
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,sample_rate,channels,bits_per_sample:format_tags=title,comment,artist', '-of', 'json', out], { encoding: 'utf8' })) as {
      streams: { codec_name: string; sample_rate: string; channels: number; bits_per_sample: number }[];
      format: { tags: Record<string, string> };
    };
    expect(probe.streams[0]).toMatchObject({ codec_name: 'pcm_s24le', sample_rate: '48000', channels: 2, bits_per_sample: 24 });
    expect(probe.format.tags).toMatchObject({ title: 'Été', comment: metadata.comment, artist: 'Veza' });
    const theirs = ffmpegWav(pcm, 24, path.join(dir, 'export-ffmpeg.wav'));
    // The same bytes after the header: the data chunk.
    const data = (b: Buffer) => b.subarray(b.indexOf('data'));
    expect(data(readFileSync(out)).equals(data(theirs))).toBe(true);
    expect(held.channels[1]![1000]).toBe(Math.floor(Math.round(pcm.channels[1]![1000]! * 2 ** 31) / 256) / 2 ** 23);
  });

  it('rejects when the file cannot be written', async () => {
    await expect(writeWavMaster({ sampleRate: 48000, channels: [new Float32Array(10)] }, 16, path.join(dir, 'missing', 'x.wav'), {})).rejects.toThrow(/ENOENT/);
  });
});
