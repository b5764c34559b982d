// A/B testing without I/O: who sees which variant, and what the counts say afterwards. Assignment
// is a hash, not a stored coin flip, so any server can answer "which variant is this user in" with
// no shared state and the answer never changes. The statistics (Wilson intervals, pooled z-test,
// sample-ratio-mismatch check) are implemented here from one regularized incomplete gamma function
// instead of a stats dependency: erfc(x) = Q(1/2, x²) and a chi-square tail is Q(k/2, x/2).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { RecommendationError, requireInteger } from './errors.js';

export interface Variant {
  name: string;
  /** Relative weight: shares are weight / sum of weights. */
  weight: number;
  config?: Record<string, unknown>;
}

export interface ExperimentDefinition {
  /** Also the hash salt unless `salt` is set, so two experiments bucket users independently. */
  id: string;
  variants: Variant[];
  /** Give two experiments the same salt only to make them bucket users identically on purpose. */
  salt?: string;
}

const VariantSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_-]{1,50}$/, 'variant name must be 1-50 characters of [A-Za-z0-9_-]'),
  weight: z.number().positive('weight must be a positive finite number'),
  config: z.record(z.string(), z.unknown()).optional(),
});

const ExperimentSchema = z.object({
  id: z.string().regex(/^[a-z0-9._-]{1,100}$/, 'id must be 1-100 characters of [a-z0-9._-]'),
  variants: z
    .array(VariantSchema)
    .min(2, 'an experiment needs at least 2 variants')
    .max(10, 'an experiment has at most 10 variants')
    .superRefine((variants, ctx) => {
      const seen = new Set<string>();
      variants.forEach((variant, index) => {
        if (seen.has(variant.name)) ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `duplicate variant name '${variant.name}'` });
        seen.add(variant.name);
      });
      if (!Number.isFinite(variants.reduce((sum, variant) => sum + variant.weight, 0))) {
        ctx.addIssue({ code: 'custom', message: 'the sum of the weights must be finite' });
      }
    }),
  salt: z.string().min(1, 'salt must not be empty').max(200, 'salt is at most 200 characters').optional(),
});

/** The definition, checked; throws RecommendationError listing every problem found. */
export function validateExperiment(def: unknown): ExperimentDefinition {
  const parsed = ExperimentSchema.safeParse(def);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message));
    throw new RecommendationError(`invalid experiment: ${problems.join('; ')}`);
  }
  const { id, variants, salt } = parsed.data;
  return {
    id,
    variants: variants.map(({ name, weight, config }) => (config === undefined ? { name, weight } : { name, weight, config })),
    ...(salt === undefined ? {} : { salt }),
  };
}

/**
 * The user's variant: sha256 of `${salt ?? id}:${userId}` read as a uniform 53-bit fraction in
 * [0, 1), then the first variant whose cumulative share exceeds it. Pure: same inputs, same variant.
 */
export function assignVariant(def: ExperimentDefinition, userId: string): Variant {
  const total = def.variants.reduce((sum, variant) => sum + variant.weight, 0);
  if (def.variants.length === 0 || !(total > 0) || !Number.isFinite(total)) {
    throw new RecommendationError(`experiment '${def.id}' needs variants with positive finite weights`);
  }
  // Compare against raw cumulative weights scaled by the total, so no share is lost to normalising.
  const point = unitHash(`${def.salt ?? def.id}:${userId}`) * total;
  let cumulative = 0;
  for (const variant of def.variants) {
    cumulative += variant.weight;
    if (point < cumulative) return variant;
  }
  return def.variants[def.variants.length - 1]!; // only reachable through rounding in the sum
}

/** The first 53 bits of sha256(key) as a number in [0, 1): every double in that grid equally likely. */
function unitHash(key: string): number {
  const digest = createHash('sha256').update(key, 'utf8').digest();
  const high = digest.readUInt32BE(0); // 32 bits
  const low = digest.readUInt32BE(4) >>> 11; // 21 bits
  return (high * 2 ** 21 + low) / 2 ** 53;
}

export interface VariantCounts {
  name: string;
  users: number;
  /** Users with at least one outcome (not the number of outcomes). */
  conversions: number;
  /** The variant's relative weight, for the sample-ratio-mismatch check. */
  weight?: number;
}

export interface ReadoutOptions {
  /** The variant the others are compared with; the first one when left out. */
  control?: string;
  /** Significance level of the z-tests, in (0, 1); 0.05 when left out. */
  alpha?: number;
  /** Expected relative weights by variant name; overrides VariantCounts.weight. Equal when neither is given. */
  weights?: Record<string, number>;
}

export interface Interval {
  lower: number;
  upper: number;
}

export interface VariantReadout {
  name: string;
  users: number;
  conversions: number;
  /** conversions / users; null with no users. */
  rate: number | null;
  /** 95% Wilson score interval for the rate; null with no users. */
  interval: Interval | null;
}

