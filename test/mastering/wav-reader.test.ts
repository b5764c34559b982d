import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { processStarts } from '../../src/mastering/ffmpeg.js';
import { decodeFile } from '../../src/mastering/ffmpeg-run.js';
import { readWav48 } from '../../src/mastering/wav-reader.js';
import { ffmpegDecode, materialMissing, sample } from './support.js';

/** A channel's own bytes (a view may sit in a larger buffer). */
const bytesOf = (samples: Float32Array) => Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);

/** A 48 kHz mono or stereo PCM WAV is read by node as the same samples ffmpeg's decode gives, without starting it. */
const dir = mkdtempSync(path.join(os.tmpdir(), 'veza-wav-reader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const encode = (name: string, args: string[]) => {
  const out = path.join(dir, name);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', sample('loop_amen_full'), '-t', '2.5', '-af', 'volume=4', ...args, out]);
  return out;
};

describe.skipIf(materialMissing)('48 kHz WAV read by node', () => {
  it('gives ffmpeg\'s float samples for every PCM width, mono and stereo, with no ffmpeg start', async () => {
    const files = [
      encode('s16.wav', ['-ar', '48000', '-c:a', 'pcm_s16le']),
      encode('s24-mono.wav', ['-ar', '48000', '-ac', '1', '-c:a', 'pcm_s24le']),
      encode('s32.wav', ['-ar', '48000', '-c:a', 'pcm_s32le']),
      encode('f32.wav', ['-ar', '48000', '-c:a', 'pcm_f32le']),
      encode('f64.wav', ['-ar', '48000', '-c:a', 'pcm_f64le']),
      encode('u8.wav', ['-ar', '48000', '-c:a', 'pcm_u8']),
    ];
    for (const file of files) {
      const theirs = await ffmpegDecode(file);
      const starts = processStarts.ffmpeg;
      const ours = await decodeFile(file, 48000);
      expect(processStarts.ffmpeg).toBe(starts);
      expect(ours.native).toBe(ours.pcm48);
      expect(ours.pcm48.channels.length).toBe(theirs.channels.length);
      for (let c = 0; c < theirs.channels.length; c++) expect(bytesOf(ours.pcm48.channels[c]!).equals(bytesOf(theirs.channels[c]!))).toBe(true);
    }
  });

  it('leaves other rates, more channels, cut files and other formats to ffmpeg', async () => {
    const others = [
      encode('44k.wav', ['-c:a', 'pcm_s16le']),
      encode('six.wav', ['-ar', '48000', '-af', 'pan=5.1|FL=c0|FR=c1|FC=c0|LFE=c1|BL=c0|BR=c1', '-c:a', 'pcm_s16le']),
      encode('x.flac', ['-ar', '48000']),
    ];
    for (const file of others) expect(await readWav48(file)).toBeNull();
    const starts = processStarts.ffmpeg;
    const resampled = await decodeFile(others[0]!, 44100);
    expect(processStarts.ffmpeg).toBe(starts + 1);
    expect(resampled.pcm48.sampleRate).toBe(48000);
    expect(resampled.native.sampleRate).toBe(44100);
    await expect(decodeFile(path.join(dir, 'missing.wav'), 48000)).rejects.toThrow(/could not decode/);
  });
});
