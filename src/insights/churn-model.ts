// Churn prediction, the model: a logistic regression scores the features, and the per-feature
// contributions are the "reasons" shown next to an at-risk user. No numerics dependency.
//
// Logistic regression is fitted by Newton's method (IRLS) with backtracking on standardized
// features: a dozen parameters, a strictly convex objective once L2 > 0, and a handful of
// iterations, so the fit is exact and deterministic with no learning rate to tune.
import { z } from 'zod';
import { FEATURE_NAMES } from './churn-features.js';
import { InsightsError, requireFinite, requireInteger } from './errors.js';

export interface FitOptions {
  /** L2 penalty on the standardized coefficients (not the intercept), added to the summed log loss. Default 1. */
  l2?: number;
  /** Newton iterations at most; the fit stops earlier once a step moves no parameter by more than 1e-9. Default 100. */
  maxIterations?: number;
  /** Names of the columns of x; default FEATURE_NAMES. */
  featureNames?: readonly string[];
}

export interface FeatureContribution {
  feature: string;
  /** The raw feature value. */
  value: number;
  /** Coefficient × standardized value: its share of the logit, relative to an average user. */
  contribution: number;
}

const ModelSchema = z.object({
  version: z.literal(1),
  features: z.array(z.string()).min(1),
  mean: z.array(z.number()),
  std: z.array(z.number().positive()),
  weights: z.array(z.number()),
  intercept: z.number(),
  l2: z.number().nonnegative(),
  iterations: z.number().int().nonnegative(),
  converged: z.boolean(),
});

export type LogisticRegressionJSON = z.infer<typeof ModelSchema>;

export function sigmoid(t: number): number {
  return t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t));
}

/** ln(1 + e^t) without overflow. */
function softplus(t: number): number {
  return t > 0 ? t + Math.log1p(Math.exp(-t)) : Math.log1p(Math.exp(t));
}

/** Solves A v = b for symmetric positive definite A (row-major, n×n) by Cholesky; null if not PD. */
function choleskySolve(a: Float64Array, b: Float64Array, n: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * n + j]!;
      for (let k = 0; k < j; k++) sum -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) {
        if (!(sum > 0)) return null;
        l[i * n + i] = Math.sqrt(sum);
      } else {
        l[i * n + j] = sum / l[j * n + j]!;
      }
    }
  }
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = b[i]!;
    for (let k = 0; k < i; k++) sum -= l[i * n + k]! * v[k]!;
    v[i] = sum / l[i * n + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    let sum = v[i]!;
    for (let k = i + 1; k < n; k++) sum -= l[k * n + i]! * v[k]!;
    v[i] = sum / l[i * n + i]!;
  }
  return v;
}

/** A logistic regression on standardized features; the standardization travels with the model. */
export class LogisticRegression {
  private constructor(
    readonly features: readonly string[],
    private readonly mean: Float64Array,
    private readonly std: Float64Array,
    /** Coefficients on the standardized features, in `features` order. */
    readonly weights: Float64Array,
    readonly intercept: number,
    readonly l2: number,
    readonly iterations: number,
    /** False when maxIterations ran out before the steps became negligible. */
    readonly converged: boolean,
  ) {}

