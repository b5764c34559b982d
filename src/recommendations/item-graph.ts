// Two item × item neighbourhood models, kept as the top `neighbours` weights of each item's row (a
// CSR matrix), so they cover every item at a cost of Σᵤ (items per user)²:
// - item-kNN: cosine of the item columns of X with shrinkage h, sim(i, j) = xᵢ·xⱼ / (‖xᵢ‖‖xⱼ‖ + h);
// - RP3beta (Paudel et al., "Updatable, accurate, diverse and scalable recommendations for
//   interactive applications", TiiS 2017): a two-step random walk item → user → item with the
//   transition probabilities raised to α, divided by the target's popularity^β.
// A user's scores are x·W over their binary row x.
import { requireFinite, requireInteger } from './errors.js';
import { transpose, type CsrMatrix } from './sparse.js';

export interface KnnOptions {
  neighbours?: number;
  /** h: shrinks similarities resting on few common users. */
  shrink?: number;
}

export interface Rp3Options {
  neighbours?: number;
  alpha?: number;
  beta?: number;
}

export const KNN_DEFAULTS: Readonly<Required<KnnOptions>> = { neighbours: 100, shrink: 10 };
export const RP3_DEFAULTS: Readonly<Required<Rp3Options>> = { neighbours: 100, alpha: 1, beta: 0.5 };

/** Item-kNN, cosine with shrinkage, on binary X. */
export function trainItemKnn(matrix: CsrMatrix, options: KnnOptions = {}): CsrMatrix {
  const { neighbours, shrink } = { ...KNN_DEFAULTS, ...options };
  requireFinite('shrink', shrink, 0);
  const byItem = transpose(matrix);
  const norm = Float64Array.from({ length: matrix.cols }, (_, i) => Math.sqrt(byItem.indptr[i + 1]! - byItem.indptr[i]!));
  return neighbourhood(matrix, byItem, neighbours, () => 1, () => 1, (i, j, common) => common / (norm[i]! * norm[j]! + shrink));
}

/** RP3beta on binary X. */
export function trainRp3Beta(matrix: CsrMatrix, options: Rp3Options = {}): CsrMatrix {
  const { neighbours, alpha, beta } = { ...RP3_DEFAULTS, ...options };
  requireFinite('alpha', alpha, 0);
  requireFinite('beta', beta, 0);
  const byItem = transpose(matrix);
  const itemDegree = (i: number) => byItem.indptr[i + 1]! - byItem.indptr[i]!;
  const userDegree = (u: number) => matrix.indptr[u + 1]! - matrix.indptr[u]!;
  const penalty = Float64Array.from({ length: matrix.cols }, (_, j) => (itemDegree(j) > 0 ? itemDegree(j) ** beta : 1));
  return neighbourhood(
    matrix,
    byItem,
    neighbours,
    (i) => (1 / itemDegree(i)) ** alpha,
    (u) => (1 / userDegree(u)) ** alpha,
    (_i, j, walk) => walk / penalty[j]!,
  );
}

/**
 * For each item i: acc[j] = Σ_{u ∋ i, j} from(i)·through(u), then weight(i, j, acc[j]); the best
 * `neighbours` j ≠ i with a positive weight are kept, by column.
 */
function neighbourhood(
  matrix: CsrMatrix,
  byItem: CsrMatrix,
  neighbours: number,
  from: (item: number) => number,
  through: (user: number) => number,
  weight: (i: number, j: number, accumulated: number) => number,
): CsrMatrix {
  requireInteger('neighbours', neighbours, 1);
  const n = matrix.cols;
  const acc = new Float64Array(n);
  const touched = new Int32Array(n);
  const step = Float64Array.from({ length: matrix.rows }, (_, u) => (matrix.indptr[u + 1]! > matrix.indptr[u]! ? through(u) : 0));
  const indptr = new Int32Array(n + 1);
  const indices: number[] = [];
  const data: number[] = [];
  const candidates: { j: number; w: number }[] = [];
  for (let i = 0; i < n; i++) {
    let count = 0;
    const a = byItem.indptr[i + 1]! > byItem.indptr[i]! ? from(i) : 0;
    for (let k = byItem.indptr[i]!; k < byItem.indptr[i + 1]!; k++) {
      const u = byItem.indices[k]!;
      const s = a * step[u]!;
      for (let q = matrix.indptr[u]!; q < matrix.indptr[u + 1]!; q++) {
        const j = matrix.indices[q]!;
        if (acc[j] === 0) touched[count++] = j;
        acc[j]! += s;
      }
    }
    candidates.length = 0;
    for (let t = 0; t < count; t++) {
      const j = touched[t]!;
      if (j !== i) {
        const w = weight(i, j, acc[j]!);
        if (w > 0) candidates.push({ j, w });
      }
      acc[j] = 0;
    }
    candidates.sort((x, y) => y.w - x.w || x.j - y.j);
    const kept = candidates.slice(0, neighbours).sort((x, y) => x.j - y.j);
    for (const { j, w } of kept) {
      indices.push(j);
      data.push(w);
    }
    indptr[i + 1] = indices.length;
  }
  return { rows: n, cols: n, indptr, indices: Int32Array.from(indices), data: Float32Array.from(data) };
}

/** x·W for a user holding `items` (binary x): every item's score. */
export function neighbourScores(weights: CsrMatrix, items: ArrayLike<number>, out = new Float32Array(weights.cols)): Float32Array {
  out.fill(0);
  for (let k = 0; k < items.length; k++) {
    const i = items[k]!;
    for (let q = weights.indptr[i]!; q < weights.indptr[i + 1]!; q++) out[weights.indices[q]!]! += weights.data[q]!;
  }
  return out;
}
