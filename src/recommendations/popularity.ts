// The baseline every model must beat, and the fallback for users the model does not know: items
// ranked by how many users have them.
import type { CsrMatrix } from './sparse.js';
import { topKByScore, type ScoredItem } from './topk.js';

/** Number of users per item (not the sum of weights: one heavy listener does not make a hit). */
export function popularity(userItems: CsrMatrix): Float64Array {
  const counts = new Float64Array(userItems.cols);
  for (const item of userItems.indices) counts[item]!++;
  return counts;
}

/** The k most popular items not in `exclude`. */
export function topPopular(counts: Float64Array, exclude: Iterable<number>, k: number): ScoredItem[] {
  return topKByScore(counts.length, (item) => counts[item]!, exclude, k);
}
