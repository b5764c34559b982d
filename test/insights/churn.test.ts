import { describe, expect, it } from 'vitest';
import { buildDataset, churnLabel, extractFeatures, FEATURES, type DayCounts, type UserActivity } from '../../src/insights/churn-features.js';
import { auc, baseRateLogLoss, evaluateChurn, logLoss } from '../../src/insights/churn-metrics.js';
import { LogisticRegression } from '../../src/insights/churn-model.js';
import { InsightsError } from '../../src/insights/errors.js';
import { seededRandom } from '../../src/shared/random.js';
import { syntheticActivity } from './synthetic-activity.js';

const START = 19_000;

function counts(plays: number, extra: Partial<DayCounts> = {}): DayCounts {
  return { plays, listenMs: plays * 180_000, likes: 0, shares: 0, purchases: 0, skips: 0, ...extra };
}

function user(userId: string, days: [number, DayCounts][]): UserActivity {
  return { userId, days: new Map(days) };
}

function expectInsightsError(run: () => unknown, problem: RegExp): void {
  expect(run).toThrow(InsightsError);
  expect(run).toThrow(problem);
}

describe('extractFeatures', () => {
  it('computes each feature from the days before the cutoff', () => {
    const cutoff = 100;
    const someone = user('a', [
      [50, counts(2, { purchases: 1 })], // first active day: tenure 50
      [88, counts(4, { skips: 1, likes: 1 })], // 12 days ago: previous week
      [95, counts(6, { skips: 2, shares: 1 })], // 5 days ago: last week
      [97, counts(0)], // all-zero: not activity
      [99, counts(10, { skips: 1 })], // yesterday
      [100, counts(99)], // on the cutoff: ignored
    ]);
    const x = extractFeatures(someone, cutoff)!;
    const byName = Object.fromEntries(FEATURES.map((feature, j) => [feature.name, x[j]]));
    expect(x).toHaveLength(FEATURES.length);
    expect(byName.active_days_7).toBe(2);
    expect(byName.active_days_28).toBe(3);
    expect(byName.log_plays_7).toBeCloseTo(Math.log1p(16), 12);
    expect(byName.plays_trend).toBeCloseTo(Math.log(17 / 5), 12);
    expect(byName.log_listen_hours_28).toBeCloseTo(Math.log1p((20 * 180_000) / 3_600_000), 12);
    expect(byName.skip_rate_28).toBeCloseTo(4 / 20, 12);
    expect(byName.log_likes_shares_28).toBeCloseTo(Math.log1p(2), 12);
    expect(byName.log_purchases_90).toBeCloseTo(Math.log1p(1), 12);
    expect(byName.log_days_since_active).toBeCloseTo(Math.log1p(1), 12);
    expect(byName.log_tenure_days).toBeCloseTo(Math.log1p(50), 12);
    expect(byName.weekly_streak).toBe(2); // weeks 0 and 1 active, week 2 (days 79-85) not
  });

  it('is null for a user with no activity before the cutoff', () => {
    expect(extractFeatures(user('new', [[100, counts(3)]]), 100)).toBeNull();
    expect(extractFeatures(user('idle', [[90, counts(0)]]), 100)).toBeNull();
  });

  it('never reads the cutoff day or later (no leakage)', () => {
    const users = syntheticActivity({ users: 60, days: 150, startDay: START, seed: 7 });
    const random = seededRandom(99);
    let compared = 0;
    for (const original of users) {
      for (const cutoff of [START + 40, START + 90, START + 130]) {
        const before = extractFeatures(original, cutoff);
        // Rewrite the future: drop every day on or after the cutoff, then invent new ones there.
        const future = new Map([...original.days].filter(([day]) => day < cutoff));
        for (let k = 0; k < 20; k++) {
          const day = cutoff + Math.floor(random() * 60);
          future.set(day, counts(Math.floor(random() * 50), { skips: 1, purchases: 3, likes: 2 }));
        }
        const after = extractFeatures({ userId: original.userId, days: future }, cutoff);
        expect(after).toEqual(before);
        if (before !== null) compared++;
      }
    }
    expect(compared).toBeGreaterThan(50);
  });
});

