import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecommendationError } from '../../src/recommendations/errors.js';
import { buildScoringModel, EXCLUDED, maskFor, OnnxScorer } from '../../src/recommendations/onnx-model.js';
import { seededRandom, type Random } from '../../src/shared/random.js';
import { topK, type ScoredItem } from '../../src/recommendations/topk.js';

const ITEMS = 5000;
const FACTORS = 32;

function randomMatrix(rows: number, cols: number, random: Random): Float32Array {
  return Float32Array.from({ length: rows * cols }, () => random() * 2 - 1);
}

function randomExclusions(count: number, random: Random): number[] {
  return Array.from({ length: count }, () => Math.floor(random() * ITEMS));
}

function closeTo(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= 1e-4 * Math.max(1, Math.abs(expected));
}

/**
 * ONNX scores in float32, topK in float64, so items whose scores are within rounding may swap. Each
 * rank must carry the reference score, the item there must score that in the reference, and where
 * the neighbouring reference scores are clearly apart the item must be the reference's.
 */
function expectSameRanking(items: Int32Array, scores: Float32Array, reference: ScoredItem[], user: Float32Array, matrix: Float32Array): void {
  expect(items.length).toBe(reference.length);
  const referenceScore = (item: number): number => {
    let sum = 0;
    for (let f = 0; f < FACTORS; f++) sum += user[f]! * matrix[item * FACTORS + f]!;
    return sum;
  };
  for (let rank = 0; rank < reference.length; rank++) {
    const expected = reference[rank]!;
    expect(closeTo(scores[rank]!, expected.score), `rank ${rank}: onnx score ${scores[rank]} vs ${expected.score}`).toBe(true);
    expect(closeTo(referenceScore(items[rank]!), expected.score), `rank ${rank}: item ${items[rank]} vs ${expected.item}`).toBe(true);
    const apart = [reference[rank - 1], reference[rank + 1]].every((neighbour) => !neighbour || !closeTo(neighbour.score, expected.score));
    if (apart) expect(items[rank], `rank ${rank}`).toBe(expected.item);
  }
}

