// Recommendations: scheduled training, reloading models trained elsewhere, the import limit and
// the threads of one scoring call.
import { int, type SettingsGroup, type SettingsOf } from '../shared/settings.js';

/** What `RecommendationService` and its routes read. */
export const recommendationsSettings = {
  trainIntervalS: { env: 'VEZA_RECS_TRAIN_INTERVAL_S', flag: 'recs-train-interval-s', schema: int(0, 30 * 86_400).default(86_400), doc: 'Period of scheduled recommendation training for every tenant with interactions; 0: only on demand' },
  reloadIntervalMs: { env: 'VEZA_RECS_RELOAD_INTERVAL_MS', flag: 'recs-reload-interval-ms', schema: int(0, 3_600_000).default(30_000), doc: 'How often serving looks for a model version trained elsewhere (another node, `veza recommend train`); 0: never' },
  maxImportBytes: { env: 'VEZA_RECS_MAX_IMPORT_BYTES', flag: 'recs-max-import-bytes', schema: int(1, 1 << 30).default(64 << 20), doc: 'Largest NDJSON body of POST /api/v1/interactions (413 beyond)' },
  precomputeUsers: { env: 'VEZA_RECS_PRECOMPUTE_USERS', flag: 'recs-precompute-users', schema: int(0, 1_000_000).default(0), doc: 'Users of a model version whose histories are read, candidates scored and default answers written and kept encoded when it starts serving (in the background), so their answers need no database read, no scoring and no serialising; some 20 KB of memory each; 0: none' },
  threads: { env: 'VEZA_RECS_THREADS', flag: 'recs-threads', schema: int(1, 64).default(1), doc: 'Threads of one ONNX scoring call (requests already run side by side)' },
} as const satisfies SettingsGroup;

export type RecommendationsSettings = SettingsOf<typeof recommendationsSettings>;
