import { execFile, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ffmpegCommand, ffprobeCommand, INSTALL_FFMPEG_COMMAND, locateFfmpeg, type FfmpegBinary } from '../../src/shared/ffmpeg-binary.js';
import { tempDir } from '../helpers/services.js';

const baseEnv: NodeJS.ProcessEnv = { ...process.env };
delete baseEnv.VEZA_FFMPEG;
delete baseEnv.FFMPEG_PATH;
const VEZA_FFMPEG_FIX = `point VEZA_FFMPEG at an ffmpeg binary, or unset it to use ffmpeg from PATH (${INSTALL_FFMPEG_COMMAND})`;

/** ffmpeg's first -version line when it is on PATH, or null (a printed skip; a failure with REQUIRE_SERVICES=1). */
const ffmpegOnPath = ((): string | null => {
  const run = spawnSync('ffmpeg', ['-version'], { encoding: 'utf8' });
  if (run.status === 0) return run.stdout.split('\n')[0]!;
  const reason = `no ffmpeg on PATH: ${INSTALL_FFMPEG_COMMAND}`;
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`${reason} (REQUIRE_SERVICES=1)`);
  console.warn(`SKIP: ${reason}`);
  return null;
})();

const temps: { remove: () => void }[] = [];
afterEach(() => {
  for (const temp of temps.splice(0)) temp.remove();
});

function temp(): string {
  const dir = tempDir('ffmpeg');
  temps.push(dir);
  return dir.dir;
}

