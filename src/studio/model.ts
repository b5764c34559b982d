// The studio session document: one Y.Doc per session, read and edited through these helpers by the
// server (MIDI import, replay, exports) and by browser clients. No Node-only imports: it runs in both.
import * as Y from 'yjs';
import {
  DEFAULT_PPQ,
  MAX_TICK,
  MIN_LOOP_BEATS,
  StudioError,
  TRANSPORT_BPM,
  type ChatMessage,
  type Clip,
  type ControllerEvent,
  type Marker,
  type Note,
  type SessionSettings,
  type StudioSnapshot,
  type TempoChange,
  type TimeSignature,
  type Track,
  type TrackKind,
  type Transport,
} from './model-types.js';

export * from './model-types.js';

const DEFAULT_SETTINGS: SessionSettings = { title: 'Untitled session', ppq: DEFAULT_PPQ, key: '' };
const DEFAULT_TRANSPORT: Transport = { playing: false, bpm: 120, beatZeroAt: 0, stoppedAtBeat: 0, looping: false, loopStart: 0, loopEnd: 16 };
const MAX_CHAT = 1000;

const newId = (): string => globalThis.crypto.randomUUID();

function int(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new StudioError(`${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(value)}`);
  }
  return value;
}

function num(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new StudioError(`${name} must be a number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  }
  return value;
}

function text(name: string, value: unknown, max: number): string {
  if (typeof value !== 'string' || value.length > max) throw new StudioError(`${name} must be a string of at most ${max} characters`);
  return value;
}

function bool(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new StudioError(`${name} must be true or false`);
  return value;
}

/**
 * Layout of the Y.Doc (third-party clients may edit it directly; see docs/studio.md):
 * - `settings` Y.Map: title, ppq, key
 * - `tempo` Y.Array<TempoChange>, `timeSignatures` Y.Array<TimeSignature>: sorted by tick, replaced whole
 * - `transport` Y.Map: playing, bpm, beatZeroAt, stoppedAtBeat, looping, loopStart, loopEnd
 * - `tracks` Y.Map<trackId, Y.Map>: Track fields and `clips` Y.Map<clipId, Y.Map>: Clip fields,
 *   `notes` Y.Map<noteId, Y.Map> (Note fields, so a move and a resize by two people both apply) and
 *   `controllers` Y.Array<ControllerEvent>
 * - `markers` Y.Map<markerId, Marker>, `chat` Y.Array<ChatMessage> (latest 1,000 kept)
 */
export class StudioDoc {
  constructor(readonly doc: Y.Doc = new Y.Doc()) {}

  private get settingsMap(): Y.Map<unknown> {
    return this.doc.getMap('settings');
  }

  private get tracksMap(): Y.Map<Y.Map<unknown>> {
    return this.doc.getMap('tracks');
  }

  /** Runs `fn` as one Yjs transaction (one update on the wire, one entry in the log). */
  transact<T>(fn: () => T, origin?: unknown): T {
    let result!: T;
    this.doc.transact(() => {
      result = fn();
    }, origin);
    return result;
  }

  settings(): SessionSettings {
    const m = this.settingsMap;
    return {
      title: (m.get('title') as string | undefined) ?? DEFAULT_SETTINGS.title,
      ppq: (m.get('ppq') as number | undefined) ?? DEFAULT_SETTINGS.ppq,
      key: (m.get('key') as string | undefined) ?? DEFAULT_SETTINGS.key,
    };
  }

  updateSettings(patch: Partial<SessionSettings>): void {
    const checked: Partial<SessionSettings> = {};
    if (patch.title !== undefined) checked.title = text('title', patch.title, 200);
    if (patch.key !== undefined) checked.key = text('key', patch.key, 40);
    if (patch.ppq !== undefined) checked.ppq = int('ppq', patch.ppq, 24, 32_767);
    this.transact(() => {
      for (const [k, v] of Object.entries(checked)) this.settingsMap.set(k, v);
    });
  }

  tempo(): TempoChange[] {
    const list = this.doc.getArray<TempoChange>('tempo').toArray();
    return list.length > 0 ? list : [{ tick: 0, bpm: this.transport().bpm }];
  }

  /** Replaces the tempo map; it must start at tick 0. */
  setTempo(changes: readonly TempoChange[]): void {
    const checked = sortedFromZero('tempo', changes, (c) => ({ tick: int('tempo tick', c.tick, 0, MAX_TICK), bpm: num('bpm', c.bpm, 1, 999) }));
    this.transact(() => replaceArray(this.doc.getArray('tempo'), checked));
  }

  timeSignatures(): TimeSignature[] {
    const list = this.doc.getArray<TimeSignature>('timeSignatures').toArray();
    return list.length > 0 ? list : [{ tick: 0, numerator: 4, denominator: 4 }];
  }

  setTimeSignatures(signatures: readonly TimeSignature[]): void {
    const checked = sortedFromZero('time signature', signatures, (s) => {
      const denominator = int('denominator', s.denominator, 1, 64);
      if ((denominator & (denominator - 1)) !== 0) throw new StudioError(`denominator must be a power of two, not ${denominator}`);
      return { tick: int('time signature tick', s.tick, 0, MAX_TICK), numerator: int('numerator', s.numerator, 1, 64), denominator };
    });
    this.transact(() => replaceArray(this.doc.getArray('timeSignatures'), checked));
  }

  /** The shared transport; until someone sets its tempo, the tempo map's first (an imported file's). */
  transport(): Transport {
    const m = this.doc.getMap('transport');
    const mapped = this.doc.getArray<TempoChange>('tempo').length > 0 ? this.doc.getArray<TempoChange>('tempo').get(0).bpm : undefined;
    return {
      playing: (m.get('playing') as boolean | undefined) ?? DEFAULT_TRANSPORT.playing,
      bpm: (m.get('bpm') as number | undefined) ?? mapped ?? DEFAULT_TRANSPORT.bpm,
      beatZeroAt: (m.get('beatZeroAt') as number | undefined) ?? DEFAULT_TRANSPORT.beatZeroAt,
      stoppedAtBeat: (m.get('stoppedAtBeat') as number | undefined) ?? DEFAULT_TRANSPORT.stoppedAtBeat,
      looping: (m.get('looping') as boolean | undefined) ?? DEFAULT_TRANSPORT.looping,
      loopStart: (m.get('loopStart') as number | undefined) ?? DEFAULT_TRANSPORT.loopStart,
      loopEnd: (m.get('loopEnd') as number | undefined) ?? DEFAULT_TRANSPORT.loopEnd,
    };
  }

  setTransport(patch: Partial<Transport>): void {
    const checked: Partial<Transport> = {};
    if (patch.playing !== undefined) checked.playing = bool('playing', patch.playing);
    if (patch.bpm !== undefined) checked.bpm = num('bpm', patch.bpm, TRANSPORT_BPM.min, TRANSPORT_BPM.max);
    if (patch.beatZeroAt !== undefined) checked.beatZeroAt = num('beatZeroAt', patch.beatZeroAt, 0, 8.64e15);
    if (patch.stoppedAtBeat !== undefined) checked.stoppedAtBeat = num('stoppedAtBeat', patch.stoppedAtBeat, 0, 1e9);
    if (patch.looping !== undefined) checked.looping = bool('looping', patch.looping);
    if (patch.loopStart !== undefined) checked.loopStart = num('loopStart', patch.loopStart, 0, 1e6);
    if (patch.loopEnd !== undefined) checked.loopEnd = num('loopEnd', patch.loopEnd, 0, 1e6);
    if (checked.loopStart !== undefined || checked.loopEnd !== undefined) {
      const current = this.transport();
      const start = checked.loopStart ?? current.loopStart;
      const end = checked.loopEnd ?? current.loopEnd;
      if (end - start < MIN_LOOP_BEATS) throw new StudioError(`the loop must end at least ${MIN_LOOP_BEATS} beat after it starts (${start} to ${end})`);
    }
    this.transact(() => {
      const m = this.doc.getMap('transport');
      for (const [k, v] of Object.entries(checked)) m.set(k, v);
    });
  }

  tracks(): Track[] {
    return [...this.tracksMap.entries()].map(([id, m]) => readTrack(id, m)).sort((a, b) => a.order - b.order || a.id.localeCompare(b.id));
  }

  track(id: string): Track {
    return readTrack(id, this.trackMap(id));
  }

  addTrack(init: Partial<Omit<Track, 'id'>> & { id?: string } = {}): string {
    const id = init.id ?? newId();
    if (this.tracksMap.has(id)) throw new StudioError(`track ${id} exists`);
    const last = this.tracks().at(-1);
    const track: Omit<Track, 'id'> = {
      name: 'Track',
      kind: 'midi',
      color: '#4f7cff',
      mute: false,
      solo: false,
      volume: 1,
      pan: 0,
      order: (last?.order ?? 0) + 1,
      program: 0,
    };
    const fields = checkTrack({ ...track, ...stripId(init) });
    this.transact(() => {
      const m = new Y.Map<unknown>();
      for (const [k, v] of Object.entries(fields)) m.set(k, v);
      m.set('clips', new Y.Map());
      this.tracksMap.set(id, m);
    });
    return id;
  }

  updateTrack(id: string, patch: Partial<Omit<Track, 'id'>>): void {
    const m = this.trackMap(id);
    const fields = checkTrack(stripId(patch));
    this.transact(() => {
      for (const [k, v] of Object.entries(fields)) m.set(k, v);
    });
  }

  removeTrack(id: string): void {
    this.trackMap(id);
    this.transact(() => this.tracksMap.delete(id));
  }

  clips(trackId: string): Clip[] {
    return [...this.clipsOf(trackId).entries()].map(([id, m]) => readClip(id, trackId, m)).sort((a, b) => a.start - b.start || a.id.localeCompare(b.id));
  }

  addClip(trackId: string, init: Partial<Omit<Clip, 'id' | 'trackId'>> & { id?: string } = {}): string {
    const clips = this.clipsOf(trackId);
    const id = init.id ?? newId();
    if (clips.has(id)) throw new StudioError(`clip ${id} exists`);
    const fields = checkClip({ name: 'Clip', start: 0, length: this.settings().ppq * 16, ...stripId(init) });
    this.transact(() => {
      const m = new Y.Map<unknown>();
      for (const [k, v] of Object.entries(fields)) m.set(k, v);
      m.set('notes', new Y.Map());
      m.set('controllers', new Y.Array());
      clips.set(id, m);
    });
    return id;
  }

  updateClip(trackId: string, clipId: string, patch: Partial<Omit<Clip, 'id' | 'trackId'>>): void {
    const m = this.clipMap(trackId, clipId);
    const fields = checkClip(stripId(patch));
    this.transact(() => {
      for (const [k, v] of Object.entries(fields)) m.set(k, v);
    });
  }

  removeClip(trackId: string, clipId: string): void {
    this.clipMap(trackId, clipId);
    this.transact(() => this.clipsOf(trackId).delete(clipId));
  }

  notes(trackId: string, clipId: string): Note[] {
    const notes = this.clipMap(trackId, clipId).get('notes') as Y.Map<Y.Map<unknown>>;
    return [...notes.entries()].map(([id, m]) => readNote(id, m)).sort(byStartThenPitch);
  }

  /** Adds notes to a clip in one transaction; returns their ids. */
  addNotes(trackId: string, clipId: string, notes: readonly (Omit<Note, 'id' | 'channel'> & { channel?: number; id?: string })[]): string[] {
    const target = this.clipMap(trackId, clipId).get('notes') as Y.Map<Y.Map<unknown>>;
    const checked = notes.map((n) => ({ id: n.id ?? newId(), fields: checkNote({ channel: 0, ...stripId(n) }) }));
    this.transact(() => {
      for (const { id, fields } of checked) {
        const m = new Y.Map<unknown>();
        for (const [k, v] of Object.entries(fields)) m.set(k, v);
        target.set(id, m);
      }
    });
    return checked.map((c) => c.id);
  }

  updateNote(trackId: string, clipId: string, noteId: string, patch: Partial<Omit<Note, 'id'>>): void {
    const notes = this.clipMap(trackId, clipId).get('notes') as Y.Map<Y.Map<unknown>>;
    const m = notes.get(noteId);
    if (!m) throw new StudioError(`note ${noteId} not found`);
    const fields = checkNote(stripId(patch));
    this.transact(() => {
      for (const [k, v] of Object.entries(fields)) m.set(k, v);
    });
  }

  removeNote(trackId: string, clipId: string, noteId: string): void {
    const notes = this.clipMap(trackId, clipId).get('notes') as Y.Map<Y.Map<unknown>>;
    if (!notes.has(noteId)) throw new StudioError(`note ${noteId} not found`);
    this.transact(() => notes.delete(noteId));
  }

  controllers(trackId: string, clipId: string): ControllerEvent[] {
    return (this.clipMap(trackId, clipId).get('controllers') as Y.Array<ControllerEvent>).toArray().slice().sort((a, b) => a.tick - b.tick);
  }

  addControllers(trackId: string, clipId: string, events: readonly ControllerEvent[]): void {
    const target = this.clipMap(trackId, clipId).get('controllers') as Y.Array<ControllerEvent>;
    const checked = events.map((e) => ({
      tick: int('controller tick', e.tick, 0, MAX_TICK),
      controller: int('controller', e.controller, 0, 127),
      value: int('controller value', e.value, 0, 127),
      channel: int('channel', e.channel, 0, 15),
    }));
    this.transact(() => target.push(checked));
  }

  markers(): Marker[] {
    return [...this.doc.getMap<Marker>('markers').values()].sort((a, b) => a.tick - b.tick || a.id.localeCompare(b.id));
  }

  addMarker(init: Omit<Marker, 'id' | 'color'> & { color?: string }): string {
    const id = newId();
    const marker: Marker = { id, tick: int('marker tick', init.tick, 0, MAX_TICK), name: text('marker name', init.name, 200), color: text('marker color', init.color ?? '#f5a623', 40) };
    this.transact(() => this.doc.getMap<Marker>('markers').set(id, marker));
    return id;
  }

  removeMarker(id: string): void {
    this.transact(() => this.doc.getMap('markers').delete(id));
  }

  chat(): ChatMessage[] {
    return this.doc.getArray<ChatMessage>('chat').toArray();
  }

  postChat(author: string, message: string, at = Date.now()): string {
    const id = newId();
    const entry: ChatMessage = { id, author: text('author', author, 200), text: text('chat text', message, 4000), at: num('at', at, 0, 8.64e15) };
    this.transact(() => {
      const chat = this.doc.getArray<ChatMessage>('chat');
      chat.push([entry]);
      if (chat.length > MAX_CHAT) chat.delete(0, chat.length - MAX_CHAT);
    });
    return id;
  }

  snapshot(): StudioSnapshot {
    return {
      settings: this.settings(),
      tempo: this.tempo(),
      timeSignatures: this.timeSignatures(),
      transport: this.transport(),
      tracks: this.tracks().map((track) => ({
        ...track,
        clips: this.clips(track.id).map((clip) => ({ ...clip, notes: this.notes(track.id, clip.id), controllers: this.controllers(track.id, clip.id) })),
      })),
      markers: this.markers(),
      chat: this.chat(),
    };
  }

  private trackMap(id: string): Y.Map<unknown> {
    const m = this.tracksMap.get(id);
    if (!m) throw new StudioError(`track ${id} not found`);
    return m;
  }

  private clipsOf(trackId: string): Y.Map<Y.Map<unknown>> {
    return this.trackMap(trackId).get('clips') as Y.Map<Y.Map<unknown>>;
  }

  private clipMap(trackId: string, clipId: string): Y.Map<unknown> {
    const m = this.clipsOf(trackId).get(clipId);
    if (!m) throw new StudioError(`clip ${clipId} not found on track ${trackId}`);
    return m;
  }
}

/** The fields of `value` without an `id` (ids are assigned, never patched). */
function stripId<T extends object>(value: T): Omit<T, 'id'> {
  const copy: Partial<T> & { id?: unknown } = { ...value };
  delete copy.id;
  return copy as Omit<T, 'id'>;
}

function sortedFromZero<T extends { tick: number }>(what: string, items: readonly T[], check: (item: T) => T): T[] {
  const checked = items.map(check).sort((a, b) => a.tick - b.tick);
  if (checked.length === 0 || checked[0]!.tick !== 0) throw new StudioError(`the ${what} map must start at tick 0`);
  return checked.filter((item, i) => i === 0 || item.tick !== checked[i - 1]!.tick);
}

function replaceArray<T>(array: Y.Array<T>, items: T[]): void {
  array.delete(0, array.length);
  array.push(items);
}

function checkTrack(t: Partial<Omit<Track, 'id'>>): Partial<Omit<Track, 'id'>> {
  const out: Partial<Omit<Track, 'id'>> = {};
  if (t.name !== undefined) out.name = text('track name', t.name, 200);
  if (t.kind !== undefined) {
    if (t.kind !== 'midi' && t.kind !== 'audio') throw new StudioError(`track kind must be "midi" or "audio", not ${JSON.stringify(t.kind)}`);
    out.kind = t.kind;
  }
  if (t.color !== undefined) out.color = text('color', t.color, 40);
  if (t.mute !== undefined) out.mute = bool('mute', t.mute);
  if (t.solo !== undefined) out.solo = bool('solo', t.solo);
  if (t.volume !== undefined) out.volume = num('volume', t.volume, 0, 2);
  if (t.pan !== undefined) out.pan = num('pan', t.pan, -1, 1);
  if (t.order !== undefined) out.order = num('order', t.order, -1e12, 1e12);
  if (t.program !== undefined) out.program = int('program', t.program, 0, 127);
  return out;
}

function checkClip(c: Partial<Omit<Clip, 'id' | 'trackId'>>): Partial<Omit<Clip, 'id' | 'trackId'>> {
  const out: Partial<Omit<Clip, 'id' | 'trackId'>> = {};
  if (c.name !== undefined) out.name = text('clip name', c.name, 200);
  if (c.start !== undefined) out.start = int('clip start', c.start, 0, MAX_TICK);
  if (c.length !== undefined) out.length = int('clip length', c.length, 1, MAX_TICK);
  return out;
}

function checkNote(n: Partial<Omit<Note, 'id'>>): Partial<Omit<Note, 'id'>> {
  const out: Partial<Omit<Note, 'id'>> = {};
  if (n.pitch !== undefined) out.pitch = int('pitch', n.pitch, 0, 127);
  if (n.start !== undefined) out.start = int('note start', n.start, 0, MAX_TICK);
  if (n.duration !== undefined) out.duration = int('note duration', n.duration, 0, MAX_TICK);
  if (n.velocity !== undefined) out.velocity = int('velocity', n.velocity, 1, 127);
  if (n.channel !== undefined) out.channel = int('channel', n.channel, 0, 15);
  return out;
}

function readTrack(id: string, m: Y.Map<unknown>): Track {
  return {
    id,
    name: (m.get('name') as string) ?? 'Track',
    kind: (m.get('kind') as TrackKind) ?? 'midi',
    color: (m.get('color') as string) ?? '#4f7cff',
    mute: (m.get('mute') as boolean) ?? false,
    solo: (m.get('solo') as boolean) ?? false,
    volume: (m.get('volume') as number) ?? 1,
    pan: (m.get('pan') as number) ?? 0,
    order: (m.get('order') as number) ?? 0,
    program: (m.get('program') as number) ?? 0,
  };
}

function readClip(id: string, trackId: string, m: Y.Map<unknown>): Clip {
  return { id, trackId, name: (m.get('name') as string) ?? 'Clip', start: (m.get('start') as number) ?? 0, length: (m.get('length') as number) ?? 0 };
}

function readNote(id: string, m: Y.Map<unknown>): Note {
  return {
    id,
    pitch: m.get('pitch') as number,
    start: m.get('start') as number,
    duration: m.get('duration') as number,
    velocity: m.get('velocity') as number,
    channel: (m.get('channel') as number) ?? 0,
  };
}

function byStartThenPitch(a: Note, b: Note): number {
  return a.start - b.start || a.pitch - b.pitch || a.id.localeCompare(b.id);
}
