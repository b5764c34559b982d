// Churn prediction, the evaluation: log loss, AUC and the base rate to beat, and a split in TIME,
// not across users: the model is trained on labels that were fully observed before the test cutoff
// and scored on the later window, which is how it will be used (train on last month, predict next
// month). A random user split would let the model see the same calendar weeks it is tested on and
// overstate its accuracy.
import { ACTIVE_LOOKBACK_DAYS, buildDataset, requireHorizon, type UserActivity } from './churn-features.js';
import { LogisticRegression, type FitOptions } from './churn-model.js';
import { InsightsError, requireInteger } from './errors.js';

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
