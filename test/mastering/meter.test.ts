import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeFile, analyzePcm } from '../../src/mastering/analysis.js';
import { measureLoudness } from '../../src/mastering/meter.js';
import { tempDir } from '../helpers/services.js';
import { ebur128, materialMissing, OPENMSX, renderMidi, sample, SOUNDFONT, XM } from './support.js';

/**
 * Our BS.1770-4 meter against ffmpeg's ebur128 on real material: integrated loudness and loudness
 * range within 0.1 LU, true peak within 0.1 dB. Short hits, decaying notes, loops, a tracker module
 * and a General MIDI rendering, at 44.1 and 48 kHz, mono and stereo.
 */
describe.skipIf(materialMissing !== null)('loudness meter', () => {
  const dir = tempDir('mastering-meter');
  const files: string[] = ['loop_amen', 'ambi_choir', 'guit_em9', 'bass_voxy_c', 'loop_compus', 'ambi_lunar_land', 'loop_tabla', 'loop_industrial', 'bd_808', 'elec_chime'].map(sample);

  beforeAll(() => {
    if (existsSync(XM)) {
      const xm = path.join(dir.dir, 'frozen-bubble-60s.flac');
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', XM, '-t', '60', xm]);
      files.push(xm);
    }
    if (SOUNDFONT && existsSync(OPENMSX)) {
      const midi = path.join(dir.dir, 'city-blues-30s.flac');
      renderMidi('city_blues_redfarn.mid', midi, 30);
      files.push(midi);
    }
    // Mono at 48 kHz.
    const mono = path.join(dir.dir, 'guitar-mono-48k.wav');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', sample('guit_e_fifths'), '-ac', '1', '-ar', '48000', mono]);
    files.push(mono);
  }, 120_000);
  afterAll(() => dir.remove());

  it('agrees with ebur128 within 0.1 LU and 0.1 dB on every file', async () => {
    const rows: string[] = [];
    for (const file of files) {
      const reference = ebur128(file);
      const probeRate = Number(execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=sample_rate', '-of', 'csv=p=0', file], { encoding: 'utf8' }).trim());
      const { analysis } = await analyzeFile(file, probeRate);
      const ours = analysis.loudness;
      rows.push(`${path.basename(file)} I ${ours.integrated.toFixed(2)}/${reference.integrated} LRA ${ours.range.toFixed(2)}/${reference.range} TP ${ours.truePeak.toFixed(2)}/${reference.truePeak.toFixed(2)}`);
      expect(Math.abs(ours.integrated - reference.integrated), rows.at(-1)).toBeLessThanOrEqual(0.1);
      expect(Math.abs(ours.range - reference.range), rows.at(-1)).toBeLessThanOrEqual(0.1);
      expect(Math.abs(ours.truePeak - reference.truePeak), rows.at(-1)).toBeLessThanOrEqual(0.1);
    }
    console.log(rows.join('\n'));
    expect(rows.length).toBeGreaterThanOrEqual(11);
  }, 180_000);

  it('reads the EBU Tech 3341 stereo sine: 1 kHz at -23 dBFS measures -23.0 LUFS, and silence has no loudness', () => {
    const rate = 48000;
    const sine = Float32Array.from({ length: rate * 20 }, (_, i) => 10 ** (-23 / 20) * Math.sin((2 * Math.PI * 1000 * i) / rate));
    const loudness = measureLoudness({ sampleRate: rate, channels: [sine, sine] });
    expect(loudness.integrated).toBeCloseTo(-23, 1);
    expect(loudness.range).toBeLessThan(0.1);
    expect(loudness.truePeak).toBeCloseTo(-23, 1);
    const silence = measureLoudness({ sampleRate: rate, channels: [new Float32Array(rate * 2)] });
    expect(silence.integrated).toBe(-Infinity);
  });

  it('finds a peak between samples: a quarter-rate sine sampled off its crests reads 3 dB above its samples', () => {
    const rate = 48000;
    // Faded in and out over 0.1 s, so the edges do not ring.
    const fade = (i: number) => Math.min(1, i / 4800, (rate - 1 - i) / 4800);
    const x = Float32Array.from({ length: rate }, (_, i) => fade(i) * 0.5 * Math.sin((2 * Math.PI * i) / 4 + Math.PI / 4));
    const loudness = measureLoudness({ sampleRate: rate, channels: [x] });
    expect(loudness.samplePeak).toBeCloseTo(20 * Math.log10(0.5 * Math.SQRT1_2), 2);
    expect(loudness.truePeak).toBeCloseTo(20 * Math.log10(0.5), 1);
  });

  it('measures stereo width, correlation, clipping and DC offset', () => {
    const rate = 48000;
    const n = rate * 2;
    const tone = Float32Array.from({ length: n }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / rate));
    const inverted = tone.map((v) => -v);
    const clipped = tone.map((v) => Math.max(-0.2, Math.min(0.2, v * 10)) * 5);
    const offset = tone.map((v) => v + 0.05);
    expect(analyzePcm({ sampleRate: rate, channels: [tone, tone] }).correlation).toBeCloseTo(1, 3);
    expect(analyzePcm({ sampleRate: rate, channels: [tone, tone] }).stereoWidth).toBeCloseTo(0, 3);
    const phase = analyzePcm({ sampleRate: rate, channels: [tone, inverted] });
    expect(phase.correlation).toBeCloseTo(-1, 3);
    expect(analyzePcm({ sampleRate: rate, channels: [clipped, clipped] }).clippedRuns).toBeGreaterThan(100);
    expect(analyzePcm({ sampleRate: rate, channels: [tone, tone] }).clippedRuns).toBe(0);
    expect(analyzePcm({ sampleRate: rate, channels: [offset, offset] }).dcOffsetDb[0]).toBeCloseTo(20 * Math.log10(0.05), 1);
  });
});
