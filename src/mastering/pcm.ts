// Decoded audio as planar float samples: what the meter and the analysis read (pcm-stream.ts reads
// them from ffmpeg's pipes).

export interface Pcm {
  sampleRate: number;
  /** One array per channel (one or two). */
  channels: Float32Array[];
}

export const durationOf = (pcm: Pcm) => (pcm.channels[0]?.length ?? 0) / pcm.sampleRate;
