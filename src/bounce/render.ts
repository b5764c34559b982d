// Rendering a Standard MIDI File to audio: fluidsynth's fast file renderer with a GM soundfont
// writes 44.1 kHz 16-bit stereo WAV, then ffmpeg encodes it losslessly to FLAC. Both run as child
// processes in a temporary directory, which is removed afterwards.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const SAMPLE_RATE = 44_100;

export interface RenderTools {
  fluidsynth: string;
  soundfont: string;
  ffmpeg: string;
}

export interface Rendered {
  flac: Buffer;
  /** Length of the audio, from the WAV's sample count. */
  durationMs: number;
}

/** Fade at the cut, so a note still sounding at the session's end does not click. */
const FADE_MS = 30;

/**
 * Renders `midi`, cut to `lengthMs` (the session's length: the synth's release tails past it are
 * faded out) when given; `progress` is told 0..1 as the steps finish.
 */
export async function renderMidi(midi: Uint8Array, tools: RenderTools, lengthMs: number | null, progress: (fraction: number) => void = () => undefined): Promise<Rendered> {
  const dir = await mkdtemp(path.join(tmpdir(), 'veza-bounce-'));
  try {
    const midiPath = path.join(dir, 'session.mid');
    const wavPath = path.join(dir, 'session.wav');
    const flacPath = path.join(dir, 'session.flac');
    await writeFile(midiPath, midi);
    // -n: no MIDI input, -i: no shell; -F: render to a file as fast as possible; -q: quiet.
    await run(tools.fluidsynth, ['-n', '-i', '-q', '-g', '0.8', '-r', String(SAMPLE_RATE), '-O', 's16', '-T', 'wav', '-F', wavPath, tools.soundfont, midiPath]);
    progress(0.6);
    const wav = await readFile(wavPath);
    const durationMs = lengthMs === null ? wavDurationMs(wav) : Math.min(wavDurationMs(wav), Math.round(lengthMs));
    const seconds = (durationMs / 1000).toFixed(3);
    const fade = Math.max(0, durationMs - FADE_MS) / 1000;
    const cut = lengthMs === null ? [] : ['-t', seconds, '-af', `afade=t=out:st=${fade.toFixed(3)}:d=${(FADE_MS / 1000).toFixed(3)}`];
    await run(tools.ffmpeg, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-i', wavPath, ...cut, '-ar', String(SAMPLE_RATE), '-ac', '2', '-c:a', 'flac', flacPath]);
    progress(0.9);
    return { flac: await readFile(flacPath), durationMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The duration of a PCM WAV file: its data chunk's bytes over the byte rate of its fmt chunk. */
export function wavDurationMs(wav: Buffer): number {
  if (wav.toString('ascii', 0, 4) !== 'RIFF' || wav.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a WAV file');
  let offset = 12;
  let byteRate = 0;
  while (offset + 8 <= wav.length) {
    const id = wav.toString('ascii', offset, offset + 4);
    const size = wav.readUInt32LE(offset + 4);
    if (id === 'fmt ') byteRate = wav.readUInt32LE(offset + 16);
    if (id === 'data') {
      if (byteRate === 0) throw new Error('WAV data before its format');
      return Math.round((Math.min(size, wav.length - offset - 8) / byteRate) * 1000);
    }
    offset += 8 + size + (size % 2);
  }
  throw new Error('WAV file without data');
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 4000) stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(command)} failed (${signal ?? `exit code ${code}`}): ${stderr.trim().split('\n').slice(-3).join(' ')}`));
    });
  });
}