export interface Comparison {
  variant: string;
  control: string;
  /** rate(variant) - rate(control); null when either has no users. */
  absoluteLift: number | null;
  /** absoluteLift / rate(control); null also when the control rate is 0. */
  relativeLift: number | null;
  /** 95% interval for absoluteLift (Newcombe's hybrid score interval from the two Wilson intervals); null when absoluteLift is. */
  liftInterval: Interval | null;
  /** Pooled two-proportion z; null when undefined (no users, or pooled rate 0 or 1). */
  z: number | null;
  /** Two-sided p-value of z; null when z is. */
  pValue: number | null;
  /** pValue < alpha; false when pValue is null. */
  significant: boolean;
}

export interface SampleRatioCheck {
  /** Pearson chi-square of observed users against the expected shares; null with no users at all. */
  chiSquare: number | null;
  /** Upper tail with (variants - 1) degrees of freedom; null when chiSquare is. */
  pValue: number | null;
  /** pValue < 0.001: the split itself is broken, so do not trust the comparisons. */
  mismatch: boolean;
}

export interface Readout {
  control: string;
  alpha: number;
  variants: VariantReadout[];
  comparisons: Comparison[];
  srm: SampleRatioCheck;
}

const Z_95 = 1.959963984540054; // Φ⁻¹(0.975)
const SRM_THRESHOLD = 0.001;

/** Per-variant rates, each non-control variant against the control, and the sample-ratio check. */
export function readout(counts: VariantCounts[], options: ReadoutOptions = {}): Readout {
  if (counts.length < 2) throw new RecommendationError(`a readout needs at least 2 variants, got ${counts.length}`);
  const names = new Set<string>();
  for (const { name, users, conversions } of counts) {
    if (names.has(name)) throw new RecommendationError(`duplicate variant name '${name}' in counts`);
    names.add(name);
    requireInteger(`users of '${name}'`, users, 0);
    requireInteger(`conversions of '${name}'`, conversions, 0, users);
  }
  const alpha = options.alpha ?? 0.05;
  if (!(alpha > 0 && alpha < 1)) throw new RecommendationError(`alpha must be in (0, 1), got ${alpha}`);
  const control = options.control ?? counts[0]!.name;
  const base = counts.find((c) => c.name === control);
  if (base === undefined) throw new RecommendationError(`control variant '${control}' is not among the counts`);

  const variants = counts.map(({ name, users, conversions }) => ({
    name,
    users,
    conversions,
    rate: users > 0 ? conversions / users : null,
    interval: wilsonInterval(conversions, users),
  }));
  const comparisons = counts.filter((c) => c !== base).map((c) => compare(base, c, alpha));
  return { control, alpha, variants, comparisons, srm: sampleRatioCheck(counts, expectedWeights(counts, options.weights)) };
}

function compare(base: VariantCounts, other: VariantCounts, alpha: number): Comparison {
  const rateBase = base.users > 0 ? base.conversions / base.users : null;
  const rateOther = other.users > 0 ? other.conversions / other.users : null;
  const absoluteLift = rateBase === null || rateOther === null ? null : rateOther - rateBase;
  const relativeLift = absoluteLift === null || rateBase === 0 ? null : absoluteLift / rateBase!;
  const test = twoProportionZTest(base.conversions, base.users, other.conversions, other.users);
  return {
    variant: other.name,
    control: base.name,
    absoluteLift,
    relativeLift,
    liftInterval: differenceInterval(other.conversions, other.users, base.conversions, base.users),
    z: test?.z ?? null,
    pValue: test?.pValue ?? null,
    significant: test !== null && test.pValue < alpha,
  };
}

function expectedWeights(counts: VariantCounts[], byName: Record<string, number> | undefined): number[] {
  const given = counts.map((c) => (byName !== undefined && Object.hasOwn(byName, c.name) ? byName[c.name] : c.weight));
  if (given.every((w) => w === undefined)) return counts.map(() => 1);
  return given.map((w, i) => {
    if (w === undefined || !Number.isFinite(w) || w <= 0) {
      throw new RecommendationError(`weight of '${counts[i]!.name}' must be a positive finite number when any weight is given, got ${w}`);
    }
    return w;
  });
}

function sampleRatioCheck(counts: VariantCounts[], weights: number[]): SampleRatioCheck {
  const users = counts.reduce((sum, c) => sum + c.users, 0);
  if (users === 0) return { chiSquare: null, pValue: null, mismatch: false };
  const totalWeight = weights.reduce((sum, w) => sum + w, 0);
  let chiSquare = 0;
  counts.forEach((c, i) => {
    const expected = (users * weights[i]!) / totalWeight;
    chiSquare += (c.users - expected) ** 2 / expected;
  });
  const pValue = chiSquareSurvival(chiSquare, counts.length - 1);
  return { chiSquare, pValue, mismatch: pValue < SRM_THRESHOLD };
}

