// Churn prediction without I/O or a numerics dependency: daily activity counts become a dozen
// features, a logistic regression scores them, and the per-feature contributions are the "reasons"
// shown next to an at-risk user. Everything is computed from windows that END at a cutoff day
// (exclusive), and evaluation is a split in TIME, not across users: the model is trained on labels
// that were fully observed before the test cutoff and scored on the later window, which is how it
// will be used (train on last month, predict next month). A random user split would let the model
// see the same calendar weeks it is tested on and overstate its accuracy.
//
// Logistic regression is fitted by Newton's method (IRLS) with backtracking on standardized
// features: a dozen parameters, a strictly convex objective once L2 > 0, and a handful of
// iterations, so the fit is exact and deterministic with no learning rate to tune.
import { z } from 'zod';
import { seededRandom, type Random } from '../recommendations/random.js';
import { InsightsError, requireFinite, requireInteger } from './errors.js';

export interface DayCounts {
  plays: number;
  listenMs: number;
  likes: number;
  shares: number;
  purchases: number;
  skips: number;
}

export interface UserActivity {
  userId: string;
  /** day index (days since 1970-01-01 UTC) → counts */
  days: Map<number, DayCounts>;
}

/** The features, in the order of extractFeatures' output. Every window ends at the cutoff (exclusive). */
export const FEATURES = [
  { name: 'active_days_7', description: 'days with any activity among the 7 days before the cutoff' },
  { name: 'active_days_28', description: 'days with any activity among the 28 days before the cutoff' },
  { name: 'log_plays_7', description: 'ln(1 + plays in the last 7 days)' },
  { name: 'plays_trend', description: 'ln((plays last 7 days + 1) / (plays in the 7 days before those + 1)); negative = declining' },
  { name: 'log_listen_hours_28', description: 'ln(1 + hours listened in the last 28 days)' },
  { name: 'skip_rate_28', description: 'skips / plays in the last 28 days, in [0, 1]; 0 without plays' },
  { name: 'log_likes_shares_28', description: 'ln(1 + likes + shares in the last 28 days)' },
  { name: 'log_purchases_90', description: 'ln(1 + purchases in the last 90 days)' },
  { name: 'log_days_since_active', description: 'ln(1 + days from the last active day to the cutoff); 1 day = active the day before' },
  { name: 'log_tenure_days', description: 'ln(1 + days from the first active day to the cutoff)' },
  { name: 'weekly_streak', description: 'consecutive 7-day weeks, counting back from the cutoff, each with an active day' },
] as const satisfies readonly { name: string; description: string }[];

export const FEATURE_NAMES: readonly string[] = FEATURES.map((feature) => feature.name);

/**
 * Users with no active day in this many days before the cutoff are left out of datasets: they have
 * already gone, so "will they churn" is settled, and keeping them would flood the data with easy
 * negatives that inflate AUC without helping anyone decide whom to win back.
 */
export const ACTIVE_LOOKBACK_DAYS = 28;

const DAY_MS_PER_HOUR = 3_600_000;

/** A day counts as active when any of its counts is positive; an all-zero entry is no activity. */
function isActive(counts: DayCounts): boolean {
  return counts.plays > 0 || counts.listenMs > 0 || counts.likes > 0 || counts.shares > 0 || counts.purchases > 0 || counts.skips > 0;
}

function checkCounts(user: UserActivity, day: number, counts: DayCounts): void {
  for (const key of ['plays', 'listenMs', 'likes', 'shares', 'purchases', 'skips'] as const) {
    const value = counts[key];
    if (!Number.isFinite(value) || value < 0) {
      throw new InsightsError(`user '${user.userId}' day ${day}: ${key} must be a finite number >= 0, got ${value}`);
    }
  }
}

/**
 * The user's features as of `cutoffDay`, in FEATURES order, from days strictly before it; null if
 * the user has no active day before the cutoff (not a customer yet). Nothing on or after the cutoff
 * is read, so the features cannot leak the label.
 */
