// Re-weighting play counts before a model sees them. BM25 (Robertson's ranking function, as the
// `implicit` library's Last.fm example applies it with K1 = 100, B = 0.8) reads the item × user
// matrix as documents (items) made of terms (users): a play count saturates at about K1 + 1 (one
// listener with 300,000 plays cannot outweigh many ordinary ones), heavily played items are
// normalised by their total plays (B), and a user who listens to few items counts more than one who
// listens to everything (IDF). The result keeps the users × items shape of its input.
import { requireFinite } from './errors.js';
import type { CsrMatrix } from './sparse.js';

export interface Bm25Options {
  /** Saturation: a count well above K1 × the length norm adds little more. */
  k1: number;
  /** Length normalisation by the item's total plays: 0 none, 1 full. */
  b: number;
}

/**
 * BM25 weights of a users × items matrix of counts, with items as documents: for user u and item i,
 *     w·(K1 + 1) / (K1·((1 − B) + B·Lᵢ/L̄) + w) · (log N − log(1 + nᵤ)),
 * with Lᵢ item i's total count, L̄ its mean over the items that have any, N the number of items (the
 * matrix's columns) and nᵤ the number of items user u has. The IDF is floored at 0 (a user who has
 * nearly every item).
 */
export function bm25Weights(matrix: CsrMatrix, { k1, b }: Bm25Options): CsrMatrix {
  requireFinite('k1', k1, 0);
  requireFinite('b', b, 0, 1);
  const itemTotals = new Float64Array(matrix.cols);
  for (let k = 0; k < matrix.indices.length; k++) itemTotals[matrix.indices[k]!]! += matrix.data[k]!;
  let items = 0;
  let total = 0;
  for (const t of itemTotals) {
    if (t > 0) {
      items++;
      total += t;
    }
  }
  const meanLength = items > 0 ? total / items : 1;
  const data = new Float32Array(matrix.data.length);
  for (let u = 0; u < matrix.rows; u++) {
    const start = matrix.indptr[u]!;
    const end = matrix.indptr[u + 1]!;
    const idf = Math.max(0, Math.log(matrix.cols) - Math.log1p(end - start));
    for (let k = start; k < end; k++) {
      const w = matrix.data[k]!;
      const norm = 1 - b + (b * itemTotals[matrix.indices[k]!]!) / meanLength;
      data[k] = w === 0 ? 0 : ((w * (k1 + 1)) / (k1 * norm + w)) * idf;
    }
  }
  return { ...matrix, data };
}
