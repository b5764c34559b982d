import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { processStarts } from '../../src/mastering/ffmpeg.js';
import { probeHeader } from '../../src/mastering/header-probe.js';
import { InputError, probeAudio } from '../../src/mastering/probe.js';
import { materialMissing, sample } from './support.js';

/** A WAV or FLAC header read by node gives ffprobe's answer; anything else is left to ffprobe. */
const dir = mkdtempSync(path.join(os.tmpdir(), 'veza-header-probe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ffprobe(file: string) {
  const data = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file], { encoding: 'utf8' })) as {
    streams: { codec_type: string; codec_name: string; sample_rate: string; channels: number; duration?: string }[];
    format: { format_name: string; duration?: string };
  };
  const stream = data.streams.find((s) => s.codec_type === 'audio')!;
  return { container: data.format.format_name, codec: stream.codec_name, sampleRate: Number(stream.sample_rate), channels: stream.channels, durationSeconds: Number(stream.duration ?? data.format.duration) };
}

const encode = (name: string, args: string[]) => {
  const out = path.join(dir, name);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', sample('loop_tabla'), '-t', '3.21', ...args, out]);
  return out;
};

describe.skipIf(materialMissing)('WAV and FLAC headers read by node', () => {
  it('give ffprobe\'s container, codec, rate, channels and duration', async () => {
    const files = [
      sample('loop_tabla'),
      sample('guit_em9'),
      encode('s16.wav', ['-c:a', 'pcm_s16le']),
      encode('s24-mono.wav', ['-ac', '1', '-ar', '48000', '-c:a', 'pcm_s24le']),
      encode('s32.wav', ['-c:a', 'pcm_s32le', '-metadata', 'title=tagged']),
      encode('f32.wav', ['-c:a', 'pcm_f32le']),
      encode('f64.wav', ['-c:a', 'pcm_f64le', '-ar', '96000']),
      encode('u8.wav', ['-c:a', 'pcm_u8']),
      encode('six.wav', ['-af', 'pan=5.1|FL=c0|FR=c1|FC=c0|LFE=c1|BL=c0|BR=c1', '-c:a', 'pcm_s16le']),
      encode('s24.flac', ['-c:a', 'flac', '-sample_fmt', 's32', '-ar', '88200']),
      encode('mono.flac', ['-ac', '1', '-c:a', 'flac']),
    ];
    for (const file of files) expect({ file, info: await probeHeader(file) }).toEqual({ file, info: ffprobe(file) });
    // probeAudio takes the header's answer without starting ffprobe.
    const before = processStarts.ffprobe;
    expect(await probeAudio(files[3]!, 900)).toEqual(ffprobe(files[3]!));
    expect(processStarts.ffprobe).toBe(before);
  });

  it('leave to ffprobe what they do not fully describe: other containers, streamed or cut WAVs, odd headers', async () => {
    const mp3 = encode('x.mp3', ['-c:a', 'libmp3lame']);
    const streamed = path.join(dir, 'streamed.wav');
    writeFileSync(streamed, execFileSync('ffmpeg', ['-v', 'error', '-i', sample('loop_tabla'), '-t', '1', '-f', 'wav', 'pipe:1']));
    const whole = readFileSync(encode('cut-from.wav', ['-c:a', 'pcm_s16le']));
    const cut = path.join(dir, 'cut.wav');
    writeFileSync(cut, whole.subarray(0, whole.length - 1000));
    const text = path.join(dir, 'notes.wav');
    writeFileSync(text, 'RIFF....WAVEnot a chunk');
    const empty = path.join(dir, 'empty.flac');
    writeFileSync(empty, '');
    for (const file of [mp3, streamed, cut, text, empty, path.join(dir, 'missing.wav')]) expect(await probeHeader(file)).toBeNull();
    // ffprobe still answers and judges them.
    const before = processStarts.ffprobe;
    expect((await probeAudio(mp3, 900)).codec).toBe('mp3');
    expect(processStarts.ffprobe).toBe(before + 1);
    await expect(probeAudio(text, 900)).rejects.toBeInstanceOf(InputError);
  });

  it('apply the length limits as ffprobe\'s answer does', async () => {
    const file = encode('limit.wav', ['-c:a', 'pcm_s16le']);
    await expect(probeAudio(file, 2)).rejects.toMatchObject({ problem: 'too-long' });
    const short = path.join(dir, 'short.wav');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', sample('loop_tabla'), '-t', '0.3', '-c:a', 'pcm_s16le', short]);
    await expect(probeAudio(short, 900)).rejects.toMatchObject({ problem: 'not-audio' });
  });
});
