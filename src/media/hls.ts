import path from 'node:path';
import type { types as ms } from 'mediasoup';
import type { LiveRoom } from './live-room.js';
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

/** The streamselect filter that picks the live camera; `Recording.command(CAMERA_SWITCH, 'map', i)` switches. */
export const CAMERA_SWITCH = 'streamselect@cams';

/**
 * ffmpeg output arguments for fMP4 HLS with EXT-X-PROGRAM-DATE-TIME and a two-rendition ladder:
 * with video, 720p-capped and 360p-capped H.264 (libx264 ultrafast zerolatency, a keyframe each second) each with
 * AAC; audio only, AAC at 128k and 48k. Several audio streams are mixed into one. With several
 * cameras, all of them are decoded and a `streamselect` shows the live one, switched at runtime.
 * Debian's ffmpeg 5.1 has no LL-HLS.
 */
export function hlsOutputArgs(dir: string, cameras: number, audioCount = 1, live = 0, append = false): string[] {
  const common = [
    '-f', 'hls', '-hls_time', '1', '-hls_list_size', '6', '-hls_segment_type', 'fmp4',
    // A restarted egress continues the playlists (and segment numbers) after a discontinuity.
    '-hls_flags', `independent_segments+program_date_time+delete_segments${append ? '+append_list+discont_start' : ''}`,
    '-master_pl_name', 'master.m3u8', '-hls_fmp4_init_filename', 'init.mp4',
    '-hls_segment_filename', path.join(dir, 's%v_%05d.m4s'),
  ];
  const audio = `${mixedAudio(audioCount, 'mix')};[mix]asplit=2[a0][a1]`;
  if (cameras === 0) {
    return ['-filter_complex', audio, '-map', '[a0]', '-map', '[a1]', '-c:a', 'aac', '-b:a:0', '128k', '-b:a:1', '48k', ...common, '-var_stream_map', 'a:0 a:1', path.join(dir, 's%v.m3u8')];
  }
  const inputs = Array.from({ length: cameras }, (_, i) => `[0:v:${i}]`).join('');
  // Cameras of different sizes meet in one picture size before the switch.
  const picture = cameras === 1 ? '[0:v:0]null[pic]' : `${Array.from({ length: cameras }, (_, i) => `[0:v:${i}]scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:-1:-1,setsar=1[c${i}]`).join(';')};${inputs.replace(/\[0:v:(\d+)\]/g, '[c$1]')}${CAMERA_SWITCH}=inputs=${cameras}:map=${live}[pic]`;
  return [
    '-filter_complex', `${picture};[pic]split=2[a][b];[a]scale=-2:'min(720,ih)'[v0];[b]scale=-2:'min(360,ih/2)'[v1];${audio}`,
    '-map', '[v0]', '-map', '[v1]', '-map', '[a0]', '-map', '[a1]',
    // A keyframe every second of media time whatever the camera's frame rate, so segments last 1 s
    // (a GOP in frames gives 0.83 s and 1.67 s segments at 30 fps and a 2 s target duration).
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-force_key_frames', 'expr:gte(t,n_forced*1)', '-sc_threshold', '0',
    '-b:v:0', '2500k', '-b:v:1', '600k', '-c:a', 'aac', '-b:a:0', '128k', '-b:a:1', '64k',
    ...common, '-var_stream_map', 'v:0,a:0 v:1,a:1', path.join(dir, 's%v.m3u8'),
  ];
}

/**
 * Starts HLS egress into `dir`/master.m3u8: every audio producer mixed, and the video producers
 * (the cameras) behind a switch showing `videos[live]`.
 */
export function startHls(room: LiveRoom, producers: ms.Producer[], dir: string, options: Pick<RecordingOptions, 'onUnexpectedExit' | 'onSourceChange'> & { live?: number; append?: boolean } = {}): Promise<Recording> {
  const audios = producers.filter((p) => p.kind === 'audio');
  if (audios.length === 0) return Promise.reject(new Error('HLS egress needs an audio producer'));
  const videos = producers.filter((p) => p.kind === 'video');
  return Recording.start(room, [...audios, ...videos], {
    ...(options.onUnexpectedExit ? { onUnexpectedExit: options.onUnexpectedExit } : {}),
    ...(options.onSourceChange ? { onSourceChange: options.onSourceChange } : {}),
    interactive: videos.length > 1,
    file: path.join(dir, 'master.m3u8'),
    outputArgs: hlsOutputArgs(dir, videos.length, audios.length, options.live ?? 0, options.append ?? false),
  });
}
