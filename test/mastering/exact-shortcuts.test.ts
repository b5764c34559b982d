import { describe, expect, it } from 'vitest';
import { runFfmpeg } from '../../src/mastering/ffmpeg-run.js';
import { truePeak, truePeakFull } from '../../src/mastering/meter.js';
import { PcmCollector, type PipeFormat } from '../../src/mastering/pcm-stream.js';
import { renderLimited } from '../../src/mastering/render.js';
import { fft } from '../../src/mastering/spectrum.js';
import { ffmpegDecode, materialMissing, sample } from './support.js';

/**
 * The meter's shortcuts give the answer of the full computation: the true peak with most samples
 * skipped by its bounds is the same number as every sample interpolated, on real material before and
 * after the limiter (where every window is near the peak); samples read from a pipe chunk by chunk
 * equal the whole output read at once.
 */
describe('true peak with samples skipped by exact bounds', () => {
  it('equals every sample interpolated on edge cases: short arrays, silence, impulses, a peak between samples', () => {
    const cases: Float32Array[] = [
      new Float32Array(0),
      Float32Array.of(0.5),
      Float32Array.of(0.3, -0.9, 0.2),
      new Float32Array(1000),
      Float32Array.from({ length: 64 }, (_, i) => (i === 31 ? 1 : 0)),
      Float32Array.from({ length: 4800 }, (_, i) => 0.5 * Math.sin((Math.PI / 2) * i + Math.PI / 4)),
      // Alternating full-scale samples: the largest overshoot the filter makes.
      Float32Array.from({ length: 200 }, (_, i) => (i % 2 ? -1 : 1) * (i >= 80 && i < 120 ? 1 : 0.1)),
    ];
    for (const samples of cases) expect(truePeak(samples)).toBe(truePeakFull(samples));
    // A quarter-rate sine sampled 45 degrees off its crests peaks 3 dB above its samples.
    expect(20 * Math.log10(truePeak(cases[5]!) / (0.5 * Math.SQRT1_2))).toBeGreaterThan(2.5);
  });

  it('equals every sample interpolated on random noise at every level', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    for (const level of [0.01, 0.3, 1]) {
      const samples = Float32Array.from({ length: 20000 }, () => level * random() ** 3);
      expect(truePeak(samples)).toBe(truePeakFull(samples));
    }
  });

  it.skipIf(materialMissing !== null)('equals every sample interpolated on real mixes and on the limiter\'s output near the ceiling', async () => {
    for (const name of ['loop_amen_full', 'guit_em9', 'ambi_lunar_land', 'loop_tabla']) {
      const pcm = await ffmpegDecode(sample(name));
      const limited = await renderLimited(pcm, { gainDb: 12, ceilingDb: -1.5 });
      for (const channel of [...pcm.channels, ...limited.channels]) expect(truePeak(channel), name).toBe(truePeakFull(channel));
    }
  }, 60_000);
});

describe('FFT from tables', () => {
  it('matches the discrete Fourier transform, for every power of two up to 4096 points', () => {
    for (const n of [1, 2, 4, 8, 64, 4096]) {
      const x = Float64Array.from({ length: n }, (_, i) => Math.sin(0.3 * i) + (i % 7) / 7);
      const y = Float64Array.from({ length: n }, (_, i) => Math.cos(0.11 * i * i));
      const re = Float64Array.from(x), im = Float64Array.from(y);
      fft(re, im);
      for (const k of [0, 1, Math.floor(n / 3), n - 1].filter((k) => k < n)) {
        let sr = 0, si = 0;
        for (let t = 0; t < n; t++) {
          const a = (-2 * Math.PI * k * t) / n;
          sr += x[t]! * Math.cos(a) - y[t]! * Math.sin(a);
          si += x[t]! * Math.sin(a) + y[t]! * Math.cos(a);
        }
        expect(Math.abs(re[k]! - sr) + Math.abs(im[k]! - si)).toBeLessThan(1e-9 * n);
      }
    }
  });

  it('refuses a length that is not a power of two or is longer than 4096', () => {
    expect(() => fft(new Float64Array(12), new Float64Array(12))).toThrow(/power of two/);
    expect(() => fft(new Float64Array(8192), new Float64Array(8192))).toThrow(/power of two/);
  });
});

