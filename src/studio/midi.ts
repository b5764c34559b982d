// MIDI in and out of a studio session, as pure functions over the document model (the HTTP routes
// sit on top). Import reads a Standard MIDI File in three passes before it touches the document:
// 1. the chunk structure, checked here because @tonejs/midi (through midi-file) reads past a cut
//    file's end without a word and returns fewer tracks or garbage events;
// 2. every event of every track, which proves each track well formed and collects the notes (paired
//    here, see `readEvents`) and what @tonejs/midi keeps no channel or encoding for (controllers,
//    names, markers, key signature);
// 3. @tonejs/midi for the tempo map and time signatures, one track chunk at a time. Not for notes:
//    it pairs a note-on with a note-off only within one (program, channel) part of a track, so a
//    program change while a note sounds loses that note or gives it another's note-off.
// Only then is everything written, in one Yjs transaction. Browser-safe: no Node imports.
import tonejs from '@tonejs/midi';
import {
  MAX_TICK,
  StudioDoc,
  StudioError,
  type ControllerEvent,
  type Marker,
  type Note,
  type StudioSnapshot,
  type TempoChange,
  type TimeSignature,
  type TrackSnapshot,
} from './model.js';

const { Midi } = tonejs;

/** A file that is not a Standard MIDI File, is cut short, or is malformed; the document is unchanged. */
export class MidiError extends StudioError {
  constructor(message: string) {
    super(message);
    this.name = 'MidiError';
  }
}

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

export interface MidiExportOptions {
  /** Export only this track (with the session's tempo map, signatures and markers). */
  trackId?: string;
}

export const DEFAULT_MAX_NOTES = 200_000;
/** Session PPQ bounds (see `StudioDoc.updateSettings`). */
const MIN_PPQ = 24;
const MAX_PPQ = 32_767;
const MAX_BPM = 999;
/** A delta time is at most four 7-bit groups. */
const MAX_DELTA = 0x0fff_ffff;
const TRACK_COLORS = ['#4f7cff', '#e5484d', '#30a46c', '#f5a623', '#8e4ec6', '#12a594', '#e54666', '#978365'];
const MAJOR_KEYS = ['Cb', 'Gb', 'Db', 'Ab', 'Eb', 'Bb', 'F', 'C', 'G', 'D', 'A', 'E', 'B', 'F#', 'C#'];
const MINOR_KEYS = ['Ab', 'Eb', 'Bb', 'F', 'C', 'G', 'D', 'A', 'E', 'B', 'F#', 'C#', 'G#', 'D#', 'A#'];

// ---------------------------------------------------------------------------------------------
// Pass 1: chunks

interface SmfChunks {
  format: 0 | 1;
  ppq: number;
  /** Bodies of the MTrk chunks, in file order. */
  tracks: Uint8Array[];
  warnings: string[];
}

const ascii = (bytes: Uint8Array, at: number, length: number): string => String.fromCharCode(...bytes.subarray(at, at + length));
const u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
const u32 = (b: Uint8Array, at: number): number => b[at]! * 0x100_0000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);