export function extractFeatures(user: UserActivity, cutoffDay: number): Float64Array | null {
  requireInteger('cutoffDay', cutoffDay, 0);
  let first = Infinity;
  let last = -Infinity;
  let active7 = 0;
  let active28 = 0;
  let plays7 = 0;
  let playsPrevious7 = 0;
  let plays28 = 0;
  let skips28 = 0;
  let listenMs28 = 0;
  let likesShares28 = 0;
  let purchases90 = 0;
  const activeWeeks = new Set<number>();
  for (const [day, counts] of user.days) {
    if (day >= cutoffDay) continue;
    checkCounts(user, day, counts);
    if (!isActive(counts)) continue;
    if (day < first) first = day;
    if (day > last) last = day;
    const ago = cutoffDay - 1 - day; // 0 = the day just before the cutoff
    activeWeeks.add(Math.floor(ago / 7));
    if (ago < 7) {
      active7++;
      plays7 += counts.plays;
    } else if (ago < 14) {
      playsPrevious7 += counts.plays;
    }
    if (ago < 28) {
      active28++;
      plays28 += counts.plays;
      skips28 += counts.skips;
      listenMs28 += counts.listenMs;
      likesShares28 += counts.likes + counts.shares;
    }
    if (ago < 90) purchases90 += counts.purchases;
  }
  if (first === Infinity) return null;
  let streak = 0;
  while (activeWeeks.has(streak)) streak++;
  return Float64Array.from([
    active7,
    active28,
    Math.log1p(plays7),
    Math.log((plays7 + 1) / (playsPrevious7 + 1)),
    Math.log1p(listenMs28 / DAY_MS_PER_HOUR),
    plays28 > 0 ? Math.min(1, skips28 / plays28) : 0,
    Math.log1p(likesShares28),
    Math.log1p(purchases90),
    Math.log1p(cutoffDay - last),
    Math.log1p(cutoffDay - first),
    streak,
  ]);
}

function requireHorizon(horizonDays: number): void {
  if (!Number.isInteger(horizonDays) || horizonDays < 1) {
    throw new InsightsError(`horizonDays must be an integer >= 1, got ${horizonDays}`);
  }
}

/** 1 when the user has no active day in [cutoffDay, cutoffDay + horizonDays), else 0. */
export function churnLabel(user: UserActivity, cutoffDay: number, horizonDays: number): 0 | 1 {
  requireInteger('cutoffDay', cutoffDay, 0);
  requireHorizon(horizonDays);
  for (const [day, counts] of user.days) {
    if (day >= cutoffDay && day < cutoffDay + horizonDays && isActive(counts)) return 0;
  }
  return 1;
}

function activeSince(user: UserActivity, fromDay: number, cutoffDay: number): boolean {
  for (const [day, counts] of user.days) {
    if (day >= fromDay && day < cutoffDay && isActive(counts)) return true;
  }
  return false;
}

export interface ChurnDataset {
  userIds: string[];
  x: Float64Array[];
  y: Uint8Array;
}

/**
 * Features and labels for the users at risk at `cutoffDay`: those with an active day in the
 * ACTIVE_LOOKBACK_DAYS days before it (users already gone, or not yet joined, are left out). The
 * labels read [cutoffDay, cutoffDay + horizonDays), so the caller must hold data up to that day.
 */
export function buildDataset(users: UserActivity[], cutoffDay: number, horizonDays: number): ChurnDataset {
  requireInteger('cutoffDay', cutoffDay, 0);
  requireHorizon(horizonDays);
  const userIds: string[] = [];
  const x: Float64Array[] = [];
  const labels: number[] = [];
  for (const user of users) {
    if (!activeSince(user, cutoffDay - ACTIVE_LOOKBACK_DAYS, cutoffDay)) continue;
    const features = extractFeatures(user, cutoffDay);
    if (features === null) continue;
    userIds.push(user.userId);
    x.push(features);
    labels.push(churnLabel(user, cutoffDay, horizonDays));
  }
  return { userIds, x, y: Uint8Array.from(labels) };
}

// ---------------------------------------------------------------------------------------------
// Logistic regression

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

function sigmoid(t: number): number {
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

// ---------------------------------------------------------------------------------------------
// Metrics

const EPSILON = 1e-15;

function checkPairs(y: ArrayLike<number>, p: ArrayLike<number>): void {
  if (y.length !== p.length) throw new InsightsError(`y has ${y.length} labels but p has ${p.length} predictions`);
  if (y.length === 0) throw new InsightsError('no labels to score');
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== 0 && y[i] !== 1) throw new InsightsError(`labels must be 0 or 1, got ${y[i]} at ${i}`);
    if (Number.isNaN(p[i]!)) throw new InsightsError(`prediction ${i} is NaN`);
  }
}

