import { describe, expect, it } from 'vitest';
import { confidenceMatrix, rowRegularization, trainAls } from '../../src/recommendations/als.js';
import { trainEase } from '../../src/recommendations/ease.js';
import { RecommendationError } from '../../src/recommendations/errors.js';
import { csrFromTriples } from '../../src/recommendations/sparse.js';
import { bm25Weights } from '../../src/recommendations/weighting.js';

// Two users, four items (two never played): user 0 has item 0 ×2 and item 1 ×4, user 1 item 0 ×6.
const matrix = csrFromTriples({ rows: [0, 0, 1], cols: [0, 1, 0], values: [2, 4, 6] }, 2, 4);

describe('BM25 weighting', () => {
  it('saturates counts, normalises by the item total and weighs users by IDF (worked by hand)', () => {
    // K1 = 1, B = 1: item totals 8 and 4, mean 6, so length norms 4/3 and 2/3; IDF log(4/3) and log 2.
    const w = bm25Weights(matrix, { k1: 1, b: 1 });
    expect(Array.from(w.data)).toEqual([
      Math.fround(((2 * 2) / (4 / 3 + 2)) * Math.log(4 / 3)),
      Math.fround(((4 * 2) / (2 / 3 + 4)) * Math.log(4 / 3)),
      Math.fround(((6 * 2) / (4 / 3 + 6)) * Math.log(2)),
    ]);
    expect(Array.from(w.indices)).toEqual(Array.from(matrix.indices));
  });

  it('as ALS confidence: 1 + α·BM25; B outside [0, 1] is refused', () => {
    const c = confidenceMatrix(matrix, { confidence: 'bm25', alpha: 2, bm25K1: 1, bm25B: 1 });
    expect(c.data[2]).toBeCloseTo(1 + 2 * ((6 * 2) / (4 / 3 + 6)) * Math.log(2), 5);
    expect(() => confidenceMatrix(matrix, { confidence: 'bm25', bm25B: 2 })).toThrow(RecommendationError);
  });
});

describe('frequency-scaled regularisation', () => {
  it('gives each row λ·(its total confidence)^ν, and ν = 0 trains exactly as before', () => {
    const c = confidenceMatrix(matrix, { confidence: 'linear', alpha: 1 });
    // Row totals: 4 columns + Σ(c − 1) = 4 + 6 and 4 + 6.
    expect(Array.from(rowRegularization(c, 0.5, 1)!)).toEqual([5, 5]);
    expect(Array.from(rowRegularization(c, 2, 0.5)!)).toEqual([2 * Math.sqrt(10), 2 * Math.sqrt(10)]);
    expect(rowRegularization(c, 2, 0)).toBeNull();
    const base = trainAls(matrix, { factors: 3, iterations: 3, regularization: 1 });
    const same = trainAls(matrix, { factors: 3, iterations: 3, regularization: 1, frequencyScaling: 0 });
    expect(same.userFactors).toEqual(base.userFactors);
    const scaled = trainAls(matrix, { factors: 3, iterations: 3, regularization: 1, frequencyScaling: 1 });
    expect(scaled.userFactors).not.toEqual(base.userFactors);
  });
});

describe('EASE regularised by popularity', () => {
  it('adds ρ·Gᵢᵢ to each diagonal: with equally popular items, the same as a larger λ', () => {
    // Items 0 and 1 have 3 users each (Gᵢᵢ = 3), item 2 two: ρ = 1, λ = 1 is λ = 4 for items 0 and 1.
    const x = csrFromTriples({ rows: [0, 0, 1, 1, 2, 3, 0, 3], cols: [0, 1, 0, 1, 0, 1, 2, 2], values: [1, 1, 1, 1, 1, 1, 1, 1] }, 4, 3);
    const twoItems = csrFromTriples({ rows: [0, 0, 1, 1, 2, 3], cols: [0, 1, 0, 1, 0, 1], values: [1, 1, 1, 1, 1, 1] }, 4, 2);
    const scaled = trainEase(twoItems, { regularization: 1, popularityRegularization: 1, minUsers: 1 });
    const plain = trainEase(twoItems, { regularization: 4, minUsers: 1 });
    expect(Array.from(scaled.weights)).toEqual(Array.from(plain.weights));
    expect(Array.from(trainEase(x, { regularization: 1, popularityRegularization: 1, minUsers: 1 }).weights)).not.toEqual(Array.from(trainEase(x, { regularization: 1, minUsers: 1 }).weights));
  });
});
