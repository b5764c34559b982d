// Sound for the studio, made with Tone.js: one instrument per track, chosen from the track's General
// MIDI program (a synthesised voice per GM family, a drum kit for notes on MIDI channel 10), through
// the track's volume and pan. Nothing is sampled, so it sounds the same offline.
// Notes are scheduled a little ahead on the AudioContext's clock from the shared transport rather
// than from Tone's own Transport: every client computes the same beat from the transport in the
// document and its estimate of the server's clock, so everyone hears the same bar at the same time.
// A loop plays its stretch again and again; the metronome clicks the beats, the first of each bar
// higher. The document is read again at every tick, so an edit is heard from the next window on.
// Tone makes its AudioContext as the page loads, suspended: browsers let audio start only after a
// user gesture, so `start` (from the play button or key) resumes it. Stopping disposes every instrument.
import { AMSynth, FeedbackDelay, Filter, FMSynth, Gain, getContext, MembraneSynth, MetalSynth, MonoSynth, NoiseSynth, Panner, PolySynth, start as startAudio, Synth, type InputNode, type ToneAudioNode } from 'tone';
import { playedSpans, rawBeatAt } from '../../src/studio/clock.js';
import type { StudioDoc, Track } from '../../src/studio/model.js';

const LOOKAHEAD_MS = 150;
const TICK_MS = 40;
/**
 * How far back the first tick of a playback reaches, ms: a busy page (or a slow audio start) may run
 * that tick late, and the notes of a playback's first moments are played a moment late rather than lost.
 */
const LATE_START_MS = 1000;
/** How long a replaced instrument (or the metronome's) lives on for its last notes to ring out, s. */
const RING_OUT_S = 2;
/** Stopping, or a track going away, fades out over this long, s, rather than cutting the sound mid-wave. */
const FADE_S = 0.03;
/** MIDI channel 10 (9 counting from 0) plays drums, whatever the track's program. */
export const DRUM_CHANNEL = 9;
/** A note shorter than this sounds this long, s (a note of duration 0 is still heard). */
const SHORTEST_S = 0.02;

/** A track's instrument: plays MIDI notes at AudioContext times into `output`. */
export interface Voice {
  readonly output: ToneAudioNode;
  /** Plays `pitch` (MIDI, 69 = A4) at `time` (s, AudioContext time) for `seconds` at `velocity` (0–1). */
  play(pitch: number, time: number, seconds: number, velocity: number): void;
  /** Releases every note sounding at `time`. */
  releaseAll(time: number): void;
  dispose(): void;
}

const hz = (pitch: number) => 440 * 2 ** ((pitch - 69) / 12);

/** What the voices below need of a Tone instrument (a PolySynth of any voice). */
interface Polyphonic {
  triggerAttackRelease(note: number, duration: number, time: number, velocity: number): unknown;
  releaseAll(time: number): unknown;
  connect(destination: InputNode): unknown;
  dispose(): unknown;
}

/** A voice from a polyphonic Tone instrument and the effects after it, in order. */
function poly(synth: Polyphonic, ...effects: ToneAudioNode[]): Voice {
  const output = new Gain(1);
  let last: Polyphonic | ToneAudioNode = synth;
  for (const node of [...effects, output]) {
    last.connect(node);
    last = node;
  }
  return {
    output,
    play: (pitch, time, seconds, velocity) => synth.triggerAttackRelease(hz(pitch), Math.max(SHORTEST_S, seconds), time, velocity),
    releaseAll: (time) => synth.releaseAll(time),
    dispose: () => {
      synth.dispose();
      for (const node of [...effects, output]) node.dispose();
    },
  };
}

/** A few NoiseSynths taking turns (a NoiseSynth sounds one hit at a time). */
function noises(count: number, make: () => NoiseSynth, output: ToneAudioNode) {
  const synths = Array.from({ length: count }, () => {
    const synth = make();
    synth.connect(output);
    return { synth, lastStart: -1 };
  });
  let next = 0;
  return {
    play(time: number, seconds: number, velocity: number) {
      // A source restarts only strictly later than it last started: two hits at once take two synths.
      for (let i = 0; i < count; i++) {
        const turn = synths[(next + i) % count]!;
        if (turn.lastStart >= time) continue;
        next = (next + i + 1) % count;
        turn.lastStart = time;
        turn.synth.triggerAttackRelease(Math.max(SHORTEST_S, seconds), time, velocity);
        return;
      }
    },
    releaseAll: (time: number) => synths.forEach(({ synth }) => synth.triggerRelease(time)),
    dispose: () => synths.forEach(({ synth }) => synth.dispose()),
  };
}

