// Real test material from Debian packages (sonic-pi-samples, fb-music-high, openttd-openmsx rendered
// with fluidsynth and a General MIDI soundfont) and ffmpeg's own ebur128 meter to check against.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pipeName, runFfmpeg } from '../../src/mastering/ffmpeg-run.js';
import type { Pcm } from '../../src/mastering/pcm.js';

export const SAMPLES = ['/usr/share/sonic-pi/samples', '/usr/lib/sonic-pi/etc/samples'].find(existsSync) ?? null;
export const XM = '/usr/share/games/frozen-bubble/snd/frozen-mainzik-2p.xm';
export const OPENMSX = '/usr/share/games/openttd/baseset/openmsx';
export const SOUNDFONT = ['/usr/share/sounds/sf2/TimGM6mb.sf2', '/usr/share/sounds/sf2/FluidR3_GM.sf2'].find(existsSync) ?? null;

export const hasFfmpeg = (() => {
  try {
    execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Why the material-based tests skip here, or null when everything is installed. */
export const materialMissing: string | null = !hasFfmpeg
  ? 'ffmpeg is not installed (apt-get install ffmpeg)'
  : !SAMPLES
    ? 'sonic-pi-samples is not installed (apt-get install sonic-pi-samples)'
    : null;
if (materialMissing) {
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`mastering test material missing: ${materialMissing}`);
  console.log(`mastering tests skipped: ${materialMissing}`);
}

export const sample = (name: string) => path.join(SAMPLES ?? '', `${name}.flac`);

/** `file` as ffmpeg decodes it, always through ffmpeg (the reference node's own readers are held to): float samples at `sampleRate`, mono or stereo. */
export async function ffmpegDecode(file: string, sampleRate = 48000): Promise<Pcm> {
  const args = ['-i', file, '-vn', '-af', 'aformat=channel_layouts=mono|stereo', '-ar', String(sampleRate), '-c:a', 'pcm_f32le', '-f', 'wav', pipeName(0)];
  const [pcm] = await runFfmpeg({ args, pipes: [{ kind: 'wav' }] });
  return pcm!;
}

export interface Ebur128 {
  integrated: number;
  range: number;
  truePeak: number;
}

/**
 * ffmpeg's ebur128 (peak=true) over the whole file: the values it attaches to its last frame, which
 * carry three decimals where the closing summary rounds to one (the true peak comes as a linear value).
 */
export function ebur128(file: string): Ebur128 {
  const text = execFileSync('ffmpeg', ['-nostats', '-hide_banner', '-nostdin', '-v', 'error', '-i', file, '-af', 'ebur128=peak=true:metadata=1,ametadata=mode=print:file=-', '-f', 'null', '-'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 1 << 28,
  });
  const last = (key: string) => {
    const all = [...text.matchAll(new RegExp(`^lavfi\\.r128\\.${key.replace('.', '\\.')}=(\\S+)$`, 'gm'))];
    if (all.length === 0) throw new Error(`ebur128 printed no ${key} for ${file}`);
    return Number(all.at(-1)![1]);
  };
  return { integrated: last('I'), range: last('LRA'), truePeak: 20 * Math.log10(Math.max(1e-9, last('true_peak'))) };
}

/** Renders the first `seconds` of an openmsx MIDI tune with fluidsynth to a 44.1 kHz FLAC. */
export function renderMidi(name: string, out: string, seconds: number): void {
  const wav = `${out}.wav`;
  execFileSync('fluidsynth', ['-ni', '-q', '-g', '0.5', '-r', '44100', '-F', wav, SOUNDFONT!, path.join(OPENMSX, name)], { stdio: 'ignore' });
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', wav, '-t', String(seconds), out]);
}
