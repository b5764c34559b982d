// The collaboration documents' settings: size and backpressure limits, the group commit and the
// update journal, snapshots, unloading, and the prefix of the Redis streams nodes sync through.
import { z } from 'zod';
import { int, type SettingsGroup, type SettingsOf } from '../shared/settings.js';

/** What `CollabService` reads. */
export const collabSettings = {
  maxDocBytes: { env: 'VEZA_COLLAB_MAX_DOC_BYTES', flag: 'collab-max-doc-bytes', schema: int(1024, 1 << 30).default(64 << 20), doc: 'Largest document (encoded state plus updates since load); an update past it is refused with close 1009' },
  flushMs: { env: 'VEZA_COLLAB_FLUSH_MS', flag: 'collab-flush-ms', schema: int(1, 60_000).default(100), doc: 'Group commit: accepted updates are durable within this many milliseconds (in the update journal on the embedded database, in the update log on PostgreSQL)' },
  storeMs: { env: 'VEZA_COLLAB_STORE_MS', flag: 'collab-store-ms', schema: int(0, 60_000).default(1000), doc: 'Embedded database: updates move from the journal file to the update log in bulk within this many milliseconds (a statement costs about a millisecond whatever it holds); 0, or a value not above the group commit interval, turns the journal off and commits every group to the database' },
  snapshotEvery: { env: 'VEZA_COLLAB_SNAPSHOT_EVERY', flag: 'collab-snapshot-every', schema: int(1, 1e9).default(1000), doc: 'Write a snapshot after this many logged updates (loading is snapshot + tail)' },
  unloadDelayMs: { env: 'VEZA_COLLAB_UNLOAD_DELAY_MS', flag: 'collab-unload-delay-ms', schema: int(0, 3_600_000).default(5000), doc: 'How long a document with no connections stays in memory' },
  maxPendingBytes: { env: 'VEZA_COLLAB_MAX_PENDING_BYTES', flag: 'collab-max-pending-bytes', schema: int(1024, 1 << 30).default(64 << 20), doc: 'Accepted updates one tenant may keep in memory while its writes fail; past it that tenant\'s writers are closed with 1013' },
  maxDocumentsPerUser: { env: 'VEZA_COLLAB_MAX_DOCUMENTS_PER_USER', flag: 'collab-max-documents-per-user', schema: int(0, 1e6).default(50), doc: 'Documents one user of a tenant may have open at once on this node (429 beyond; 0 disables)' },
  maxLoadsPerSecond: { env: 'VEZA_COLLAB_MAX_LOADS_PER_SECOND', flag: 'collab-max-loads-per-second', schema: int(0, 1e6).default(100), doc: 'Documents loaded from storage per second at most, in bursts of as many (503 with Retry-After beyond; 0 disables)' },
  maxLoadsPerUserPerSecond: { env: 'VEZA_COLLAB_MAX_LOADS_PER_USER_PER_SECOND', flag: 'collab-max-loads-per-user-per-second', schema: int(0, 1e6).default(5), doc: "Documents one user of a tenant may have loaded from storage per second, in bursts of twice as many (429 with Retry-After beyond; 0 disables): one user's opens cannot take the node's whole pace" },
  memoryBudgetBytes: { env: 'VEZA_COLLAB_MEMORY_BUDGET_BYTES', flag: 'collab-memory-budget-bytes', schema: int(0, 2 ** 50).default(2 ** 31), doc: "What the loaded documents may cost in memory (estimated); past it, documents nobody has open are unloaded first, then loads are refused (503, close 1013) until there is room again (0 disables)" },
  hocuspocusUnusedMs: { env: 'VEZA_COLLAB_HOCUSPOCUS_UNUSED_MS', flag: 'collab-hocuspocus-unused-ms', schema: int(1000, 3_600_000).default(30_000), doc: 'How long a /hocuspocus socket may hold no document (its tokens come in messages) before it is closed with 1008' },
  streamPrefix: { env: 'VEZA_COLLAB_STREAM_PREFIX', flag: 'collab-stream-prefix', schema: z.string().min(1).default('veza:doc:'), doc: 'With REDIS_URL: key prefix of the per-document Redis streams that nodes sync through' },
  maxBackpressureBytes: { env: 'VEZA_COLLAB_MAX_BACKPRESSURE_BYTES', flag: 'collab-max-backpressure-bytes', schema: int(1024, 1 << 30).default(4 << 20), doc: 'Bytes queued to one slow client before it is closed with 1013' },
} as const satisfies SettingsGroup;

export type CollabSettings = SettingsOf<typeof collabSettings>;