/**
 * The voice of each General MIDI family (`program >> 3`), from Tone's synthesis voices only:
 *
 * | family               | voice                                                                    |
 * |----------------------|--------------------------------------------------------------------------|
 * | piano                | FM, bright attack fading to a mellow decay                               |
 * | chromatic percussion | FM bell (whole-number ratio, so it stays in tune), no sustain            |
 * | organ                | additive drawbar partials, steady while held                             |
 * | guitar               | plucked: sawtooth through a closing low-pass, dying away                 |
 * | bass                 | MonoSynth sawtooth, low-pass with a short filter envelope                |
 * | strings              | detuned sawtooths, slow bow attack, low-passed                           |
 * | ensemble             | wide detuned triangles, slower attack and long release                   |
 * | brass                | MonoSynth sawtooth whose filter opens with the attack                    |
 * | reed                 | MonoSynth square (odd harmonics), reedy low-pass                         |
 * | pipe                 | sine with a soft attack                                                  |
 * | synth lead           | bright sawtooth, fast attack, full sustain                               |
 * | synth pad            | AM sawtooth, slow swell and long release, low-passed                     |
 * | synth effects        | FM with a square modulator into a feedback echo                          |
 * | ethnic               | resonant twang: sawtooth through a high-Q low-pass sweep, dying away     |
 * | percussive           | MembraneSynth tuned to the note                                          |
 * | sound effects        | filtered pink noise (pitch not heard)                                    |
 *
 * Notes on MIDI channel 10 go to a drum kit instead (see `drumKit`). Tone's PluckSynth, Freeverb and
 * JCReverb are not used: they load an AudioWorklet from a blob: URL, which the page's content
 * security policy refuses.
 */
