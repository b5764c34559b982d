// Offline evaluation of a recommender: a per-user hold-out split and ranking metrics at k.
// Definitions (binary relevance: a held-out item is relevant, anything else is not):
//   recall@k = |top-k ∩ held-out| / min(k, |held-out|)      (1 is reachable for every user)
//   NDCG@k   = Σ_{rank r ≤ k, item relevant} 1/log2(r + 1)  /  Σ_{r ≤ min(k, |held-out|)} 1/log2(r + 1)
// Both are averaged over the users that have held-out items. Items the user has in training are
// never recommended, so they can be neither hits nor misses.
import { requireFinite, requireInteger } from './errors.js';
import { seededRandom, shuffle } from '../shared/random.js';
import { csrFromTriples, rowIndices, type CsrMatrix } from './sparse.js';

export interface SplitOptions {
  /** Share of each eligible user's items held out (rounded, at least one). */
  fraction: number;
  /** Users with fewer items keep them all in training. */
  minItems: number;
  seed: number;
}

export interface Split {
  train: CsrMatrix;
  /** Held-out items per user (rows of users with none are empty). */
  test: CsrMatrix;
}

/** Holds out a random `fraction` of each user's items, with their weights, reproducibly by seed. */
export function splitPerUser(matrix: CsrMatrix, { fraction, minItems, seed }: SplitOptions): Split {
  requireFinite('fraction', fraction, 0, 1);
  requireInteger('minItems', minItems, 1);
  const random = seededRandom(seed);
  const train: number[][] = [[], [], []];
  const test: number[][] = [[], [], []];
  for (let user = 0; user < matrix.rows; user++) {
    const start = matrix.indptr[user]!;
    const count = matrix.indptr[user + 1]! - start;
    const held = count >= minItems ? Math.max(1, Math.round(fraction * count)) : 0;
    const order = shuffle(Int32Array.from({ length: count }, (_, i) => start + i), random);
    order.forEach((k, position) => {
      const target = position < held ? test : train;
      target[0]!.push(user);
      target[1]!.push(matrix.indices[k]!);
      target[2]!.push(matrix.data[k]!);
    });
  }
  const build = ([rows, cols, values]: number[][]) => csrFromTriples({ rows: rows!, cols: cols!, values: values! }, matrix.rows, matrix.cols);
  return { train: build(train), test: build(test) };
}

/** Fraction of the relevant items found in `ranked` (the top k), out of at most k reachable. */
export function recallAtK(ranked: readonly number[], relevant: ReadonlySet<number>, k: number): number {
  if (relevant.size === 0) return 0;
  const hits = ranked.slice(0, k).filter((item) => relevant.has(item)).length;
  return hits / Math.min(k, relevant.size);
}

/** Discounted cumulative gain of `ranked` (top k) over that of a perfect ranking. */
export function ndcgAtK(ranked: readonly number[], relevant: ReadonlySet<number>, k: number): number {
  if (relevant.size === 0) return 0;
  let dcg = 0;
  ranked.slice(0, k).forEach((item, i) => {
    if (relevant.has(item)) dcg += 1 / Math.log2(i + 2);
  });
  let ideal = 0;
  for (let i = 0; i < Math.min(k, relevant.size); i++) ideal += 1 / Math.log2(i + 2);
  return dcg / ideal;
}

export interface RankingMetrics {
  recall: number;
  ndcg: number;
  /** Users evaluated: those with at least one held-out item. */
  users: number;
}

/**
 * Mean recall@k and NDCG@k of `recommend(user, exclude, k)` over the users with held-out items;
 * `exclude` is the user's training items.
 */
export function evaluateRanking(recommend: (user: number, exclude: Int32Array, k: number) => number[], split: Split, k: number): RankingMetrics {
  let recall = 0;
  let ndcg = 0;
  let users = 0;
  for (let user = 0; user < split.test.rows; user++) {
    const relevant = new Set(rowIndices(split.test, user));
    if (relevant.size === 0) continue;
    const ranked = recommend(user, rowIndices(split.train, user), k);
    recall += recallAtK(ranked, relevant, k);
    ndcg += ndcgAtK(ranked, relevant, k);
    users++;
  }
  return { recall: users ? recall / users : 0, ndcg: users ? ndcg / users : 0, users };
}