function readChunks(file: Uint8Array): SmfChunks {
  if (file.length === 0) throw new MidiError('not a Standard MIDI File: the file is empty');
  const head = ascii(file, 0, 4);
  if (head !== 'MThd') {
    if (file.length < 4 && 'MThd'.startsWith(head)) throw new MidiError(`truncated MIDI file: it ends after ${file.length} bytes, inside the MThd header`);
    throw new MidiError('not a Standard MIDI File: missing MThd header');
  }
  if (file.length < 14) throw new MidiError(`truncated MIDI file: it ends after ${file.length} bytes, inside the 14-byte MThd header`);
  const headerLength = u32(file, 4);
  if (headerLength < 6) throw new MidiError(`malformed MIDI file: the MThd chunk is ${headerLength} bytes long, not at least 6`);
  if (8 + headerLength > file.length) throw new MidiError(`truncated MIDI file: the MThd chunk needs ${8 + headerLength} bytes, the file has ${file.length}`);
  const format = u16(file, 8);
  const declaredTracks = u16(file, 10);
  const division = u16(file, 12);
  if (format === 2) throw new MidiError('unsupported MIDI file: format 2 (independent sequences) cannot be imported; use format 0 or 1');
  if (format !== 0 && format !== 1) throw new MidiError(`malformed MIDI file: unknown format ${format}`);
  if (division & 0x8000) throw new MidiError('unsupported MIDI file: SMPTE time division (frames per second) instead of ticks per quarter note');
  if (division === 0) throw new MidiError('malformed MIDI file: 0 ticks per quarter note');

  const warnings: string[] = [];
  const tracks: Uint8Array[] = [];
  let at = 8 + headerLength;
  while (tracks.length < declaredTracks) {
    if (at >= file.length) throw new MidiError(`truncated MIDI file: the header announces ${declaredTracks} tracks, the file ends after ${tracks.length}`);
    if (at + 8 > file.length) throw new MidiError(`truncated MIDI file: it ends inside the header of track ${tracks.length + 1} (byte ${file.length})`);
    const id = ascii(file, at, 4);
    const length = u32(file, at + 4);
    const end = at + 8 + length;
    if (end > file.length) throw new MidiError(`truncated MIDI file: track ${tracks.length + 1} needs ${length} bytes, only ${file.length - at - 8} remain`);
    if (id === 'MTrk') tracks.push(file.subarray(at + 8, end));
    else if (/^[\x20-\x7e]{4}$/.test(id)) warnings.push(`ignored a chunk of unknown type "${id}" (${length} bytes)`);
    else throw new MidiError(`malformed MIDI file: no chunk header at byte ${at} where track ${tracks.length + 1} should start`);
    at = end;
  }
  if (at < file.length) warnings.push(`ignored ${file.length - at} bytes after the last track`);
  return { format: format as 0 | 1, ppq: division, tracks, warnings };
}

// ---------------------------------------------------------------------------------------------
// Pass 2: events

/** A note of a MIDI track, in the track's ticks, with the program its channel had at its note-on. */
interface RawNote {
  pitch: number;
  start: number;
  duration: number;
  velocity: number;
  channel: number;
  program: number;
}

interface RawTrack {
  name: string | undefined;
  /** Absolute ticks, file order. */
  controllers: ControllerEvent[];
  /** The first program change of the track, whatever its channel. */
  firstProgram: number | undefined;
  /** Program changes to another program on a channel that already had one. */
  programSwitches: number;
  /** Every note-on (velocity > 0) of the track as a note, in file order. */
  notes: RawNote[];
  /** Notes still sounding at the end of the track (no note-off follows): they end at `endTick`. */
  unterminated: number;
  markers: { tick: number; name: string }[];
  /** "C major" etc. when the track sets a key signature at tick 0. */
  key: string | undefined;
  /** Tick of the last event (normally End of Track). */
  endTick: number;
  /** Event kinds the session has no place for, with how many were seen. */
  dropped: Map<string, number>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text meta events carry no declared encoding: UTF-8 when the bytes are valid UTF-8, else Latin-1. */
function decodeText(bytes: Uint8Array): string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    text = '';
    for (const b of bytes) text += String.fromCharCode(b);
  }
  return text.replace(/\0+$/, '');
}

const META_DROPPED: Record<number, string> = {
  0x00: 'sequence number',
  0x01: 'text',
  0x02: 'copyright',
  0x04: 'instrument name',
  0x05: 'lyrics',
  0x07: 'cue point',
  0x20: 'channel prefix',
  0x21: 'port prefix',
  0x54: 'SMPTE offset',
  0x7f: 'sequencer-specific',
};

/**
 * Walks every event of one MTrk chunk; throws MidiError at the first byte that does not fit.
 *
 * Notes: a note-on (velocity > 0) is ended by the next note-off, or note-on of velocity 0, of the
 * same channel and pitch in the same track, first in first out: when a pitch is struck again before
 * it is released, the first note-off ends the first note (as most sequencers and players, and
 * @tonejs/midi within one part, pair them; the exporter writes notes so that this pairing gives
 * them back). Program changes do not affect pairing; a note takes the program its channel has at
 * its note-on (0 before any program change, as in @tonejs/midi). A note still sounding when the
 * track ends (no note-off follows) is kept and ends at the track's last event, End of Track, where
 * a player silences it; `unterminated` counts those for a warning. A note-off with nothing
 * sounding to end is counted as dropped.
 */