const FAMILY_VOICES: readonly (() => Voice)[] = [
  // 0 piano
  () => poly(new PolySynth({ voice: FMSynth, volume: -3, options: { harmonicity: 3, modulationIndex: 4, oscillator: { type: 'sine' }, modulation: { type: 'sine' }, envelope: { attack: 0.002, decay: 1.6, sustain: 0.05, release: 0.6 }, modulationEnvelope: { attack: 0.002, decay: 0.6, sustain: 0.2, release: 0.5 } } })),
  // 1 chromatic percussion
  () => poly(new PolySynth({ voice: FMSynth, volume: -3, options: { harmonicity: 4, modulationIndex: 12, envelope: { attack: 0.001, decay: 1.2, sustain: 0, release: 1.2 }, modulationEnvelope: { attack: 0.001, decay: 0.25, sustain: 0, release: 0.25 } } })),
  // 2 organ
  () => poly(new PolySynth({ voice: Synth, volume: -13, options: { oscillator: { type: 'custom', partials: [1, 0.8, 0.15, 0.6, 0, 0.1, 0, 0.4] }, envelope: { attack: 0.008, decay: 0.05, sustain: 1, release: 0.08 } } })),
  // 3 guitar
  () => poly(new PolySynth({ voice: MonoSynth, volume: -16, options: { oscillator: { type: 'sawtooth' }, filter: { type: 'lowpass', Q: 1, rolloff: -24 }, envelope: { attack: 0.002, decay: 1.5, sustain: 0, release: 0.3 }, filterEnvelope: { attack: 0.002, decay: 0.3, sustain: 0.2, release: 0.3, baseFrequency: 500, octaves: 3.5 } } })),
  // 4 bass
  () => poly(new PolySynth({ voice: MonoSynth, volume: -16, options: { oscillator: { type: 'sawtooth' }, filter: { type: 'lowpass', Q: 2, rolloff: -24 }, envelope: { attack: 0.004, decay: 0.4, sustain: 0.5, release: 0.15 }, filterEnvelope: { attack: 0.004, decay: 0.2, sustain: 0.4, release: 0.2, baseFrequency: 200, octaves: 3 } } })),
  // 5 strings
  () => poly(new PolySynth({ voice: Synth, volume: -14, options: { oscillator: { type: 'fatsawtooth', count: 3, spread: 14 }, envelope: { attack: 0.12, decay: 0.2, sustain: 0.9, release: 0.5 } } }), new Filter(2800, 'lowpass')),
  // 6 ensemble
  () => poly(new PolySynth({ voice: Synth, volume: -12, options: { oscillator: { type: 'fattriangle', count: 5, spread: 30 }, envelope: { attack: 0.3, decay: 0.3, sustain: 0.85, release: 1.2 } } })),
  // 7 brass
  () => poly(new PolySynth({ voice: MonoSynth, volume: -12.5, options: { oscillator: { type: 'sawtooth' }, filter: { type: 'lowpass', Q: 1, rolloff: -12 }, envelope: { attack: 0.03, decay: 0.2, sustain: 0.8, release: 0.2 }, filterEnvelope: { attack: 0.06, decay: 0.3, sustain: 0.6, release: 0.3, baseFrequency: 400, octaves: 2.5 } } })),
  // 8 reed
  () => poly(new PolySynth({ voice: MonoSynth, volume: -15, options: { oscillator: { type: 'square' }, filter: { type: 'lowpass', Q: 2, rolloff: -12 }, envelope: { attack: 0.02, decay: 0.1, sustain: 0.85, release: 0.12 }, filterEnvelope: { attack: 0.02, decay: 0.2, sustain: 0.7, release: 0.2, baseFrequency: 900, octaves: 1 } } })),
  // 9 pipe
  () => poly(new PolySynth({ voice: Synth, volume: -13, options: { oscillator: { type: 'sine' }, envelope: { attack: 0.06, decay: 0.1, sustain: 0.9, release: 0.15 } } })),
  // 10 synth lead
  () => poly(new PolySynth({ voice: Synth, volume: -13, options: { oscillator: { type: 'sawtooth' }, envelope: { attack: 0.004, decay: 0.1, sustain: 0.9, release: 0.1 } } })),
  // 11 synth pad
  () => poly(new PolySynth({ voice: AMSynth, volume: 2, options: { harmonicity: 2, oscillator: { type: 'sawtooth' }, modulation: { type: 'sine' }, envelope: { attack: 0.6, decay: 0.4, sustain: 0.8, release: 2 }, modulationEnvelope: { attack: 0.8, decay: 0.2, sustain: 1, release: 2 } } }), new Filter(1600, 'lowpass')),
  // 12 synth effects
  () => poly(new PolySynth({ voice: FMSynth, volume: -6, options: { harmonicity: 3, modulationIndex: 8, modulation: { type: 'square' }, envelope: { attack: 0.05, decay: 0.3, sustain: 0.5, release: 1.2 } } }), new FeedbackDelay({ delayTime: 0.3, feedback: 0.4, wet: 0.35 })),
  // 13 ethnic
  () => poly(new PolySynth({ voice: MonoSynth, volume: -17, options: { oscillator: { type: 'sawtooth' }, filter: { type: 'lowpass', Q: 8, rolloff: -12 }, envelope: { attack: 0.002, decay: 1.8, sustain: 0, release: 0.4 }, filterEnvelope: { attack: 0.002, decay: 0.4, sustain: 0.3, release: 0.4, baseFrequency: 600, octaves: 3 } } })),
  // 14 percussive
  () => poly(new PolySynth({ voice: MembraneSynth, volume: -13, options: { pitchDecay: 0.03, octaves: 1.5, envelope: { attack: 0.001, decay: 0.5, sustain: 0, release: 0.3 } } })),
  // 15 sound effects
  () => {
    const output = new Gain(1);
    const filter = new Filter(2400, 'lowpass').connect(output);
    const pool = noises(4, () => new NoiseSynth({ volume: -3, noise: { type: 'pink' }, envelope: { attack: 0.05, decay: 0.4, sustain: 0.4, release: 0.6 } }), filter);
    return {
      output,
      play: (_pitch, time, seconds, velocity) => pool.play(time, seconds, velocity),
      releaseAll: pool.releaseAll,
      dispose: () => {
        pool.dispose();
        filter.dispose();
        output.dispose();
      },
    };
  },
];