describe('locateFfmpeg', () => {
  it.skipIf(!ffmpegOnPath)('finds ffmpeg on PATH, with its path and the version its first -version line gives', () => {
    const found = locateFfmpeg(baseEnv);
    expect(found).toMatchObject({ available: true });
    const { path: binary, version } = found as Extract<FfmpegBinary, { available: true }>;
    expect(path.isAbsolute(binary)).toBe(true);
    expect(path.basename(binary)).toBe('ffmpeg');
    expect(ffmpegOnPath).toMatch(new RegExp(`^ffmpeg version ${version.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `));
    // The path found is one VEZA_FFMPEG can name.
    expect(locateFfmpeg({ ...baseEnv, VEZA_FFMPEG: binary })).toEqual({ ...found, source: 'VEZA_FFMPEG' });
  });

  it('reports a VEZA_FFMPEG that does not exist, is not executable, or is not ffmpeg as unavailable, with the reason', () => {
    expect(locateFfmpeg({ ...baseEnv, VEZA_FFMPEG: '/nonexistent/ffmpeg' })).toEqual({
      available: false,
      reason: 'VEZA_FFMPEG /nonexistent/ffmpeg does not exist',
      fix: VEZA_FFMPEG_FIX,
      notes: [],
    });
    const file = path.join(temp(), 'ffmpeg');
    writeFileSync(file, '#!/bin/sh\necho "not ffmpeg"\n');
    expect(locateFfmpeg({ ...baseEnv, VEZA_FFMPEG: file })).toMatchObject({ available: false, reason: `VEZA_FFMPEG ${file} is not executable` });
    expect(locateFfmpeg({ ...baseEnv, VEZA_FFMPEG: '/bin/true' })).toMatchObject({
      available: false,
      reason: 'VEZA_FFMPEG /bin/true is not ffmpeg (-version does not start with "ffmpeg version")',
    });
    expect(locateFfmpeg({ ...baseEnv, VEZA_FFMPEG: '/bin/false' })).toMatchObject({ available: false, reason: 'VEZA_FFMPEG /bin/false -version failed (exit code 1)' });
  });

  it('reports ffmpeg missing from PATH with the command that installs it', () => {
    expect(locateFfmpeg({ ...baseEnv, PATH: temp() }, null)).toEqual({ available: false, reason: 'ffmpeg is not on PATH', fix: INSTALL_FFMPEG_COMMAND, notes: [] });
  });

  it('agrees with native/resolve-media.mjs, which the postinstall runs without TypeScript', async () => {
    for (const env of [baseEnv, { ...baseEnv, VEZA_FFMPEG: '/nonexistent/ffmpeg' }, { ...baseEnv, VEZA_FFMPEG: '/bin/true' }, { ...baseEnv, FFMPEG_PATH: '/nonexistent/ffmpeg' }]) {
      const scriptEnv = { ...env, VEZA_MEDIA_CACHE_DIR: temp(), VEZA_MEDIA_BUILD: '0', VEZA_MEDIA_DOWNLOAD: '0' };
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(process.execPath, ['native/resolve-media.mjs', '--check'], { env: scriptEnv, encoding: 'utf8' }, (error, out) => (error ? reject(error) : resolve(out)));
      });
      expect((JSON.parse(stdout) as { ffmpeg: FfmpegBinary }).ffmpeg).toEqual(locateFfmpeg(env));
    }
  });

  describe('the order: ffmpeg-static, then FFMPEG_PATH, then PATH', () => {
    const noFfmpegOnPath = () => ({ ...baseEnv, PATH: temp() });

    it.skipIf(!ffmpegOnPath)('takes the binary ffmpeg-static fetched before FFMPEG_PATH and PATH', () => {
      // A working binary where ffmpeg-static says its download went: the system's stands in for it.
      const fetched = locateFfmpeg(baseEnv, null) as Extract<FfmpegBinary, { available: true }>;
      const found = locateFfmpeg({ ...noFfmpegOnPath(), FFMPEG_PATH: '/nonexistent/ffmpeg' }, fetched.path);
      expect(found).toEqual({ available: true, path: fetched.path, version: fetched.version, source: 'ffmpeg-static', notes: [] });
      expect(ffmpegCommand({ ...baseEnv, FFMPEG_PATH: '/nonexistent/ffmpeg' }, fetched.path)).toBe(fetched.path);
    });

    it.skipIf(!ffmpegOnPath)('goes on to FFMPEG_PATH when ffmpeg-static installed without its binary, and says so', () => {
      const system = (locateFfmpeg(baseEnv, null) as Extract<FfmpegBinary, { available: true }>).path;
      const missing = path.join(temp(), 'node_modules', 'ffmpeg-static', 'ffmpeg');
      const found = locateFfmpeg({ ...noFfmpegOnPath(), FFMPEG_PATH: system }, missing);
      expect(found).toMatchObject({ available: true, path: system, source: 'FFMPEG_PATH', notes: ['ffmpeg-static is installed without its binary (its install could not download it)'] });
      expect(ffmpegCommand({ ...baseEnv, FFMPEG_PATH: system }, missing)).toBe(system);
      // FFMPEG_PATH comes before VEZA_FFMPEG, its earlier name.
      expect(locateFfmpeg({ ...baseEnv, FFMPEG_PATH: system, VEZA_FFMPEG: '/nonexistent/ffmpeg' }, null)).toMatchObject({ source: 'FFMPEG_PATH' });
      expect(ffprobeCommand(baseEnv, system)).toBe(path.join(path.dirname(system), 'ffprobe'));
    });

    it.skipIf(!ffmpegOnPath)('goes on to PATH when ffmpeg-static\'s binary is not ffmpeg and no variable is set', () => {
      const found = locateFfmpeg(baseEnv, '/bin/true');
      expect(found).toMatchObject({ available: true, source: 'PATH', notes: ['ffmpeg-static\'s binary /bin/true is not ffmpeg (-version does not start with "ffmpeg version")'] });
      expect(ffmpegCommand(baseEnv, null)).toBe('ffmpeg');
    });

    it('refuses a broken FFMPEG_PATH with the fix, rather than falling back to PATH', () => {
      expect(locateFfmpeg({ ...baseEnv, FFMPEG_PATH: '/nonexistent/ffmpeg' }, '/nonexistent/ffmpeg-static/ffmpeg')).toEqual({
        available: false,
        reason: 'FFMPEG_PATH /nonexistent/ffmpeg does not exist',
        fix: `point FFMPEG_PATH at an ffmpeg binary, or unset it to use ffmpeg from PATH (${INSTALL_FFMPEG_COMMAND})`,
        notes: ['ffmpeg-static is installed without its binary (its install could not download it)'],
      });
    });

    it('reports none at all with the command that installs one', () => {
      expect(locateFfmpeg(noFfmpegOnPath(), '/nonexistent/ffmpeg-static/ffmpeg')).toMatchObject({ available: false, reason: 'ffmpeg is not on PATH', fix: INSTALL_FFMPEG_COMMAND });
      // ffmpeg-static ships no ffprobe: the one on PATH serves.
      expect(ffprobeCommand(baseEnv, path.join(temp(), 'ffmpeg'))).toBe('ffprobe');
    });
  });
});
