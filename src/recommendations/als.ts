// Implicit-feedback matrix factorisation (Hu, Koren & Volinsky, "Collaborative Filtering for Implicit
// Feedback Datasets", ICDM 2008). Every observed (user, item) pair has preference 1 and confidence
// c ≥ 1 that grows with its weight (plays); every unobserved pair has preference 0 and confidence 1.
// Alternating least squares fixes the item factors Y and solves each user's row
//     (YᵀY + Yᵀ(Cᵤ − I)Y + λI) xᵤ = Yᵀ Cᵤ pᵤ,
// then the other way round. YᵀY is shared by all rows, so each row costs only its own items.
// Rather than an exact solve per row, a few conjugate-gradient steps start from the row's previous
// value (Takács, Pilászy & Tikk 2011, as the `implicit` library does): the solves need not be
// exact because the other side moves at the next half-iteration anyway.
// Rendle et al. ("Revisiting the Performance of iALS on Item Recommendation Benchmarks", RecSys
// 2022) regularise each row in proportion to its frequency: here row r's λ is λ·Tᵣ^ν, with Tᵣ the
// sum of the row's confidences over every column (unobserved ones count 1), which is their
// (|Iᵤ| + α₀|I|)^ν up to a constant factor when c = 1 + 1/α₀. ν = 0 is one λ for every row.
import { RecommendationError, requireFinite, requireInteger } from './errors.js';
import { seededRandom } from '../shared/random.js';
import { mapValues, transpose, type CsrMatrix } from './sparse.js';
import { bm25Weights } from './weighting.js';

/** How a weight w becomes a confidence: 1 + α·log(1 + w/ε), 1 + α·w, or 1 + α·BM25(w) (weighting.ts). */
export type ConfidenceScaling = 'log' | 'linear' | 'bm25';

export interface AlsOptions {
  /** Latent factors per user and item. */
  factors?: number;
  iterations?: number;
  /** λ of the L2 penalty on every user and item vector. */
  regularization?: number;
  /** α of the confidence. */
  alpha?: number;
  confidence?: ConfidenceScaling;
  /** ε of the log confidence: the weight at which confidence starts to grow quickly. */
  epsilon?: number;
  /** K1 and B of the BM25 confidence. */
  bm25K1?: number;
  bm25B?: number;
  /** ν: each row's λ is λ·(its total confidence)^ν (Rendle et al. 2021); 0 gives every row λ. */
  frequencyScaling?: number;
  /** Conjugate-gradient steps per row and half-iteration. */
  cgSteps?: number;
  /** Seed of the initial factors: the same seed and data give the same model, bit for bit. */
  seed?: number;
  /** Called after each iteration (users, then items, updated). */
  onIteration?: (progress: AlsProgress) => void;
}

export interface AlsProgress {
  iteration: number;
  iterations: number;
  /** Wall time of this iteration. */
  milliseconds: number;
  /** The weighted squared error plus penalty, divided by the total confidence: falls as it converges. */
  loss: number;
}

export interface AlsModel {
  readonly factors: number;
  readonly users: number;
  readonly items: number;
  /** users × factors, row-major. */
  readonly userFactors: Float32Array;
  /** items × factors, row-major. */
  readonly itemFactors: Float32Array;
}

type ResolvedOptions = Required<Omit<AlsOptions, 'onIteration'>> & Pick<AlsOptions, 'onIteration'>;

/** Chosen on a validation split of Last.fm HetRec 2k (bench/eval-recs.ts, bench/RESULTS.md). */
export const ALS_DEFAULTS: Readonly<Required<Omit<AlsOptions, 'onIteration'>>> = {
  factors: 64,
  iterations: 15,
  regularization: 100,
  alpha: 4,
  confidence: 'log',
  epsilon: 1,
  bm25K1: 100,
  bm25B: 0.8,
  frequencyScaling: 0,
  cgSteps: 3,
  seed: 42,
};

function resolve(options: AlsOptions): ResolvedOptions {
  const o: ResolvedOptions = { ...ALS_DEFAULTS, ...options };
  requireInteger('factors', o.factors, 1, 1024);
  requireInteger('iterations', o.iterations, 0, 10_000);
  requireInteger('cgSteps', o.cgSteps, 1, 1024);
  requireFinite('regularization', o.regularization, 0);
  requireFinite('alpha', o.alpha, 0);
  requireFinite('epsilon', o.epsilon, Number.MIN_VALUE);
  requireFinite('bm25K1', o.bm25K1, 0);
  requireFinite('bm25B', o.bm25B, 0, 1);
  requireFinite('frequencyScaling', o.frequencyScaling, 0, 4);
  if (!['log', 'linear', 'bm25'].includes(o.confidence)) throw new RecommendationError(`confidence must be 'log', 'linear' or 'bm25', got ${String(o.confidence)}`);
  return o;
}