/** Mean negative log likelihood, with p clipped to [1e-15, 1 - 1e-15] so a confident miss costs ~34.5, not ∞. */
export function logLoss(y: ArrayLike<number>, p: ArrayLike<number>): number {
  checkPairs(y, p);
  let sum = 0;
  for (let i = 0; i < y.length; i++) {
    const clipped = Math.min(1 - EPSILON, Math.max(EPSILON, p[i]!));
    sum -= y[i] === 1 ? Math.log(clipped) : Math.log(1 - clipped);
  }
  return sum / y.length;
}

/**
 * Area under the ROC curve as the Mann–Whitney statistic: the chance that a random positive scores
 * above a random negative, ties counting one half (tied scores share their average rank). Throws
 * when y holds only one class, where AUC is undefined.
 */
export function auc(y: ArrayLike<number>, p: ArrayLike<number>): number {
  checkPairs(y, p);
  const n = y.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => p[a]! - p[b]!);
  let positives = 0;
  let positiveRankSum = 0;
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && p[order[end]!] === p[order[start]!]) end++;
    const averageRank = (start + 1 + end) / 2; // ranks start+1 .. end
    for (let k = start; k < end; k++) {
      if (y[order[k]!] === 1) {
        positives++;
        positiveRankSum += averageRank;
      }
    }
    start = end;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) throw new InsightsError('AUC needs both classes in y');
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Log loss on yTest of predicting yTrain's base rate for everyone: the bar a model has to clear. */
export function baseRateLogLoss(yTrain: ArrayLike<number>, yTest: ArrayLike<number>): number {
  if (yTrain.length === 0) throw new InsightsError('empty training labels: no base rate');
  let sum = 0;
  for (let i = 0; i < yTrain.length; i++) sum += yTrain[i]!;
  const rate = sum / yTrain.length;
  return logLoss(yTest, new Float64Array(yTest.length).fill(rate));
}

// ---------------------------------------------------------------------------------------------
// Evaluation

export interface EvaluateChurnOptions {
  trainCutoffDay: number;
  testCutoffDay: number;
  horizonDays: number;
  l2?: number;
  maxIterations?: number;
}

export interface ChurnEvaluation {
  train: { users: number; churnRate: number };
  test: { users: number; churnRate: number };
  model: LogisticRegression;
  /** On the test window. */
  logLoss: number;
  auc: number;
  baseRateLogLoss: number;
}

function rateOf(values: Uint8Array): number {
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

/** A day number (days since 1970-01-01, UTC) as its date, for messages people read. */
const dayDate = (day: number) => new Date(day * 86_400_000).toISOString().slice(0, 10);

/**
 * Trains at trainCutoffDay and scores at testCutoffDay. Throws unless trainCutoffDay + horizonDays
 * <= testCutoffDay: otherwise the training labels would overlap the test window's features and
 * the score would be measured on information the model would not have had in production.
 */
export function evaluateChurn(users: UserActivity[], options: EvaluateChurnOptions): ChurnEvaluation {
  const { trainCutoffDay, testCutoffDay, horizonDays } = options;
  requireInteger('trainCutoffDay', trainCutoffDay, 0);
  requireInteger('testCutoffDay', testCutoffDay, 0);
  requireHorizon(horizonDays);
  if (trainCutoffDay + horizonDays > testCutoffDay) {
    throw new InsightsError(
      `trainCutoffDay + horizonDays (${trainCutoffDay} + ${horizonDays}) must be <= testCutoffDay (${testCutoffDay}): training labels would leak into the test window`,
    );
  }
  const train = buildDataset(users, trainCutoffDay, horizonDays);
  if (train.x.length === 0) throw new InsightsError(`empty training set: no listener active in the ${ACTIVE_LOOKBACK_DAYS} days before ${dayDate(trainCutoffDay)}`);
  const test = buildDataset(users, testCutoffDay, horizonDays);
  if (test.x.length === 0) throw new InsightsError(`empty test set: no listener active in the ${ACTIVE_LOOKBACK_DAYS} days before ${dayDate(testCutoffDay)}`);
  const fitOptions: FitOptions = {};
  if (options.l2 !== undefined) fitOptions.l2 = options.l2;
  if (options.maxIterations !== undefined) fitOptions.maxIterations = options.maxIterations;
  const model = LogisticRegression.fit(train.x, train.y, fitOptions);
  const predictions = Float64Array.from(test.x, (row) => model.predict(row));
  return {
    train: { users: train.x.length, churnRate: rateOf(train.y) },
    test: { users: test.x.length, churnRate: rateOf(test.y) },
    model,
    logLoss: logLoss(test.y, predictions),
    auc: auc(test.y, predictions),
    baseRateLogLoss: baseRateLogLoss(train.y, test.y),
  };
}

// ---------------------------------------------------------------------------------------------
// Synthetic activity

export interface SyntheticActivityOptions {
  users: number;
  days: number;
  /** Day index of the first simulated day. */
  startDay: number;
  seed: number;
}

function gaussian(random: Random): number {
  const u = 1 - random(); // (0, 1], so the log is finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function poisson(lambda: number, random: Random): number {
  const limit = Math.exp(-Math.min(lambda, 50));
  let k = 0;
  for (let product = random(); product > limit; product *= random()) k++;
  return k;
}

function binomial(n: number, probability: number, random: Random): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (random() < probability) k++;
  return k;
}

