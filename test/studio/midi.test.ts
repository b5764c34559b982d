import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import tonejs from '@tonejs/midi';
import * as Y from 'yjs';
import { afterAll, describe, expect, it } from 'vitest';
import { exportMidi } from '../../src/studio/midi-export.js';
import { importMidi } from '../../src/studio/midi-import.js';
import { MidiError } from '../../src/studio/midi-read.js';
import { StudioDoc, type StudioSnapshot } from '../../src/studio/model.js';

const { Midi } = tonejs;
type ToneMidi = InstanceType<typeof Midi>;
const required = process.env.REQUIRE_SERVICES === '1';

/**
 * Real MIDI files from two Debian packages (CI: apt-get install openttd-openmsx planetblupi-music-midi).
 * Missing ones skip with a printed reason; with REQUIRE_SERVICES=1 they are a failure.
 */
function corpus(name: string, find: () => string[]): string[] {
  let files: string[] = [];
  let reason = '';
  try {
    files = find().filter((f) => f.endsWith('.mid')).sort();
    if (files.length === 0) reason = 'no .mid files';
  } catch (error) {
    reason = (error as Error).message.split('\n')[0]!;
  }
  if (reason) {
    if (required) throw new Error(`MIDI corpus ${name}: ${reason} (REQUIRE_SERVICES=1)`);
    console.warn(`SKIP: MIDI corpus ${name}: ${reason} (apt-get install ${name})`);
  }
  return files;
}