function readEvents(body: Uint8Array, trackNumber: number): RawTrack {
  const raw: RawTrack = {
    name: undefined,
    controllers: [],
    firstProgram: undefined,
    programSwitches: 0,
    notes: [],
    unterminated: 0,
    markers: [],
    key: undefined,
    endTick: 0,
    dropped: new Map(),
  };
  let at = 0;
  const fail = (what: string): never => {
    throw new MidiError(`malformed MIDI file: track ${trackNumber}, byte ${at}: ${what}`);
  };
  const drop = (kind: string): void => {
    raw.dropped.set(kind, (raw.dropped.get(kind) ?? 0) + 1);
  };
  const byte = (): number => (at < body.length ? body[at++]! : fail('the event runs past the end of the track chunk'));
  const varLength = (): number => {
    let value = 0;
    for (let i = 0; i < 4; i++) {
      const b = byte();
      value = value * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) return value;
    }
    return fail('a variable-length number longer than 4 bytes');
  };
  const bytes = (length: number): Uint8Array => {
    if (at + length > body.length) fail(`an event of ${length} bytes runs past the end of the track chunk`);
    at += length;
    return body.subarray(at - length, at);
  };
  const dataByte = (): number => {
    const b = byte();
    return b < 0x80 ? b : fail(`status byte 0x${b.toString(16)} where a data byte belongs`);
  };

  let tick = 0;
  const programs = new Map<number, number>();
  /** Notes sounding, oldest first, by channel * 128 + pitch. */
  const sounding = new Map<number, RawNote[]>();
  // Running status survives meta and sysex events, as in midi-file (the parser under @tonejs/midi).
  let status = 0;
  while (at < body.length) {
    tick += varLength();
    if (tick > MAX_TICK) fail(`an event at tick ${tick}, beyond the session's limit of ${MAX_TICK}`);
    let first: number | undefined;
    const lead = byte();
    if (lead === 0xff) {
      const type = byte();
      const data = bytes(varLength());
      if (type === 0x03) raw.name ??= decodeText(data);
      else if (type === 0x06) raw.markers.push({ tick, name: decodeText(data) });
      else if (type === 0x59 && data.length === 2) {
        const sf = (data[0]! << 24) >> 24;
        const names = data[1] === 1 ? MINOR_KEYS : MAJOR_KEYS;
        if (tick === 0 && names[sf + 7]) raw.key ??= `${names[sf + 7]} ${data[1] === 1 ? 'minor' : 'major'}`;
        else drop('key signature changes after tick 0');
      } else if (META_DROPPED[type]) drop(`${META_DROPPED[type]} meta events`);
      else if (type !== 0x2f && type !== 0x51 && type !== 0x58) drop('unknown meta events');
      raw.endTick = tick;
      continue;
    }
    if (lead === 0xf0 || lead === 0xf7) {
      bytes(varLength());
      drop('system exclusive messages');
      raw.endTick = tick;
      continue;
    }
    if (lead >= 0xf0) fail(`status byte 0x${lead.toString(16)} is not allowed in a MIDI file`);
    if (lead >= 0x80) status = lead;
    else if (status === 0) fail('a data byte before any status byte (running status with nothing to run)');
    else first = lead;
    const kind = status & 0xf0;
    const channel = status & 0x0f;
    const a = first ?? dataByte();
    const b = kind === 0xc0 || kind === 0xd0 ? 0 : dataByte();
    if (kind === 0x90 && b > 0) {
      const note: RawNote = { pitch: a, start: tick, duration: 0, velocity: b, channel, program: programs.get(channel) ?? 0 };
      raw.notes.push(note);
      const key = channel * 128 + a;
      const queue = sounding.get(key);
      if (queue) queue.push(note);
      else sounding.set(key, [note]);
    } else if (kind === 0x80 || kind === 0x90) {
      const note = sounding.get(channel * 128 + a)?.shift();
      if (note) note.duration = tick - note.start;
      else drop('note-offs with no note sounding');
    } else if (kind === 0xb0) raw.controllers.push({ tick, controller: a, value: b, channel });
    else if (kind === 0xc0) {
      raw.firstProgram ??= a;
      if (programs.has(channel) && programs.get(channel) !== a) raw.programSwitches++;
      programs.set(channel, a);
    } else if (kind === 0xa0) drop('polyphonic aftertouch events');
    else if (kind === 0xd0) drop('channel aftertouch events');
    else if (kind === 0xe0) drop('pitch bend events');
    raw.endTick = tick;
  }
  for (const queue of sounding.values()) {
    for (const note of queue) {
      note.duration = raw.endTick - note.start;
      raw.unterminated++;
    }
  }
  return raw;
}

