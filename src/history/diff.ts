// What changed between two moments of a session: the document at the first moment, read as plain
// values, compared with the document at the second, each change credited from the authorship
// engine's stamps (the latest update between the two moments that made that change).
import * as Y from 'yjs';
import type { Note } from '../studio/model-types.js';
import type { ClipDiff, Credit, DiffSummary, NoteDiff, SeriesDiff, SessionDiff, TrackChange, TrackDiff } from './answers.js';

export type { SessionDiff } from './answers.js';
import { clipKey, noteKey, type AuthorshipEngine, type Stamp, type TickSeries } from './authorship.js';

interface PlainClip {
  name: string;
  notes: Map<string, Note>;
}

interface PlainTrack {
  name: string;
  clips: Map<string, PlainClip>;
}

/** The parts of the document a diff compares, as plain values. */
export interface PlainState {
  tracks: Map<string, PlainTrack>;
  tempo: Map<number, number>;
  signatures: Map<number, { numerator: number; denominator: number }>;
}

type YMap = Y.Map<unknown>;

/** The document where the engine stands, as plain values. */
export function plainState(engine: AuthorshipEngine): PlainState {
  const tracks = new Map<string, PlainTrack>();
  for (const [trackId, track] of engine.doc.getMap<YMap>('tracks').entries()) {
    if (!(track instanceof Y.Map)) continue;
    const clips = new Map<string, PlainClip>();
    const clipMaps = track.get('clips');
    if (clipMaps instanceof Y.Map) {
      for (const [clipId, clip] of (clipMaps as Y.Map<unknown>).entries()) {
        if (!(clip instanceof Y.Map)) continue;
        const notes = new Map<string, Note>();
        const noteMaps = (clip as YMap).get('notes');
        if (noteMaps instanceof Y.Map) {
          for (const [noteId, note] of (noteMaps as Y.Map<unknown>).entries()) {
            if (!(note instanceof Y.Map)) continue;
            const n = note as YMap;
            notes.set(noteId, { id: noteId, pitch: n.get('pitch') as number, start: n.get('start') as number, duration: n.get('duration') as number, velocity: n.get('velocity') as number, channel: (n.get('channel') as number) ?? 0 });
          }
        }
        clips.set(clipId, { name: ((clip as YMap).get('name') as string) ?? 'Clip', notes });
      }
    }
    tracks.set(trackId, { name: (track.get('name') as string) ?? 'Track', clips });
  }
  return { tracks, tempo: new Map(engine.tempo.now), signatures: new Map(engine.signatures.now) };
}

const credit = (stamp: Stamp | null | undefined): Credit => ({ by: stamp?.by ?? null, at: stamp?.at ?? null });
const NO_NOTES = new Map<string, Note>();

/**
 * The changes from `before` to the document where `engine` stands now; `engine` was advanced from
 * the moment `before` was read, so its stamps of changed things name updates between the two.
 */
export function diffStates(before: PlainState, engine: AuthorshipEngine): SessionDiff {
  const after = plainState(engine);
  const tracks: TrackDiff[] = [];
  const trackIds = [...new Set([...before.tracks.keys(), ...after.tracks.keys()])].sort();
  for (const trackId of trackIds) {
    const was = before.tracks.get(trackId);
    const is = after.tracks.get(trackId);
    const record = engine.tracks.get(trackId);
    let change: TrackChange | null = null;
    let stamp: Stamp | null | undefined = null;
    if (!was) [change, stamp] = ['added', record?.created];
    else if (!is) [change, stamp] = ['removed', record?.removed];
    else if (was.name !== is.name) [change, stamp] = ['renamed', record?.renamed];
    const clips: ClipDiff[] = [];
    const notes: NoteDiff[] = [];
    const clipIds = [...new Set([...(was?.clips.keys() ?? []), ...(is?.clips.keys() ?? [])])].sort();
    for (const clipId of clipIds) {
      const clipWas = was?.clips.get(clipId);
      const clipIs = is?.clips.get(clipId);
      const clipRecord = engine.clips.get(clipKey(trackId, clipId));
      if (!clipWas) clips.push({ clipId, name: clipIs!.name, change: 'added', ...credit(clipRecord?.created) });
      else if (!clipIs) clips.push({ clipId, name: clipWas.name, change: 'removed', ...credit(engine.removalOfClip(trackId, clipId)) });
      else if (clipWas.name !== clipIs.name) clips.push({ clipId, name: clipIs.name, change: 'renamed', ...credit(clipRecord?.renamed) });
      diffNotes(engine, trackId, clipId, clipWas?.notes ?? NO_NOTES, clipIs?.notes ?? NO_NOTES, notes);
    }
    if (change !== null || clips.length > 0 || notes.length > 0) tracks.push({ trackId, name: (is ?? was)!.name, change, ...credit(stamp), clips, notes });
  }
  const tempo = diffSeries(before.tempo, after.tempo, engine.tempo, (a, b) => a === b);
  const timeSignatures = diffSeries(before.signatures, after.signatures, engine.signatures, (a, b) => a.numerator === b.numerator && a.denominator === b.denominator);
  return { tracks, tempo, timeSignatures, summary: summarize(tracks, tempo.length, timeSignatures.length), authors: authorsOf(tracks, [...tempo, ...timeSignatures]) };
}

