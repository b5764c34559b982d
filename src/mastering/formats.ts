// What a master is written as: WAV 16/24-bit, FLAC, MP3 and AAC, at 48 kHz, with metadata tags.
// The lossy encoders take most of a lossy master's time, so each runs at its fastest setting that
// keeps quality at these rates: MP3 320 kb/s CBR at LAME -q 5 (noise shaping kept; the default -q 3
// takes a quarter more time), AAC 256 kb/s with ffmpeg's `fast` coder (at high rates no worse than
// the default two-loop search by its maintainer's account, FFmpeg commit fcb681ac; a third of its time).
export const FORMATS = {
  wav16: { extension: 'wav', contentType: 'audio/wav', codec: 'pcm_s16le', options: [] as string[], lossy: false },
  wav24: { extension: 'wav', contentType: 'audio/wav', codec: 'pcm_s24le', options: [] as string[], lossy: false },
  flac: { extension: 'flac', contentType: 'audio/flac', codec: 'flac', options: ['-sample_fmt', 's32', '-bits_per_raw_sample', '24'], lossy: false },
  mp3: { extension: 'mp3', contentType: 'audio/mpeg', codec: 'libmp3lame', options: ['-b:a', '320k', '-compression_level', '5'], lossy: true },
  aac: { extension: 'm4a', contentType: 'audio/mp4', codec: 'aac', options: ['-b:a', '256k', '-aac_coder', 'fast', '-movflags', '+faststart'], lossy: true },
} as const;

export type ExportFormat = keyof typeof FORMATS;
export const FORMAT_NAMES = Object.keys(FORMATS) as ExportFormat[];
export const OUTPUT_RATE = 48000;

/** `wav` means 24-bit WAV; a name from FORMAT_NAMES otherwise; null for anything else. */
export function parseFormat(name: string): ExportFormat | null {
  const lower = name.toLowerCase();
  if (lower === 'wav') return 'wav24';
  if (lower === 'm4a') return 'aac';
  return (FORMAT_NAMES as string[]).includes(lower) ? (lower as ExportFormat) : null;
}

/** The format a file name's extension asks for (`.wav` → 24-bit WAV), or null. */
export function formatForPath(file: string): ExportFormat | null {
  const extension = /\.([a-z0-9]+)$/i.exec(file)?.[1];
  return extension ? parseFormat(extension) : null;
}

/** ffmpeg's `-metadata key=value` arguments; keys limited to the tags every container carries. */
export function metadataArgs(tags: Record<string, string>): string[] {
  const allowed = ['title', 'artist', 'album', 'comment', 'date', 'genre', 'encoded_by'];
  return Object.entries(tags)
    .filter(([key, value]) => allowed.includes(key) && value !== '')
    .flatMap(([key, value]) => ['-metadata', `${key}=${value.replace(/[\r\n]+/g, ' ').slice(0, 500)}`]);
}