// ---------------------------------------------------------------------------------------------
// Pass 3: @tonejs/midi

type ToneMidi = InstanceType<typeof Midi>;

/** One MTrk chunk as a format 0 file, for @tonejs/midi's reading of its tempo and time signature events. */
function parseTrackWithTone(ppq: number, body: Uint8Array, trackNumber: number): ToneMidi {
  const file = new Uint8Array(22 + body.length);
  file.set([0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6, 0, 0, 0, 1, ppq >> 8, ppq & 0xff, 0x4d, 0x54, 0x72, 0x6b]);
  new DataView(file.buffer).setUint32(18, body.length);
  file.set(body, 22);
  try {
    return new Midi(file);
  } catch (error) {
    // midi-file throws plain strings.
    throw new MidiError(`malformed MIDI file: track ${trackNumber}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Import

type PlannedNote = Omit<Note, 'id'>;

interface PlannedTrack {
  name: string;
  program: number;
  notes: PlannedNote[];
  controllers: ControllerEvent[];
  length: number;
}

interface Timeline {
  tempo: TempoChange[];
  timeSignatures: TimeSignature[];
  markers: { tick: number; name: string }[];
  key: string | undefined;
}

/** A file read and checked in full, in its own ticks. */
interface ParsedMidi {
  ppq: number;
  tracks: PlannedTrack[];
  timeline: Timeline;
  warnings: string[];
}

function parseMidi(file: Uint8Array): ParsedMidi {
  const chunks = readChunks(file);
  const warnings = [...chunks.warnings];
  const raws = chunks.tracks.map((body, i) => readEvents(body, i + 1));
  const tones = chunks.tracks.map((body, i) => parseTrackWithTone(chunks.ppq, body, i + 1));
  const tracks = raws.flatMap((raw, i) => sessionTracksOf(raw, i + 1, warnings));
  const dropped = new Map<string, number>();
  for (const raw of raws) for (const [kind, n] of raw.dropped) dropped.set(kind, (dropped.get(kind) ?? 0) + n);
  if (dropped.size > 0) warnings.push(`dropped what a session cannot hold: ${[...dropped].map(([kind, n]) => `${kind} (${n})`).join(', ')}`);
  return { ppq: chunks.ppq, tracks, timeline: timelineOf(raws, tones, warnings), warnings };
}

/**
 * The session tracks of one MIDI track: one per program its notes play (a note's program is its
 * channel's at its note-on; a session track has one program), in the order of their first notes,
 * each with the notes of its channels and their controllers; none without notes or controllers.
 */
function sessionTracksOf(raw: RawTrack, number: number, warnings: string[]): PlannedTrack[] {
  const baseName = raw.name?.trim() || `Track ${number}`;
  const label = `MIDI track ${number} ("${baseName}")`;
  const groups = new Map<number, { channels: Set<number>; notes: PlannedNote[] }>();
  for (const { program, ...note } of raw.notes) {
    const group = groups.get(program) ?? { channels: new Set<number>(), notes: [] };
    groups.set(program, group);
    group.channels.add(note.channel);
    group.notes.push(note);
  }
  if (raw.unterminated > 0) {
    warnings.push(`${label}: ${raw.unterminated} of ${raw.notes.length} notes have no note-off before the end of the track and were ended there, at tick ${raw.endTick}`);
  }
  if (groups.size === 0 && raw.controllers.length === 0) return [];
  if (groups.size === 0) groups.set(raw.firstProgram ?? 0, { channels: new Set(), notes: [] });
  const entries = [...groups];
  // A controller goes with the notes of its channel; one on a channel without notes, with the first group.
  const controllersOf = entries.map((): ControllerEvent[] => []);
  for (const cc of raw.controllers) controllersOf[Math.max(0, entries.findIndex(([, g]) => g.channels.has(cc.channel)))]!.push(cc);
  const channelList = (channels: Set<number>): string => [...channels].map((c) => c + 1).join(', ');
  if (entries.length > 1) {
    const programs = entries.map(([p, g]) => `${p} on channel${g.channels.size > 1 ? 's' : ''} ${channelList(g.channels)}`).join('; ');
    warnings.push(`${label} plays several programs (${programs}): imported as ${entries.length} tracks, one per program`);
  }
  if (raw.programSwitches > 0) warnings.push(`${label} changes program during the song: a session track keeps one program, set once per channel on export`);
  return entries.map(([program, group], g) => {
    const suffix = entries.length > 1 ? ` (ch ${channelList(group.channels)})` : '';
    const notesEnd = group.notes.reduce((end, n) => Math.max(end, n.start + n.duration), 0);
    const controllersEnd = controllersOf[g]!.reduce((end, c) => Math.max(end, c.tick + 1), 0);
    return {
      name: cut(baseName + suffix, 200, 'track name', warnings),
      program,
      notes: group.notes,
      controllers: controllersOf[g]!,
      length: Math.max(1, raw.endTick, notesEnd, controllersEnd),
    };
  });
}

/** Tempo map and time signatures from every track, as a MIDI player reads them; markers; the key at tick 0. */
function timelineOf(raws: RawTrack[], tones: ToneMidi[], warnings: string[]): Timeline {
  const tempo: TempoChange[] = [];
  const timeSignatures: TimeSignature[] = [];
  let badTempo = 0;
  let badSignatures = 0;
  for (const { header } of tones) {
    for (const t of header.tempos) {
      if (!Number.isFinite(t.bpm)) {
        badTempo++;
        continue;
      }
      if (t.bpm > MAX_BPM) warnings.push(`a tempo of ${t.bpm.toFixed(1)} BPM at tick ${t.ticks} was lowered to ${MAX_BPM}`);
      tempo.push({ tick: t.ticks, bpm: Math.min(MAX_BPM, t.bpm) });
    }
    for (const s of header.timeSignatures) {
      const [numerator = 0, denominator = 0] = s.timeSignature;
      if (numerator >= 1 && numerator <= 64 && denominator >= 1 && denominator <= 64 && (denominator & (denominator - 1)) === 0) {
        timeSignatures.push({ tick: s.ticks, numerator, denominator });
      } else badSignatures++;
    }
  }
  if (badTempo > 0) warnings.push(`dropped ${badTempo} tempo event(s) of 0 microseconds per quarter note`);
  if (badSignatures > 0) warnings.push(`dropped ${badSignatures} time signature(s) beyond 64 beats or not over a power of two up to 64`);
  return {
    tempo: lastPerTick(tempo),
    timeSignatures: lastPerTick(timeSignatures),
    markers: raws.flatMap((r) => r.markers.map((m) => ({ tick: m.tick, name: cut(m.name, 200, 'marker', warnings) }))),
    key: raws.find((r) => r.key !== undefined)?.key,
  };
}

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

/** One entry per tick, the later one winning (as a MIDI player applies two events at one tick). */
function lastPerTick<T extends { tick: number }>(items: readonly T[]): T[] {
  const byTick = new Map<number, T>();
  for (const item of [...items].sort((a, b) => a.tick - b.tick)) {
    byTick.delete(item.tick);
    byTick.set(item.tick, item);
  }
  return [...byTick.values()];
}

function cut(text: string, max: number, what: string, warnings: string[]): string {
  if (text.length <= max) return text;
  warnings.push(`${what} "${text.slice(0, 40)}…" was cut to ${max} characters`);
  return text.slice(0, max);
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

// ---------------------------------------------------------------------------------------------
// Export

/**
 * Order of events at one tick: note-offs before note-ons, so a note ending where the next one of its
 * pitch begins does not cut that one; controllers (bank select) before the program change; the off
 * of a zero-length note after its own on.
 */
const Rank = { Meta: 0, NoteOff: 1, Controller: 2, Program: 3, NoteOn: 4, ZeroLengthOff: 5 } as const;

interface TimedEvent {
  tick: number;
  rank: number;
  /** Status byte for channel messages, 0xff for meta events. */
  status: number;
  data: number[];
}

const utf8Encoder = new TextEncoder();
const textBytes = (text: string): number[] => [...utf8Encoder.encode(text)];
const dataByte = (value: number, min = 0): number => Math.min(127, Math.max(min, Number.isFinite(value) ? Math.round(value) : min));
const tickOf = (value: number): number => Math.max(0, Number.isFinite(value) ? Math.round(value) : 0);

function varLength(value: number, out: number[]): void {
  const groups = [value & 0x7f];
  for (let v = Math.floor(value / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
  out.push(...groups);
}

function meta(tick: number, type: number, data: number[]): TimedEvent {
  const length: number[] = [];
  varLength(data.length, length);
  return { tick, rank: Rank.Meta, status: 0xff, data: [type, ...length, ...data] };
}

/** An MTrk chunk: events sorted stably by tick and rank, running status, End of Track at `endTick` or the last event. */
function trackChunk(events: TimedEvent[], endTick: number): number[] {
  const sorted = events.map((e, i) => ({ e, i })).sort((a, b) => a.e.tick - b.e.tick || a.e.rank - b.e.rank || a.i - b.i);
  const body: number[] = [];
  let now = 0;
  let running = 0;
  const delta = (tick: number): void => {
    if (tick - now > MAX_DELTA) throw new StudioError(`cannot export: ${tick - now} ticks between two events, more than a MIDI file can hold`);
    varLength(tick - now, body);
    now = tick;
  };
  for (const { e } of sorted) {
    delta(e.tick);
    if (e.status === 0xff) {
      running = 0;
      body.push(0xff, ...e.data);
    } else {
      if (e.status !== running) body.push(e.status);
      running = e.status;
      body.push(...e.data);
    }
  }
  delta(Math.max(now, endTick));
  body.push(0xff, 0x2f, 0x00);
  return [0x4d, 0x54, 0x72, 0x6b, (body.length >>> 24) & 0xff, (body.length >>> 16) & 0xff, (body.length >>> 8) & 0xff, body.length & 0xff, ...body];
}

function keySignature(key: string): number[] | undefined {
  const match = /^([A-G][#b]?)\s+(major|minor)$/i.exec(key.trim());
  if (!match) return undefined;
  const tonic = match[1]!.charAt(0).toUpperCase() + match[1]!.slice(1);
  const minor = match[2]!.toLowerCase() === 'minor';
  const index = (minor ? MINOR_KEYS : MAJOR_KEYS).indexOf(tonic);
  return index === -1 ? undefined : [(index - 7) & 0xff, minor ? 1 : 0];
}

function conductorTrack(snapshot: StudioSnapshot, endTick: number): number[] {
  const events: TimedEvent[] = [meta(0, 0x03, textBytes(snapshot.settings.title))];
  const key = keySignature(snapshot.settings.key);
  if (key) events.push(meta(0, 0x59, key));
  for (const s of snapshot.timeSignatures) {
    const power = Math.log2(s.denominator);
    if (Number.isInteger(power) && power >= 0) events.push(meta(tickOf(s.tick), 0x58, [Math.min(255, Math.max(1, Math.round(s.numerator))), power, 24, 8]));
  }
  for (const t of snapshot.tempo) {
    if (!(t.bpm > 0)) continue;
    const perQuarter = Math.min(0xff_ffff, Math.max(1, Math.round(60_000_000 / t.bpm)));
    events.push(meta(tickOf(t.tick), 0x51, [perQuarter >> 16, (perQuarter >> 8) & 0xff, perQuarter & 0xff]));
  }
  for (const m of snapshot.markers) events.push(meta(tickOf(m.tick), 0x06, textBytes(m.name)));
  return trackChunk(events, endTick);
}

/** One session track as one MIDI track: name, program per channel it plays on, notes, controllers. */
function studioTrackChunk(track: TrackSnapshot): { chunk: number[]; endTick: number } {
  const events: TimedEvent[] = [meta(0, 0x03, textBytes(track.name))];
  const notes = track.clips
    .flatMap((clip) => clip.notes.map((n) => ({ start: tickOf(clip.start) + tickOf(n.start), duration: tickOf(n.duration), pitch: dataByte(n.pitch), velocity: dataByte(n.velocity, 1), channel: tickOf(n.channel) & 0x0f })))
    // Equal starts: shorter first, so a reader pairing note-offs first-in first-out gets each duration back.
    .sort((a, b) => a.start - b.start || a.channel - b.channel || a.pitch - b.pitch || a.duration - b.duration || a.velocity - b.velocity);
  const controllers = track.clips.flatMap((clip) =>
    clip.controllers.map((c) => ({ tick: tickOf(clip.start) + tickOf(c.tick), controller: dataByte(c.controller), value: dataByte(c.value), channel: tickOf(c.channel) & 0x0f })),
  );
  let endTick = track.clips.reduce((end, clip) => Math.max(end, tickOf(clip.start) + tickOf(clip.length)), 0);
  for (const c of controllers) {
    events.push({ tick: c.tick, rank: Rank.Controller, status: 0xb0 | c.channel, data: [c.controller, c.value] });
    endTick = Math.max(endTick, c.tick);
  }
  // The program goes to each channel the track's notes play on, just before its first note there;
  // a track without notes sets a program only if it has one other than the default 0.
  const programAt = new Map<number, number>();
  for (const n of notes) {
    if (!programAt.has(n.channel)) programAt.set(n.channel, n.start);
    events.push({ tick: n.start, rank: Rank.NoteOn, status: 0x90 | n.channel, data: [n.pitch, n.velocity] });
    events.push({ tick: n.start + n.duration, rank: n.duration === 0 ? Rank.ZeroLengthOff : Rank.NoteOff, status: 0x80 | n.channel, data: [n.pitch, 64] });
    endTick = Math.max(endTick, n.start + n.duration);
  }
  const program = dataByte(track.program);
  if (notes.length === 0 && program !== 0) for (const c of controllers) if (!programAt.has(c.channel)) programAt.set(c.channel, c.tick);
  for (const [channel, tick] of programAt) events.push({ tick, rank: Rank.Program, status: 0xc0 | channel, data: [program] });
  return { chunk: trackChunk(events, endTick), endTick };
}

/**
 * The session (or one track of it) as a format 1 Standard MIDI File at the session's PPQ: a first
 * track with the title, tempo map, time signatures, key and markers, then one track per session
 * track in display order. Notes sit at clip start + note start; mute, solo, volume, pan and colour
 * have no MIDI counterpart here and are left out.
 */
export function exportMidi(snapshot: StudioSnapshot, options: MidiExportOptions = {}): Uint8Array {
  const tracks = options.trackId === undefined ? snapshot.tracks : snapshot.tracks.filter((t) => t.id === options.trackId);
  if (options.trackId !== undefined && tracks.length === 0) throw new StudioError(`track ${options.trackId} not found`);
  if (tracks.length + 1 > 0xffff) throw new StudioError(`cannot export ${tracks.length} tracks: a MIDI file holds at most 65,534`);
  const ppq = Math.min(MAX_PPQ, Math.max(1, Math.round(snapshot.settings.ppq)));
  const chunks = tracks.map(studioTrackChunk);
  const lastTick = Math.max(0, ...chunks.map((c) => c.endTick), ...snapshot.markers.map((m) => tickOf(m.tick)));
  const header = [0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6, 0, 1, (tracks.length + 1) >> 8, (tracks.length + 1) & 0xff, ppq >> 8, ppq & 0xff];
  const parts = [header, conductorTrack(snapshot, lastTick), ...chunks.map((c) => c.chunk)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
