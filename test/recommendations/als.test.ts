import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { trainAls, type AlsOptions } from '../../src/recommendations/als.js';
import { parseInteractions, readInteractionFile } from '../../src/recommendations/dataset.js';
import { RecommendationError } from '../../src/recommendations/errors.js';
import { evaluateRanking, ndcgAtK, recallAtK, splitPerUser, type Split } from '../../src/recommendations/evaluation.js';
import { popularity, topPopular } from '../../src/recommendations/popularity.js';
import { seededRandom } from '../../src/shared/random.js';
import { csrFromTriples, rowLength, transpose, type CsrMatrix } from '../../src/recommendations/sparse.js';
import { topK } from '../../src/recommendations/topk.js';

const required = process.env.REQUIRE_SERVICES === '1';
/** The data sets that live beside the repository (`../shared/data`), or where VEZA_SHARED_DATA says. */
const DATA = path.join(process.env.VEZA_SHARED_DATA ?? fileURLToPath(new URL('../../../shared/data', import.meta.url)), 'lastfm-hetrec-2k/user_artists.dat');

/**
 * Whether the Last.fm data is there. Missing data skips with a printed reason; with
 * REQUIRE_SERVICES=1 it is a failure. Only its existence is checked when the file is collected.
 */
function lastfmPresent(): boolean {
  if (existsSync(DATA)) return true;
  if (required) throw new Error(`Last.fm HetRec data: ${DATA} does not exist (REQUIRE_SERVICES=1)`);
  console.warn(`SKIP: Last.fm HetRec data: ${DATA} does not exist (unpack hetrec2011-lastfm-2k into ../shared/data/lastfm-hetrec-2k)`);
  return false;
}

/** The 300 users with the most rows of Last.fm HetRec 2k (research use only, read in place, never copied here), with the artists they have. */
function lastfmSlice(users: number): CsrMatrix {
  const { matrix } = readInteractionFile(DATA);
  const chosen = Array.from({ length: matrix.rows }, (_, u) => u)
    .sort((a, b) => rowLength(matrix, b) - rowLength(matrix, a) || a - b)
    .slice(0, users);
  const rows: number[] = [];
  const cols: number[] = [];
  const values: number[] = [];
  const itemIndex = new Map<number, number>();
  chosen.forEach((user, row) => {
    for (let k = matrix.indptr[user]!; k < matrix.indptr[user + 1]!; k++) {
      const item = matrix.indices[k]!;
      if (!itemIndex.has(item)) itemIndex.set(item, itemIndex.size);
      rows.push(row);
      cols.push(itemIndex.get(item)!);
      values.push(matrix.data[k]!);
    }
  });
  return csrFromTriples({ rows, cols, values }, chosen.length, itemIndex.size);
}

const hasData = lastfmPresent();
const OPTIONS: AlsOptions = { factors: 32, iterations: 10, alpha: 2, regularization: 1, seed: 7 };

describe('sparse matrices', () => {
  it('sums duplicates, drops zeros, sorts columns and transposes', () => {
    const m = csrFromTriples({ rows: [1, 0, 1, 1, 0], cols: [2, 1, 0, 2, 0], values: [1, 5, 3, 2, 0] }, 2, 3);
    expect(Array.from(m.indptr)).toEqual([0, 1, 3]);
    expect(Array.from(m.indices)).toEqual([1, 0, 2]);
    expect(Array.from(m.data)).toEqual([5, 3, 3]);
    const t = transpose(m);
    expect(Array.from(t.indptr)).toEqual([0, 1, 2, 3]);
    expect(Array.from(t.indices)).toEqual([1, 0, 1]);
    expect(Array.from(t.data)).toEqual([3, 5, 3]);
  });

  it.each([
    ['a negative weight', { rows: [0], cols: [0], values: [-1] }, /value -1 must be finite and ≥ 0/],
    ['a NaN weight', { rows: [0], cols: [0], values: [NaN] }, /value NaN must be finite/],
    ['an infinite weight', { rows: [0], cols: [0], values: [Infinity] }, /value Infinity must be finite/],
    ['a user id out of range', { rows: [0, 2], cols: [0, 0], values: [1, 1] }, /triple 1: row 2 is not an integer in \[0, 2\)/],
    ['a negative item id', { rows: [0], cols: [-1], values: [1] }, /col -1 is not an integer/],
    ['a fractional item id', { rows: [0], cols: [0.5], values: [1] }, /col 0.5 is not an integer/],
    ['arrays of different lengths', { rows: [0, 1], cols: [0], values: [1] }, /same length/],
  ])('rejects %s with a clear error', (_what, triples, message) => {
    expect(() => csrFromTriples(triples, 2, 2)).toThrow(RecommendationError);
    expect(() => csrFromTriples(triples, 2, 2)).toThrow(message);
  });

  it('maps raw ids to dense indices and names the bad line of an interaction file', () => {
    const data = parseInteractions('userID\tartistID\tweight\n7\t100\t3\n2\t100\t1\n7\t50\t2\n');
    expect(Array.from(data.userIds)).toEqual([2, 7]);
    expect(Array.from(data.itemIds)).toEqual([50, 100]);
    expect(Array.from(data.matrix.indices)).toEqual([1, 0, 1]);
    expect(() => parseInteractions('h\n1\t2\t3\n1\t2\t-5\n', 'plays.tsv')).toThrow(/plays.tsv:3: expected .* weight ≥ 0, got "1\\t2\\t-5"/);
    expect(() => parseInteractions('h\n1\tx\t3\n')).toThrow(/input:2/);
  });

  it('rejects bad training options', () => {
    const m = csrFromTriples({ rows: [0], cols: [0], values: [1] }, 1, 1);
    expect(() => trainAls(m, { factors: 0 })).toThrow(/factors must be an integer in \[1, 1024\], got 0/);
    expect(() => trainAls(m, { alpha: -1 })).toThrow(/alpha must be a finite number/);
    expect(() => trainAls(m, { regularization: NaN })).toThrow(/regularization must be a finite number/);
    expect(() => trainAls(m, { seed: 1.5 })).toThrow(/seed must be an integer/);
  });
});

