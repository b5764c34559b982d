// The models bench/eval-recs.ts compares besides ALS: EASE, RP3beta, item-kNN and blends, each as
// "train on a matrix → score a user's every item", so that the evaluation, the validation search and
// the blends treat them alike. Blends mix per-user scores each scaled by its largest absolute value.
import type { AlsModel, AlsOptions } from '../../src/recommendations/als.js';
import { trainAls } from '../../src/recommendations/als.js';
import { easeScores, trainEase, type EaseOptions } from '../../src/recommendations/ease.js';
import { evaluateRanking, type RankingMetrics, type Split } from '../../src/recommendations/evaluation.js';
import { neighbourScores, trainItemKnn, trainRp3Beta, type KnnOptions, type Rp3Options } from '../../src/recommendations/item-graph.js';
import { rowIndices, type CsrMatrix } from '../../src/recommendations/sparse.js';
import { topKByScore } from '../../src/recommendations/topk.js';

/** Every item's score for user `user` of the matrix the model was trained on. */
export type Scorer = (user: number) => Float32Array;

export interface Trained {
  scorer: Scorer;
  trainMs: number;
  note?: string;
}

export type ModelSpec =
  | { kind: 'als'; options: AlsOptions }
  | { kind: 'ease'; options: EaseOptions }
  | { kind: 'rp3beta'; options: Rp3Options }
  | { kind: 'itemknn'; options: KnnOptions };

export function describeSpec(spec: ModelSpec): string {
  const o = spec.options as Record<string, unknown>;
  const parts = Object.entries(o)
    .filter(([key]) => !['onIteration', 'seed', 'cgSteps', 'iterations', 'factors'].includes(key))
    .map(([key, value]) => `${short[key] ?? key}=${String(value)}`);
  return `${spec.kind} ${parts.join(' ')}`;
}

const short: Record<string, string> = { regularization: 'λ', alpha: 'α', beta: 'β', neighbours: 'k', shrink: 'h', minUsers: 'min users', weighting: 'x', confidence: 'conf', popularityRegularization: 'ρ', popularityExponent: 'popularity^−' };

export function train(spec: ModelSpec, matrix: CsrMatrix): Trained {
  const started = performance.now();
  const done = (scorer: Scorer, note?: string): Trained => ({ scorer, trainMs: performance.now() - started, ...(note ? { note } : {}) });
  switch (spec.kind) {
    case 'als': {
      const model: AlsModel = trainAls(matrix, spec.options);
      const f = model.factors;
      return done((user) => {
        const out = new Float32Array(model.items);
        const u = model.userFactors.subarray(user * f, (user + 1) * f);
        for (let i = 0; i < model.items; i++) {
          let dot = 0;
          for (let d = 0; d < f; d++) dot += u[d]! * model.itemFactors[i * f + d]!;
          out[i] = dot;
        }
        return out;
      });
    }
    case 'ease': {
      const model = trainEase(matrix, spec.options);
      const note = `${model.items.length} items, Gram ${(model.timings.gramMs / 1000).toFixed(1)} s, inverse ${(model.timings.inverseMs / 1000).toFixed(1)} s`;
      return done((user) => easeScores(model, rowIndices(matrix, user), matrix.data.subarray(matrix.indptr[user]!, matrix.indptr[user + 1]!)), note);
    }
    case 'rp3beta': {
      const weights = trainRp3Beta(matrix, spec.options);
      return done((user) => neighbourScores(weights, rowIndices(matrix, user)));
    }
    case 'itemknn': {
      const weights = trainItemKnn(matrix, spec.options);
      return done((user) => neighbourScores(weights, rowIndices(matrix, user)));
    }
  }
}

/** Σ wᵢ · scoresᵢ / max|scoresᵢ| per user. */
export function blend(parts: { scorer: Scorer; weight: number }[]): Scorer {
  return (user) => {
    let out: Float32Array | null = null;
    for (const { scorer, weight } of parts) {
      const scores = scorer(user);
      let max = 0;
      for (const s of scores) max = Math.max(max, Math.abs(s));
      const scale = max > 0 ? weight / max : 0;
      if (!out) out = new Float32Array(scores.length);
      for (let i = 0; i < scores.length; i++) out[i]! += scale * scores[i]!;
    }
    return out!;
  };
}

export function metrics(scorer: Scorer, split: Split, k: number): RankingMetrics {
  return evaluateRanking(
    (user, exclude, top) => {
      const scores = scorer(user);
      return topKByScore(scores.length, (item) => scores[item]!, exclude, top).map((s) => s.item);
    },
    split,
    k,
  );
}

/** Scores computed once per user: blends search over the same models many times. */
export function memoised(scorer: Scorer, users: number): Scorer {
  const cache = new Array<Float32Array | undefined>(users);
  return (user) => (cache[user] ??= scorer(user));
}
