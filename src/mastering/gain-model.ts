// Predicts what the limiter does to loudness, so the first render is usually the last. The audio
// into the limiter (after EQ and compression) is summarised once as 1 ms blocks: K-weighted energy
// and sample peak. For a gain and a ceiling, each block needs the gain reduction that brings its
// peak to the ceiling; the limiter reaches it one block early (its 1 ms look-ahead) and recovers with
// its release; the blocks' energies, scaled by gain and reduction, give the integrated loudness
// by BS.1770's gating. The model ignores peaks between samples and the limiter's exact curves: the
// chain measures every render and corrects the model by the error it saw.
import { integratedFromSteps, stepEnergies } from './meter.js';
import type { Pcm } from './pcm.js';

const BLOCK_MS = 1;
/**
 * The model's recovery time constant. alimiter is set to release over 60 ms, but its gain comes back
 * faster than an exponential of 60 ms would: 38 ms fits it within 0.1 LU on the test material
 * (loops, a tracker module, a General MIDI rendering, limited by up to 20 dB).
 */
const RELEASE_MS = 38;
const BLOCKS_PER_STEP = 100 / BLOCK_MS;

export class GainModel {
  private readonly energy: Float64Array;
  private readonly peak: Float32Array;
  private readonly steps: number;
  private readonly stepSamples: number;
  private readonly recovery: number;
  /** Integrated loudness of the audio as it is (no gain, no limiting), LUFS. */
  readonly loudness: number;
  /** Largest sample, dBFS. */
  readonly samplePeakDb: number;

  constructor(pcm: Pcm) {
    this.recovery = Math.exp(-BLOCK_MS / RELEASE_MS);
    const block = Math.round((pcm.sampleRate * BLOCK_MS) / 1000);
    this.stepSamples = block * BLOCKS_PER_STEP;
    const frames = pcm.channels[0]?.length ?? 0;
    const blocks = Math.floor(frames / block);
    this.energy = new Float64Array(blocks);
    this.peak = new Float32Array(blocks);
    for (const channel of pcm.channels) {
      const e = stepEnergies(channel, pcm.sampleRate, block);
      for (let b = 0; b < blocks; b++) {
        this.energy[b]! += e[b]!;
        let p = this.peak[b]!;
        for (let i = b * block, end = i + block; i < end; i++) {
          const v = Math.abs(channel[i]!);
          if (v > p) p = v;
        }
        this.peak[b] = p;
      }
    }
    this.steps = Math.floor(blocks / BLOCKS_PER_STEP);
    let peak = 0;
    for (let b = 0; b < blocks; b++) peak = Math.max(peak, this.peak[b]!);
    this.samplePeakDb = 20 * Math.log10(Math.max(1e-12, peak));
    this.loudness = integratedFromSteps(this.stepEnergies(1, Infinity), this.stepSamples);
  }

  /** Per-step energies after `gain` (linear) into a limiter at `ceiling` (linear). */
  private stepEnergies(gain: number, ceiling: number): Float64Array {
    const out = new Float64Array(this.steps);
    const blocks = this.steps * BLOCKS_PER_STEP;
    const need = (b: number) => {
      const p = b < blocks ? this.peak[b]! * gain : 0;
      return p > ceiling ? ceiling / p : 1;
    };
    let envelope = 1;
    let next = need(0);
    const g2 = gain * gain;
    for (let b = 0; b < blocks; b++) {
      const here = next;
      next = need(b + 1);
      envelope = Math.min(here, next, 1 - (1 - envelope) * this.recovery);
      out[(b / BLOCKS_PER_STEP) | 0]! += this.energy[b]! * g2 * envelope * envelope;
    }
    return out;
  }

  /** Predicted integrated loudness (LUFS) after `gainDb` into a limiter at `ceilingDb`. */
  predict(gainDb: number, ceilingDb: number): number {
    return integratedFromSteps(this.stepEnergies(10 ** (gainDb / 20), 10 ** (ceilingDb / 20)), this.stepSamples);
  }

  /** The gain (dB) the model says reaches `target` LUFS through a limiter at `ceilingDb` (loudness rises with gain). */
  gainFor(target: number, ceilingDb: number): number {
    let low = target - this.loudness;
    if (this.predict(low, ceilingDb) >= target) return low;
    let high = low + 6;
    while (this.predict(high, ceilingDb) < target && high < low + 48) high += 6;
    for (let k = 0; k < 30 && high - low > 0.001; k++) {
      const mid = (low + high) / 2;
      if (this.predict(mid, ceilingDb) < target) low = mid;
      else high = mid;
    }
    return (low + high) / 2;
  }
}
