// The length of a session in time: the tick where its MIDI export ends (the end of the last clip,
// note, controller or marker) converted through the tempo map. A bounce is cut to it, so the audio
// lasts as long as the session (a synth's release past the end is faded out, not kept).
import type { StudioSnapshot } from '../studio/model.js';

const tickOf = (value: number): number => Math.max(0, Number.isFinite(value) ? Math.round(value) : 0);

/** The last tick the MIDI export of `snapshot` reaches. */
export function sessionEndTick(snapshot: StudioSnapshot): number {
  let end = 0;
  for (const track of snapshot.tracks) {
    for (const clip of track.clips) {
      const start = tickOf(clip.start);
      end = Math.max(end, start + tickOf(clip.length));
      for (const n of clip.notes) end = Math.max(end, start + tickOf(n.start) + tickOf(n.duration));
      for (const c of clip.controllers) end = Math.max(end, start + tickOf(c.tick));
    }
  }
  for (const m of snapshot.markers) end = Math.max(end, tickOf(m.tick));
  return end;
}

/** Milliseconds from tick 0 to `tick` under the session's tempo map (120 bpm before the first change). */
export function ticksToMs(snapshot: StudioSnapshot, tick: number): number {
  const ppq = Math.max(1, Math.round(snapshot.settings.ppq));
  const changes = [...snapshot.tempo].sort((a, b) => a.tick - b.tick);
  let ms = 0;
  let at = 0;
  let bpm = 120;
  for (const change of changes) {
    if (change.tick >= tick) break;
    ms += ((change.tick - at) / ppq) * (60_000 / bpm);
    at = change.tick;
    bpm = change.bpm;
  }
  return ms + ((tick - at) / ppq) * (60_000 / bpm);
}

export function sessionDurationMs(snapshot: StudioSnapshot): number {
  return ticksToMs(snapshot, sessionEndTick(snapshot));
}
