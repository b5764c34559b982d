// The studio session's data as plain values: settings, tempo map, tracks, clips, notes, markers,
// chat, the shared transport and the snapshot of it all, with the limits the document enforces.
// `model.ts` reads and edits them in the Y.Doc and re-exports them. No imports: it runs anywhere.

/** Ticks per quarter note of a new session; a MIDI import into an empty session adopts the file's. */
export const DEFAULT_PPQ = 480;
export const MAX_TICK = 2 ** 31 - 1;

export interface SessionSettings {
  title: string;
  /** Ticks per quarter note: every tick below counts in these. */
  ppq: number;
  /** e.g. "C major", "F# minor"; free text. */
  key: string;
}

export interface TempoChange {
  tick: number;
  bpm: number;
}

export interface TimeSignature {
  tick: number;
  numerator: number;
  denominator: number;
}

export type TrackKind = 'midi' | 'audio';

export interface Track {
  id: string;
  name: string;
  kind: TrackKind;
  /** CSS colour, e.g. "#e5484d". */
  color: string;
  mute: boolean;
  solo: boolean;
  /** Linear gain, 0–2 (1 = unity). */
  volume: number;
  /** -1 (left) to 1 (right). */
  pan: number;
  /** Sort key; tracks are shown in ascending order (fractional keys let two people insert at once). */
  order: number;
  /** General MIDI program 0–127 for MIDI tracks. */
  program: number;
}

export interface Clip {
  id: string;
  trackId: string;
  name: string;
  start: number;
  length: number;
}

export interface Note {
  id: string;
  /** 0–127, 60 = middle C. */
  pitch: number;
  /** Ticks from the clip's start. */
  start: number;
  duration: number;
  /** 1–127. */
  velocity: number;
  /** 0–15. */
  channel: number;
}

export interface ControllerEvent {
  /** Ticks from the clip's start. */
  tick: number;
  controller: number;
  value: number;
  channel: number;
}

export interface Marker {
  id: string;
  tick: number;
  name: string;
  color: string;
}

export interface ChatMessage {
  id: string;
  author: string;
  text: string;
  /** Unix ms. */
  at: number;
}

/** The shared transport: every client computes the same beat from it and its server-clock offset. */
export interface Transport {
  playing: boolean;
  bpm: number;
  /** Server time (Unix ms) at which beat 0 fell; meaningful while playing. */
  beatZeroAt: number;
  /** Beat where playback stopped (or starts from). */
  stoppedAtBeat: number;
  /** Playback that reaches `loopEnd` goes on from `loopStart` (beats) while `looping`. */
  looping: boolean;
  loopStart: number;
  loopEnd: number;
}

/** The tempo range of the shared transport (a tempo map from a file may hold others). */
export const TRANSPORT_BPM = { min: 20, max: 300 } as const;
/** The shortest loop, in beats. */
export const MIN_LOOP_BEATS = 0.25;

export interface ClipSnapshot extends Clip {
  notes: Note[];
  controllers: ControllerEvent[];
}

export interface TrackSnapshot extends Track {
  clips: ClipSnapshot[];
}

/** The whole session as plain data, tracks in display order, notes by start then pitch. */
export interface StudioSnapshot {
  settings: SessionSettings;
  tempo: TempoChange[];
  timeSignatures: TimeSignature[];
  transport: Transport;
  tracks: TrackSnapshot[];
  markers: Marker[];
  chat: ChatMessage[];
}

export class StudioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StudioError';
  }
}