/** The confidence matrix Cᵤᵢ for a matrix of weights, with the options' scaling. */
export function confidenceMatrix(weights: CsrMatrix, options: AlsOptions = {}): CsrMatrix {
  const { confidence, alpha, epsilon, bm25K1, bm25B } = resolve(options);
  if (confidence === 'log') return mapValues(weights, (w) => 1 + alpha * Math.log1p(w / epsilon));
  if (confidence === 'bm25') return mapValues(bm25Weights(weights, { k1: bm25K1, b: bm25B }), (w) => 1 + alpha * w);
  return mapValues(weights, (w) => 1 + alpha * w);
}

/** Each row's λ: λ·Tᵣ^ν with Tᵣ = (columns) + Σ of the row's (c − 1); null when ν = 0 (one λ). */
export function rowRegularization(confidence: CsrMatrix, regularization: number, nu: number): Float64Array | null {
  if (nu === 0) return null;
  const out = new Float64Array(confidence.rows);
  for (let r = 0; r < confidence.rows; r++) {
    let total = confidence.cols;
    for (let k = confidence.indptr[r]!; k < confidence.indptr[r + 1]!; k++) total += confidence.data[k]! - 1;
    out[r] = regularization * total ** nu;
  }
  return out;
}

/** Trains on a users × items matrix of non-negative weights (e.g. plays), as built by csrFromTriples. */
export function trainAls(weights: CsrMatrix, options: AlsOptions = {}): AlsModel {
  const o = resolve(options);
  const userItems = confidenceMatrix(weights, o);
  const itemUsers = transpose(userItems);
  const model = initialModel(weights.rows, weights.cols, o.factors, o.seed);
  const userRegularization = rowRegularization(userItems, o.regularization, o.frequencyScaling);
  const itemRegularization = rowRegularization(itemUsers, o.regularization, o.frequencyScaling);
  const solver = new RowSolver(o.factors);
  for (let iteration = 1; iteration <= o.iterations; iteration++) {
    const started = performance.now();
    solver.solveAll(userItems, model.userFactors, model.itemFactors, o, userRegularization);
    solver.solveAll(itemUsers, model.itemFactors, model.userFactors, o, itemRegularization);
    const milliseconds = performance.now() - started;
    o.onIteration?.({ iteration, iterations: o.iterations, milliseconds, loss: loss(userItems, model, o.regularization, userRegularization, itemRegularization) });
  }
  return model;
}

/** Small random factors (uniform in [0, 0.01)), as `implicit` starts: near zero, not symmetric. */
function initialModel(users: number, items: number, factors: number, seed: number): AlsModel {
  const random = seededRandom(seed);
  const fill = (n: number) => Float32Array.from({ length: n * factors }, () => random() * 0.01);
  return { factors, users, items, userFactors: fill(users), itemFactors: fill(items) };
}

/** YᵀY + λI for the fixed side Y (rows × f, row-major), as a dense f × f matrix. */
export function gram(fixed: Float32Array, factors: number, regularization: number): Float64Array {
  const g = new Float64Array(factors * factors);
  for (let offset = 0; offset < fixed.length; offset += factors) {
    for (let a = 0; a < factors; a++) {
      const ya = fixed[offset + a]!;
      for (let b = a; b < factors; b++) g[a * factors + b]! += ya * fixed[offset + b]!;
    }
  }
  for (let a = 0; a < factors; a++) {
    for (let b = 0; b < a; b++) g[a * factors + b] = g[b * factors + a]!;
    g[a * factors + a]! += regularization;
  }
  return g;
}

/** Scratch vectors for one row's conjugate-gradient solve, allocated once per training. */
class RowSolver {
  private readonly x: Float64Array;
  private readonly r: Float64Array;
  private readonly p: Float64Array;
  private readonly ap: Float64Array;
  /** λ of the row being solved beyond the one already on the Gram matrix's diagonal. */
  private rowPenalty = 0;

  constructor(private readonly factors: number) {
    this.x = new Float64Array(factors);
    this.r = new Float64Array(factors);
    this.p = new Float64Array(factors);
    this.ap = new Float64Array(factors);
  }

  /** Updates every row of `solved` (one per row of `confidence`) with `fixed` held still. */
  solveAll(confidence: CsrMatrix, solved: Float32Array, fixed: Float32Array, o: ResolvedOptions, perRow: Float64Array | null = null): void {
    const yty = gram(fixed, this.factors, perRow ? 0 : o.regularization);
    for (let row = 0; row < confidence.rows; row++) {
      this.rowPenalty = perRow ? perRow[row]! : 0;
      this.solveRow(confidence, row, solved, fixed, yty, o.cgSteps);
    }
  }

  private solveRow(confidence: CsrMatrix, row: number, solved: Float32Array, fixed: Float32Array, yty: Float64Array, steps: number): void {
    const { x, r, p, ap, factors } = this;
    const offset = row * factors;
    for (let f = 0; f < factors; f++) x[f] = solved[offset + f]!;
    this.residual(confidence, row, fixed, yty);
    p.set(r);
    let rsOld = dot(r, r);
    for (let step = 0; step < steps && rsOld > 1e-20; step++) {
      this.multiply(confidence, row, fixed, yty, p, ap);
      const a = rsOld / dot(p, ap);
      for (let f = 0; f < factors; f++) {
        x[f]! += a * p[f]!;
        r[f]! -= a * ap[f]!;
      }
      const rsNew = dot(r, r);
      for (let f = 0; f < factors; f++) p[f] = r[f]! + (rsNew / rsOld) * p[f]!;
      rsOld = rsNew;
    }
    for (let f = 0; f < factors; f++) solved[offset + f] = x[f]!;
  }

