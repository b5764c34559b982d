// What an uploaded file is, read by ffprobe (through fluent-ffmpeg) before anything decodes it: audio
// or not, in a container and codec the chain takes, and not longer than the limit. A WAV or FLAC
// header node reads itself gives ffprobe's answer without starting it (header-probe.ts).
import ffmpeg from 'fluent-ffmpeg';
import { ffmpegFor, processStarts } from './ffmpeg.js';
import { probeHeader } from './header-probe.js';

export type InputProblem = 'not-audio' | 'unsupported-format' | 'too-long';

/** A file the chain refuses; `problem` picks the HTTP status, the message says why. */
export class InputError extends Error {
  constructor(
    readonly problem: InputProblem,
    message: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}

export interface AudioInfo {
  /** ffprobe's container name, e.g. `wav`, `flac`, `mp3`, `mov,mp4,m4a,3gp,3g2,mj2`. */
  container: string;
  codec: string;
  sampleRate: number;
  channels: number;
  durationSeconds: number;
}

/** Containers and codecs a mix may arrive in (the formats the export writes, plus Ogg and AIFF). */
export const SUPPORTED_CONTAINERS = ['wav', 'flac', 'mp3', 'aiff', 'ogg', 'mov,mp4,m4a,3gp,3g2,mj2', 'aac'];
export const SUPPORTED_CODECS = ['pcm_s16le', 'pcm_s24le', 'pcm_s32le', 'pcm_f32le', 'pcm_f64le', 'pcm_u8', 'pcm_s16be', 'pcm_s24be', 'pcm_s32be', 'flac', 'mp3', 'aac', 'vorbis', 'opus', 'alac'];
export const SUPPORTED_LABEL = 'WAV, FLAC, MP3, AAC/M4A, Ogg Vorbis/Opus or AIFF';

export async function probeAudio(file: string, maxSeconds: number): Promise<AudioInfo> {
  const binaries = ffmpegFor();
  const header = await probeHeader(file);
  if (header) return checked(header, maxSeconds);
  const data = await new Promise<ffmpeg.FfprobeData>((resolve, reject) => {
    const command = ffmpeg(file);
    command.setFfprobePath(binaries.ffprobe);
    processStarts.ffprobe++;
    command.ffprobe((error: Error | null, result: ffmpeg.FfprobeData) => (error ? reject(error) : resolve(result)));
  }).catch(() => {
    throw new InputError('not-audio', `the file is not audio that ffmpeg can read; send ${SUPPORTED_LABEL}`);
  });
  const stream = data.streams.find((s) => s.codec_type === 'audio');
  if (!stream) throw new InputError('not-audio', `the file holds no audio stream; send ${SUPPORTED_LABEL}`);
  const container = data.format.format_name ?? '';
  const codec = stream.codec_name ?? '';
  if (!SUPPORTED_CONTAINERS.includes(container) || !SUPPORTED_CODECS.includes(codec)) {
    throw new InputError('unsupported-format', `${container || 'this container'} with ${codec || 'this codec'} is not taken; send ${SUPPORTED_LABEL}`);
  }
  const durationSeconds = Number(stream.duration ?? data.format.duration ?? NaN);
  return checked({ container, codec, sampleRate: Number(stream.sample_rate ?? 0), channels: stream.channels ?? 0, durationSeconds }, maxSeconds);
}

/** The file's length within the limits. */
function checked(info: AudioInfo, maxSeconds: number): AudioInfo {
  const { durationSeconds } = info;
  if (!Number.isFinite(durationSeconds) || durationSeconds <= 0) throw new InputError('not-audio', 'the audio has no duration');
  if (durationSeconds > maxSeconds) {
    throw new InputError('too-long', `the audio lasts ${durationSeconds.toFixed(1)} s; the limit is ${maxSeconds} s`);
  }
  if (durationSeconds < 0.5) throw new InputError('not-audio', 'the audio is shorter than 0.5 s; loudness needs at least one 400 ms block');
  return info;
}