/** The pieces of the drum kit and the General MIDI percussion keys (35–81) each plays. */
const HATS = new Set([42, 44, 46, 54, 80, 81]);
const CYMBALS = new Set([49, 51, 52, 53, 55, 56, 57, 59]);
const NOISES = new Set([37, 38, 39, 40, 58, 69, 70, 73, 74, 82]);

/**
 * General MIDI drums (notes on channel 10): kick and toms (and the other skins) from a MembraneSynth
 * at a pitch from the key, snares, claps and shakers from noise, hi-hats and cymbals from MetalSynths.
 */
function drumKit(): Voice {
  const output = new Gain(1);
  const skins = new PolySynth({ voice: MembraneSynth, volume: -13, maxPolyphony: 8, options: { pitchDecay: 0.04, octaves: 4, envelope: { attack: 0.001, decay: 0.4, sustain: 0, release: 0.2 } } }).connect(output);
  const hats = new PolySynth({ voice: MetalSynth, volume: -22, maxPolyphony: 4, options: { harmonicity: 5.1, modulationIndex: 32, resonance: 5000, octaves: 1.5, envelope: { attack: 0.001, decay: 0.08, sustain: 0, release: 0.05 } } }).connect(output);
  const cymbals = new PolySynth({ voice: MetalSynth, volume: -24, maxPolyphony: 4, options: { harmonicity: 5.1, modulationIndex: 40, resonance: 4000, octaves: 1.5, envelope: { attack: 0.001, decay: 1.2, sustain: 0, release: 0.8 } } }).connect(output);
  const snares = noises(3, () => new NoiseSynth({ volume: -12, noise: { type: 'white' }, envelope: { attack: 0.001, decay: 0.18, sustain: 0, release: 0.1 } }), output);
  return {
    output,
    play: (pitch, time, _seconds, velocity) => {
      // Drums ring as long as the hit lasts, whatever the note's length.
      if (HATS.has(pitch)) hats.triggerAttackRelease(pitch === 46 ? 400 : 300, pitch === 46 ? 0.35 : 0.05, time, velocity);
      else if (CYMBALS.has(pitch)) cymbals.triggerAttackRelease(pitch === 51 || pitch === 59 ? 500 : 300, 1, time, velocity);
      else if (NOISES.has(pitch)) {
        snares.play(time, 0.15, velocity);
        // A snare's shell under its wires.
        if (pitch === 38 || pitch === 40) skins.triggerAttackRelease(185, 0.1, time, velocity * 0.7);
      }
      // Kicks (35, 36) low; toms, bongos and congas from the key's own pitch, two octaves down.
      else skins.triggerAttackRelease(pitch <= 36 ? 45 : hz(pitch - 24), 0.3, time, velocity);
    },
    releaseAll: (time) => {
      for (const synth of [skins, hats, cymbals]) synth.releaseAll(time);
      snares.releaseAll(time);
    },
    dispose: () => {
      for (const synth of [skins, hats, cymbals]) synth.dispose();
      snares.dispose();
      output.dispose();
    },
  };
}

/** A new instrument for a GM program (0–127), or the drum kit; in Tone's current context. */
export function voiceFor(program: number, drums = false): Voice {
  return drums ? drumKit() : FAMILY_VOICES[(program >> 3) & 15]!();
}

/** What one track sounds through: its instrument (and drum kit, once it has drum notes), volume and pan. */
interface TrackSound {
  program: number;
  voice: Voice;
  drums: Voice | null;
  gain: Gain;
  panner: Panner;
  level: number;
  pan: number;
}

export class Player {
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Raw beats (see `rawBeatAt`) already scheduled up to here (exclusive), for the playback that started at `scheduledFor`. */
  private scheduledTo = -1;
  private scheduledFor = Number.NaN;
  private readonly sounds = new Map<string, TrackSound>();
  private click: Synth | null = null;
  /** Instruments on their way out (replaced, their track gone, or stopped), disposed after their last notes. */
  private readonly retiring = new Map<{ dispose(): void }, ReturnType<typeof setTimeout>>();
  /** Notes started, for tests and the level meter. */
  played = 0;
  /** A click on every beat, louder on the first of each bar: this listener's choice, not the session's. */
  metronome = false;
  /** Metronome clicks scheduled, for tests; `accents` of them on the first beat of a bar. */
  clicks = 0;
  accents = 0;