function diffNotes(engine: AuthorshipEngine, trackId: string, clipId: string, was: Map<string, Note>, is: Map<string, Note>, out: NoteDiff[]): void {
  const ids = [...new Set([...was.keys(), ...is.keys()])].sort();
  for (const noteId of ids) {
    const before = was.get(noteId);
    const after = is.get(noteId);
    const record = engine.notes.get(noteKey(trackId, clipId, noteId));
    if (!before) out.push({ noteId, clipId, change: 'added', after: after!, ...credit(record?.created) });
    else if (!after) out.push({ noteId, clipId, change: 'removed', before, ...credit(engine.removalOfNote(trackId, clipId, noteId)) });
    else {
      // One entry per kind of change, each credited to the latest update that made that kind.
      if (before.start !== after.start || before.pitch !== after.pitch) out.push({ noteId, clipId, change: 'moved', before, after, ...credit(record?.moved) });
      if (before.duration !== after.duration) out.push({ noteId, clipId, change: 'resized', before, after, ...credit(record?.resized) });
      if (before.velocity !== after.velocity) out.push({ noteId, clipId, change: 'revelocitied', before, after, ...credit(record?.revelocitied) });
    }
  }
}

function diffSeries<V>(before: Map<number, V>, after: Map<number, V>, series: TickSeries<V>, same: (a: V, b: V) => boolean): SeriesDiff<V>[] {
  const ticks = [...new Set([...before.keys(), ...after.keys()])].sort((a, b) => a - b);
  const out: SeriesDiff<V>[] = [];
  for (const tick of ticks) {
    const was = before.get(tick);
    const is = after.get(tick);
    const by = credit(series.stamps.get(tick));
    if (was === undefined) out.push({ change: 'added', tick, after: is!, ...by });
    else if (is === undefined) out.push({ change: 'removed', tick, before: was, ...by });
    else if (!same(was, is)) out.push({ change: 'changed', tick, before: was, after: is, ...by });
  }
  return out;
}

function summarize(tracks: readonly TrackDiff[], tempoChanges: number, timeSignatureChanges: number): DiffSummary {
  const summary: DiffSummary = { notesAdded: 0, notesRemoved: 0, notesMoved: 0, notesResized: 0, notesRevelocitied: 0, tracksAdded: 0, tracksRemoved: 0, clipsAdded: 0, clipsRemoved: 0, tempoChanges, timeSignatureChanges };
  for (const track of tracks) {
    if (track.change === 'added') summary.tracksAdded++;
    if (track.change === 'removed') summary.tracksRemoved++;
    for (const clip of track.clips) {
      if (clip.change === 'added') summary.clipsAdded++;
      if (clip.change === 'removed') summary.clipsRemoved++;
    }
    for (const note of track.notes) {
      if (note.change === 'added') summary.notesAdded++;
      else if (note.change === 'removed') summary.notesRemoved++;
      else if (note.change === 'moved') summary.notesMoved++;
      else if (note.change === 'resized') summary.notesResized++;
      else summary.notesRevelocitied++;
    }
  }
  return summary;
}

/** Changes per user, most first: every entry counts once (a track's own change, each clip, note, tick). */
function authorsOf(tracks: readonly TrackDiff[], series: readonly Credit[]): { userId: string; changes: number }[] {
  const counts = new Map<string, number>();
  const count = (c: Credit) => c.by !== null && counts.set(c.by, (counts.get(c.by) ?? 0) + 1);
  for (const track of tracks) {
    if (track.change !== null) count(track);
    track.clips.forEach(count);
    track.notes.forEach(count);
  }
  series.forEach(count);
  return [...counts].map(([userId, changes]) => ({ userId, changes })).sort((a, b) => b.changes - a.changes || a.userId.localeCompare(b.userId));
}
