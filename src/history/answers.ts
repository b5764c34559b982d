// The session history API's answers as plain types: versions, diffs and authorship. The server builds
// them (versions.ts, diff.ts, report.ts) and the web client reads them; no imports but the studio
// model's own types, so both sides share them.
import type { Note } from '../studio/model-types.js';

export type VersionKind = 'named' | 'auto';
export type AutoReason = 'session-end' | 'bounce' | 'mint' | 'interval' | 'before-restore';

export interface Version {
  id: string;
  sessionId: string;
  label: string;
  description: string;
  /** Who named it; `veza` for automatic versions. */
  author: string;
  kind: VersionKind;
  /** Why an automatic version was taken (null for named ones). */
  reason: AutoReason | null;
  /** The version holds every logged update with id <= uptoId; null: the empty session. */
  uptoId: string | null;
  /** Unix ms of update `uptoId` (null: the empty session). */
  at: number | null;
  /** Logged updates the version holds. */
  updates: number;
  createdAt: string;
}

export type TrackChange = 'added' | 'removed' | 'renamed';
export type ClipChange = 'added' | 'removed' | 'renamed';
export type NoteChange = 'added' | 'removed' | 'moved' | 'resized' | 'revelocitied';
type SeriesChange = 'added' | 'removed' | 'changed';

export interface Credit {
  by: string | null;
  at: number | null;
}

export interface NoteDiff extends Credit {
  noteId: string;
  clipId: string;
  change: NoteChange;
  before?: Note;
  after?: Note;
}

export interface ClipDiff extends Credit {
  clipId: string;
  name: string;
  change: ClipChange;
}

export interface TrackDiff extends Credit {
  trackId: string;
  name: string;
  change: TrackChange | null;
  clips: ClipDiff[];
  notes: NoteDiff[];
}

export interface SeriesDiff<V> extends Credit {
  change: SeriesChange;
  tick: number;
  before?: V;
  after?: V;
}

export interface DiffSummary {
  notesAdded: number;
  notesRemoved: number;
  notesMoved: number;
  notesResized: number;
  notesRevelocitied: number;
  tracksAdded: number;
  tracksRemoved: number;
  clipsAdded: number;
  clipsRemoved: number;
  tempoChanges: number;
  timeSignatureChanges: number;
}

export interface SessionDiff {
  tracks: TrackDiff[];
  tempo: SeriesDiff<number>[];
  timeSignatures: SeriesDiff<{ numerator: number; denominator: number }>[];
  summary: DiffSummary;
  authors: { userId: string; changes: number }[];
}

export interface Authored {
  createdBy: string | null;
  createdAt: number | null;
  lastChangedBy: string | null;
  lastChangedAt: number | null;
}

export interface NoteAuthorship extends Authored {
  id: string;
}

export interface ClipAuthorship extends Authored {
  id: string;
  name: string;
  notes: NoteAuthorship[];
}

export interface TrackAuthorship extends Authored {
  id: string;
  name: string;
  clips: ClipAuthorship[];
}

export interface Share {
  count: number;
  /** count / the total of all users, 0 when that total is 0; rounded to 4 digits. */
  share: number;
}

export interface UserShares {
  userId: string;
  notes: Share;
  tracks: Share;
  edits: Share;
}