  /**
   * Fits by minimizing Σ logloss + (l2 / 2)·‖w‖² with Newton steps and backtracking. Throws
   * InsightsError for an empty training set, rows of the wrong width, non-finite values, labels
   * other than 0/1, or labels of one class only (there is nothing to separate).
   */
  static fit(x: readonly ArrayLike<number>[], y: ArrayLike<number>, options: FitOptions = {}): LogisticRegression {
    const l2 = options.l2 ?? 1;
    const maxIterations = options.maxIterations ?? 100;
    const features = options.featureNames ?? FEATURE_NAMES;
    requireFinite('l2', l2, 0);
    requireInteger('maxIterations', maxIterations, 1, 10_000);
    const n = x.length;
    const d = features.length;
    if (n === 0) throw new InsightsError('empty training set: no users to fit');
    if (y.length !== n) throw new InsightsError(`x has ${n} rows but y has ${y.length} labels`);
    let positives = 0;
    for (let i = 0; i < n; i++) {
      const label = y[i]!;
      if (label !== 0 && label !== 1) throw new InsightsError(`labels must be 0 or 1, got ${label} at row ${i}`);
      positives += label;
      const row = x[i]!;
      if (row.length !== d) throw new InsightsError(`row ${i} has ${row.length} values, expected ${d} (${features.join(', ')})`);
      for (let j = 0; j < d; j++) {
        if (!Number.isFinite(row[j]!)) throw new InsightsError(`row ${i}, feature '${features[j]}' is not finite: ${row[j]}`);
      }
    }
    if (positives === 0 || positives === n) {
      throw new InsightsError(`training labels are all ${positives === 0 ? 0 : 1}: need both churned and retained users`);
    }

    const mean = new Float64Array(d);
    const std = new Float64Array(d);
    for (const row of x) for (let j = 0; j < d; j++) mean[j]! += row[j]! / n;
    for (const row of x) for (let j = 0; j < d; j++) std[j]! += (row[j]! - mean[j]!) ** 2 / n;
    // A constant column standardizes to 0 whatever its scale; std 1 keeps it finite.
    for (let j = 0; j < d; j++) std[j] = std[j]! > 1e-24 ? Math.sqrt(std[j]!) : 1;
    const p = d + 1; // parameter 0 is the intercept
    const z = new Float64Array(n * p);
    for (let i = 0; i < n; i++) {
      z[i * p] = 1;
      for (let j = 0; j < d; j++) z[i * p + j + 1] = (x[i]![j]! - mean[j]!) / std[j]!;
    }

    const theta = new Float64Array(p);
    const rate = positives / n;
    theta[0] = Math.log(rate / (1 - rate));
    const objective = (t: Float64Array): number => {
      let sum = 0;
      for (let i = 0; i < n; i++) {
        let eta = 0;
        for (let k = 0; k < p; k++) eta += z[i * p + k]! * t[k]!;
        sum += softplus(eta) - y[i]! * eta;
      }
      for (let k = 1; k < p; k++) sum += (l2 / 2) * t[k]! ** 2;
      return sum;
    };

    let current = objective(theta);
    let iterations = 0;
    let converged = false;
    while (iterations < maxIterations && !converged) {
      iterations++;
      const gradient = new Float64Array(p);
      const hessian = new Float64Array(p * p);
      for (let i = 0; i < n; i++) {
        let eta = 0;
        for (let k = 0; k < p; k++) eta += z[i * p + k]! * theta[k]!;
        const mu = sigmoid(eta);
        const residual = mu - y[i]!;
        const weight = mu * (1 - mu);
        for (let k = 0; k < p; k++) {
          const zk = z[i * p + k]!;
          gradient[k]! += residual * zk;
          for (let m = 0; m <= k; m++) hessian[k * p + m]! += weight * zk * z[i * p + m]!;
        }
      }
      for (let k = 0; k < p; k++) {
        if (k > 0) {
          gradient[k]! += l2 * theta[k]!;
          hessian[k * p + k]! += l2;
        }
        hessian[k * p + k]! += 1e-10; // keeps l2 = 0 on separable data solvable
        for (let m = 0; m < k; m++) hessian[m * p + k] = hessian[k * p + m]!;
      }
      const step = choleskySolve(hessian, gradient, p);
      if (step === null) break;
      // Backtracking: halve the step until the objective does not increase (Newton overshoots far from the optimum).
      let scale = 1;
      const candidate = new Float64Array(p);
      let next = Infinity;
      for (let tries = 0; tries < 30; tries++) {
        for (let k = 0; k < p; k++) candidate[k] = theta[k]! - scale * step[k]!;
        next = objective(candidate);
        if (next <= current) break;
        scale /= 2;
      }
      if (!(next <= current)) {
        converged = true; // no descent direction left at floating-point precision
        break;
      }
      let largestMove = 0;
      for (let k = 0; k < p; k++) largestMove = Math.max(largestMove, Math.abs(candidate[k]! - theta[k]!));
      theta.set(candidate);
      current = next;
      converged = largestMove < 1e-9;
    }
    return new LogisticRegression([...features], mean, std, theta.slice(1), theta[0]!, l2, iterations, converged);
  }

  /** Rebuilds a model from toJSON's output; throws InsightsError if it is malformed. */
  static fromJSON(value: unknown): LogisticRegression {
    const parsed = ModelSchema.safeParse(value);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message));
      throw new InsightsError(`invalid churn model: ${problems.join('; ')}`);
    }
    const model = parsed.data;
    const d = model.features.length;
    if (model.mean.length !== d || model.std.length !== d || model.weights.length !== d) {
      throw new InsightsError(`invalid churn model: mean, std and weights must each have ${d} values, one per feature`);
    }
    return new LogisticRegression(
      model.features,
      Float64Array.from(model.mean),
      Float64Array.from(model.std),
      Float64Array.from(model.weights),
      model.intercept,
      model.l2,
      model.iterations,
      model.converged,
    );
  }

  toJSON(): LogisticRegressionJSON {
    return {
      version: 1,
      features: [...this.features],
      mean: [...this.mean],
      std: [...this.std],
      weights: [...this.weights],
      intercept: this.intercept,
      l2: this.l2,
      iterations: this.iterations,
      converged: this.converged,
    };
  }

  private standardized(x: ArrayLike<number>): Float64Array {
    if (x.length !== this.features.length) {
      throw new InsightsError(`expected ${this.features.length} feature values (${this.features.join(', ')}), got ${x.length}`);
    }
    const out = new Float64Array(x.length);
    for (let j = 0; j < x.length; j++) out[j] = (x[j]! - this.mean[j]!) / this.std[j]!;
    return out;
  }

  /** The logit: intercept + Σ contributions. */
  logit(x: ArrayLike<number>): number {
    const standardized = this.standardized(x);
    let eta = this.intercept;
    for (let j = 0; j < standardized.length; j++) eta += this.weights[j]! * standardized[j]!;
    return eta;
  }

  /** Probability of churn in the horizon the model was trained on. */
  predict(x: ArrayLike<number>): number {
    return sigmoid(this.logit(x));
  }

  /**
   * Why this user scores as they do: each feature's coefficient × standardized value, largest (most
   * pushing towards churn) first. With the intercept they sum to the logit of predict(x).
   */
  contributions(x: ArrayLike<number>): FeatureContribution[] {
    const standardized = this.standardized(x);
    return this.features
      .map((feature, j) => ({ feature, value: x[j]!, contribution: this.weights[j]! * standardized[j]! }))
      .sort((a, b) => b.contribution - a.contribution);
  }
}
