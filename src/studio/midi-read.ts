// Reading a Standard MIDI File for import into a studio session, in two passes before anything
// touches the document (`midi-import.ts` writes what they give):
// 1. the chunk structure, checked here because @tonejs/midi (through midi-file) reads past a cut
//    file's end without a word and returns fewer tracks or garbage events;
// 2. every event of every track, one pass over each track chunk, which proves the track well
//    formed and collects the notes (paired here, see `readEvents`), the tempo map and time
//    signatures, and what @tonejs/midi keeps no channel or encoding for (controllers, names,
//    markers, key signature). Not @tonejs/midi for notes: it pairs a note-on with a note-off only
//    within one (program, channel) part of a track, so a program change while a note sounds loses
//    that note or gives it another's note-off; nor for the tempo map alone, which would be a second
//    pass over every track for two kinds of meta event.
// Browser-safe: no Node imports.
import { MAX_TICK, StudioError, type ControllerEvent, type Note, type TempoChange, type TimeSignature } from './model.js';

/** A file that is not a Standard MIDI File, is cut short, or is malformed; the document is unchanged. */
export class MidiError extends StudioError {
  constructor(message: string) {
    super(message);
    this.name = 'MidiError';
  }
}

const MAX_BPM = 999;
/** Key names by number of sharps (+) or flats (−) plus 7, as a key signature meta event gives them. */
export const MAJOR_KEYS = ['Cb', 'Gb', 'Db', 'Ab', 'Eb', 'Bb', 'F', 'C', 'G', 'D', 'A', 'E', 'B', 'F#', 'C#'];
export const MINOR_KEYS = ['Ab', 'Eb', 'Bb', 'F', 'C', 'G', 'D', 'A', 'E', 'B', 'F#', 'C#', 'G#', 'D#', 'A#'];

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
  /** Tempo changes, as @tonejs/midi gave them: BPM from the microseconds per quarter note, file order. */
  tempos: { ticks: number; bpm: number }[];
  /** Time signatures as written: numerator, 2 to the power of the denominator byte, file order. */
  timeSignatures: { ticks: number; timeSignature: [number, number] }[];
  /** The first meta event of the track whose length its type does not allow (the file is malformed). */
  badMetaLength: string | undefined;
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

/**
 * Meta events of a fixed length, with the words of midi-file (the parser @tonejs/midi bundles, which
 * read these before) for a length their type does not allow.
 */
const META_LENGTHS: Record<number, { name: string; lengths: readonly number[]; expected: string }> = {
  0x00: { name: 'sequenceNumber', lengths: [2], expected: '2' },
  0x20: { name: 'channelPrefix', lengths: [1], expected: '1' },
  0x21: { name: 'portPrefix', lengths: [1], expected: '1' },
  0x2f: { name: 'endOfTrack', lengths: [0], expected: '0' },
  0x51: { name: 'setTempo', lengths: [3], expected: '3' },
  0x54: { name: 'smpteOffset', lengths: [5], expected: '5' },
  0x58: { name: 'timeSignature', lengths: [4], expected: '4' },
  0x59: { name: 'keySignature', lengths: [2], expected: '2' },
};

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
 *
 * Tempo and time signatures are read here too, as @tonejs/midi read them: a tempo of 0
 * microseconds per quarter note gives an infinite BPM (dropped with a warning later), a signature's
 * denominator is 1 << its byte. A fixed-length meta event of another length (a tempo of 4 bytes)
 * is kept in `badMetaLength`: `parseMidi` throws it once every track has been read, so that a
 * structural error of any track is reported first.
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
    tempos: [],
    timeSignatures: [],
    badMetaLength: undefined,
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
      const fixed = META_LENGTHS[type];
      if (fixed && !fixed.lengths.includes(data.length)) raw.badMetaLength ??= `Expected length for ${fixed.name} event is ${fixed.expected}, got ${data.length}`;
      if (type === 0x03) raw.name ??= decodeText(data);
      else if (type === 0x51 && data.length === 3) raw.tempos.push({ ticks: tick, bpm: 60_000_000 / ((data[0]! << 16) + (data[1]! << 8) + data[2]!) });
      else if (type === 0x58 && data.length === 4) raw.timeSignatures.push({ ticks: tick, timeSignature: [data[0]!, 1 << data[1]!] });
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
// The file as planned tracks and a timeline, in its own ticks

export type PlannedNote = Omit<Note, 'id'>;

export interface PlannedTrack {
  name: string;
  program: number;
  notes: PlannedNote[];
  controllers: ControllerEvent[];
  length: number;
}

export interface Timeline {
  tempo: TempoChange[];
  timeSignatures: TimeSignature[];
  markers: { tick: number; name: string }[];
  key: string | undefined;
}

/** A file read and checked in full, in its own ticks. */
export interface ParsedMidi {
  ppq: number;
  tracks: PlannedTrack[];
  timeline: Timeline;
  warnings: string[];
}

export function parseMidi(file: Uint8Array): ParsedMidi {
  const chunks = readChunks(file);
  const warnings = [...chunks.warnings];
  const raws = chunks.tracks.map((body, i) => readEvents(body, i + 1));
  raws.forEach((raw, i) => {
    if (raw.badMetaLength !== undefined) throw new MidiError(`malformed MIDI file: track ${i + 1}: ${raw.badMetaLength}`);
  });
  const tracks = raws.flatMap((raw, i) => sessionTracksOf(raw, i + 1, warnings));
  const dropped = new Map<string, number>();
  for (const raw of raws) for (const [kind, n] of raw.dropped) dropped.set(kind, (dropped.get(kind) ?? 0) + n);
  if (dropped.size > 0) warnings.push(`dropped what a session cannot hold: ${[...dropped].map(([kind, n]) => `${kind} (${n})`).join(', ')}`);
  return { ppq: chunks.ppq, tracks, timeline: timelineOf(raws, warnings), warnings };
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
function timelineOf(raws: RawTrack[], warnings: string[]): Timeline {
  const tempo: TempoChange[] = [];
  const timeSignatures: TimeSignature[] = [];
  let badTempo = 0;
  let badSignatures = 0;
  for (const raw of raws) {
    for (const t of raw.tempos) {
      if (!Number.isFinite(t.bpm)) {
        badTempo++;
        continue;
      }
      if (t.bpm > MAX_BPM) warnings.push(`a tempo of ${t.bpm.toFixed(1)} BPM at tick ${t.ticks} was lowered to ${MAX_BPM}`);
      tempo.push({ tick: t.ticks, bpm: Math.min(MAX_BPM, t.bpm) });
    }
    for (const s of raw.timeSignatures) {
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

/** One entry per tick, the later one winning (as a MIDI player applies two events at one tick). */
export function lastPerTick<T extends { tick: number }>(items: readonly T[]): T[] {
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
