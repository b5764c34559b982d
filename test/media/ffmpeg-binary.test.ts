import { execFile, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { INSTALL_FFMPEG_COMMAND, locateFfmpeg, type FfmpegBinary } from '../../src/shared/ffmpeg-binary.js';
import { tempDir } from '../helpers/services.js';

const baseEnv: NodeJS.ProcessEnv = { ...process.env };
delete baseEnv.VEZA_FFMPEG;
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
    expect(locateFfmpeg({ ...baseEnv, VEZA_FFMPEG: binary })).toEqual(found);
  });

  it('reports a VEZA_FFMPEG that does not exist, is not executable, or is not ffmpeg as unavailable, with the reason', () => {
    expect(locateFfmpeg({ ...baseEnv, VEZA_FFMPEG: '/nonexistent/ffmpeg' })).toEqual({
      available: false,
      reason: 'VEZA_FFMPEG /nonexistent/ffmpeg does not exist',
      fix: VEZA_FFMPEG_FIX,
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
    expect(locateFfmpeg({ ...baseEnv, PATH: temp() })).toEqual({ available: false, reason: 'ffmpeg is not on PATH', fix: INSTALL_FFMPEG_COMMAND });
  });

  it('agrees with native/resolve-media.mjs, which the postinstall runs without TypeScript', async () => {
    for (const env of [baseEnv, { ...baseEnv, VEZA_FFMPEG: '/nonexistent/ffmpeg' }, { ...baseEnv, VEZA_FFMPEG: '/bin/true' }]) {
      const scriptEnv = { ...env, VEZA_MEDIA_CACHE_DIR: temp(), VEZA_MEDIA_BUILD: '0', VEZA_MEDIA_DOWNLOAD: '0' };
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(process.execPath, ['native/resolve-media.mjs', '--check'], { env: scriptEnv, encoding: 'utf8' }, (error, out) => (error ? reject(error) : resolve(out)));
      });
      expect((JSON.parse(stdout) as { ffmpeg: FfmpegBinary }).ffmpeg).toEqual(locateFfmpeg(env));
    }
  });
});