  constructor(
    private readonly studio: StudioDoc,
    /** The server's time now (ms), from the clock estimate. */
    private readonly serverNow: () => number,
  ) {}

  /** Tone instruments alive now (the tracks', the metronome's and those still fading out): none once stopped. */
  get liveVoices(): number {
    let count = this.retiring.size + (this.click ? 1 : 0);
    for (const sound of this.sounds.values()) count += sound.drums ? 2 : 1;
    return count;
  }

  /** The GM program each track is heard with now, by track id. */
  instruments(): Record<string, number> {
    return Object.fromEntries([...this.sounds].map(([id, sound]) => [id, sound.program]));
  }

  /** Starts scheduling (call from a user gesture: browsers start audio then). */
  async start(): Promise<void> {
    if (getContext().state !== 'running') await startAudio();
    if (this.timer !== null) return;
    this.scheduledTo = -1;
    this.timer = setInterval(() => this.schedule(), TICK_MS);
  }

  /** Stops scheduling; what sounds fades out and every instrument is disposed right after. */
  stop(): void {
    if (this.timer === null && this.sounds.size === 0 && !this.click) return;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.scheduledTo = -1;
    for (const id of [...this.sounds.keys()]) this.dropTrack(id);
    this.dropClick(FADE_S * 2);
    // Instruments still ringing out go too (their tracks' sound is fading already).
    for (const node of [...this.retiring.keys()]) this.retire(node, FADE_S * 2);
  }

  /** Stops and disposes everything at once (the studio closes). */
  destroy(): void {
    this.stop();
    for (const [node, timer] of this.retiring) {
      clearTimeout(timer);
      node.dispose();
    }
    this.retiring.clear();
  }

  /** Disposes `node` in `afterSeconds` (sooner, when it was due later). */
  private retire(node: { dispose(): void }, afterSeconds: number): void {
    clearTimeout(this.retiring.get(node));
    this.retiring.set(
      node,
      setTimeout(() => {
        this.retiring.delete(node);
        node.dispose();
      }, afterSeconds * 1000),
    );
  }

  /** Takes a track's sound away: faded out now, then disposed. */
  private dropTrack(id: string): void {
    const sound = this.sounds.get(id);
    if (!sound) return;
    this.sounds.delete(id);
    const now = getContext().currentTime;
    sound.gain.gain.cancelScheduledValues(now);
    sound.gain.gain.setTargetAtTime(0, now, FADE_S / 3);
    this.retire(
      {
        dispose: () => {
          sound.voice.dispose();
          sound.drums?.dispose();
          sound.gain.dispose();
          sound.panner.dispose();
        },
      },
      FADE_S * 2,
    );
  }

  private dropClick(afterSeconds: number): void {
    if (!this.click) return;
    this.retire(this.click, afterSeconds);
    this.click = null;
  }

  /**
   * Keeps one sound per track, as the document has it now: a new instrument when the program changed
   * (the old one plays what it was given until `horizon`, then fades), volume and pan (zero while
   * muted, or while other tracks are soloed).
   */
  private syncTracks(tracks: Track[], horizon: number): void {
    const now = getContext().currentTime;
    const soloed = tracks.some((t) => t.solo);
    for (const id of this.sounds.keys()) if (!tracks.some((t) => t.id === id)) this.dropTrack(id);
    for (const track of tracks) {
      const level = track.mute || (soloed && !track.solo) ? 0 : track.volume;
      let sound = this.sounds.get(track.id);
      if (!sound) {
        const panner = new Panner(track.pan).toDestination();
        const gain = new Gain(level).connect(panner);
        sound = { program: track.program, voice: voiceFor(track.program), drums: null, gain, panner, level, pan: track.pan };
        sound.voice.output.connect(gain);
        this.sounds.set(track.id, sound);
      }
      if (sound.program !== track.program) {
        const old = sound.voice;
        old.releaseAll(horizon);
        this.retire(old, horizon - now + RING_OUT_S);
        sound.voice = voiceFor(track.program);
        sound.voice.output.connect(sound.gain);
        sound.program = track.program;
      }
      if (sound.level !== level) sound.gain.gain.rampTo((sound.level = level), 0.02, now);
      if (sound.pan !== track.pan) sound.panner.pan.rampTo((sound.pan = track.pan), 0.02, now);
    }
  }

