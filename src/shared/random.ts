// A small seeded PRNG, so that training and splits are reproducible bit for bit on every machine
// (Math.random cannot be seeded). mulberry32: 32-bit state, fast, good enough for initialisation and
// shuffles; not for anything that needs to be unpredictable.
import { requireInteger } from './errors.js';

/** A function returning uniform numbers in [0, 1), the same sequence for the same seed. */
export type Random = () => number;

export function seededRandom(seed: number): Random {
  requireInteger('seed', seed, 0, 0xffffffff);
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Shuffles `values` in place (Fisher–Yates) and returns it. */
export function shuffle<T extends { length: number; [index: number]: number }>(values: T, random: Random): T {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const swap = values[i]!;
    values[i] = values[j]!;
    values[j] = swap;
  }
  return values;
}