const OPENMSX = '/usr/share/games/openttd/baseset/openmsx';
const openmsx = corpus('openttd-openmsx', () => {
  if (!existsSync(OPENMSX)) throw new Error(`${OPENMSX} does not exist`);
  return readdirSync(OPENMSX).map((f) => path.join(OPENMSX, f));
});
const blupi = corpus('planetblupi-music-midi', () =>
  execFileSync('dpkg', ['-L', 'planetblupi-music-midi'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    .split('\n')
    .filter((f) => existsSync(f)),
);
const realFiles = [...openmsx, ...blupi];

// ---------------------------------------------------------------------------------------------
// What is compared: notes as the reference below reads them, effective tempo map, signatures and
// controllers as @tonejs/midi reads them, a snapshot without ids.

interface ReferenceReading {
  ppq: number;
  /** [channel, pitch, start, duration, velocity, program], sorted. */
  notes: number[][];
  noteOns: number;
  /** Note-ons that some later note-off ends. */
  paired: number;
  /** Note-ons with no note-off after them: they end at their track's last event. */
  unterminated: number;
}

/**
 * The notes of a Standard MIDI File, read without the importer's code so that a pairing bug there
 * shows: a flat list of each track's events, then, deliberately simply, each note-on (velocity > 0)
 * in file order takes the first note-off (or note-on of velocity 0) after it, of its channel and
 * pitch, that no earlier note-on took (first in first out). Program changes only set the program a
 * note gets at its note-on (0 before any). No checks: the files are known to be well formed.
 */
function referenceNotes(file: Uint8Array): ReferenceReading {
  const reading: ReferenceReading = { ppq: (file[12]! << 8) | file[13]!, notes: [], noteOns: 0, paired: 0, unterminated: 0 };
  const length = (at: number): number => ((file[at]! << 24) | (file[at + 1]! << 16) | (file[at + 2]! << 8) | file[at + 3]!) >>> 0;
  let at = 8 + length(4);
  while (at < file.length) {
    const end = at + 8 + length(at + 4);
    at += 8;
    const events: { tick: number; kind: 'on' | 'off' | 'program'; channel: number; a: number; b: number }[] = [];
    let tick = 0;
    let status = 0;
    const varLength = (): number => {
      let value = 0;
      let b: number;
      do {
        b = file[at++]!;
        value = value * 128 + (b & 0x7f);
      } while (b & 0x80);
      return value;
    };
    while (at < end) {
      tick += varLength();
      if (file[at] === 0xff || file[at] === 0xf0 || file[at] === 0xf7) {
        at += file[at] === 0xff ? 2 : 1;
        const skip = varLength();
        at += skip;
      } else {
        if (file[at]! & 0x80) status = file[at++]!;
        const type = status >> 4;
        const a = file[at++]!;
        const b = type === 0xc || type === 0xd ? 0 : file[at++]!;
        const channel = status & 0x0f;
        if (type === 0x9 && b > 0) events.push({ tick, kind: 'on', channel, a, b });
        else if (type === 0x8 || type === 0x9) events.push({ tick, kind: 'off', channel, a, b });
        else if (type === 0xc) events.push({ tick, kind: 'program', channel, a, b });
      }
    }
    at = end;
    const program = Array<number>(16).fill(0);
    const taken = new Set<number>();
    events.forEach((on, i) => {
      if (on.kind === 'program') program[on.channel] = on.a;
      if (on.kind !== 'on') return;
      reading.noteOns++;
      const off = events.findIndex((e, j) => j > i && !taken.has(j) && e.kind === 'off' && e.channel === on.channel && e.a === on.a);
      if (off === -1) reading.unterminated++;
      else {
        reading.paired++;
        taken.add(off);
      }
      reading.notes.push([on.channel, on.a, on.tick, (off === -1 ? tick : events[off]!.tick) - on.tick, on.b, program[on.channel]!]);
    });
  }
  reading.notes.sort(byNumbers);
  return reading;
}

/** A session's notes as the reference writes them: [channel, pitch, start, duration, velocity, program of the track], sorted. */
function sessionNotes(s: StudioSnapshot): number[][] {
  return s.tracks.flatMap((t) => t.clips.flatMap((c) => c.notes.map((n) => [n.channel, n.pitch, c.start + n.start, n.duration, n.velocity, t.program]))).sort(byNumbers);
}

/** Every note of a file as @tonejs/midi reads it: [channel, pitch, ticks, durationTicks, velocity 1-127], sorted. */
function toneNotes(midi: ToneMidi): number[][] {
  return midi.tracks
    .flatMap((t) =>
      t.notes.map((n) => {
        const velocity = n.velocity * 127;
        expect(Math.abs(velocity - Math.round(velocity))).toBeLessThan(1e-9);
        return [t.channel, n.midi, n.ticks, n.durationTicks, Math.round(velocity)];
      }),
    )
    .sort(byNumbers);
}

function byNumbers(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** Controllers of a file as [controller, ticks, value 0-127], sorted (@tonejs/midi keeps no channel for them). */
function toneControllers(midi: ToneMidi): number[][] {
  return midi.tracks
    .flatMap((t) => Object.values(t.controlChanges).flatMap((list) => list.map((c) => [c.number, c.ticks, Math.round(c.value * 127)])))
    .sort(byNumbers);
}

/** The tempo map a player follows: the last change at a tick wins, 120 BPM until the first. */
function tempoMap(midi: ToneMidi): number[][] {
  const map = new Map<number, number>([[0, 120]]);
  for (const t of midi.header.tempos) map.set(t.ticks, t.bpm);
  return [...map].sort(byNumbers);
}

/** Time signatures likewise, 4/4 until the first. */
function signatureMap(midi: ToneMidi): number[][] {
  const map = new Map<number, number[]>([[0, [4, 4]]]);
  for (const s of midi.header.timeSignatures) map.set(s.ticks, [...s.timeSignature]);
  return [...map].map(([tick, sig]) => [tick, ...sig]).sort(byNumbers);
}

/** A snapshot with ids left out and notes in a total order. */
function comparable(s: StudioSnapshot): unknown {
  return {
    settings: s.settings,
    tempo: s.tempo,
    timeSignatures: s.timeSignatures,
    markers: s.markers.map((m) => [m.tick, m.name, m.color]),
    tracks: s.tracks.map((t) => ({
      fields: [t.name, t.kind, t.color, t.mute, t.solo, t.volume, t.pan, t.order, t.program],
      clips: t.clips.map((c) => ({
        fields: [c.name, c.start, c.length],
        notes: c.notes.map((n) => [n.start, n.pitch, n.channel, n.duration, n.velocity]).sort(byNumbers),
        controllers: c.controllers,
      })),
    })),
  };
}

function imported(file: Uint8Array): { studio: StudioDoc; result: ReturnType<typeof importMidi> } {
  const studio = new StudioDoc();
  return { studio, result: importMidi(studio, file) };
}

function expectRefused(studio: StudioDoc, file: Uint8Array, message: RegExp): void {
  const before = Y.encodeStateAsUpdate(studio.doc);
  let error: unknown;
  try {
    importMidi(studio, file);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(MidiError);
  expect((error as Error).message).toMatch(message);
  expect(Y.encodeStateAsUpdate(studio.doc)).toEqual(before);
}

/** A session with content, so a refused import has something it could have damaged. */
function busySession(): StudioDoc {
  const studio = new StudioDoc();
  studio.setTempo([{ tick: 0, bpm: 100 }]);
  const track = studio.addTrack({ name: 'Existing' });
  const clip = studio.addClip(track);
  studio.addNotes(track, clip, [{ pitch: 60, start: 0, duration: 480, velocity: 90 }]);
  return studio;
}

// ---------------------------------------------------------------------------------------------
// Hand-made files, byte by byte, so the importer is not only tested against its own exporter.

function varLength(n: number): number[] {
  const out = [n & 0x7f];
  for (let v = n >> 7; v > 0; v >>= 7) out.unshift((v & 0x7f) | 0x80);
  return out;
}

/** An event: delta ticks, then its bytes. */
const ev = (delta: number, ...bytes: number[]): number[] => [...varLength(delta), ...bytes];
const name = (text: string): number[] => ev(0, 0xff, 0x03, text.length, ...Buffer.from(text, 'latin1'));

function smf(ppq: number, tracks: number[][][], options: { format?: number; endOfTrack?: boolean } = {}): Uint8Array {
  const bytes = [...Buffer.from('MThd'), 0, 0, 0, 6, 0, options.format ?? 1, 0, tracks.length, ppq >> 8, ppq & 0xff];
  for (const events of tracks) {
    const body = [...events.flat(), ...(options.endOfTrack === false ? [] : ev(0, 0xff, 0x2f, 0))];
    bytes.push(...Buffer.from('MTrk'), (body.length >> 24) & 0xff, (body.length >> 16) & 0xff, (body.length >> 8) & 0xff, body.length & 0xff, ...body);
  }
  return new Uint8Array(bytes);
}

function notesOf(s: StudioSnapshot): number[][] {
  return s.tracks.flatMap((t) => t.clips.flatMap((c) => c.notes.map((n) => [c.start + n.start, n.pitch, n.duration, n.velocity, n.channel]))).sort(byNumbers);
}

// ---------------------------------------------------------------------------------------------

describe('MIDI round trip of real files', () => {
  describe.skipIf(realFiles.length === 0)(`${openmsx.length} openttd-openmsx and ${blupi.length} planetblupi files`, () => {
    const totals = { files: 0, noteOns: 0, paired: 0, unterminated: 0, imported: 0 };
    afterAll(() => {
      console.log(
        `MIDI corpus: ${totals.files} files, ${totals.noteOns} note-ons, ${totals.paired} with a note-off, ${totals.unterminated} ended at the end of their track; ${totals.imported} notes imported`,
      );
    });

    it.each(realFiles.map((f) => [path.basename(f), f]))('%s: every note, the tempo map, signatures and controllers survive import and export', (base, file) => {
      const original = readFileSync(file);
      const { studio, result } = imported(original);
      const source = new Midi(original);
      const reference = referenceNotes(original);
      console.log(`${base}: ${reference.noteOns} note-ons, ${reference.paired} with a note-off, ${reference.unterminated} without; ${result.notes} notes imported`);
      Object.assign(totals, {
        files: totals.files + 1,
        noteOns: totals.noteOns + reference.noteOns,
        paired: totals.paired + reference.paired,
        unterminated: totals.unterminated + reference.unterminated,
        imported: totals.imported + result.notes,
      });
      // No note is dropped: each note-on with a note-off is a note, and so is each without one (ended
      // at the end of its track, with a warning).
      expect(result.notes).toBe(reference.paired + reference.unterminated);
      expect(result.notes).toBe(reference.noteOns);
      if (reference.unterminated > 0) expect(result.warnings.join('\n')).toMatch(new RegExp(`${reference.unterminated} of \\d+ notes have no note-off`));
      expect(studio.settings().ppq).toBe(reference.ppq);
      // Pitch, start, duration, velocity, channel and program of every note, as the reference pairs them.
      expect(sessionNotes(studio.snapshot())).toEqual(reference.notes);

      const exported = exportMidi(studio.snapshot());
      const written = referenceNotes(exported);
      expect(written.ppq).toBe(reference.ppq);
      expect(written.unterminated).toBe(0);
      expect(written.notes).toEqual(reference.notes);
      const again = new Midi(exported);
      expect(tempoMap(again)).toEqual(tempoMap(source));
      expect(signatureMap(again)).toEqual(signatureMap(source));
      expect(toneControllers(again)).toEqual(toneControllers(source));

      // Import → export → import: the same session, ids aside.
      expect(comparable(imported(exported).studio.snapshot())).toEqual(comparable(studio.snapshot()));
    });

    it('refuses every file cut short, at any of several points, and leaves the session as it was', () => {
      const studio = busySession();
      let cuts = 0;
      for (const file of realFiles) {
        const bytes = new Uint8Array(readFileSync(file));
        const firstTrackEnd = 22 + new DataView(bytes.buffer).getUint32(18);
        for (const at of [1, 3, 4, 13, 14, 20, 22, firstTrackEnd, firstTrackEnd + 5, bytes.length >> 1, bytes.length - 1]) {
          expectRefused(studio, bytes.subarray(0, at), /^truncated MIDI file/);
          cuts++;
        }
      }
      expect(cuts).toBe(realFiles.length * 11);
    });
  });
});

describe('importMidi', () => {
  it('refuses what is not MIDI (random bytes, a text file, nothing) and changes nothing', () => {
    const studio = busySession();
    let seed = 42;
    const random = Uint8Array.from({ length: 4096 }, () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) & 0xff);
    expectRefused(studio, random, /^not a Standard MIDI File: missing MThd header/);
    expectRefused(studio, readFileSync(new URL('../../package.json', import.meta.url)), /^not a Standard MIDI File: missing MThd header/);
    expectRefused(studio, new Uint8Array(0), /^not a Standard MIDI File: the file is empty/);
    // A MIDI header announcing one track, then garbage.
    expectRefused(studio, Uint8Array.from([...smf(96, []).subarray(0, 10), 0, 1, 0, 96, ...random.subarray(0, 100)]), /^(malformed|truncated) MIDI file/);
  });

  it('refuses malformed and unsupported files, and changes nothing', () => {
    const studio = busySession();
    const note = [ev(0, 0x90, 60, 100), ev(96, 0x80, 60, 0)];
    expectRefused(studio, smf(96, [note], { format: 2 }), /format 2/);
    const smpte = smf(96, [note]);
    smpte[12] = 0xe7; // -25 frames per second
    expectRefused(studio, smpte, /SMPTE/);
    expectRefused(studio, smf(96, [[ev(0, 60, 100)]]), /track 1, byte \d+: a data byte before any status byte/);
    expectRefused(studio, smf(96, [[ev(0, 0xf4)]]), /status byte 0xf4 is not allowed/);
    expectRefused(studio, smf(96, [[ev(0, 0x90, 60, 0x90)]]), /status byte 0x90 where a data byte belongs/);
    expectRefused(studio, smf(96, [[ev(0, 0xff, 0x01, 50, 65, 66)]], { endOfTrack: false }), /runs past the end of the track chunk/);
    expectRefused(studio, smf(96, [[ev(0, 0xff, 0x51, 2, 1, 2)]]), /malformed MIDI file: track 1: Expected length for setTempo/);
    // A chunk whose header is not a chunk header.
    const bad = smf(96, [note]);
    bad.set([1, 2, 3, 4], 14);
    expectRefused(studio, bad, /no chunk header at byte 14/);
  });

  it('refuses a file with more notes than allowed', () => {
    const studio = busySession();
    const before = Y.encodeStateAsUpdate(studio.doc);
    const notes = Array.from({ length: 3 }, (_, i) => [ev(0, 0x90, 60 + i, 100), ev(10, 0x80, 60 + i, 0)]).flat();
    expect(() => importMidi(studio, smf(96, [notes]), { maxNotes: 2 })).toThrow(/3 notes, more than the 2/);
    expect(Y.encodeStateAsUpdate(studio.doc)).toEqual(before);
  });

  it('keeps each note\'s channel in a track that plays on several, and every velocity 1-127 exactly', () => {
    const events: number[][] = [name('Mixed')];
    for (let v = 1; v <= 127; v++) events.push(ev(0, 0x90 | v % 3, 40 + (v % 40), v), ev(10, 0x80 | v % 3, 40 + (v % 40), 0));
    events.push(ev(0, 0x99, 36, 127), ev(5, 0x99, 36, 0)); // drums, note-off as a note-on of velocity 0
    const { studio, result } = imported(smf(120, [events], { format: 0 }));
    expect(result.trackIds).toHaveLength(1);
    const snap = studio.snapshot();
    expect(snap.settings.ppq).toBe(120);
    expect(snap.tracks[0]!.name).toBe('Mixed');
    const notes = notesOf(snap);
    expect(notes).toHaveLength(128);
    expect(notes.filter((n) => n[4] !== 9).map((n) => n[3]!).sort((a, b) => a - b)).toEqual(Array.from({ length: 127 }, (_, i) => i + 1));
    expect(notes.find((n) => n[4] === 9)).toEqual([1270, 36, 5, 127, 9]);
    for (const n of notes.filter((x) => x[4] !== 9)) expect(n[4]).toBe(n[3]! % 3);

    const back = imported(exportMidi(snap)).studio.snapshot();
    expect(notesOf(back)).toEqual(notes);
    expect(back.tracks).toHaveLength(1);
  });

  it('makes one session track per program when one MIDI track plays two, and keeps controllers on their channels', () => {
    const track = [
      name('Band'),
      ev(0, 0xb0, 7, 100), // volume on channel 1, before its program change
      ev(0, 0xb3, 10, 20), // pan on channel 4, which plays nothing
      ev(0, 0xc0, 33),
      ev(0, 0xc1, 48),
      ev(0, 0x90, 40, 90),
      ev(0, 0x91, 64, 70),
      ev(480, 0x80, 40, 0),
      ev(0, 0x81, 64, 0),
      ev(0, 0xb1, 64, 127),
      ev(0, 0xe0, 0, 0x50), // pitch bend: dropped, reported
    ];
    const { studio, result } = imported(smf(480, [[name('Conductor'), ev(0, 0xff, 0x51, 3, 0x07, 0xa1, 0x20)], track]));
    const snap = studio.snapshot();
    expect(snap.tracks.map((t) => [t.name, t.program])).toEqual([
      ['Band (ch 1)', 33],
      ['Band (ch 2)', 48],
    ]);
    expect(snap.tracks[0]!.clips[0]!.controllers).toEqual([
      { tick: 0, controller: 7, value: 100, channel: 0 },
      { tick: 0, controller: 10, value: 20, channel: 3 },
    ]);
    expect(snap.tracks[1]!.clips[0]!.controllers).toEqual([{ tick: 480, controller: 64, value: 127, channel: 1 }]);
    expect(snap.tempo).toEqual([{ tick: 0, bpm: 120 }]);
    expect(result.warnings.join('\n')).toMatch(/plays several programs/);
    expect(result.warnings.join('\n')).toMatch(/pitch bend events \(1\)/);

    const again = new Midi(exportMidi(snap));
    expect(again.tracks.filter((t) => t.notes.length > 0).map((t) => [t.channel, t.instrument.number])).toEqual([
      [0, 33],
      [1, 48],
    ]);
  });

  it('pairs each note-on with the next note-off of its channel and pitch, first in first out, whatever program changes fall between', () => {
    const track = [
      name('Keys'),
      ev(0, 0xc0, 3),
      ev(0, 0xc1, 3),
      ev(0, 0x80, 60, 0), // nothing sounding yet: dropped, reported
      ev(0, 0x90, 60, 100), // program 3
      ev(10, 0xc0, 7), // program change while 60 sounds
      ev(10, 0x90, 64, 90), // program 7
      ev(80, 0x80, 60, 0), // ends the note of program 3 at 100
      ev(20, 0x90, 64, 0), // velocity 0: ends 64 at 120
      ev(80, 0x90, 72, 50), // 200: struck twice before any note-off…
      ev(10, 0x91, 72, 60), // (the same pitch on another channel is another note)
      ev(0, 0x90, 72, 51),
      ev(90, 0x80, 72, 0), // …the first note-off ends the first note (200-300)…
      ev(0, 0xc0, 3),
      ev(100, 0x80, 72, 0), // …the second the second (210-400)
      ev(0, 0x81, 72, 0),
      ev(0, 0x90, 48, 70), // 400, program 3 again: no note-off follows
      ev(0, 0x90, 50, 71),
      ev(0, 0x80, 50, 0), // zero length
      ev(100, 0xff, 0x2f, 0), // End of Track at 500 ends 48
    ];
    const { studio, result } = imported(smf(96, [track], { format: 0, endOfTrack: false }));
    const snap = studio.snapshot();
    expect(result.notes).toBe(7);
    expect(snap.tracks.map((t) => [t.name, t.program])).toEqual([
      ['Keys (ch 1, 2)', 3],
      ['Keys (ch 1)', 7],
    ]);
    // [channel, pitch, start, duration, velocity, program]
    const expected = [
      [0, 48, 400, 100, 70, 3],
      [0, 50, 400, 0, 71, 3],
      [0, 60, 0, 100, 100, 3],
      [0, 64, 20, 100, 90, 7],
      [0, 72, 200, 100, 50, 7],
      [0, 72, 210, 190, 51, 7],
      [1, 72, 210, 190, 60, 3],
    ];
    expect(sessionNotes(snap)).toEqual(expected);
    expect(referenceNotes(smf(96, [track], { format: 0, endOfTrack: false })).notes).toEqual(expected);
    const warnings = result.warnings.join('\n');
    expect(warnings).toMatch(/MIDI track 1 \("Keys"\): 1 of 7 notes have no note-off before the end of the track and were ended there, at tick 500/);
    expect(warnings).toMatch(/note-offs with no note sounding \(1\)/);
    expect(warnings).toMatch(/plays several programs/);

    const exported = exportMidi(snap);
    expect(referenceNotes(exported).notes).toEqual(expected);
    expect(referenceNotes(exported).unterminated).toBe(0);
    expect(sessionNotes(imported(exported).studio.snapshot())).toEqual(expected);
  });

  it('keeps the file order of events at one tick: a zero-length note leaves the later notes of its pitch their own note-offs', () => {
    const track = [
      name('Hats'),
      ev(0, 0x99, 42, 90), // note-on and note-off of the same pitch at the same tick, the on first
      ev(0, 0x89, 42, 0),
      ev(96, 0x99, 42, 80), // 96-144
      ev(48, 0x89, 42, 0),
      ev(48, 0x99, 42, 70), // 192, zero length again, the off as a note-on of velocity 0
      ev(0, 0x99, 42, 0),
      ev(0, 0x99, 42, 60), // 192-384, struck at the same tick right after
      ev(192, 0x89, 42, 0),
      ev(96, 0xff, 0x2f, 0), // End of Track at 480
    ];
    const file = smf(96, [track], { format: 0, endOfTrack: false });
    const { studio, result } = imported(file);
    // [channel, pitch, start, duration, velocity, program]
    const expected = [
      [9, 42, 0, 0, 90, 0],
      [9, 42, 96, 48, 80, 0],
      [9, 42, 192, 0, 70, 0],
      [9, 42, 192, 192, 60, 0],
    ];
    expect(sessionNotes(studio.snapshot())).toEqual(expected);
    expect(referenceNotes(file).notes).toEqual(expected);
    expect(result.warnings.join('\n')).not.toMatch(/no note-off|no note sounding/);
  });

  it('pairs repeated pitches as a MIDI reader does: equal starts, back-to-back and zero-length notes survive', () => {
    const studio = new StudioDoc();
    const track = studio.addTrack({ name: 'Repeats', program: 5 });
    const clip = studio.addClip(track, { start: 960, length: 1920 });
    studio.addNotes(track, clip, [
      { pitch: 60, start: 0, duration: 480, velocity: 10 },
      { pitch: 60, start: 0, duration: 120, velocity: 20 },
      { pitch: 60, start: 480, duration: 0, velocity: 30 },
      { pitch: 60, start: 480, duration: 240, velocity: 40 },
      { pitch: 62, start: 240, duration: 0, velocity: 50, channel: 15 },
    ]);
    studio.addControllers(track, clip, [{ tick: 100, controller: 1, value: 64, channel: 0 }]);
    studio.addMarker({ tick: 960, name: 'Chorus' });
    studio.updateSettings({ title: 'Repeats', key: 'F# minor' });
    const file = exportMidi(studio.snapshot());
    const back = imported(file).studio.snapshot();
    expect(notesOf(back)).toEqual(notesOf(studio.snapshot()));
    expect(back.tracks[0]!.clips[0]!.controllers).toEqual([{ tick: 1060, controller: 1, value: 64, channel: 0 }]);
    expect(back.markers.map((m) => [m.tick, m.name])).toEqual([[960, 'Chorus']]);
    expect(back.settings.key).toBe('F# minor');
    expect(back.tracks[0]!.program).toBe(5);
    expect(back.tracks[0]!.clips[0]!.length).toBe(960 + 1920);
  });

  it('writes everything in one transaction, with the given origin', () => {
    const studio = new StudioDoc();
    const origins: unknown[] = [];
    studio.doc.on('update', (_update: Uint8Array, origin: unknown) => origins.push(origin));
    const file = smf(96, [
      [name('Conductor'), ev(0, 0xff, 0x58, 4, 3, 2, 24, 8), ev(0, 0xff, 0x51, 3, 0x09, 0x27, 0xc0), ev(0, 0xff, 0x06, 5, ...Buffer.from('Intro'))],
      [name('A'), ev(0, 0x90, 60, 100), ev(96, 0x80, 60, 0)],
      [name('B'), ev(0, 0xb0, 7, 90)],
    ]);
    const result = importMidi(studio, file, { origin: 'midi-import' });
    expect(origins).toEqual(['midi-import']);
    expect(result.trackIds).toHaveLength(2);
    expect(result.notes).toBe(1);
    const snap = studio.snapshot();
    expect(snap.tempo).toEqual([{ tick: 0, bpm: 60_000_000 / 0x0927c0 }]);
    expect(snap.timeSignatures).toEqual([{ tick: 0, numerator: 3, denominator: 4 }]);
    expect(snap.markers.map((m) => [m.tick, m.name])).toEqual([[0, 'Intro']]);
  });

  it('rescales ticks into a session with another PPQ, and says when it had to round', () => {
    const file = (ppq: number, at: number) =>
      smf(ppq, [
        [ev(at, 0xff, 0x51, 3, 0x07, 0xa1, 0x20), ev(0, 0xff, 0x58, 4, 6, 3, 24, 8)],
        [name('Lead'), ev(at, 0x90, 60, 100), ev(ppq, 0x80, 60, 0), ev(0, 0xb0, 1, 5)],
      ]);
    const session = () => {
      const studio = new StudioDoc();
      studio.addTrack({ name: 'Existing' });
      return studio;
    };

    const up = session();
    const exact = importMidi(up, file(96, 77));
    expect(up.settings().ppq).toBe(480);
    expect(notesOf(up.snapshot())).toEqual([[385, 60, 480, 100, 0]]);
    expect(up.snapshot().tracks[1]!.clips[0]!.controllers).toEqual([{ tick: 865, controller: 1, value: 5, channel: 0 }]);
    expect(up.tempo()).toEqual([{ tick: 0, bpm: 120 }, { tick: 385, bpm: 120 }]);
    expect(up.timeSignatures()).toEqual([{ tick: 0, numerator: 4, denominator: 4 }, { tick: 385, numerator: 6, denominator: 8 }]);
    expect(exact.warnings.join('\n')).toMatch(/rescaled from the file's PPQ of 96 to the session's 480 \(exactly\)/);

    const down = session();
    const rounded = importMidi(down, file(960, 1001));
    expect(notesOf(down.snapshot())).toEqual([[501, 60, 480, 100, 0]]);
    expect(rounded.warnings.join('\n')).toMatch(/PPQ of 960 to the session's 480: \d+ positions were rounded/);
  });

  it('adopts the file\'s PPQ in a session without tracks, moving the session\'s own tempo map and markers', () => {
    const studio = new StudioDoc();
    studio.setTempo([{ tick: 0, bpm: 90 }, { tick: 1920, bpm: 100 }]);
    studio.addMarker({ tick: 3840, name: 'Bridge' });
    importMidi(studio, smf(96, [[name('Keys'), ev(0, 0x90, 60, 100), ev(96, 0x80, 60, 0)]]));
    expect(studio.settings().ppq).toBe(96);
    expect(studio.tempo()).toEqual([{ tick: 0, bpm: 90 }, { tick: 384, bpm: 100 }]);
    expect(studio.markers().map((m) => [m.tick, m.name])).toEqual([[768, 'Bridge']]);
    expect(notesOf(studio.snapshot())).toEqual([[0, 60, 96, 100, 0]]);

    const tiny = new StudioDoc();
    const result = importMidi(tiny, smf(10, [[ev(0, 0x90, 60, 100), ev(5, 0x80, 60, 0)]]));
    expect(tiny.settings().ppq).toBe(30);
    expect(notesOf(tiny.snapshot())).toEqual([[0, 60, 15, 100, 0]]);
    expect(result.warnings.join('\n')).toMatch(/multiplied by 3 \(exactly\)/);
  });

  it.skipIf(!realFiles.some((f) => f.endsWith('busy_schedule.mid')))('rescales a real file (PPQ 96) into a session at 480', () => {
    const original = readFileSync(realFiles.find((f) => f.endsWith('busy_schedule.mid'))!);
    const studio = new StudioDoc();
    studio.addTrack({ name: 'Existing' });
    importMidi(studio, original);
    const exported = referenceNotes(exportMidi(studio.snapshot()));
    expect(exported.ppq).toBe(480);
    const scaled = referenceNotes(original).notes.map(([channel, pitch, ticks, duration, velocity, program]) => [channel!, pitch!, ticks! * 5, duration! * 5, velocity!, program!]);
    expect(exported.notes).toEqual(scaled.sort(byNumbers));
  });
});

describe('exportMidi', () => {
  function session(): { snapshot: StudioSnapshot; bass: string } {
    const studio = new StudioDoc();
    studio.updateSettings({ title: 'Two tracks', ppq: 96 });
    studio.setTempo([{ tick: 0, bpm: 128 }, { tick: 384, bpm: 64 }]);
    studio.setTimeSignatures([{ tick: 0, numerator: 7, denominator: 8 }]);
    const keys = studio.addTrack({ name: 'Keys', program: 4 });
    const bass = studio.addTrack({ name: 'Bass', program: 33 });
    studio.addNotes(keys, studio.addClip(keys), [{ pitch: 72, start: 0, duration: 96, velocity: 64 }]);
    studio.addNotes(bass, studio.addClip(bass, { start: 192 }), [
      { pitch: 36, start: 0, duration: 48, velocity: 127, channel: 1 },
      { pitch: 38, start: 48, duration: 48, velocity: 1, channel: 1 },
    ]);
    return { snapshot: studio.snapshot(), bass };
  }

  it('writes a format 1 file: conductor track, then one track per session track', () => {
    const midi = new Midi(exportMidi(session().snapshot));
    expect(midi.header.ppq).toBe(96);
    expect(midi.header.name).toBe('Two tracks');
    expect(midi.header.tempos.map((t) => [t.ticks, t.bpm])).toEqual([[0, 128], [384, 64]]);
    expect(midi.header.timeSignatures.map((s) => [s.ticks, ...s.timeSignature])).toEqual([[0, 7, 8]]);
    expect(midi.tracks.map((t) => [t.name, t.instrument.number, t.channel, t.notes.length])).toEqual([
      ['Keys', 4, 0, 1],
      ['Bass', 33, 1, 2],
    ]);
  });

  it('exports one track, and refuses a track that does not exist', () => {
    const { snapshot, bass } = session();
    const midi = new Midi(exportMidi(snapshot, { trackId: bass }));
    expect(midi.tracks.map((t) => t.name)).toEqual(['Bass']);
    expect(toneNotes(midi)).toEqual([
      [1, 36, 192, 48, 127],
      [1, 38, 240, 48, 1],
    ]);
    expect(midi.header.tempos).toHaveLength(2);
    expect(() => exportMidi(snapshot, { trackId: 'nope' })).toThrow(/track nope not found/);
  });

  it('writes names as UTF-8 and reads them back', () => {
    const studio = new StudioDoc();
    const t = studio.addTrack({ name: 'Pianö — ♪' });
    studio.addNotes(t, studio.addClip(t), [{ pitch: 60, start: 0, duration: 10, velocity: 100 }]);
    expect(imported(exportMidi(studio.snapshot())).studio.tracks()[0]!.name).toBe('Pianö — ♪');
  });
});
