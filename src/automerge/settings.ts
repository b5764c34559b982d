// The Automerge documents' settings: their size limit and how long an idle one stays loaded. The
// memory budget, the backpressure limit and the Redis stream prefix are collab's, shared with Yjs.
import { int, type SettingsGroup, type SettingsOf } from '../shared/settings.js';

/** What `AutomergeService` reads. */
export const automergeSettings = {
  maxDocBytes: { env: 'VEZA_AUTOMERGE_MAX_DOC_BYTES', flag: 'automerge-max-doc-bytes', schema: int(1024, 1 << 30).default(64 << 20), doc: 'Largest Automerge document (its size when loaded plus the changes accepted since); a change past it is refused: the sender is closed with 1009 and a reason' },
  unloadDelayMs: { env: 'VEZA_AUTOMERGE_UNLOAD_DELAY_MS', flag: 'automerge-unload-delay-ms', schema: int(0, 3_600_000).default(30_000), doc: 'How long an Automerge document that no connected client has used stays in memory before it is stored and freed' },
  saveDelayMs: { env: 'VEZA_AUTOMERGE_SAVE_DELAY_MS', flag: 'automerge-save-delay-ms', schema: int(1, 600_000).default(100), doc: "How long after a change the server's repo stores the document (changes from clients are already stored before they are acknowledged; this save compacts them)" },
  findAnswerMs: { env: 'VEZA_AUTOMERGE_FIND_ANSWER_MS', flag: 'automerge-find-answer-ms', schema: int(100, 600_000).default(5000), doc: 'Longest a client asking for an Automerge document the server does not have waits on another client that claims it; then it is told "unavailable" (and still receives the document if it arrives)' },
} as const satisfies SettingsGroup;

export type AutomergeSettings = SettingsOf<typeof automergeSettings>;
