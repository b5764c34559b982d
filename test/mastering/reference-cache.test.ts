import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeFile } from '../../src/mastering/analysis.js';
import { referenceAnalysis } from '../../src/mastering/assistant.js';
import { processStarts } from '../../src/mastering/ffmpeg.js';
import { materialMissing, sample } from './support.js';

/** A reference is decoded once while its file is unchanged: later jobs matching it start no ffmpeg for it. */
const dir = mkdtempSync(path.join(os.tmpdir(), 'veza-reference-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(materialMissing)('reference analysis kept between jobs', () => {
  it('decodes a reference once, gives the same analysis as decoding it, and reads it again once the file changes', async () => {
    const file = path.join(dir, 'reference.flac');
    copyFileSync(sample('guit_em9'), file);
    const starts = processStarts.ffmpeg;
    const first = await referenceAnalysis(file);
    expect(processStarts.ffmpeg).toBe(starts + 1);
    expect(first).toEqual((await analyzeFile(file)).analysis);
    const again = processStarts.ffmpeg;
    expect(await referenceAnalysis(file)).toBe(first);
    expect(processStarts.ffmpeg).toBe(again);
    // Another reference stored under the same name: analysed anew.
    rmSync(file);
    copyFileSync(sample('loop_tabla'), file);
    const replaced = await referenceAnalysis(file);
    expect(processStarts.ffmpeg).toBe(again + 1);
    expect(replaced.durationSeconds).not.toBe(first.durationSeconds);
  });

  it('rejects for a missing or unreadable reference and does not keep the failure', async () => {
    await expect(referenceAnalysis(path.join(dir, 'missing.flac'))).rejects.toThrow(/ENOENT/);
    const file = path.join(dir, 'bad.flac');
    copyFileSync(new URL(import.meta.url).pathname, file);
    await expect(referenceAnalysis(file)).rejects.toThrow(/decode/);
    rmSync(file);
    copyFileSync(sample('guit_em9'), file);
    expect((await referenceAnalysis(file)).channels).toBeGreaterThan(0);
  });
});