describe('samples read from a pipe chunk by chunk', () => {
  const frames = 5000;
  const left = Float32Array.from({ length: frames }, (_, i) => Math.sin(i * 0.01) * 0.9);
  const right = Float32Array.from({ length: frames }, (_, i) => ((i % 100) - 50) / 64);

  /** `bytes` pushed in pieces of the given sizes (cycled), then finished. */
  const collect = (format: PipeFormat, bytes: Buffer, sizes: number[], expected = 0) => {
    const collector = new PcmCollector(format, expected);
    for (let at = 0, k = 0; at < bytes.length; k++) {
      const size = sizes[k % sizes.length]!;
      // Copied into an odd offset of a larger buffer, as a chunk may sit anywhere in memory.
      const holder = Buffer.alloc(size + 1);
      bytes.copy(holder, 1, at, at + size);
      collector.push(holder.subarray(1, 1 + Math.min(size, bytes.length - at)));
      at += size;
    }
    return collector.finish();
  };
  const interleaved = (encode: (v: number, out: Buffer, at: number) => void, width: number) => {
    const out = Buffer.alloc(frames * 2 * width);
    for (let f = 0; f < frames; f++) {
      encode(left[f]!, out, (2 * f) * width);
      encode(right[f]!, out, (2 * f + 1) * width);
    }
    return out;
  };

  it('reads f32, s16 and s24 samples split at any byte into the same planar channels', () => {
    const f32 = interleaved((v, out, at) => out.writeFloatLE(v, at), 4);
    const s16 = interleaved((v, out, at) => out.writeInt16LE(Math.round(v * 32767), at), 2);
    const s24 = interleaved((v, out, at) => out.writeIntLE(Math.round(v * 8388607), at, 3), 3);
    for (const sizes of [[f32.length], [1], [7, 4093, 65536], [6, 13]]) {
      const a = collect({ kind: 'raw', sample: 'f32le', sampleRate: 48000, channels: 2 }, f32, sizes, frames);
      expect(a.channels[0]).toEqual(left);
      expect(a.channels[1]).toEqual(right);
      const b = collect({ kind: 'raw', sample: 's16le', sampleRate: 48000, channels: 2 }, s16, sizes);
      expect(b.channels[1]![10]).toBe(s16.readInt16LE(4 * 10 + 2) / 32768);
      expect(b.channels[0]!.length).toBe(frames);
      const c = collect({ kind: 'raw', sample: 's24le', sampleRate: 48000, channels: 2 }, s24, sizes, 100);
      expect(c.channels[0]![4321]).toBe(s24.readIntLE(6 * 4321, 3) / 8388608);
      expect(c.channels[1]!.length).toBe(frames);
    }
  });

  it('reads a float WAV whose header arrives split, and refuses what is not a WAV stream', () => {
    const header = Buffer.alloc(44);
    header.write('RIFF', 0, 'ascii');
    header.writeUInt32LE(0xffffffff, 4);
    header.write('WAVEfmt ', 8, 'ascii');
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(3, 20);
    header.writeUInt16LE(2, 22);
    header.writeUInt32LE(44100, 24);
    header.write('data', 36, 'ascii');
    header.writeUInt32LE(0xffffffff, 40);
    const wav = Buffer.concat([header, interleaved((v, out, at) => out.writeFloatLE(v, at), 4)]);
    for (const sizes of [[wav.length], [5], [30, 4096]]) {
      const pcm = collect({ kind: 'wav' }, wav, sizes);
      expect(pcm.sampleRate).toBe(44100);
      expect(pcm.channels[0]).toEqual(left);
      expect(pcm.channels[1]).toEqual(right);
    }
    expect(() => collect({ kind: 'wav' }, Buffer.from('not audio at all, only words'), [8])).toThrow(/not a WAV stream/);
    expect(() => collect({ kind: 'wav' }, header.subarray(0, 20), [20])).toThrow(/no data/);
  });

  it.skipIf(materialMissing !== null)('fails the ffmpeg run whose output is not what its pipe was declared to carry', async () => {
    const input = { sampleRate: 48000, channels: [left, right] };
    await expect(runFfmpeg({ input, args: ['-c:a', 'pcm_f32le', '-f', 'f32le', 'pipe:1'], pipes: [{ kind: 'wav' }] })).rejects.toThrow(/not a WAV stream/);
    const [back] = await runFfmpeg({ input, args: ['-c:a', 'pcm_f32le', '-f', 'f32le', 'pipe:1'], pipes: [{ kind: 'raw', sample: 'f32le', sampleRate: 48000, channels: 2 }], expectedFrames: frames });
    expect(back!.channels[0]).toEqual(left);
    expect(back!.channels[1]).toEqual(right);
  });
});