describe('churnLabel', () => {
  const someone = user('a', [
    [10, counts(1)],
    [15, counts(2)],
    [20, counts(0)], // an all-zero day is not activity
  ]);

  it('is 1 exactly when [cutoff, cutoff + horizon) has no active day', () => {
    expect(churnLabel(someone, 12, 3)).toBe(1); // days 12..14
    expect(churnLabel(someone, 12, 4)).toBe(0); // day 15 included
    expect(churnLabel(someone, 10, 1)).toBe(0); // the cutoff day itself counts
    expect(churnLabel(someone, 11, 4)).toBe(1); // days 11..14
    expect(churnLabel(someone, 16, 10)).toBe(1); // day 20 is all zeros
    expect(churnLabel(someone, 5, 5)).toBe(1); // days 5..9: activity on day 10 is outside
  });

  it('buildDataset keeps only users active in the 28 days before the cutoff', () => {
    const users = [
      user('recent', [[95, counts(1)], [101, counts(1)]]),
      user('gone', [[50, counts(5)]]),
      user('future', [[105, counts(1)]]),
      user('edge', [[72, counts(1)]]), // exactly 28 days before: in
      user('recent-churner', [[99, counts(1)]]),
    ];
    const data = buildDataset(users, 100, 10);
    expect(data.userIds).toEqual(['recent', 'edge', 'recent-churner']);
    expect([...data.y]).toEqual([0, 1, 1]);
    expect(data.x).toHaveLength(3);
  });
});

describe('metrics', () => {
  it('logLoss matches hand-computed values and clips', () => {
    expect(logLoss([1, 0], [0.8, 0.4])).toBeCloseTo(-(Math.log(0.8) + Math.log(0.6)) / 2, 12);
    expect(logLoss([1, 0], [0.5, 0.5])).toBeCloseTo(Math.LN2, 12);
    expect(logLoss([1], [0])).toBeCloseTo(-Math.log(1e-15), 9);
    expect(Number.isFinite(logLoss([0], [1]))).toBe(true);
  });

  it('auc: separated = 1, reversed = 0, all tied = 0.5, and a small example with ties', () => {
    expect(auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])).toBe(1);
    expect(auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4])).toBe(0);
    expect(auc([0, 1, 0, 1, 1], [0.3, 0.3, 0.3, 0.3, 0.3])).toBe(0.5);
    expect(auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBe(0.75); // 3 of 4 pairs ordered
    expect(auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])).toBe(0.875); // (1 + 0.5 + 1 + 1) / 4
  });

  it('baseRateLogLoss predicts the training rate for everyone', () => {
    const rate = 0.25;
    const expected = -(Math.log(rate) + 2 * Math.log(1 - rate)) / 3;
    expect(baseRateLogLoss([1, 0, 0, 0], [1, 0, 0])).toBeCloseTo(expected, 12);
  });
});

describe('LogisticRegression', () => {
  const users = syntheticActivity({ users: 800, days: 120, startDay: START, seed: 3 });
  const data = buildDataset(users, START + 80, 30);
  const model = LogisticRegression.fit(data.x, data.y);

  it('converges', () => {
    expect(model.converged).toBe(true);
    expect(model.iterations).toBeLessThan(30);
  });

  it('contributions plus the intercept reproduce the logit of predict()', () => {
    for (const row of data.x.slice(0, 25)) {
      const parts = model.contributions(row);
      expect(parts.map((part) => part.feature).sort()).toEqual(FEATURES.map((feature) => feature.name).sort());
      for (let k = 1; k < parts.length; k++) expect(parts[k - 1]!.contribution).toBeGreaterThanOrEqual(parts[k]!.contribution);
      const p = model.predict(row);
      const sum = parts.reduce((total, part) => total + part.contribution, model.intercept);
      expect(sum).toBeCloseTo(Math.log(p / (1 - p)), 9);
    }
  });

  it('survives a JSON round trip', () => {
    const restored = LogisticRegression.fromJSON(JSON.parse(JSON.stringify(model)));
    for (const row of data.x.slice(0, 25)) expect(restored.predict(row)).toBe(model.predict(row));
    expectInsightsError(() => LogisticRegression.fromJSON({ ...model.toJSON(), weights: [1] }), /one per feature/);
    expectInsightsError(() => LogisticRegression.fromJSON({ version: 2 }), /invalid churn model/);
  });
});

