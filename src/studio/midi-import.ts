// Importing a Standard MIDI File into a studio session: the file read and checked in full
// (`midi-read.ts`), fitted to the session's PPQ and timeline, then written in one Yjs transaction.
// Browser-safe: no Node imports.
import { lastPerTick, MidiError, parseMidi, type ParsedMidi, type PlannedTrack } from './midi-read.js';
import { MAX_TICK, StudioDoc, type Marker, type TempoChange, type TimeSignature } from './model.js';

export interface MidiImportOptions {
  /** Yjs transaction origin of the import, so observers and the update log can tell it apart. */
  origin?: unknown;
  /** Refuse files with more notes than this: a small file can expand into a very large document. */
  maxNotes?: number;
}

export interface MidiImportResult {
  /** The session tracks created, in file order. */
  trackIds: string[];
  /** Notes imported. */
  notes: number;
  /** What did not come across exactly: rescaled ticks, dropped events, clamped values. */
  warnings: string[];
}

export const DEFAULT_MAX_NOTES = 200_000;
/** The session PPQ's lower bound (see `StudioDoc.updateSettings`). */
const MIN_PPQ = 24;
const TRACK_COLORS = ['#4f7cff', '#e5484d', '#30a46c', '#f5a623', '#8e4ec6', '#12a594', '#e54666', '#978365'];

/** Ticks from one PPQ to another, counting the positions that had to be rounded. */
class Rescale {
  rounded = 0;
  constructor(
    readonly from: number,
    readonly to: number,
  ) {}

  tick(t: number): number {
    if (this.from === this.to) return t;
    const scaled = t * this.to;
    if (scaled % this.from !== 0) this.rounded++;
    const result = Math.round(scaled / this.from);
    if (result > MAX_TICK) throw new MidiError(`the file is too long for the session: tick ${t} at PPQ ${this.from} is beyond ${MAX_TICK} at PPQ ${this.to}`);
    return result;
  }
}

/** What the import writes: the parsed file in the session's ticks, and the session's timeline merged with the file's. */
interface ImportPlan {
  ppq: number;
  tempo: TempoChange[];
  timeSignatures: TimeSignature[];
  /** The session's markers at their ticks in the adopted PPQ (empty when the PPQ stays). */
  movedMarkers: Marker[];
  markers: { tick: number; name: string }[];
  key: string | undefined;
  tracks: PlannedTrack[];
}

/**
 * A session without tracks adopts the file's PPQ (multiplied up, exactly, to the session minimum)
 * and moves its own tempo map, signatures and markers to it; otherwise the file's ticks are rescaled
 * to the session's PPQ. The file's tempo changes and signatures win over the session's at a shared tick.
 */
function fitToSession(studio: StudioDoc, parsed: ParsedMidi, warnings: string[]): ImportPlan {
  const settings = studio.settings();
  const adopt = studio.tracks().length === 0;
  const ppq = adopt ? parsed.ppq * Math.ceil(MIN_PPQ / parsed.ppq) : settings.ppq;
  if (adopt && ppq !== parsed.ppq) warnings.push(`the file's PPQ of ${parsed.ppq} is below the session minimum of ${MIN_PPQ}: ticks were multiplied by ${ppq / parsed.ppq} (exactly)`);

  const scale = new Rescale(parsed.ppq, ppq);
  const tracks = parsed.tracks.map((t) => ({
    ...t,
    notes: t.notes.map((n) => {
      const start = scale.tick(n.start);
      return { ...n, start, duration: scale.tick(n.start + n.duration) - start };
    }),
    controllers: t.controllers.map((c) => ({ ...c, tick: scale.tick(c.tick) })),
    length: Math.max(1, scale.tick(t.length)),
  }));
  const file = parsed.timeline;
  const fileTempo = file.tempo.map((t) => ({ ...t, tick: scale.tick(t.tick) }));
  const fileSignatures = file.timeSignatures.map((s) => ({ ...s, tick: scale.tick(s.tick) }));
  const markers = file.markers.map((m) => ({ ...m, tick: scale.tick(m.tick) }));
  if (scale.rounded > 0) warnings.push(`ticks rescaled from the file's PPQ of ${parsed.ppq} to the session's ${ppq}: ${scale.rounded} positions were rounded to the nearest tick`);
  else if (!adopt && parsed.ppq !== ppq) warnings.push(`ticks rescaled from the file's PPQ of ${parsed.ppq} to the session's ${ppq} (exactly)`);

  const own = new Rescale(settings.ppq, ppq);
  const tempo = lastPerTick([...studio.tempo().map((t) => ({ ...t, tick: own.tick(t.tick) })), ...fileTempo]);
  const timeSignatures = lastPerTick([...studio.timeSignatures().map((s) => ({ ...s, tick: own.tick(s.tick) })), ...fileSignatures]);
  const movedMarkers = ppq === settings.ppq ? [] : studio.markers().map((m) => ({ ...m, tick: own.tick(m.tick) }));
  if (own.rounded > 0) warnings.push(`the session's tempo map, signatures and markers moved from PPQ ${settings.ppq} to ${ppq}: ${own.rounded} positions were rounded`);
  return { ppq, tempo, timeSignatures, movedMarkers, markers, key: file.key, tracks };
}

const sameList = <T>(a: readonly T[], b: readonly T[]): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Adds a Standard MIDI File (format 0 or 1) to the session: one track with one clip per MIDI track
 * that has notes or controllers (one per program when a MIDI track plays several), its tempo
 * changes, time signatures, markers, and its key if the session has none. The whole file is read and
 * checked before the document is touched, then written in one transaction: a file that is not MIDI,
 * is cut short or is malformed throws `MidiError` and changes nothing.
 */
export function importMidi(studio: StudioDoc, file: Uint8Array, options: MidiImportOptions = {}): MidiImportResult {
  const parsed = parseMidi(file);
  const notes = parsed.tracks.reduce((n, t) => n + t.notes.length, 0);
  const maxNotes = options.maxNotes ?? DEFAULT_MAX_NOTES;
  if (notes > maxNotes) throw new MidiError(`the file has ${notes} notes, more than the ${maxNotes} an import may add`);
  const warnings = [...parsed.warnings];
  const plan = fitToSession(studio, parsed, warnings);
  if (plan.tracks.length === 0) warnings.push('the file has no notes or controllers');

  const settings = studio.settings();
  const trackIds = studio.transact(() => {
    if (plan.ppq !== settings.ppq) studio.updateSettings({ ppq: plan.ppq });
    if (!sameList(plan.tempo, studio.tempo())) studio.setTempo(plan.tempo);
    if (!sameList(plan.timeSignatures, studio.timeSignatures())) studio.setTimeSignatures(plan.timeSignatures);
    // StudioDoc has no marker move; the markers map holds plain values (see its layout comment).
    const markerMap = studio.doc.getMap<Marker>('markers');
    for (const m of plan.movedMarkers) markerMap.set(m.id, m);
    for (const m of plan.markers) studio.addMarker(m);
    if (plan.key !== undefined && settings.key === '') studio.updateSettings({ key: plan.key });
    const colorOffset = studio.tracks().length;
    return plan.tracks.map((track, i) => {
      const id = studio.addTrack({ name: track.name, program: track.program, color: TRACK_COLORS[(colorOffset + i) % TRACK_COLORS.length]! });
      const clip = studio.addClip(id, { name: track.name, start: 0, length: track.length });
      studio.addNotes(id, clip, track.notes);
      if (track.controllers.length > 0) studio.addControllers(id, clip, track.controllers);
      return id;
    });
  }, options.origin);
  return { trackIds, notes, warnings };
}
