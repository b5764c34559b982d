// Measuring rendered audio with ffprobe/ffmpeg: its duration and its RMS level.
import { spawnSync } from 'node:child_process';

/** Duration in seconds of an audio file as ffprobe reads it. */
export function probeSeconds(file: string): number {
  const out = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`ffprobe failed: ${out.stderr}`);
  return Number(out.stdout.trim());
}

/** Overall RMS level in dBFS of an audio file (ffmpeg's astats); -Infinity for digital silence. */
export function rmsDb(file: string): number {
  const out = spawnSync('ffmpeg', ['-hide_banner', '-nostats', '-i', file, '-af', 'astats=measure_perchannel=none', '-f', 'null', '-'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`ffmpeg astats failed: ${out.stderr.slice(-500)}`);
  const match = /RMS level dB:\s*(-?inf|-?[0-9.]+)/.exec(out.stderr);
  if (!match) throw new Error('no RMS level in the astats output');
  return match[1]!.includes('inf') ? -Infinity : Number(match[1]);
}