/** The 95% Wilson score interval for successes / trials; null with no trials. */
export function wilsonInterval(successes: number, trials: number, z = Z_95): Interval | null {
  if (trials === 0) return null;
  const p = successes / trials;
  const z2n = (z * z) / trials;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt(p * (1 - p) / trials + z2n / (4 * trials));
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}

/**
 * 95% interval for rate A − rate B by Newcombe's hybrid score method (Statistics in Medicine 1998,
 * method 10): each side's distance from the difference combines the two Wilson intervals' arms.
 * Unlike the Wald interval it stays inside [−1, 1] and behaves at rates near 0 or 1.
 */
export function differenceInterval(successesA: number, trialsA: number, successesB: number, trialsB: number, z = Z_95): Interval | null {
  const a = wilsonInterval(successesA, trialsA, z);
  const b = wilsonInterval(successesB, trialsB, z);
  if (!a || !b) return null;
  const pa = successesA / trialsA;
  const pb = successesB / trialsB;
  const difference = pa - pb;
  return {
    lower: difference - Math.sqrt((pa - a.lower) ** 2 + (b.upper - pb) ** 2),
    upper: difference + Math.sqrt((a.upper - pa) ** 2 + (pb - b.lower) ** 2),
  };
}

/**
 * Pooled two-proportion z-test of rate B against rate A (positive z: B higher), two-sided. Null when
 * the statistic is undefined: a group with no trials, or a pooled rate of exactly 0 or 1.
 */
export function twoProportionZTest(successesA: number, trialsA: number, successesB: number, trialsB: number): { z: number; pValue: number } | null {
  if (trialsA === 0 || trialsB === 0) return null;
  const pooled = (successesA + successesB) / (trialsA + trialsB);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / trialsA + 1 / trialsB));
  if (!(se > 0)) return null;
  const z = (successesB / trialsB - successesA / trialsA) / se;
  // P(|Z| > |z|) = erfc(|z|/√2) = Q(1/2, z²/2): computed directly, so tiny p-values keep their digits.
  return { z, pValue: upperGammaRegularized(0.5, (z * z) / 2) };
}

/** Φ(x), the standard normal CDF, through erf(t) = P(1/2, t²); accurate to about 1e-14. */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const half = (x * x) / 2;
  return x < 0 ? upperGammaRegularized(0.5, half) / 2 : 0.5 + lowerGammaRegularized(0.5, half) / 2;
}

/** P(X > x) for X chi-square with `dof` (an integer ≥ 1) degrees of freedom. */
export function chiSquareSurvival(x: number, dof: number): number {
  requireInteger('degrees of freedom', dof, 1);
  if (Number.isNaN(x)) return NaN;
  if (x <= 0) return 1;
  return upperGammaRegularized(dof / 2, x / 2);
}

const EPSILON = 1e-16;
const TINY = 1e-300;
const MAX_ITERATIONS = 10_000;

/** P(a, x) = γ(a, x) / Γ(a), for a = k/2 (k a positive integer) and x ≥ 0. */
function lowerGammaRegularized(a: number, x: number): number {
  if (x <= 0) return 0;
  if (x === Infinity) return 1;
  return x < a + 1 ? gammaSeries(a, x) : 1 - gammaContinuedFraction(a, x);
}

/** Q(a, x) = 1 - P(a, x), computed on the side where it does not cancel. */
function upperGammaRegularized(a: number, x: number): number {
  if (x <= 0) return 1;
  if (x === Infinity) return 0;
  return x < a + 1 ? 1 - gammaSeries(a, x) : gammaContinuedFraction(a, x);
}

/** P(a, x) by its power series (Numerical Recipes gser); converges fast for x < a + 1. */
function gammaSeries(a: number, x: number): number {
  let term = 1 / a;
  let sum = term;
  for (let n = 1; n <= MAX_ITERATIONS; n++) {
    term *= x / (a + n);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * EPSILON) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - lnGammaHalfInteger(a));
}

/** Q(a, x) by its continued fraction, modified Lentz (Numerical Recipes gcf); for x ≥ a + 1. */
function gammaContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i <= MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) break;
  }
  return Math.exp(-x + a * Math.log(x) - lnGammaHalfInteger(a)) * h;
}

/**
 * ln Γ(a) for a = k/2, exactly by recurrence from Γ(1) = 1 and Γ(1/2) = √π: the only arguments the
 * normal and chi-square tails here need, so no Lanczos approximation is involved.
 */
function lnGammaHalfInteger(a: number): number {
  const twice = 2 * a;
  if (!Number.isInteger(twice) || twice < 1) throw new RecommendationError(`ln Γ is only defined here for positive halves, got ${a}`);
  let value = twice % 2 === 0 ? 0 : 0.5 * Math.log(Math.PI);
  for (let t = twice % 2 === 0 ? 1 : 0.5; t < a; t++) value += Math.log(t);
  return value;
}