describe('evaluateChurn on synthetic activity', () => {
  const options = { trainCutoffDay: START + 120, testCutoffDay: START + 150, horizonDays: 30 };
  const users = syntheticActivity({ users: 3000, days: 200, startDay: START, seed: 42 });

  it('beats the base rate on the later, held-out window and is deterministic', () => {
    const result = evaluateChurn(users, options);
    console.log(
      `churn: train ${result.train.users} users (churn ${result.train.churnRate.toFixed(3)}), ` +
        `test ${result.test.users} users (churn ${result.test.churnRate.toFixed(3)}); ` +
        `log loss ${result.logLoss.toFixed(4)} vs base rate ${result.baseRateLogLoss.toFixed(4)}, AUC ${result.auc.toFixed(4)}`,
    );
    expect(result.train.users).toBeGreaterThan(500);
    expect(result.test.users).toBeGreaterThan(500);
    expect(result.logLoss).toBeLessThan(result.baseRateLogLoss);
    expect(result.auc).toBeGreaterThan(0.7);

    const again = evaluateChurn(syntheticActivity({ users: 3000, days: 200, startDay: START, seed: 42 }), options);
    expect(again.logLoss).toBe(result.logLoss);
    expect(again.auc).toBe(result.auc);
    expect(again.model.toJSON()).toEqual(result.model.toJSON());
  });
});

describe('bad input', () => {
  const users = syntheticActivity({ users: 200, days: 100, startDay: START, seed: 1 });

  it('throws InsightsError with a clear message', () => {
    expectInsightsError(() => evaluateChurn(users, { trainCutoffDay: START + 50, testCutoffDay: START + 60, horizonDays: 30 }), /must be <= testCutoffDay/);
    expectInsightsError(() => evaluateChurn(users, { trainCutoffDay: START + 50.5, testCutoffDay: START + 90, horizonDays: 30 }), /trainCutoffDay must be an integer/);
    expectInsightsError(() => churnLabel(users[0]!, START + 10, 0), /horizonDays must be an integer >= 1, got 0/);
    expectInsightsError(() => buildDataset(users, START + 10, 2.5), /horizonDays must be an integer >= 1/);
    expectInsightsError(() => extractFeatures(users[0]!, Number.NaN), /cutoffDay must be an integer/);
    expectInsightsError(() => evaluateChurn(users, { trainCutoffDay: START - 100, testCutoffDay: START + 50, horizonDays: 30 }), /empty training set/);
    expectInsightsError(() => LogisticRegression.fit([], []), /empty training set/);
    const x = [new Float64Array(FEATURES.length), new Float64Array(FEATURES.length).fill(1)];
    expectInsightsError(() => LogisticRegression.fit(x, [1, 1]), /training labels are all 1/);
    expectInsightsError(() => LogisticRegression.fit([new Float64Array(3)], [1]), /row 0 has 3 values, expected 11/);
    expectInsightsError(() => LogisticRegression.fit(x, [0, 1], { l2: -1 }), /l2 must be a finite number/);
    expectInsightsError(() => logLoss([1, 0], [0.5]), /1 predictions/);
    expectInsightsError(() => auc([1, 1], [0.2, 0.3]), /both classes/);
    expectInsightsError(() => syntheticActivity({ users: 10, days: 0, startDay: START, seed: 1 }), /days must be an integer/);
    expectInsightsError(() => extractFeatures(user('bad', [[5, counts(-1)]]), 10), /plays must be a finite number >= 0/);
  });
});