  /** r = b − A·x, with b = Σᵢ cᵢ yᵢ and A = YᵀY + λI + Σᵢ (cᵢ − 1) yᵢ yᵢᵀ over the row's items i. */
  private residual(confidence: CsrMatrix, row: number, fixed: Float32Array, yty: Float64Array): void {
    const { x, r, factors } = this;
    symmetricProduct(yty, x, r, factors);
    if (this.rowPenalty !== 0) for (let f = 0; f < factors; f++) r[f]! += this.rowPenalty * x[f]!;
    for (let f = 0; f < factors; f++) r[f] = -r[f]!;
    for (let k = confidence.indptr[row]!; k < confidence.indptr[row + 1]!; k++) {
      const c = confidence.data[k]!;
      const yOffset = confidence.indices[k]! * factors;
      const weight = c - (c - 1) * dotAt(fixed, yOffset, x);
      for (let f = 0; f < factors; f++) r[f]! += weight * fixed[yOffset + f]!;
    }
  }

  /** out = A·v for the row's A (see `residual`). */
  private multiply(confidence: CsrMatrix, row: number, fixed: Float32Array, yty: Float64Array, v: Float64Array, out: Float64Array): void {
    const factors = this.factors;
    symmetricProduct(yty, v, out, factors);
    if (this.rowPenalty !== 0) for (let f = 0; f < factors; f++) out[f]! += this.rowPenalty * v[f]!;
    for (let k = confidence.indptr[row]!; k < confidence.indptr[row + 1]!; k++) {
      const yOffset = confidence.indices[k]! * factors;
      const weight = (confidence.data[k]! - 1) * dotAt(fixed, yOffset, v);
      for (let f = 0; f < factors; f++) out[f]! += weight * fixed[yOffset + f]!;
    }
  }
}

function symmetricProduct(matrix: Float64Array, v: Float64Array, out: Float64Array, n: number): void {
  for (let a = 0; a < n; a++) {
    let sum = 0;
    for (let b = 0; b < n; b++) sum += matrix[a * n + b]! * v[b]!;
    out[a] = sum;
  }
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let f = 0; f < a.length; f++) sum += a[f]! * b[f]!;
  return sum;
}

function dotAt(matrix: Float32Array, offset: number, v: Float64Array): number {
  let sum = 0;
  for (let f = 0; f < v.length; f++) sum += matrix[offset + f]! * v[f]!;
  return sum;
}

/**
 * Σᵤᵢ cᵤᵢ (pᵤᵢ − xᵤ·yᵢ)² + λ(‖X‖² + ‖Y‖²), divided by Σᵤᵢ cᵤᵢ. The sum over all pairs is split as
 * Σᵤ xᵤᵀ(YᵀY)xᵤ plus a correction over the observed pairs, so it costs no more than one half-iteration.
 * With per-row λs (users', items'), each row's squared norm is weighted by its own λ instead.
 */
export function loss(userItems: CsrMatrix, model: AlsModel, regularization: number, userPenalty: Float64Array | null = null, itemPenalty: Float64Array | null = null): number {
  const { factors, userFactors, itemFactors } = model;
  const yty = gram(itemFactors, factors, 0);
  const x = new Float64Array(factors);
  const ytyx = new Float64Array(factors);
  let total = 0;
  let totalConfidence = userItems.rows * userItems.cols;
  for (let u = 0; u < userItems.rows; u++) {
    for (let f = 0; f < factors; f++) x[f] = userFactors[u * factors + f]!;
    symmetricProduct(yty, x, ytyx, factors);
    total += dot(x, ytyx);
    for (let k = userItems.indptr[u]!; k < userItems.indptr[u + 1]!; k++) {
      const c = userItems.data[k]!;
      const score = dotAt(itemFactors, userItems.indices[k]! * factors, x);
      total += (c - 1) * score * score - 2 * c * score + c;
      totalConfidence += c - 1;
    }
  }
  total += penalty(userFactors, factors, regularization, userPenalty) + penalty(itemFactors, factors, regularization, itemPenalty);
  return total / totalConfidence;
}

/** Σ over rows of λᵣ‖row‖² (λᵣ = λ for every row when perRow is null). */
function penalty(values: Float32Array, factors: number, regularization: number, perRow: Float64Array | null): number {
  let sum = 0;
  if (!perRow) {
    for (const v of values) sum += v * v;
    return regularization * sum;
  }
  for (let k = 0; k < values.length; k++) sum += perRow[Math.floor(k / factors)]! * values[k]! * values[k]!;
  return sum;
}
