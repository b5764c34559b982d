// The tables of a session's history beside its update log: replay checkpoints, versions, branches,
// and the authorship of closed sessions that insights keeps.
import type { ColumnType, Generated } from 'kysely';

export interface SessionVersionsTable {
  id: Generated<string>;
  tenant_id: string;
  doc_id: string;
  label: string;
  description: Generated<string>;
  author: string;
  kind: 'named' | 'auto';
  reason: 'session-end' | 'bounce' | 'mint' | 'interval' | 'before-restore' | null;
  /** The version holds every logged update with id <= upto_id; null: the empty document. */
  upto_id: string | null;
  /** Time of update `upto_id`. */
  at: Date | null;
  updates: number;
  created_at: Generated<Date>;
}

export interface SessionBranchesTable {
  tenant_id: string;
  doc_id: string;
  source_doc_id: string;
  version_id: string | null;
  upto_id: string | null;
  created_by: string;
  created_at: Generated<Date>;
}

export interface ReplayCheckpointsTable {
  tenant_id: string;
  doc_id: string;
  upto_id: string;
  /** Time of update `upto_id`. */
  at: Date;
  /** Updates the state holds (those with id <= upto_id). */
  updates: number;
  state: Uint8Array;
}

/** Per closed session and user: the authorship the `session.authorship` event reported (migration 0019). */
export interface InsSessionAuthorshipTable {
  tenant_id: string;
  session_id: string;
  user_id: string;
  notes: number;
  tracks: number;
  edits: number;
  upto_id: ColumnType<string, string, string>;
  closed_at: Date;
}
