import path from 'node:path';
import type { types as ms } from 'mediasoup';
import type { LiveRoom } from './plane.js';
import { Recording, type RecordingOptions } from './recording.js';

/**
 * The audio of the SDP's `count` audio streams as one labelled stream: itself when there is one,
 * else an `amix` of them (several voices and the music in one track).
 */
export function mixedAudio(count: number, label: string): string {
  if (count <= 1) return `[0:a:0]anull[${label}]`;
  const inputs = Array.from({ length: count }, (_, i) => `[0:a:${i}]`).join('');
  return `${inputs}amix=inputs=${count}:normalize=0[${label}]`;
}

/**
 * ffmpeg output arguments for fMP4 HLS with EXT-X-PROGRAM-DATE-TIME and a two-rendition ladder:
 * with video, 720p-capped and 360p-capped H.264 (libx264 ultrafast zerolatency, 1 s GOP) each with
 * AAC; audio only, AAC at 128k and 48k. Several audio streams are mixed into one; the first video
 * stream of the SDP is the picture. Debian's ffmpeg 5.1 has no LL-HLS.
 */
export function hlsOutputArgs(dir: string, hasVideo: boolean, audioCount = 1): string[] {
  const common = [
    '-f', 'hls', '-hls_time', '1', '-hls_list_size', '6', '-hls_segment_type', 'fmp4',
    '-hls_flags', 'independent_segments+program_date_time+delete_segments',
    '-master_pl_name', 'master.m3u8', '-hls_fmp4_init_filename', 'init.mp4',
    '-hls_segment_filename', path.join(dir, 's%v_%05d.m4s'),
  ];
  const audio = `${mixedAudio(audioCount, 'mix')};[mix]asplit=2[a0][a1]`;
  if (!hasVideo) {
    return ['-filter_complex', audio, '-map', '[a0]', '-map', '[a1]', '-c:a', 'aac', '-b:a:0', '128k', '-b:a:1', '48k', ...common, '-var_stream_map', 'a:0 a:1', path.join(dir, 's%v.m3u8')];
  }
  return [
    '-filter_complex', `[0:v:0]split=2[a][b];[a]scale=-2:'min(720,ih)'[v0];[b]scale=-2:'min(360,ih/2)'[v1];${audio}`,
    '-map', '[v0]', '-map', '[v1]', '-map', '[a0]', '-map', '[a1]',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-keyint_min', '25', '-sc_threshold', '0',
    '-b:v:0', '2500k', '-b:v:1', '600k', '-c:a', 'aac', '-b:a:0', '128k', '-b:a:1', '64k',
    ...common, '-var_stream_map', 'v:0,a:0 v:1,a:1', path.join(dir, 's%v.m3u8'),
  ];
}

/**
 * Starts HLS egress into `dir`/master.m3u8: every audio producer mixed, and the first video
 * producer (put the live camera first) as the picture.
 */
export function startHls(room: LiveRoom, producers: ms.Producer[], dir: string, options: Pick<RecordingOptions, 'onUnexpectedExit'> = {}): Promise<Recording> {
  const audioCount = producers.filter((p) => p.kind === 'audio').length;
  if (audioCount === 0) return Promise.reject(new Error('HLS egress needs an audio producer'));
  const video = producers.find((p) => p.kind === 'video');
  const audios = producers.filter((p) => p.kind === 'audio');
  return Recording.start(room, video ? [...audios, video] : audios, { ...options, file: path.join(dir, 'master.m3u8'), outputArgs: hlsOutputArgs(dir, video !== undefined, audioCount) });
}