/**
 * Deterministic fake activity (same options, same output) in which churn is predictable the way
 * it is in real products, for tests and benchmarks:
 * - half the users are there from the first day, the rest join on a uniformly random later day;
 * - each user has a latent engagement e that drifts day to day (mean-reverting noise around a
 *   personal level that itself trends up or down), and e sets how often they are active, how much
 *   they play, how often they skip (less when engaged), like, share and buy;
 * - every active-state day they quit with hazard sigmoid(-4.5 - 1.2·e) (~1%/day at e = 0, ~9% at
 *   e = -2), so falling engagement, visible as declining activity, precedes churn;
 * - 30% of quits are breaks of 7 + ~21 days (geometric) after which the user returns refreshed,
 *   so "no activity for a while" does not always mean gone.
 */
export function syntheticActivity(options: SyntheticActivityOptions): UserActivity[] {
  const { users, days, startDay, seed } = options;
  requireInteger('users', users, 0, 10_000_000);
  requireInteger('days', days, 1, 100_000);
  requireInteger('startDay', startDay, 0);
  requireInteger('seed', seed, 0, 0xffffffff);
  const random = seededRandom(seed);
  const out: UserActivity[] = [];
  for (let u = 0; u < users; u++) {
    const joinOffset = random() < 0.5 ? 0 : Math.floor(random() * days);
    const level = 0.8 * gaussian(random);
    const trend = 0.01 * gaussian(random); // per day
    let engagement = level + 0.3 * gaussian(random);
    let breakDaysLeft = 0;
    let gone = false;
    const activity = new Map<number, DayCounts>();
    for (let t = joinOffset; t < days && !gone; t++) {
      if (breakDaysLeft > 0) {
        breakDaysLeft--;
        if (breakDaysLeft === 0) engagement = level + trend * (t - joinOffset) + 0.3 * gaussian(random);
        continue;
      }
      const target = level + trend * (t - joinOffset);
      engagement += 0.05 * (target - engagement) + 0.15 * gaussian(random);
      if (t > joinOffset && random() < sigmoid(-4.5 - 1.2 * engagement)) {
        if (random() < 0.3) {
          breakDaysLeft = 7;
          while (random() > 1 / 21) breakDaysLeft++;
        } else {
          gone = true;
        }
        continue;
      }
      if (random() >= sigmoid(engagement + 0.5)) continue;
      const plays = 1 + poisson(Math.exp(1 + 0.7 * engagement), random);
      const skips = binomial(plays, sigmoid(-1.2 - 0.8 * engagement), random);
      let listenMs = 0;
      for (let i = 0; i < plays; i++) listenMs += Math.round(i < skips ? 20_000 * random() : 150_000 + 90_000 * random());
      activity.set(startDay + t, {
        plays,
        listenMs,
        likes: binomial(plays, 0.03 + 0.04 * sigmoid(engagement), random),
        shares: random() < 0.02 ? 1 : 0,
        purchases: random() < 0.004 * Math.exp(0.5 * engagement) ? 1 : 0,
        skips,
      });
    }
    out.push({ userId: `user-${u}`, days: activity });
  }
  return out;
}
