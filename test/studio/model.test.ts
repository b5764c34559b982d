import * as Y from 'yjs';
import { describe, expect, it } from 'vitest';
import { StudioDoc, StudioError } from '../../src/studio/model.js';

/** Two replicas that exchange every update, as two clients of one session do through the server. */
function pair(): [StudioDoc, StudioDoc] {
  const a = new StudioDoc();
  const b = new StudioDoc();
  a.doc.on('update', (u: Uint8Array, origin: unknown) => origin !== 'peer' && Y.applyUpdate(b.doc, u, 'peer'));
  b.doc.on('update', (u: Uint8Array, origin: unknown) => origin !== 'peer' && Y.applyUpdate(a.doc, u, 'peer'));
  return [a, b];
}

describe('StudioDoc', () => {
  it('builds a session: settings, tempo map, signatures, tracks, clips, notes, controllers, markers, chat', () => {
    const s = new StudioDoc();
    s.updateSettings({ title: 'Night drive', key: 'A minor' });
    s.setTempo([{ tick: 1920, bpm: 90 }, { tick: 0, bpm: 120 }]);
    s.setTimeSignatures([{ tick: 0, numerator: 7, denominator: 8 }]);
    const bass = s.addTrack({ name: 'Bass', program: 33, color: '#222222' });
    const keys = s.addTrack({ name: 'Keys' });
    s.updateTrack(bass, { mute: true, volume: 0.8, pan: -0.5 });
    const clip = s.addClip(bass, { name: 'Intro', start: 0, length: 3840 });
    const [n1] = s.addNotes(bass, clip, [
      { pitch: 40, start: 480, duration: 240, velocity: 100 },
      { pitch: 36, start: 0, duration: 480, velocity: 90, channel: 1 },
    ]);
    s.updateNote(bass, clip, n1!, { start: 960 });
    s.addControllers(bass, clip, [{ tick: 0, controller: 7, value: 100, channel: 0 }]);
    s.addMarker({ tick: 1920, name: 'Verse' });
    s.postChat('ana', 'hello', 1000);

    const snap = s.snapshot();
    expect(snap.settings).toEqual({ title: 'Night drive', ppq: 480, key: 'A minor' });
    expect(snap.tempo).toEqual([{ tick: 0, bpm: 120 }, { tick: 1920, bpm: 90 }]);
    expect(snap.timeSignatures).toEqual([{ tick: 0, numerator: 7, denominator: 8 }]);
    expect(snap.tracks.map((t) => t.name)).toEqual(['Bass', 'Keys']);
    expect(snap.tracks[0]).toMatchObject({ id: bass, mute: true, volume: 0.8, pan: -0.5, program: 33 });
    expect(snap.tracks[1]!.id).toBe(keys);
    expect(snap.tracks[0]!.clips[0]!.notes.map((n) => [n.pitch, n.start, n.duration, n.velocity, n.channel])).toEqual([
      [36, 0, 480, 90, 1],
      [40, 960, 240, 100, 0],
    ]);
    expect(snap.tracks[0]!.clips[0]!.controllers).toEqual([{ tick: 0, controller: 7, value: 100, channel: 0 }]);
    expect(snap.markers.map((m) => m.name)).toEqual(['Verse']);
    expect(snap.chat.map((c) => [c.author, c.text, c.at])).toEqual([['ana', 'hello', 1000]]);
  });

  it('refuses invalid values with a message naming the field, and changes nothing', () => {
    const s = new StudioDoc();
    const t = s.addTrack();
    const c = s.addClip(t);
    const before = Y.encodeStateAsUpdate(s.doc);
    expect(() => s.addNotes(t, c, [{ pitch: 60, start: 0, duration: 10, velocity: 100 }, { pitch: 128, start: 0, duration: 10, velocity: 100 }])).toThrow(/pitch must be an integer from 0 to 127/);
    expect(() => s.addNotes(t, c, [{ pitch: 60, start: -1, duration: 10, velocity: 100 }])).toThrow(StudioError);
    expect(() => s.updateTrack(t, { pan: 2 })).toThrow(/pan/);
    expect(() => s.setTempo([{ tick: 10, bpm: 100 }])).toThrow(/start at tick 0/);
    expect(() => s.setTimeSignatures([{ tick: 0, numerator: 3, denominator: 3 }])).toThrow(/power of two/);
    expect(() => s.addClip('missing')).toThrow(/track missing not found/);
    expect(Y.encodeStateAsUpdate(s.doc)).toEqual(before);
  });

  it('merges concurrent edits of one note field by field (a move and a resize both apply)', () => {
    const [a, b] = pair();
    const t = a.addTrack({ name: 'Lead' });
    const c = a.addClip(t);
    const [n] = a.addNotes(t, c, [{ pitch: 60, start: 0, duration: 480, velocity: 80 }]);
    // Disconnected edits, then exchange: as two offline clients reconnecting.
    const offlineA = new StudioDoc();
    const offlineB = new StudioDoc();
    Y.applyUpdate(offlineA.doc, Y.encodeStateAsUpdate(a.doc));
    Y.applyUpdate(offlineB.doc, Y.encodeStateAsUpdate(b.doc));
    offlineA.updateNote(t, c, n!, { start: 960 });
    offlineB.updateNote(t, c, n!, { duration: 120 });
    Y.applyUpdate(offlineA.doc, Y.encodeStateAsUpdate(offlineB.doc));
    Y.applyUpdate(offlineB.doc, Y.encodeStateAsUpdate(offlineA.doc));
    for (const s of [offlineA, offlineB]) expect(s.notes(t, c)[0]).toMatchObject({ start: 960, duration: 120, pitch: 60 });
    expect(b.tracks().map((x) => x.name)).toEqual(['Lead']);
  });

  it('plays at the tempo map’s first tempo (an imported file’s) until someone sets the transport’s', () => {
    const studio = new StudioDoc(new Y.Doc());
    expect(studio.transport().bpm).toBe(120);
    studio.setTempo([{ tick: 0, bpm: 100 }, { tick: 1920, bpm: 140 }]);
    expect(studio.transport().bpm).toBe(100);
    expect(studio.tempo()[0]!.bpm).toBe(100);
    studio.setTransport({ bpm: 90 });
    expect(studio.transport().bpm).toBe(90);
  });

  it('keeps the latest 1,000 chat messages', () => {
    const s = new StudioDoc();
    for (let i = 0; i < 1005; i++) s.postChat('bot', `m${i}`, i);
    const chat = s.chat();
    expect(chat).toHaveLength(1000);
    expect(chat[0]!.text).toBe('m5');
    expect(chat.at(-1)!.text).toBe('m1004');
  });
});
