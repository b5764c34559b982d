// What a bounce needs on this machine: Debian's `fluidsynth` (MIDI → WAV), a General MIDI soundfont
// (`timgm6mb-soundfont`, or any .sf2 under /usr/share/sounds/sf2) and ffmpeg (WAV → FLAC, found as
// the media module finds it). Without one of them the bounce module is off and says which, and how
// to install it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { locateFfmpeg } from '../shared/ffmpeg-binary.js';

export const INSTALL_BOUNCE_COMMAND = 'apt-get install fluidsynth timgm6mb-soundfont';

export type BounceTools = { available: true; fluidsynth: string; soundfont: string; ffmpeg: string } | { available: false; reason: string; fix: string };

const SOUNDFONT_DIR = '/usr/share/sounds/sf2';
/** The small GM soundfont first: it loads in milliseconds where FluidR3 (148 MB) takes seconds. */
const PREFERRED = ['TimGM6mb.sf2', 'default-GM.sf2', 'FluidR3_GM.sf2'];

export function locateBounceTools(env: NodeJS.ProcessEnv = process.env, soundfontDir = SOUNDFONT_DIR): BounceTools {
  const run = spawnSync('fluidsynth', ['--version'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000, encoding: 'utf8', env });
  if (run.error || run.status !== 0 || !/FluidSynth/i.test(run.stdout)) return { available: false, reason: 'fluidsynth is not installed', fix: INSTALL_BOUNCE_COMMAND };
  const soundfont = findSoundfont(soundfontDir);
  if (!soundfont) return { available: false, reason: `no General MIDI soundfont (.sf2) in ${soundfontDir}`, fix: INSTALL_BOUNCE_COMMAND };
  const ffmpeg = locateFfmpeg(env);
  if (!ffmpeg.available) return { available: false, reason: ffmpeg.reason, fix: ffmpeg.fix };
  return { available: true, fluidsynth: 'fluidsynth', soundfont, ffmpeg: ffmpeg.path };
}

function findSoundfont(dir: string): string | null {
  if (!existsSync(dir)) return null;
  for (const name of PREFERRED) if (existsSync(path.join(dir, name))) return path.join(dir, name);
  const any = readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.sf2')).sort()[0];
  return any ? path.join(dir, any) : null;
}
