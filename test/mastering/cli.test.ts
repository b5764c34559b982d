import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runVeza } from '../helpers/process.js';
import { tempDir } from '../helpers/services.js';
import { ebur128, materialMissing, sample } from './support.js';

/** `veza master`: a master on target by ebur128 with a progress bar, and the refusals with their reasons. */
describe.skipIf(materialMissing !== null)('veza master', () => {
  const dir = tempDir('mastering-cli');
  afterAll(() => dir.remove());

  it('masters a file to the asked target and format, drawing progress on stderr', async () => {
    const out = path.join(dir.dir, 'amen.mp3');
    const run = await runVeza(['master', sample('loop_amen_full'), '--out', out, '--target', '-9', '--genre', 'hiphop', '--title', 'Amen master']);
    expect(run.stderr).toContain('100% done');
    expect(run.stderr).toMatch(/\[#+\.*\] +\d+% rendering pass 1/);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ format: 'mp3', converged: true, template: { id: 'hiphop' } });
    const measured = ebur128(out);
    expect(Math.abs(measured.integrated + 9)).toBeLessThanOrEqual(0.2);
    expect(measured.truePeak).toBeLessThanOrEqual(-1);
  }, 120_000);

  it('matches a reference and takes its loudness when no target is given', async () => {
    const out = path.join(dir.dir, 'tabla.wav');
    const run = await runVeza(['master', sample('loop_tabla'), '--out', out, '--reference', sample('loop_amen_full'), '--format', 'wav16']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.referenceDeviationDb).toBeLessThan(report.referenceDeviationBeforeDb);
    const reference = ebur128(sample('loop_amen_full'));
    expect(Math.abs(ebur128(out).integrated - reference.integrated)).toBeLessThanOrEqual(0.2);
  }, 120_000);

  it('refuses what it cannot master, saying why', async () => {
    const notAudio = await runVeza(['master', path.join(import.meta.dirname, 'cli.test.ts'), '--out', path.join(dir.dir, 'x.wav')]);
    expect(notAudio.code).toBe(2);
    expect(notAudio.stderr).toMatch(/not audio/);
    const target = await runVeza(['master', sample('bd_808'), '--out', path.join(dir.dir, 'x.wav'), '--target', '-45']);
    expect(target.code).toBe(2);
    expect(target.stderr).toMatch(/--target must be/);
    const format = await runVeza(['master', sample('bd_808'), '--out', path.join(dir.dir, 'x.ogg')]);
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(/name it \.wav, \.flac, \.mp3 or \.m4a, or give --format/);
    const unknownFormat = await runVeza(['master', sample('bd_808'), '--out', path.join(dir.dir, 'x.wav'), '--format', 'wma']);
    expect(unknownFormat.code).toBe(2);
    expect(unknownFormat.stderr).toMatch(/--format must be/);
    const missing = await runVeza(['master', path.join(dir.dir, 'nothing.wav'), '--out', path.join(dir.dir, 'x.wav')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/does not exist/);
    const ffmpeg = await runVeza(['master', sample('bd_808'), '--out', path.join(dir.dir, 'x.wav')], { VEZA_FFMPEG: path.join(dir.dir, 'no-ffmpeg') });
    expect(ffmpeg.code).toBe(2);
    expect(ffmpeg.stderr).toMatch(/mastering needs ffmpeg: .*fix: point VEZA_FFMPEG at an ffmpeg binary/);
  }, 120_000);
});
