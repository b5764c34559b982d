// Runs in headless Chromium (bundled by esbuild in playback.test.ts): renders one note of the
// studio's instrument for a General MIDI program offline with Tone.js, through the same voice
// factory the studio's player uses, and hands back the samples.
import { Offline } from 'tone';
import { voiceFor } from '../../web/src/synth.js';

export interface VoiceRenderApi {
  /** One note `pitch` held `seconds`, rendered for `length` s at 44.1 kHz: the mono samples. */
  render(program: number, pitch: number, options?: { drums?: boolean; seconds?: number; length?: number }): Promise<number[]>;
}

const api: VoiceRenderApi = {
  async render(program, pitch, { drums = false, seconds = 0.6, length = 1 } = {}) {
    const buffer = await Offline(() => {
      const voice = voiceFor(program, drums);
      voice.output.toDestination();
      voice.play(pitch, 0, seconds, 0.8);
    }, length, 1, 44_100);
    return Array.from(buffer.getChannelData(0));
  },
};
(globalThis as unknown as Record<string, unknown>).vezaVoices = api;
