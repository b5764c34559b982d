// What an authorship engine standing at a moment answers: every live track, clip and note with who
// created and who last changed it, what was removed and by whom, and each user's share of the
// session (docs/history.md defines the three shares).
import type { Authored, ClipAuthorship, NoteAuthorship, Share, TrackAuthorship, UserShares } from './answers.js';
import { clipKey, noteKey, type AuthorshipEngine, type RemovedEntry, type Stamp } from './authorship.js';

export interface AuthorshipReport {
  uptoId: string | null;
  updates: number;
  tracks: TrackAuthorship[];
  removed: RemovedEntry[];
  shares: UserShares[];
}

function authored(created: Stamp | undefined, changed: Stamp | undefined): Authored {
  return { createdBy: created?.by ?? null, createdAt: created?.at ?? null, lastChangedBy: changed?.by ?? null, lastChangedAt: changed?.at ?? null };
}

/** The live session's authorship where the engine stands. */
export function authorshipReport(engine: AuthorshipEngine): AuthorshipReport {
  const studio = engine.studio;
  const notesBy = new Map<string, number>();
  const tracksBy = new Map<string, number>();
  const add = (counts: Map<string, number>, user: string | null) => user !== null && counts.set(user, (counts.get(user) ?? 0) + 1);
  const tracks = studio.tracks().map((track): TrackAuthorship => {
    const record = engine.tracks.get(track.id);
    add(tracksBy, record?.created.by ?? null);
    return {
      id: track.id,
      name: track.name,
      ...authored(record?.created, record?.changed),
      clips: studio.clips(track.id).map((clip): ClipAuthorship => {
        const clipRecord = engine.clips.get(clipKey(track.id, clip.id));
        return {
          id: clip.id,
          name: clip.name,
          ...authored(clipRecord?.created, clipRecord?.changed),
          notes: studio.notes(track.id, clip.id).map((note): NoteAuthorship => {
            const noteRecord = engine.notes.get(noteKey(track.id, clip.id, note.id));
            add(notesBy, noteRecord?.created.by ?? null);
            return { id: note.id, ...authored(noteRecord?.created, noteRecord?.changed) };
          }),
        };
      }),
    };
  });
  return { uptoId: engine.uptoId, updates: engine.updates, tracks, removed: [...engine.removed], shares: sharesOf(notesBy, tracksBy, engine.edits) };
}

/** Each user's counts and shares, by user id. */
export function sharesOf(notes: ReadonlyMap<string, number>, tracks: ReadonlyMap<string, number>, edits: ReadonlyMap<string, number>): UserShares[] {
  const users = [...new Set([...notes.keys(), ...tracks.keys(), ...edits.keys()])].sort();
  const total = (m: ReadonlyMap<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const totals = { notes: total(notes), tracks: total(tracks), edits: total(edits) };
  const share = (m: ReadonlyMap<string, number>, all: number, user: string): Share => {
    const count = m.get(user) ?? 0;
    return { count, share: all === 0 ? 0 : Math.round((count / all) * 10_000) / 10_000 };
  };
  return users.map((userId) => ({ userId, notes: share(notes, totals.notes, userId), tracks: share(tracks, totals.tracks, userId), edits: share(edits, totals.edits, userId) }));
}
