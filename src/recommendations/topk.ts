// Top-k scoring: the k best items for one user, leaving out the ones to exclude (usually what the
// user already has). A bounded min-heap keeps it O(items · log k) with no full sort.
import { RecommendationError, requireInteger } from './errors.js';

export interface ScoredItem {
  item: number;
  score: number;
}

/**
 * The k highest of `score(item)` over items 0..count-1 not in `exclude`, best first; equal scores
 * rank the lower item id first, so the answer does not depend on the heap's internals.
 */
export function topKByScore(count: number, score: (item: number) => number, exclude: Iterable<number>, k: number): ScoredItem[] {
  requireInteger('k', k, 0);
  const excluded = new Set(exclude);
  const heap = new BoundedHeap(k);
  for (let item = 0; item < count; item++) {
    if (!excluded.has(item)) heap.offer(item, score(item));
  }
  return heap.sorted();
}

/**
 * The k best items for a user: scores are `userVector · itemMatrix[item]`, where itemMatrix holds one
 * row of userVector.length factors per item (row-major).
 */
export function topK(userVector: ArrayLike<number>, itemMatrix: ArrayLike<number>, exclude: Iterable<number>, k: number): ScoredItem[] {
  const factors = userVector.length;
  if (factors === 0 || itemMatrix.length % factors !== 0) {
    throw new RecommendationError(`item matrix of ${itemMatrix.length} values is not a whole number of ${factors}-factor rows`);
  }
  const user = Float64Array.from(userVector);
  return topKByScore(itemMatrix.length / factors, (item) => dotRow(user, itemMatrix, item * factors), exclude, k);
}

function dotRow(user: Float64Array, matrix: ArrayLike<number>, offset: number): number {
  let sum = 0;
  for (let f = 0; f < user.length; f++) sum += user[f]! * matrix[offset + f]!;
  return sum;
}

/** Keeps the k best (item, score) pairs seen; the root is the worst of them. */
class BoundedHeap {
  private readonly items: number[] = [];
  private readonly scores: number[] = [];

  constructor(private readonly capacity: number) {}

  offer(item: number, score: number): void {
    if (Number.isNaN(score)) throw new RecommendationError(`item ${item} scored NaN`);
    if (this.items.length < this.capacity) {
      this.items.push(item);
      this.scores.push(score);
      this.siftUp(this.items.length - 1);
    } else if (this.capacity > 0 && this.worse(0, item, score)) {
      this.items[0] = item;
      this.scores[0] = score;
      this.siftDown(0);
    }
  }

  sorted(): ScoredItem[] {
    return this.items.map((item, i) => ({ item, score: this.scores[i]! })).sort((a, b) => b.score - a.score || a.item - b.item);
  }

  /** Whether the entry at `at` ranks below (item, score). */
  private worse(at: number, item: number, score: number): boolean {
    const s = this.scores[at]!;
    return s < score || (s === score && this.items[at]! > item);
  }

  private siftUp(at: number): void {
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.worse(at, this.items[parent]!, this.scores[parent]!)) return;
      this.swap(at, parent);
      at = parent;
    }
  }

  private siftDown(at: number): void {
    for (;;) {
      let worst = at;
      for (const child of [2 * at + 1, 2 * at + 2]) {
        if (child < this.items.length && this.worse(child, this.items[worst]!, this.scores[worst]!)) worst = child;
      }
      if (worst === at) return;
      this.swap(at, worst);
      at = worst;
    }
  }

  private swap(a: number, b: number): void {
    [this.items[a], this.items[b]] = [this.items[b]!, this.items[a]!];
    [this.scores[a], this.scores[b]] = [this.scores[b]!, this.scores[a]!];
  }
}
