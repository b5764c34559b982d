// Sound for the studio: a small synth voice per note (an oscillator through an envelope, the track's
// volume and pan), scheduled ahead from the shared transport. Every client computes the same beat
// from the transport in the document and its estimate of the server's clock, so everyone hears the
// same bar at the same time. A loop plays its stretch again and again; the metronome clicks the beats.
import { playedSpans, rawBeatAt } from '../../src/studio/clock.js';
import type { StudioDoc } from '../../src/studio/model.js';

const LOOKAHEAD_MS = 150;
const TICK_MS = 40;
/** A waveform per General MIDI family (`program >> 3`): piano, chromatic percussion, organ, guitar, bass, … */
const FAMILY_WAVES: OscillatorType[] = ['triangle', 'sine', 'square', 'sawtooth', 'triangle', 'sawtooth', 'sawtooth', 'sawtooth', 'square', 'sine', 'square', 'sawtooth', 'sine', 'triangle', 'sine', 'square'];

export class Player {
  private context: AudioContext | null = null;
  private timer: number | null = null;
  /** Raw beats (see `rawBeatAt`) already scheduled up to here (exclusive), for the playback that started at `scheduledFor`. */
  private scheduledTo = -1;
  private scheduledFor = Number.NaN;
  /** Notes started, for tests and the level meter. */
  played = 0;
  /** A click on every beat, louder on the first of each bar: this listener's choice, not the session's. */
  metronome = false;
  /** Metronome clicks scheduled, for tests. */
  clicks = 0;

  constructor(
    private readonly studio: StudioDoc,
    /** The server's time now (ms), from the clock estimate. */
    private readonly serverNow: () => number,
  ) {}

  /** Starts scheduling (call from a user gesture: browsers start audio then). */
  async start(): Promise<void> {
    this.context ??= new AudioContext();
    await this.context.resume();
    if (this.timer !== null) return;
    this.scheduledTo = -1;
    this.timer = window.setInterval(() => this.schedule(), TICK_MS);
  }

  stop(): void {
    if (this.timer !== null) window.clearInterval(this.timer);
    this.timer = null;
    this.scheduledTo = -1;
  }

  private schedule(): void {
    const context = this.context;
    const transport = this.studio.transport();
    if (!context || !transport.playing) {
      this.scheduledTo = -1;
      return;
    }
    // Playback restarted (from the start, at another tempo): what was scheduled belongs to the last one.
    if (transport.beatZeroAt !== this.scheduledFor) {
      this.scheduledFor = transport.beatZeroAt;
      this.scheduledTo = -1;
    }
    const now = this.serverNow();
    const rawNow = rawBeatAt(transport, now);
    const from = Math.max(this.scheduledTo, rawNow);
    const to = rawBeatAt(transport, now + LOOKAHEAD_MS);
    if (to <= from) return;
    this.scheduledTo = to;
    const ppq = this.studio.settings().ppq;
    const msPerBeat = 60_000 / transport.bpm;
    const at = (raw: number) => context.currentTime + Math.max(0, (raw - rawNow) * msPerBeat) / 1000;
    const spans = playedSpans(transport, from, to);
    if (this.metronome) {
      const beatsPerBar = this.studio.timeSignatures()[0]?.numerator ?? 4;
      for (const span of spans) {
        for (let beat = Math.ceil(span.from); beat < span.to; beat++) this.click(context, at(beat + span.offset), beat % beatsPerBar === 0);
      }
    }
    const tracks = this.studio.tracks();
    const soloed = tracks.some((t) => t.solo);
    for (const track of tracks) {
      if (track.mute || (soloed && !track.solo)) continue;
      for (const clip of this.studio.clips(track.id)) {
        for (const note of this.studio.notes(track.id, clip.id)) {
          const beat = (clip.start + note.start) / ppq;
          for (const span of spans) {
            if (beat < span.from || beat >= span.to) continue;
            this.voice(context, at(beat + span.offset), (note.duration / ppq) * (msPerBeat / 1000), note.pitch, (note.velocity / 127) * track.volume, track.pan, FAMILY_WAVES[(track.program >> 3) % FAMILY_WAVES.length]!);
          }
        }
      }
    }
  }

  private click(context: AudioContext, when: number, accent: boolean): void {
    const osc = context.createOscillator();
    osc.frequency.value = accent ? 1760 : 1320;
    const gain = context.createGain();
    gain.gain.setValueAtTime(accent ? 0.3 : 0.18, when);
    gain.gain.exponentialRampToValueAtTime(0.001, when + 0.04);
    osc.connect(gain).connect(context.destination);
    osc.start(when);
    osc.stop(when + 0.05);
    this.clicks++;
  }

  private voice(context: AudioContext, when: number, seconds: number, pitch: number, level: number, pan: number, wave: OscillatorType): void {
    const osc = context.createOscillator();
    osc.type = wave;
    osc.frequency.value = 440 * 2 ** ((pitch - 69) / 12);
    const gain = context.createGain();
    const peak = 0.15 * level;
    gain.gain.setValueAtTime(0, when);
    gain.gain.linearRampToValueAtTime(peak, when + 0.005);
    gain.gain.setValueAtTime(peak, when + Math.max(0.01, seconds - 0.03));
    gain.gain.linearRampToValueAtTime(0, when + Math.max(0.02, seconds));
    const panner = context.createStereoPanner();
    panner.pan.value = pan;
    osc.connect(gain).connect(panner).connect(context.destination);
    osc.start(when);
    osc.stop(when + Math.max(0.02, seconds) + 0.05);
    this.played++;
  }
}
