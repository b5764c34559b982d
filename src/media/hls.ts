import path from 'node:path';
import type { types as ms } from 'mediasoup';
import type { LiveRoom } from './plane.js';
import { Recording } from './recording.js';

/**
 * ffmpeg output arguments for fMP4 HLS with EXT-X-PROGRAM-DATE-TIME and a two-rendition ladder:
 * with video, 720p-capped and 360p-capped H.264 (libx264 ultrafast zerolatency, 1 s GOP) each with
 * AAC; audio only, AAC at 128k and 48k. Debian's ffmpeg 5.1 has no LL-HLS.
 */
export function hlsOutputArgs(dir: string, hasVideo: boolean): string[] {
  const common = [
    '-f', 'hls', '-hls_time', '1', '-hls_list_size', '6', '-hls_segment_type', 'fmp4',
    '-hls_flags', 'independent_segments+program_date_time+delete_segments',
    '-master_pl_name', 'master.m3u8', '-hls_fmp4_init_filename', 'init.mp4',
    '-hls_segment_filename', path.join(dir, 's%v_%05d.m4s'),
  ];
  if (!hasVideo) {
    return ['-map', '0:a', '-map', '0:a', '-c:a', 'aac', '-b:a:0', '128k', '-b:a:1', '48k', ...common, '-var_stream_map', 'a:0 a:1', path.join(dir, 's%v.m3u8')];
  }
  return [
    '-filter_complex', "[0:v]split=2[a][b];[a]scale=-2:'min(720,ih)'[v0];[b]scale=-2:'min(360,ih/2)'[v1]",
    '-map', '[v0]', '-map', '[v1]', '-map', '0:a', '-map', '0:a',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-keyint_min', '25', '-sc_threshold', '0',
    '-b:v:0', '2500k', '-b:v:1', '600k', '-c:a', 'aac', '-b:a:0', '128k', '-b:a:1', '64k',
    ...common, '-var_stream_map', 'v:0,a:0 v:1,a:1', path.join(dir, 's%v.m3u8'),
  ];
}

/** Starts HLS egress of the producers (one audio, optionally one video) into `dir`/master.m3u8. */
export function startHls(room: LiveRoom, producers: ms.Producer[], dir: string): Promise<Recording> {
  if (!producers.some((p) => p.kind === 'audio')) return Promise.reject(new Error('HLS egress needs an audio producer'));
  const hasVideo = producers.some((p) => p.kind === 'video');
  return Recording.start(room, producers, { file: path.join(dir, 'master.m3u8'), outputArgs: hlsOutputArgs(dir, hasVideo) });
}
