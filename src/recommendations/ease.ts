// EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): an item × item
// weight matrix B in closed form. With G = XᵀX + λI over the items and P = G⁻¹,
//     B[i][j] = −P[i][j] / P[j][j]   (i ≠ j),   B[j][j] = 0,
// and a user's scores are x·B. The Gram matrix is dense, so it is restricted to the items that at
// least `minUsers` users have (rarer items can be neither learned nor usefully recommended); the
// inverse is linalg.ts's Cholesky on Float64Array. Scoring is a user-vector × item-matrix product,
// which is exactly the ONNX scorer's Gemm (onnx-model.ts) with the m restricted items as "factors".
import { RecommendationError, requireFinite, requireInteger } from './errors.js';
import { invertSpd } from './linalg.js';
import type { CsrMatrix } from './sparse.js';

/** How a stored weight (plays, decayed signal) enters X: 1, or log(1 + w). */
export type ItemWeighting = 'binary' | 'log';

export interface EaseOptions {
  /** λ added to the Gram matrix's diagonal. */
  regularization?: number;
  /**
   * ρ: each item's diagonal also gets ρ·Gᵢᵢ (its own popularity), so popular items are regularised
   * more, as dropout-denoising does (Steck, "Autoencoders that don't overfit towards the identity",
   * NeurIPS 2020, where ρ = p/(1 − p)). 0 (the default) is plain EASE.
   */
  popularityRegularization?: number;
  /**
   * β: column j of B is divided by (users of j)^β, so every item's score is damped by its
   * popularity. Folded into the weights, so scoring and the ONNX export are unchanged. 0 (the
   * default) is plain EASE.
   */
  popularityExponent?: number;
  /** Items with fewer users than this are left out of the model. */
  minUsers?: number;
  weighting?: ItemWeighting;
}

export interface EaseModel {
  /** Global item index of each model item (ascending). */
  readonly items: Int32Array;
  /** Model item of each global item, −1 when left out. */
  readonly local: Int32Array;
  /** m × m, row-major: row i is what having item i adds to every model item's score. */
  readonly weights: Float32Array;
  readonly weighting: ItemWeighting;
  /** Milliseconds: building G, inverting it. */
  readonly timings: { gramMs: number; inverseMs: number };
}

export const EASE_DEFAULTS: Readonly<Required<EaseOptions>> = { regularization: 500, popularityRegularization: 0, popularityExponent: 0, minUsers: 3, weighting: 'binary' };

export function itemWeight(weighting: ItemWeighting, value: number): number {
  return weighting === 'binary' ? 1 : Math.log1p(value);
}

/** Trains EASE on a users × items matrix. */
export function trainEase(matrix: CsrMatrix, options: EaseOptions = {}): EaseModel {
  const { regularization, popularityRegularization, popularityExponent, minUsers, weighting } = { ...EASE_DEFAULTS, ...options };
  requireFinite('regularization', regularization, Number.MIN_VALUE);
  requireFinite('popularityRegularization', popularityRegularization, 0);
  requireFinite('popularityExponent', popularityExponent, 0);
  requireInteger('minUsers', minUsers, 1);
  const users = new Int32Array(matrix.cols);
  for (const col of matrix.indices) users[col]!++;
  const items = Int32Array.from(users.keys()).filter((item) => users[item]! >= minUsers);
  const m = items.length;
  if (m === 0) throw new RecommendationError(`no item has ${minUsers} or more users`);
  const local = new Int32Array(matrix.cols).fill(-1);
  items.forEach((item, i) => (local[item] = i));

  const started = performance.now();
  const gram = new Float64Array(m * m);
  const rowItems = new Int32Array(matrix.cols);
  const rowValues = new Float64Array(matrix.cols);
  for (let user = 0; user < matrix.rows; user++) {
    let count = 0;
    for (let k = matrix.indptr[user]!; k < matrix.indptr[user + 1]!; k++) {
      const at = local[matrix.indices[k]!]!;
      if (at < 0) continue;
      rowItems[count] = at;
      rowValues[count++] = itemWeight(weighting, matrix.data[k]!);
    }
    // Lower triangle only: invertSpd reads no more.
    for (let p = 0; p < count; p++) {
      const row = rowItems[p]! * m;
      const v = rowValues[p]!;
      for (let q = 0; q < count; q++) if (rowItems[q]! <= rowItems[p]!) gram[row + rowItems[q]!]! += v * rowValues[q]!;
    }
  }
  for (let i = 0; i < m; i++) gram[i * m + i]! += regularization + popularityRegularization * gram[i * m + i]!;
  const gramMs = performance.now() - started;

  const inverseStarted = performance.now();
  const p = invertSpd(gram, m);
  const inverseMs = performance.now() - inverseStarted;
  // B[i][j] = −P[i][j] / P[j][j], times the popularity damping of column j.
  const columnScale = Float64Array.from(items, (item, j) => 1 / p[j * m + j]! / users[item]! ** popularityExponent);
  const weights = new Float32Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) if (i !== j) weights[i * m + j] = -p[i * m + j]! * columnScale[j]!;
  }
  return { items, local, weights, weighting, timings: { gramMs, inverseMs } };
}

/**
 * Scores of every global item for a user holding `items` with `values` (their stored weights);
 * items outside the model score 0.
 */
export function easeScores(model: EaseModel, items: ArrayLike<number>, values: ArrayLike<number>, out = new Float32Array(model.local.length)): Float32Array {
  out.fill(0);
  const m = model.items.length;
  const local = new Float64Array(m);
  for (let k = 0; k < items.length; k++) {
    const at = model.local[items[k]!]!;
    if (at < 0) continue;
    const v = itemWeight(model.weighting, values[k]!);
    const row = at * m;
    for (let j = 0; j < m; j++) local[j]! += v * model.weights[row + j]!;
  }
  for (let j = 0; j < m; j++) out[model.items[j]!] = local[j]!;
  return out;
}

/**
 * The weights as the ONNX scorer's item matrix: row j (a model item) holds column j of B, so that
 * Gemm(x, itemsᵀ) = x·B with x the user's m-vector (see userVector).
 */
export function easeItemMatrix(model: EaseModel): Float32Array {
  const m = model.items.length;
  const out = new Float32Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) out[j * m + i] = model.weights[i * m + j]!;
  return out;
}

/** A user's row of X over the model items: the scorer's input. */
export function easeUserVector(model: EaseModel, items: ArrayLike<number>, values: ArrayLike<number>): Float32Array {
  const x = new Float32Array(model.items.length);
  for (let k = 0; k < items.length; k++) {
    const at = model.local[items[k]!]!;
    if (at >= 0) x[at] = itemWeight(model.weighting, values[k]!);
  }
  return x;
}
