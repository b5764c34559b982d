// The recommender as the product runs it, for the offline replay (replay.ts): ALS trained on the
// interactions known at the time, retrained when a day of event time has passed (the nightly job),
// with the trainer's settings (λ = 10 below 1,000 users, as for a small tenant that cannot be tuned).
// A user the last training did not know is folded in from their items now (the exact ALS user step,
// as serving does). Samples are ranked by x·y; collaborators are the session authors whose vectors
// are closest in taste (cosine), as the collaboration context ranks them; without tags,
// complementarity is left out. A user with no vector gets the popularity answer, as in serving.
import { ALS_DEFAULTS, confidenceMatrix, gram, trainAls, type AlsOptions } from './als.js';
import { invertSpd } from './linalg.js';
import { popularityRecommender, ranked, type ReplayHistory, type ReplayRecommender } from './replay.js';
import { csrFromTriples } from './sparse.js';

const DAY_MS = 86_400_000;
const SMALL_TENANT_USERS = 1000;
const SMALL_TENANT_REGULARIZATION = 10;

interface Trained {
  options: AlsOptions;
  users: Map<string, number>;
  items: string[];
  userFactors: Float32Array;
  itemFactors: Float32Array;
  itemIndex: Map<string, number>;
  /** YᵀY + λI, for fold-in. */
  gram: Float64Array;
}

export interface AlsReplayOptions {
  /** Event time between trainings (default a day). */
  retrainMs?: number;
  als?: Omit<AlsOptions, 'onIteration'>;
}

export function alsRecommender(options: AlsReplayOptions = {}): ReplayRecommender & { trainings: number } {
  const retrainMs = options.retrainMs ?? DAY_MS;
  let model: Trained | null = null;
  let trainedAt = -Infinity;
  const self = {
    name: 'model',
    trainings: 0,
    prepare(past: ReplayHistory, at: number) {
      if (at - trainedAt < retrainMs || past.items.size === 0) return;
      model = train(past, options.als ?? {});
      trainedAt = at;
      self.trainings++;
    },
    samples(past: ReplayHistory, userId: string, k: number) {
      const x = model && vectorOf(model, past, userId);
      if (!model || !x) return popularityRecommender.samples(past, userId, k);
      const mine = past.items.get(userId);
      const f = x.length;
      const scored: [string, number][] = [];
      model.items.forEach((item, i) => {
        if (past.kindOf(item) !== 'sample' || mine?.has(item)) return;
        let dot = 0;
        for (let d = 0; d < f; d++) dot += x[d]! * model!.itemFactors[i * f + d]!;
        scored.push([item, dot]);
      });
      return ranked(scored, k);
    },
    collaborators(past: ReplayHistory, userId: string, k: number) {
      const x = model && vectorOf(model, past, userId);
      if (!model || !x) return popularityRecommender.collaborators(past, userId, k);
      const known = past.coeditors.get(userId);
      const scored: [string, number][] = [];
      for (const other of past.creators()) {
        if (other === userId || known?.has(other)) continue;
        const y = vectorOf(model, past, other);
        const taste = y ? cosine(x, y) : 0;
        if (taste > 0) scored.push([other, taste]);
      }
      return ranked(scored, k);
    },
  };
  return self;
}

function train(past: ReplayHistory, overrides: Omit<AlsOptions, 'onIteration'>): Trained {
  const users = new Map<string, number>();
  const itemIndex = new Map<string, number>();
  const rows: number[] = [];
  const cols: number[] = [];
  const values: number[] = [];
  for (const [user, items] of past.items) {
    const row = users.size;
    users.set(user, row);
    for (const [item, weight] of items) {
      if (!itemIndex.has(item)) itemIndex.set(item, itemIndex.size);
      rows.push(row);
      cols.push(itemIndex.get(item)!);
      values.push(weight);
    }
  }
  const options: AlsOptions = {
    ...ALS_DEFAULTS,
    regularization: users.size < SMALL_TENANT_USERS ? SMALL_TENANT_REGULARIZATION : ALS_DEFAULTS.regularization,
    ...overrides,
  };
  const model = trainAls(csrFromTriples({ rows, cols, values }, users.size, itemIndex.size), options);
  return {
    options,
    users,
    items: [...itemIndex.keys()],
    itemIndex,
    userFactors: model.userFactors,
    itemFactors: model.itemFactors,
    gram: gram(model.itemFactors, model.factors, options.regularization!),
  };
}

/** The trained vector, or one folded in from the user's items now, or null when none is known. */
function vectorOf(model: Trained, past: ReplayHistory, userId: string): Float64Array | null {
  const f = model.gram.length ** 0.5;
  const row = model.users.get(userId);
  if (row !== undefined) return Float64Array.from(model.userFactors.subarray(row * f, (row + 1) * f));
  const known = [...(past.items.get(userId) ?? [])].filter(([item]) => model.itemIndex.has(item));
  if (known.length === 0) return null;
  const weights = csrFromTriples({ rows: known.map(() => 0), cols: known.map((_, i) => i), values: known.map(([, w]) => w) }, 1, known.length);
  const confidence = confidenceMatrix(weights, model.options).data;
  const a = Float64Array.from(model.gram);
  const b = new Float64Array(f);
  known.forEach(([item], n) => {
    const y = model.itemFactors.subarray(model.itemIndex.get(item)! * f, (model.itemIndex.get(item)! + 1) * f);
    const c = confidence[n]!;
    for (let p = 0; p < f; p++) {
      b[p]! += c * y[p]!;
      for (let q = 0; q < f; q++) a[p * f + q]! += (c - 1) * y[p]! * y[q]!;
    }
  });
  const inverse = invertSpd(a, f);
  const x = new Float64Array(f);
  for (let p = 0; p < f; p++) for (let q = 0; q < f; q++) x[p]! += inverse[p * f + q]! * b[q]!;
  return x;
}

function cosine(a: Float64Array, b: Float64Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let d = 0; d < a.length; d++) {
    dot += a[d]! * b[d]!;
    na += a[d]! * a[d]!;
    nb += b[d]! * b[d]!;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}
