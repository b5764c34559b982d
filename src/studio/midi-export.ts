// Exporting a studio session (or one track of it) as a Standard MIDI File. Browser-safe: no Node
// imports.
import { MAJOR_KEYS, MINOR_KEYS } from './midi-read.js';
import { StudioError, type StudioSnapshot, type TrackSnapshot } from './model.js';

export interface MidiExportOptions {
  /** Export only this track (with the session's tempo map, signatures and markers). */
  trackId?: string;
}

/** The session PPQ's upper bound (see `StudioDoc.updateSettings`). */
const MAX_PPQ = 32_767;
/** A delta time is at most four 7-bit groups. */
const MAX_DELTA = 0x0fff_ffff;

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
