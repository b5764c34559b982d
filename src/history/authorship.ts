// Authorship from the update log: the log applied in order to one Y.Doc, each update with its author
// as the transaction's origin, and the document's deep changes observed to stamp every track, clip
// and note with who created it, who last changed it (and which part: a move, a resize, a new
// velocity, a rename) and who removed it. The tempo map and the time signatures, which clients
// replace whole, are stamped per tick. An engine only moves forward: it stands at one log id and
// is advanced to later ones (see service.ts, which keeps recent engines per session).
import * as Y from 'yjs';
import { StudioDoc } from '../studio/model.js';
import type { LoggedUpdateRow } from '../studio/replay-store.js';

/** One logged update: who made it, when (Unix ms) and its log id. */
export interface Stamp {
  by: string;
  at: number;
  id: string;
}

interface Entity {
  created: Stamp;
  /** The latest update that changed it or anything inside it (its creation until then). */
  changed: Stamp;
  removed: Stamp | null;
}

export interface TrackRecord extends Entity {
  renamed: Stamp;
}

export interface ClipRecord extends Entity {
  renamed: Stamp;
}

export interface NoteRecord extends Entity {
  /** Latest change of start or pitch, of duration, of velocity. */
  moved: Stamp;
  resized: Stamp;
  revelocitied: Stamp;
}

export interface RemovedEntry {
  kind: 'track' | 'clip' | 'note';
  trackId: string;
  clipId?: string;
  noteId?: string;
  removedBy: string;
  removedAt: number;
}

/** A map of the tempo or the time signatures by tick, and who last changed each tick. */
export interface TickSeries<V> {
  now: Map<number, V>;
  stamps: Map<number, Stamp>;
}

export const clipKey = (trackId: string, clipId: string) => `${trackId}\u0000${clipId}`;
export const noteKey = (trackId: string, clipId: string, noteId: string) => `${trackId}\u0000${clipId}\u0000${noteId}`;

type YMap = Y.Map<unknown>;

export class AuthorshipEngine {
  readonly doc = new Y.Doc();
  readonly tracks = new Map<string, TrackRecord>();
  readonly clips = new Map<string, ClipRecord>();
  readonly notes = new Map<string, NoteRecord>();
  /** Tracks, clips and notes removed on their own (what a removed track or clip held goes with it). */
  readonly removed: RemovedEntry[] = [];
  readonly tempo: TickSeries<number> = { now: new Map(), stamps: new Map() };
  readonly signatures: TickSeries<{ numerator: number; denominator: number }> = { now: new Map(), stamps: new Map() };
  /** Logged updates per user so far. */
  readonly edits = new Map<string, number>();
  /** The last applied update (null: none yet). */
  uptoId: string | null = null;
  uptoAt: number | null = null;
  updates = 0;

  constructor() {
    this.doc.getMap<YMap>('tracks').observeDeep((events, transaction) => {
      const stamp = transaction.origin as Stamp;
      for (const event of events) this.observe(event, stamp);
    });
    this.doc.getArray<{ tick: number; bpm: number }>('tempo').observe((event, transaction) => {
      stampTicks(this.tempo, event.target.toArray(), (c) => c.bpm, transaction.origin as Stamp, (a, b) => a === b);
    });
    this.doc.getArray<{ tick: number; numerator: number; denominator: number }>('timeSignatures').observe((event, transaction) => {
      stampTicks(this.signatures, event.target.toArray(), (s) => ({ numerator: s.numerator, denominator: s.denominator }), transaction.origin as Stamp, (a, b) => a.numerator === b.numerator && a.denominator === b.denominator);
    });
  }

  /** Applies logged updates in log order. */
  apply(rows: readonly LoggedUpdateRow[]): void {
    for (const row of rows) {
      const stamp: Stamp = { by: row.author, at: row.at, id: row.id };
      Y.applyUpdate(this.doc, row.update, stamp);
      this.edits.set(row.author, (this.edits.get(row.author) ?? 0) + 1);
      this.uptoId = row.id;
      this.uptoAt = row.at;
      this.updates++;
    }
  }

  get studio(): StudioDoc {
    return new StudioDoc(this.doc);
  }