describe('ONNX scoring model', () => {
  const random = seededRandom(11);
  const matrix = randomMatrix(ITEMS, FACTORS, random);
  let scorer: OnnxScorer;

  beforeAll(async () => {
    scorer = await OnnxScorer.load(buildScoringModel(matrix, ITEMS, FACTORS, { version: 'test-1' }));
  });
  afterAll(async () => {
    await scorer.release();
  });

  it('reads its shape and version back', () => {
    expect([scorer.items, scorer.factors, scorer.version]).toEqual([ITEMS, FACTORS, 'test-1']);
  });

  it('ranks like topK for several users with their own exclusions', async () => {
    for (let u = 0; u < 8; u++) {
      const user = randomMatrix(1, FACTORS, random);
      const exclude = randomExclusions(200, random);
      const { items, scores } = await scorer.score(user, maskFor(ITEMS, exclude), 50);
      expectSameRanking(items[0]!, scores[0]!, topK(user, matrix, exclude, 50), user, matrix);
      const excluded = new Set(exclude);
      expect(Array.from(items[0]!).filter((item) => excluded.has(item))).toEqual([]);
    }
  });

  it('never returns excluded items, even when k exceeds the allowed ones', async () => {
    const user = randomMatrix(1, FACTORS, random);
    const allowed = new Set([3, 99, 1234, 4999]);
    const mask = maskFor(ITEMS, [99], (item) => allowed.has(item));
    const { items, scores } = await scorer.score(user, mask, 10);
    expect(Array.from(items[0]!).sort((a, b) => a - b)).toEqual([3, 1234, 4999]);
    expect(scores[0]!.length).toBe(3);
    expectSameRanking(items[0]!, scores[0]!, topK(user, matrix, [...Array(ITEMS).keys()].filter((i) => i === 99 || !allowed.has(i)), 10), user, matrix);
  });

  it('clamps k to the item count', async () => {
    const user = randomMatrix(1, FACTORS, random);
    const { items } = await scorer.score(user, maskFor(ITEMS, [0, 1, 2]), ITEMS + 10);
    expect(items[0]!.length).toBe(ITEMS - 3);
    expect(new Set(items[0]!).size).toBe(ITEMS - 3);
  });

  it('answers each row of a batch with its own mask', async () => {
    const users = randomMatrix(2, FACTORS, random);
    const first = users.subarray(0, FACTORS);
    const second = users.subarray(FACTORS);
    const excludeFirst = topK(first, matrix, [], 5).map((s) => s.item);
    const excludeSecond = randomExclusions(300, random);
    const masks = new Float32Array(2 * ITEMS);
    masks.set(maskFor(ITEMS, excludeFirst), 0);
    masks.set(maskFor(ITEMS, excludeSecond), ITEMS);
    const { items, scores } = await scorer.score(users, masks, 20);
    expect(items.length).toBe(2);
    expectSameRanking(items[0]!, scores[0]!, topK(first, matrix, excludeFirst, 20), first, matrix);
    expectSameRanking(items[1]!, scores[1]!, topK(second, matrix, excludeSecond, 20), second, matrix);
  });

  it('refuses bad input with RecommendationError', async () => {
    const user = randomMatrix(1, FACTORS, random);
    const mask = maskFor(ITEMS, []);
    await expect(scorer.score(user.subarray(1), mask, 5)).rejects.toThrow(RecommendationError);
    await expect(scorer.score(new Float32Array(0), new Float32Array(0), 5)).rejects.toThrow(RecommendationError);
    await expect(scorer.score(user, mask.subarray(1), 5)).rejects.toThrow(RecommendationError);
    await expect(scorer.score(user, mask, 0)).rejects.toThrow(RecommendationError);
    await expect(scorer.score(user, mask, 2.5)).rejects.toThrow(RecommendationError);
    await expect(scorer.score(user, mask, Number.NaN)).rejects.toThrow(RecommendationError);
    expect(() => buildScoringModel(matrix, ITEMS + 1, FACTORS)).toThrow(RecommendationError);
    expect(() => buildScoringModel(Float32Array.of(1, Number.NaN), 1, 2)).toThrow(RecommendationError);
    expect(() => maskFor(ITEMS, [ITEMS])).toThrow(RecommendationError);
  });

  it('marks excluded items with a finite float32 value', () => {
    expect(Number.isFinite(Float32Array.of(EXCLUDED)[0]!)).toBe(true);
  });

  it('loads from a file path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'veza-onnx-'));
    try {
      const small = randomMatrix(10, 4, random);
      const path = join(dir, 'model.onnx');
      writeFileSync(path, buildScoringModel(small, 10, 4, { version: 'file' }));
      const fromFile = await OnnxScorer.load(path);
      try {
        expect([fromFile.items, fromFile.factors, fromFile.version]).toEqual([10, 4, 'file']);
        const user = Float32Array.of(1, 0, 0, 0);
        const { items } = await fromFile.score(user, maskFor(10, []), 3);
        expect(Array.from(items[0]!)).toEqual(topK(user, small, [], 3).map((s) => s.item));
      } finally {
        await fromFile.release();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('builds and loads a 100k × 64 model', async () => {
    const items = 100_000;
    const factors = 64;
    const big = randomMatrix(items, factors, seededRandom(5));
    const started = performance.now();
    const bytes = buildScoringModel(big, items, factors, { version: 'big' });
    const built = performance.now();
    const bigScorer = await OnnxScorer.load(bytes);
    const loaded = performance.now();
    try {
      console.log(`100k × 64 model: ${(bytes.length / 2 ** 20).toFixed(1)} MiB, built in ${(built - started).toFixed(0)} ms, loaded in ${(loaded - built).toFixed(0)} ms`);
      expect([bigScorer.items, bigScorer.factors]).toEqual([items, factors]);
      const user = big.slice(0, factors);
      const { items: top } = await bigScorer.score(user, maskFor(items, []), 10);
      expect(top[0]!.length).toBe(10);
    } finally {
      await bigScorer.release();
    }
  }, 60_000);
});
