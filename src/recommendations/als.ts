// Implicit-feedback matrix factorisation (Hu, Koren & Volinsky, "Collaborative Filtering for Implicit
// Feedback Datasets", ICDM 2008). Every observed (user, item) pair has preference 1 and confidence
// c ≥ 1 that grows with its weight (plays); every unobserved pair has preference 0 and confidence 1.
// Alternating least squares fixes the item factors Y and solves each user's row
//     (YᵀY + Yᵀ(Cᵤ − I)Y + λI) xᵤ = Yᵀ Cᵤ pᵤ,
// then the other way round. YᵀY is shared by all rows, so each row costs only its own items.
// Rather than an exact solve per row, a few conjugate-gradient steps start from the row's previous
// value (Takács, Pilászy & Tikk 2011, as the `implicit` library does): the solves need not be
// exact because the other side moves at the next half-iteration anyway.
import { RecommendationError, requireFinite, requireInteger } from './errors.js';
import { seededRandom } from '../shared/random.js';
import { mapValues, transpose, type CsrMatrix } from './sparse.js';

/** How a weight w becomes a confidence: 1 + α·log(1 + w/ε), or 1 + α·w. */
export type ConfidenceScaling = 'log' | 'linear';

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
  if (o.confidence !== 'log' && o.confidence !== 'linear') throw new RecommendationError(`confidence must be 'log' or 'linear', got ${String(o.confidence)}`);
  return o;
}

/** The confidence matrix Cᵤᵢ for a matrix of weights, with the options' scaling. */
export function confidenceMatrix(weights: CsrMatrix, options: AlsOptions = {}): CsrMatrix {
  const { confidence, alpha, epsilon } = resolve(options);
  return confidence === 'log' ? mapValues(weights, (w) => 1 + alpha * Math.log1p(w / epsilon)) : mapValues(weights, (w) => 1 + alpha * w);
}

/** Trains on a users × items matrix of non-negative weights (e.g. plays), as built by csrFromTriples. */
export function trainAls(weights: CsrMatrix, options: AlsOptions = {}): AlsModel {
  const o = resolve(options);
  const userItems = confidenceMatrix(weights, o);
  const itemUsers = transpose(userItems);
  const model = initialModel(weights.rows, weights.cols, o.factors, o.seed);
  const solver = new RowSolver(o.factors);
  for (let iteration = 1; iteration <= o.iterations; iteration++) {
    const started = performance.now();
    solver.solveAll(userItems, model.userFactors, model.itemFactors, o);
    solver.solveAll(itemUsers, model.itemFactors, model.userFactors, o);
    const milliseconds = performance.now() - started;
    o.onIteration?.({ iteration, iterations: o.iterations, milliseconds, loss: loss(userItems, model, o.regularization) });
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

  constructor(private readonly factors: number) {
    this.x = new Float64Array(factors);
    this.r = new Float64Array(factors);
    this.p = new Float64Array(factors);
    this.ap = new Float64Array(factors);
  }

  /** Updates every row of `solved` (one per row of `confidence`) with `fixed` held still. */
  solveAll(confidence: CsrMatrix, solved: Float32Array, fixed: Float32Array, o: ResolvedOptions): void {
    const yty = gram(fixed, this.factors, o.regularization);
    for (let row = 0; row < confidence.rows; row++) this.solveRow(confidence, row, solved, fixed, yty, o.cgSteps);
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
 */
export function loss(userItems: CsrMatrix, model: AlsModel, regularization: number): number {
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
  total += regularization * (squaredNorm(userFactors) + squaredNorm(itemFactors));
  return total / totalConfidence;
}

function squaredNorm(values: Float32Array): number {
  let sum = 0;
  for (const v of values) sum += v * v;
  return sum;
}