  private observe(event: Y.YEvent<Y.AbstractType<unknown>>, stamp: Stamp): void {
    const path = event.path as string[];
    // The keys this update changed (a key no longer in the map was deleted); cheaper than `changes`.
    const keys: Set<string> = event instanceof Y.YMapEvent ? (event.keysChanged as Set<string>) : new Set();
    const gone = (key: string) => !(event.target as YMap).has(key);
    switch (path.length) {
      case 0: // tracks added or removed
        for (const trackId of keys) {
          if (gone(trackId)) this.removeTrack(trackId, stamp);
          else this.createTrack(trackId, this.trackMap(trackId), stamp);
        }
        return;
      case 1: {
        const [trackId] = path as [string];
        const track = this.touch(trackId, null, stamp);
        if (track && keys.has('name')) track.renamed = stamp;
        return;
      }
      case 2: {
        // [trackId, 'clips']: clips added or removed
        const [trackId] = path as [string];
        this.touch(trackId, null, stamp);
        for (const clipId of keys) {
          if (gone(clipId)) this.removeClip(trackId, clipId, stamp, true);
          else {
            const clip = (event.target as YMap).get(clipId);
            if (clip instanceof Y.Map) this.createClip(trackId, clipId, clip as YMap, stamp);
          }
        }
        return;
      }
      case 3: {
        // [trackId, 'clips', clipId]: the clip's fields
        const [trackId, , clipId] = path as [string, string, string];
        this.touch(trackId, clipId, stamp);
        const clip = this.clips.get(clipKey(trackId, clipId));
        if (clip && keys.has('name')) clip.renamed = stamp;
        return;
      }
      case 4: {
        // [trackId, 'clips', clipId, 'notes' | 'controllers']
        const [trackId, , clipId, list] = path as [string, string, string, string];
        this.touch(trackId, clipId, stamp);
        if (list !== 'notes') return;
        for (const noteId of keys) {
          const key = noteKey(trackId, clipId, noteId);
          if (gone(noteId)) {
            const note = this.notes.get(key);
            if (note && !note.removed) {
              note.removed = stamp;
              this.removed.push({ kind: 'note', trackId, clipId, noteId, removedBy: stamp.by, removedAt: stamp.at });
            }
          } else this.notes.set(key, newNote(stamp));
        }
        return;
      }
      case 5: {
        // [trackId, 'clips', clipId, 'notes', noteId]: the note's fields
        const [trackId, , clipId, , noteId] = path as [string, string, string, string, string];
        this.touch(trackId, clipId, stamp);
        const key = noteKey(trackId, clipId, noteId);
        const note = this.notes.get(key) ?? this.notes.set(key, newNote(stamp)).get(key)!;
        note.changed = stamp;
        if (keys.has('start') || keys.has('pitch')) note.moved = stamp;
        if (keys.has('duration')) note.resized = stamp;
        if (keys.has('velocity')) note.revelocitied = stamp;
        return;
      }
      default:
        return;
    }
  }

  private trackMap(trackId: string): YMap | undefined {
    const value = this.doc.getMap<YMap>('tracks').get(trackId);
    return value instanceof Y.Map ? value : undefined;
  }

  /** Marks a track (and a clip of it) changed by `stamp`; the track's record. */
  private touch(trackId: string, clipId: string | null, stamp: Stamp): TrackRecord | undefined {
    const track = this.tracks.get(trackId);
    if (track) track.changed = stamp;
    if (clipId !== null) {
      const clip = this.clips.get(clipKey(trackId, clipId));
      if (clip) clip.changed = stamp;
    }
    return track;
  }

  /** A new track, with whatever clips and notes it arrived with (created in the same update). */
  private createTrack(trackId: string, map: YMap | undefined, stamp: Stamp): void {
    this.tracks.set(trackId, { created: stamp, changed: stamp, removed: null, renamed: stamp });
    const clips = map?.get('clips');
    if (clips instanceof Y.Map) for (const [clipId, clip] of (clips as Y.Map<unknown>).entries()) if (clip instanceof Y.Map) this.createClip(trackId, clipId, clip as YMap, stamp);
  }

  private createClip(trackId: string, clipId: string, map: YMap, stamp: Stamp): void {
    this.clips.set(clipKey(trackId, clipId), { created: stamp, changed: stamp, removed: null, renamed: stamp });
    const notes = map.get('notes');
    if (notes instanceof Y.Map) for (const noteId of (notes as Y.Map<unknown>).keys()) this.notes.set(noteKey(trackId, clipId, noteId), newNote(stamp));
  }

  private removeTrack(trackId: string, stamp: Stamp): void {
    const track = this.tracks.get(trackId);
    if (!track || track.removed) return;
    track.removed = stamp;
    this.removed.push({ kind: 'track', trackId, removedBy: stamp.by, removedAt: stamp.at });
  }

  private removeClip(trackId: string, clipId: string, stamp: Stamp, listed: boolean): void {
    const clip = this.clips.get(clipKey(trackId, clipId));
    if (!clip || clip.removed) return;
    clip.removed = stamp;
    if (listed) this.removed.push({ kind: 'clip', trackId, clipId, removedBy: stamp.by, removedAt: stamp.at });
  }

  /** Who removed a note: itself, or the clip or track it was in. */
  removalOfNote(trackId: string, clipId: string, noteId: string): Stamp | null {
    return this.notes.get(noteKey(trackId, clipId, noteId))?.removed ?? this.removalOfClip(trackId, clipId);
  }

  removalOfClip(trackId: string, clipId: string): Stamp | null {
    return this.clips.get(clipKey(trackId, clipId))?.removed ?? this.tracks.get(trackId)?.removed ?? null;
  }
}

function newNote(stamp: Stamp): NoteRecord {
  return { created: stamp, changed: stamp, removed: null, moved: stamp, resized: stamp, revelocitied: stamp };
}

/** Stamps the ticks whose value the replaced list changed (added, removed or changed). */
function stampTicks<T extends { tick: number }, V>(series: TickSeries<V>, list: readonly T[], value: (item: T) => V, stamp: Stamp, same: (a: V, b: V) => boolean): void {
  const next = new Map<number, V>();
  for (const item of list) next.set(item.tick, value(item));
  for (const [tick, v] of next) {
    const before = series.now.get(tick);
    if (before === undefined || !same(before, v)) series.stamps.set(tick, stamp);
  }
  for (const tick of series.now.keys()) if (!next.has(tick)) series.stamps.set(tick, stamp);
  series.now = next;
}