describe('topK', () => {
  it('equals a brute-force ranking, excluded items left out, ties by item id', () => {
    const random = seededRandom(3);
    const factors = 8;
    const items = 500;
    const itemMatrix = Float32Array.from({ length: items * factors }, () => random() - 0.5);
    itemMatrix.copyWithin(10 * factors, 20 * factors, 21 * factors); // items 10 and 20 tie
    for (let trial = 0; trial < 20; trial++) {
      const user = Float32Array.from({ length: factors }, () => random() - 0.5);
      const exclude = Array.from({ length: 30 }, () => Math.floor(random() * items));
      const brute = Array.from({ length: items }, (_, item) => {
        let score = 0;
        for (let f = 0; f < factors; f++) score += user[f]! * itemMatrix[item * factors + f]!;
        return { item, score };
      })
        .filter(({ item }) => !exclude.includes(item))
        .sort((a, b) => b.score - a.score || a.item - b.item);
      for (const k of [0, 1, 10, 100, items]) expect(topK(user, itemMatrix, exclude, k)).toEqual(brute.slice(0, k));
    }
  });

  it('rejects an item matrix that does not match the user vector', () => {
    expect(() => topK([1, 2, 3], new Float32Array(10), [], 5)).toThrow(/not a whole number of 3-factor rows/);
    expect(() => topK([1, 2], new Float32Array(10), [], -1)).toThrow(/k must be an integer/);
  });
});

describe('ranking metrics', () => {
  it('recall and NDCG at k as defined in evaluation.ts', () => {
    const relevant = new Set([1, 2, 3]);
    expect(recallAtK([1, 9, 2], relevant, 3)).toBeCloseTo(2 / 3);
    expect(recallAtK([1, 2, 3, 4], new Set([1, 2, 3, 4, 5]), 2)).toBe(1);
    expect(ndcgAtK([9, 1], new Set([1]), 10)).toBeCloseTo(1 / Math.log2(3));
    expect(ndcgAtK([1, 2, 3], relevant, 10)).toBe(1);
  });
});

describe.skipIf(!hasData)('ALS on the 300 heaviest Last.fm HetRec users', () => {
  // Read and built when the tests run, not when they are collected: a skipped describe's body still runs.
  let split: Split;
  beforeAll(() => {
    split = splitPerUser(lastfmSlice(300), { fraction: 0.2, minItems: 5, seed: 11 });
  });

  it('beats popularity on recall@10 with a fixed seed', () => {
    const losses: number[] = [];
    const model = trainAls(split.train, { ...OPTIONS, onIteration: ({ loss }) => losses.push(loss) });
    // One progress call per iteration, and the objective falls from the first to the last.
    expect(losses).toHaveLength(OPTIONS.iterations!);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    const f = model.factors;
    const als = evaluateRanking((u, exclude, k) => topK(model.userFactors.subarray(u * f, (u + 1) * f), model.itemFactors, exclude, k).map((s) => s.item), split, 10);
    const counts = popularity(split.train);
    const pop = evaluateRanking((_u, exclude, k) => topPopular(counts, exclude, k).map((s) => s.item), split, 10);
    console.log(`300-user slice, ${split.train.cols} artists: ALS recall@10 ${als.recall.toFixed(3)} NDCG@10 ${als.ndcg.toFixed(3)}; popularity ${pop.recall.toFixed(3)} / ${pop.ndcg.toFixed(3)} (${als.users} users)`);
    expect(als.users).toBe(300);
    expect(als.recall).toBeGreaterThan(pop.recall * 1.2);
    expect(als.ndcg).toBeGreaterThan(pop.ndcg);
  });

  it('gives the same factors for the same seed, and others for another seed', () => {
    const options = { ...OPTIONS, iterations: 3 };
    const a = trainAls(split.train, options);
    const b = trainAls(split.train, options);
    const c = trainAls(split.train, { ...options, seed: 8 });
    expect(b.userFactors).toEqual(a.userFactors);
    expect(b.itemFactors).toEqual(a.itemFactors);
    expect(c.itemFactors).not.toEqual(a.itemFactors);
  });
});
