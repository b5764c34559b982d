// Where the database is and how this process talks to it. The data directory also holds the other
// files a node keeps (the update journal, model files, recordings): modules that need it are handed
// it by name.
import { z } from 'zod';
import { bool, int, optionalUrl, type SettingsGroup, type SettingsOf } from '../shared/settings.js';

/** The database: embedded PGlite in the data directory, or PostgreSQL; on the storage thread or not. */
export const storageSettings = {
  dataDir: { env: 'VEZA_DATA_DIR', flag: 'data-dir', schema: z.string().min(1).default('./data'), doc: 'Directory for the embedded database and the generated development secret' },
  databaseUrl: { env: 'DATABASE_URL', flag: 'database-url', schema: optionalUrl(['postgres:', 'postgresql:']), doc: 'PostgreSQL connection string; unset means embedded PGlite in the data directory' },
  pgliteSharedBuffersMb: { env: 'VEZA_PGLITE_SHARED_BUFFERS_MB', flag: 'pglite-shared-buffers-mb', schema: int(1, 4096).default(16), doc: "The embedded database's page cache (PostgreSQL's shared_buffers) in MB; it lives in the process's memory, so it is sized for one machine; PostgreSQL's own server is configured on its side" },
  thread: { env: 'VEZA_STORAGE_THREAD', flag: 'storage-thread', schema: bool.default(true), doc: 'Run the database client (embedded PGlite, or the PostgreSQL driver) on a worker thread, so that queries never stall WebSocket traffic' },
} as const satisfies SettingsGroup;

export type StorageSettings = SettingsOf<typeof storageSettings>;
