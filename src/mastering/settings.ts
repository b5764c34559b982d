// The mastering assistant: how long and how large a mix may be, and how many jobs run at once.
import { int, type SettingsGroup, type SettingsOf } from '../shared/settings.js';

/** What the mastering module reads. */
export const masteringSettings = {
  maxSeconds: { env: 'VEZA_MASTERING_MAX_SECONDS', flag: 'mastering-max-seconds', schema: int(1, 7200).default(900), doc: 'Longest mix the mastering assistant takes, in seconds (422 beyond)' },
  maxUploadBytes: { env: 'VEZA_MASTERING_MAX_UPLOAD_BYTES', flag: 'mastering-max-upload-bytes', schema: int(1, 2 << 30).default(300 << 20), doc: 'Largest upload of POST /api/v1/mastering (413 beyond)' },
  concurrency: { env: 'VEZA_MASTERING_CONCURRENCY', flag: 'mastering-concurrency', schema: int(1, 16).default(1), doc: 'Mastering jobs run at once on this node (each runs ffmpeg and the meter on one core)' },
} as const satisfies SettingsGroup;

export type MasteringSettings = SettingsOf<typeof masteringSettings>;
