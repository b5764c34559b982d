import { describe, expect, it } from 'vitest';
import { RecommendationError } from '../../src/recommendations/errors.js';
import {
  assignVariant,
  chiSquareSurvival,
  normalCdf,
  readout,
  twoProportionZTest,
  validateExperiment,
  wilsonInterval,
  differenceInterval,
  type ExperimentDefinition,
} from '../../src/recommendations/experiments.js';

const USERS = 100_000;
const userIds = Array.from({ length: USERS }, (_, i) => `user-${i}`);

/** Observed shares must lie within 4.5 binomial standard deviations of the expected ones. */
function expectShare(observed: number, expected: number, n = USERS): void {
  const sigma = Math.sqrt((expected * (1 - expected)) / n);
  expect(Math.abs(observed / n - expected)).toBeLessThan(4.5 * sigma);
}

function experiment(id: string, weights: number[]): ExperimentDefinition {
  return validateExperiment({ id, variants: weights.map((weight, i) => ({ name: `v${i}`, weight })) });
}

function shares(def: ExperimentDefinition): Map<string, number> {
  const counts = new Map<string, number>();
  for (const user of userIds) {
    const name = assignVariant(def, user).name;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

function expectInvalid(def: unknown, problem: RegExp): void {
  expect(() => validateExperiment(def)).toThrow(RecommendationError);
  expect(() => validateExperiment(def)).toThrow(problem);
}

describe('validateExperiment', () => {
  const good = { id: 'home.feed-v2', variants: [{ name: 'control', weight: 1 }, { name: 'treatment', weight: 1, config: { k: 20 } }] };

  it('returns a clean definition for good input', () => {
    expect(validateExperiment(good)).toEqual(good);
    expect(validateExperiment({ ...good, salt: 'shared' }).salt).toBe('shared');
  });

  it('names each problem', () => {
    expectInvalid({ ...good, variants: [good.variants[0]] }, /at least 2 variants/);
    expectInvalid({ ...good, variants: [good.variants[0], good.variants[0]] }, /variants\.1\.name: duplicate variant name 'control'/);
    expectInvalid({ ...good, variants: [good.variants[0], { name: 'b', weight: 0 }] }, /variants\.1\.weight: weight must be a positive/);
    expectInvalid({ ...good, variants: [good.variants[0], { name: 'b', weight: -2 }] }, /variants\.1\.weight/);
    expectInvalid({ ...good, variants: [good.variants[0], { name: 'b', weight: Infinity }] }, /variants\.1\.weight/);
    expectInvalid({ ...good, id: 'Home Feed' }, /id: id must be 1-100 characters/);
    expectInvalid({ ...good, id: '' }, /id: /);
    expectInvalid({ ...good, variants: [good.variants[0], { name: 'has space', weight: 1 }] }, /variants\.1\.name: variant name must be/);
    expectInvalid({ ...good, variants: Array.from({ length: 11 }, (_, i) => ({ name: `v${i}`, weight: 1 })) }, /at most 10 variants/);
    expectInvalid(null, /invalid experiment/);
  });

  it('lists several problems at once', () => {
    expectInvalid({ id: 'BAD', variants: [{ name: 'a', weight: 0 }] }, /id: .*; .*variants/);
  });
});

describe('assignVariant', () => {
  it('is stable across calls and across equal definitions', () => {
    const def = experiment('stable', [1, 1, 1]);
    const again = experiment('stable', [1, 1, 1]);
    for (const user of userIds.slice(0, 1000)) {
      const first = assignVariant(def, user).name;
      expect(assignVariant(def, user).name).toBe(first);
      expect(assignVariant(again, user).name).toBe(first);
    }
  });

  it('splits 50/50 within binomial tolerance', () => {
    const counts = shares(experiment('split-50-50', [50, 50]));
    expectShare(counts.get('v0') ?? 0, 0.5);
    expectShare(counts.get('v1') ?? 0, 0.5);
  });

  it('splits 10/30/60 within binomial tolerance', () => {
    const counts = shares(experiment('split-10-30-60', [10, 30, 60]));
    expectShare(counts.get('v0') ?? 0, 0.1);
    expectShare(counts.get('v1') ?? 0, 0.3);
    expectShare(counts.get('v2') ?? 0, 0.6);
  });

  it('buckets independently across experiments with different ids', () => {
    const a = experiment('independent-a', [1, 1]);
    const b = experiment('independent-b', [1, 1]);
    const cells = new Map<string, number>();
    for (const user of userIds) {
      const cell = `${assignVariant(a, user).name}/${assignVariant(b, user).name}`;
      cells.set(cell, (cells.get(cell) ?? 0) + 1);
    }
    for (const cell of ['v0/v0', 'v0/v1', 'v1/v0', 'v1/v1']) expectShare(cells.get(cell) ?? 0, 0.25);
  });

  it('buckets identically when two experiments share a salt', () => {
    const a = { ...experiment('salted-a', [1, 1]), salt: 'shared' };
    const b = { ...experiment('salted-b', [1, 1]), salt: 'shared' };
    for (const user of userIds.slice(0, 1000)) expect(assignVariant(b, user).name).toBe(assignVariant(a, user).name);
  });
});

describe('distribution functions', () => {
  it('matches normal table values', () => {
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021048517795, 12);
    expect(normalCdf(0)).toBe(0.5);
    expect(normalCdf(0.5)).toBeCloseTo(0.6914624612740131, 12);
    expect(normalCdf(-1)).toBeCloseTo(0.15865525393145707, 12);
    // Deep tail keeps relative precision: Φ(-5) = 2.866515718791933e-7.
    expect(normalCdf(-5) / 2.866515718791933e-7).toBeCloseTo(1, 10);
  });

  it('matches chi-square table values', () => {
    expect(chiSquareSurvival(3.841459, 1)).toBeCloseTo(0.05, 7);
    expect(chiSquareSurvival(5.991465, 2)).toBeCloseTo(0.05, 7);
    // dof 2 has the closed form exp(-x/2).
    expect(chiSquareSurvival(5.991465, 2)).toBeCloseTo(Math.exp(-5.991465 / 2), 14);
    expect(chiSquareSurvival(20, 5)).toBeCloseTo(0.0012497305630313773, 12);
    expect(chiSquareSurvival(0.5, 9)).toBeCloseTo(0.9999695662588389, 12);
    expect(chiSquareSurvival(0, 3)).toBe(1);
  });

  it('gives the Wilson interval', () => {
    const interval = wilsonInterval(100, 1000)!;
    expect(interval.lower).toBeCloseTo(0.08290944359309571, 12);
    expect(interval.upper).toBeCloseTo(0.1201519631953484, 12);
    expect(wilsonInterval(0, 10)!.lower).toBe(0);
    expect(wilsonInterval(10, 10)!.upper).toBeLessThanOrEqual(1);
    expect(wilsonInterval(0, 0)).toBeNull();
  });

  it("gives Newcombe's interval for a difference of rates (his worked example: 56/70 − 48/80)", () => {
    const interval = differenceInterval(56, 70, 48, 80)!;
    expect(interval.lower).toBeCloseTo(0.0524, 4);
    expect(interval.upper).toBeCloseTo(0.3339, 4);
    // At the edges it stays within [−1, 1] and is not degenerate.
    const edge = differenceInterval(10, 10, 0, 10)!;
    expect(edge.upper).toBeLessThanOrEqual(1);
    expect(edge.lower).toBeGreaterThan(0.5);
    expect(differenceInterval(1, 0, 0, 5)).toBeNull();
  });

  it('reports the lift with its interval in a readout', () => {
    const result = readout([
      { name: 'control', users: 80, conversions: 48 },
      { name: 'model', users: 70, conversions: 56 },
    ]);
    expect(result.comparisons[0]!.absoluteLift).toBeCloseTo(0.2, 12);
    expect(result.comparisons[0]!.liftInterval!.lower).toBeCloseTo(0.0524, 4);
    expect(result.comparisons[0]!.liftInterval!.upper).toBeCloseTo(0.3339, 4);
  });
});

describe('readout', () => {
  it('matches a hand-computed pooled z-test', () => {
    // Control 100/1000 = 0.10, treatment 130/1000 = 0.13. Pooled rate 230/2000 = 0.115;
    // se = sqrt(0.115 · 0.885 · (1/1000 + 1/1000)) = sqrt(0.00020355) = 0.0142671;
    // z = 0.03 / 0.0142671 = 2.10274; p = 2 · (1 - Φ(2.10274)) = 0.035488.
    // Independent check: Pearson chi-square of the 2×2 table [[100, 900], [130, 870]] without
    // continuity correction is 4.4215181 = z², with the same p = 0.0354885 (scipy chi2_contingency).
    const result = readout([
      { name: 'control', users: 1000, conversions: 100 },
      { name: 'treatment', users: 1000, conversions: 130 },
    ]);
    const [comparison] = result.comparisons;
    expect(comparison!.variant).toBe('treatment');
    expect(comparison!.z).toBeCloseTo(2.102740605622114, 9);
    expect(comparison!.z! ** 2).toBeCloseTo(4.421518054532056, 9);
    expect(comparison!.pValue).toBeCloseTo(0.03548845046647471, 9);
    expect(comparison!.significant).toBe(true);
    expect(comparison!.absoluteLift).toBeCloseTo(0.03, 12);
    expect(comparison!.relativeLift).toBeCloseTo(0.3, 12);
    expect(result.variants[0]).toMatchObject({ users: 1000, conversions: 100, rate: 0.1 });
    expect(result.variants[0]!.interval!.lower).toBeCloseTo(0.08290944359309571, 12);
    expect(readout(
      [{ name: 'control', users: 1000, conversions: 100 }, { name: 'treatment', users: 1000, conversions: 130 }],
      { alpha: 0.01 },
    ).comparisons[0]!.significant).toBe(false);
  });

  it('gives z = 0 and p = 1 for identical rates', () => {
    expect(twoProportionZTest(50, 500, 100, 1000)).toEqual({ z: 0, pValue: 1 });
    const [comparison] = readout([
      { name: 'a', users: 500, conversions: 50 },
      { name: 'b', users: 1000, conversions: 100 },
    ]).comparisons;
    expect(comparison).toMatchObject({ z: 0, pValue: 1, significant: false, absoluteLift: 0, relativeLift: 0 });
  });

  it('compares every variant with the chosen control', () => {
    const result = readout(
      [
        { name: 'a', users: 1000, conversions: 130 },
        { name: 'b', users: 1000, conversions: 100 },
        { name: 'c', users: 1000, conversions: 100 },
      ],
      { control: 'b' },
    );
    expect(result.control).toBe('b');
    expect(result.comparisons.map((c) => c.variant)).toEqual(['a', 'c']);
    // a (13%) against control b (10%): positive z, as in the hand-computed case above.
    expect(result.comparisons[0]!.z).toBeCloseTo(2.102740605622114, 9);
    expect(result.comparisons[1]).toMatchObject({ z: 0, pValue: 1 });
  });

  it('handles zero users and zero conversions without NaN', () => {
    const result = readout([
      { name: 'control', users: 0, conversions: 0 },
      { name: 'treatment', users: 0, conversions: 0 },
    ]);
    expect(result.variants[0]).toMatchObject({ rate: null, interval: null });
    expect(result.comparisons[0]).toMatchObject({ absoluteLift: null, relativeLift: null, z: null, pValue: null, significant: false });
    expect(result.srm).toEqual({ chiSquare: null, pValue: null, mismatch: false });
    const noConversions = readout([
      { name: 'control', users: 100, conversions: 0 },
      { name: 'treatment', users: 100, conversions: 0 },
    ]);
    expect(noConversions.comparisons[0]).toMatchObject({ absoluteLift: 0, relativeLift: null, z: null, pValue: null });
    expect(JSON.stringify([result, noConversions])).not.toMatch(/NaN|Infinity/);
  });

  it('detects a sample ratio mismatch', () => {
    // 5000 vs 4000 against 50/50: chi-square = 2 · 500² / 4500 = 111.1, p ≈ 5.6e-26.
    const broken = readout([
      { name: 'a', users: 5000, conversions: 10 },
      { name: 'b', users: 4000, conversions: 10 },
    ]).srm;
    expect(broken.chiSquare).toBeCloseTo(111.111111, 5);
    expect(broken.pValue!).toBeLessThan(1e-20);
    expect(broken.mismatch).toBe(true);
    // 5000 vs 4990: chi-square = 2 · 5² / 4995 = 0.01001, p = 0.9203.
    const fine = readout([
      { name: 'a', users: 5000, conversions: 10 },
      { name: 'b', users: 4990, conversions: 10 },
    ]).srm;
    expect(fine.pValue).toBeCloseTo(0.9203046005340405, 9);
    expect(fine.mismatch).toBe(false);
  });

  it('uses the expected weights for the sample ratio check', () => {
    const counts = [
      { name: 'a', users: 1000, conversions: 0, weight: 10 },
      { name: 'b', users: 3000, conversions: 0, weight: 30 },
      { name: 'c', users: 6000, conversions: 0, weight: 60 },
    ];
    expect(readout(counts).srm).toEqual({ chiSquare: 0, pValue: 1, mismatch: false });
    // The same counts against an even split are badly off; options.weights override the counts.
    expect(readout(counts, { weights: { a: 1, b: 1, c: 1 } }).srm.mismatch).toBe(true);
  });

  it('refuses bad counts and options', () => {
    const two = [
      { name: 'a', users: 10, conversions: 1 },
      { name: 'b', users: 10, conversions: 1 },
    ];
    expect(() => readout(two.slice(0, 1))).toThrow(/at least 2 variants/);
    expect(() => readout([two[0]!, two[0]!])).toThrow(/duplicate variant name 'a'/);
    expect(() => readout([two[0]!, { name: 'b', users: 10, conversions: 11 }])).toThrow(/conversions of 'b'/);
    expect(() => readout([two[0]!, { name: 'b', users: -1, conversions: 0 }])).toThrow(/users of 'b'/);
    expect(() => readout(two, { control: 'z' })).toThrow(/control variant 'z'/);
    expect(() => readout(two, { alpha: 1 })).toThrow(/alpha/);
    expect(() => readout(two, { weights: { a: 1 } })).toThrow(/weight of 'b'/);
    expect(() => readout(two, { weights: { a: 1, b: 1 } })).not.toThrow();
    expect(() => readout(two)).not.toThrow(RecommendationError);
  });
});