  private schedule(): void {
    const transport = this.studio.transport();
    if (!transport.playing) {
      this.scheduledTo = -1;
      return;
    }
    // Playback restarted (from the start, at another tempo): what was scheduled belongs to the last
    // one. Its clicks may lie ahead of the new one's first, so the new one clicks on a fresh synth.
    if (transport.beatZeroAt !== this.scheduledFor) {
      this.scheduledFor = transport.beatZeroAt;
      this.scheduledTo = -1;
      this.dropClick(RING_OUT_S);
    }
    const now = this.serverNow();
    const contextNow = getContext().currentTime;
    const rawNow = rawBeatAt(transport, now);
    const msPerBeat = 60_000 / transport.bpm;
    const at = (raw: number) => contextNow + Math.max(0, (raw - rawNow) * msPerBeat) / 1000;
    const tracks = this.studio.tracks();
    this.syncTracks(tracks, at(Math.max(this.scheduledTo, rawNow)));
    if (!this.metronome) this.dropClick(RING_OUT_S);
    // A playback just started also plays the notes since its start, a moment late, rather than
    // dropping those that fell before this first tick; one joined more than LATE_START_MS after its
    // start begins about now.
    const from = this.scheduledTo >= 0 ? Math.max(this.scheduledTo, rawNow) : Math.max(transport.stoppedAtBeat, rawNow - LATE_START_MS / msPerBeat);
    const to = rawBeatAt(transport, now + LOOKAHEAD_MS);
    if (to <= from) return;
    this.scheduledTo = to;
    const ppq = this.studio.settings().ppq;
    const spans = playedSpans(transport, from, to);
    if (this.metronome) {
      const beatsPerBar = this.studio.timeSignatures()[0]?.numerator ?? 4;
      for (const span of spans) {
        for (let beat = Math.ceil(span.from); beat < span.to; beat++) this.tick(at(beat + span.offset), beat % beatsPerBar === 0);
      }
    }
    for (const track of tracks) {
      const sound = this.sounds.get(track.id);
      if (!sound || sound.level === 0) continue;
      const events: { time: number; seconds: number; pitch: number; velocity: number; drum: boolean }[] = [];
      for (const clip of this.studio.clips(track.id)) {
        for (const note of this.studio.notes(track.id, clip.id)) {
          const beat = (clip.start + note.start) / ppq;
          for (const span of spans) {
            if (beat < span.from || beat >= span.to) continue;
            events.push({ time: at(beat + span.offset), seconds: (note.duration / ppq) * (msPerBeat / 1000), pitch: note.pitch, velocity: note.velocity / 127, drum: note.channel === DRUM_CHANNEL });
          }
        }
      }
      // In time order: an instrument schedules its notes one after the other.
      events.sort((a, b) => a.time - b.time);
      for (const event of events) {
        const voice = event.drum ? (sound.drums ??= this.connected(voiceFor(track.program, true), sound.gain)) : sound.voice;
        try {
          voice.play(event.pitch, event.time, event.seconds, event.velocity);
          this.played++;
        } catch (error) {
          // One note Tone refuses (two at the very same instant on a one-at-a-time voice) must not stop the rest.
          console.warn('a note was not played:', (error as Error).message);
        }
      }
    }
  }

  private connected(voice: Voice, to: Gain): Voice {
    voice.output.connect(to);
    return voice;
  }

  /** A metronome click at `time`, higher on the first beat of a bar. */
  private tick(time: number, accent: boolean): void {
    this.click ??= new Synth({ volume: -8, oscillator: { type: 'sine' }, envelope: { attack: 0.001, decay: 0.04, sustain: 0, release: 0.01 } }).toDestination();
    try {
      this.click.triggerAttackRelease(accent ? 1760 : 1320, 0.05, time, accent ? 1 : 0.6);
      this.clicks++;
      if (accent) this.accents++;
    } catch (error) {
      console.warn('a metronome click was not played:', (error as Error).message);
    }
  }
}
