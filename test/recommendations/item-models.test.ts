// EASE, RP3beta and item-kNN on small matrices whose answers are computed another way: the EASE
// closed form against a direct least-squares solve per column, the Cholesky inverse against A·A⁻¹ = I,
// the neighbourhood weights against hand-written sums; and EASE through the ONNX scorer.
import { describe, expect, it } from 'vitest';
import { easeItemMatrix, easeScores, easeUserVector, trainEase } from '../../src/recommendations/ease.js';
import { RecommendationError } from '../../src/recommendations/errors.js';
import { neighbourScores, trainItemKnn, trainRp3Beta } from '../../src/recommendations/item-graph.js';
import { invertSpd } from '../../src/recommendations/linalg.js';
import { buildScoringModel, maskFor, OnnxScorer } from '../../src/recommendations/onnx-model.js';
import { csrFromTriples, type CsrMatrix } from '../../src/recommendations/sparse.js';
import { seededRandom } from '../../src/shared/random.js';

/** A users × items 0/1 matrix from dense rows. */
function matrixOf(rows: number[][]): CsrMatrix {
  const triples = { rows: [] as number[], cols: [] as number[], values: [] as number[] };
  rows.forEach((row, u) =>
    row.forEach((v, i) => {
      if (v === 0) return;
      triples.rows.push(u);
      triples.cols.push(i);
      triples.values.push(v);
    }),
  );
  return csrFromTriples(triples, rows.length, rows[0]!.length);
}

/** Solves A x = b by Gaussian elimination with partial pivoting (the reference, not the code under test). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[pivot]![c]!)) pivot = r;
    [m[c], m[pivot]] = [m[pivot]!, m[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]! / m[c]![c]!;
      for (let k = c; k <= n; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  return m.map((row, i) => row[n]! / row[i]!);
}

const random = seededRandom(11);
const interactions = Array.from({ length: 40 }, () => Array.from({ length: 9 }, () => (random() < 0.35 ? 1 + Math.floor(random() * 20) : 0)));
// Every item has at least one user, so minUsers 1 keeps all nine.
interactions.push([1, 1, 1, 1, 1, 1, 1, 1, 1]);
const X = matrixOf(interactions);
const binary = interactions.map((row) => row.map((v) => (v > 0 ? 1 : 0)));

describe('Cholesky inverse', () => {
  it('inverts a symmetric positive-definite matrix: A·A⁻¹ = I', () => {
    const n = 12;
    const b = Array.from({ length: n * n }, () => random() - 0.5);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j]! += b[i * n + k]! * b[j * n + k]!;
    for (let i = 0; i < n; i++) a[i * n + i]! += 0.5;
    const inverse = invertSpd(a, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let k = 0; k < n; k++) sum += a[i * n + k]! * inverse[k * n + j]!;
        expect(sum).toBeCloseTo(i === j ? 1 : 0, 9);
      }
    }
  });

  it('refuses a matrix that is not positive definite, naming the row', () => {
    expect(() => invertSpd(Float64Array.of(1, 2, 2, 1), 2)).toThrow(/not positive definite \(pivot -3 at row 1\)/);
    expect(() => invertSpd(new Float64Array(3), 2)).toThrow(RecommendationError);
  });
});

describe('EASE', () => {
  it('equals, column by column, the ridge regression of each item on the others (diagonal held at 0)', () => {
    const lambda = 3;
    const model = trainEase(X, { regularization: lambda, minUsers: 1, weighting: 'binary' });
    const n = 9;
    expect(Array.from(model.items)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const gram = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => binary.reduce((s, row) => s + row[i]! * row[j]!, 0)));
    for (let j = 0; j < n; j++) {
      const others = [...Array(n).keys()].filter((i) => i !== j);
      const a = others.map((i) => others.map((k) => gram[i]![k]! + (i === k ? lambda : 0)));
      const direct = solve(a, others.map((i) => gram[i]![j]!));
      others.forEach((i, at) => expect(model.weights[i * n + j]).toBeCloseTo(direct[at]!, 5));
      expect(model.weights[j * n + j]).toBe(0);
    }
  });

  it('leaves out items with too few users and scores a user as x·B', () => {
    const model = trainEase(X, { regularization: 2, minUsers: 15 });
    const m = model.items.length;
    expect(m).toBeGreaterThan(0);
    expect(m).toBeLessThan(9);
    for (let item = 0; item < 9; item++) expect(model.local[item]! >= 0).toBe(binary.filter((row) => row[item] === 1).length >= 15);
    const user = 3;
    const items = X.indices.subarray(X.indptr[user]!, X.indptr[user + 1]!);
    const values = X.data.subarray(X.indptr[user]!, X.indptr[user + 1]!);
    const scores = easeScores(model, items, values);
    for (let item = 0; item < 9; item++) {
      const j = model.local[item]!;
      let expected = 0;
      if (j >= 0) for (const have of items) if (model.local[have]! >= 0) expected += model.weights[model.local[have]! * m + j]!;
      expect(scores[item]).toBeCloseTo(expected, 5);
    }
    expect(() => trainEase(X, { minUsers: 1000 })).toThrow(/no item has 1000 or more users/);
    expect(() => trainEase(X, { regularization: -1 })).toThrow(RecommendationError);
  });

  it('damps each item column by its popularity^β, leaving the rest of B as it was', () => {
    const plain = trainEase(X, { regularization: 2, minUsers: 1 });
    const damped = trainEase(X, { regularization: 2, minUsers: 1, popularityExponent: 0.5 });
    const m = plain.items.length;
    for (let j = 0; j < m; j++) {
      const users = binary.filter((row) => row[plain.items[j]!] === 1).length;
      for (let i = 0; i < m; i++) expect(damped.weights[i * m + j]).toBeCloseTo(plain.weights[i * m + j]! / Math.sqrt(users), 5);
    }
    expect(() => trainEase(X, { popularityExponent: -0.1 })).toThrow(RecommendationError);
    expect(() => trainEase(X, { popularityExponent: Number.NaN })).toThrow(/popularityExponent/);
  });

  it('scores through the ONNX graph (user vector × item matrix) as in TypeScript', async () => {
    const model = trainEase(X, { regularization: 2, minUsers: 1 });
    const m = model.items.length;
    const scorer = await OnnxScorer.load(buildScoringModel(easeItemMatrix(model), m, m, { version: 'ease-test' }));
    try {
      for (const user of [0, 5, 17]) {
        const items = X.indices.subarray(X.indptr[user]!, X.indptr[user + 1]!);
        const values = X.data.subarray(X.indptr[user]!, X.indptr[user + 1]!);
        const expected = easeScores(model, items, values);
        const { items: ranked, scores } = await scorer.score(easeUserVector(model, items, values), maskFor(m, items), m);
        expect(ranked[0]!.length).toBe(m - items.length);
        ranked[0]!.forEach((item, rank) => {
          expect(items).not.toContain(item);
          expect(scores[0]![rank]).toBeCloseTo(expected[model.items[item]!]!, 4);
        });
      }
    } finally {
      await scorer.release();
    }
  });
});

describe('item neighbourhoods', () => {
  // Users: {0,1}, {0,1,2}, {1,2}, {3}
  const small = matrixOf([
    [1, 1, 0, 0],
    [1, 1, 1, 0],
    [0, 1, 1, 0],
    [0, 0, 0, 1],
  ]);
  const dense = (w: CsrMatrix) => Array.from({ length: w.rows }, (_, i) => Array.from({ length: w.cols }, (_, j) => {
    for (let q = w.indptr[i]!; q < w.indptr[i + 1]!; q++) if (w.indices[q] === j) return w.data[q]!;
    return 0;
  }));

  it('item-kNN: common users over the product of norms plus the shrinkage', () => {
    const w = dense(trainItemKnn(small, { shrink: 1, neighbours: 10 }));
    // Items 0 and 1 share 2 users, ‖x₀‖ = √2, ‖x₁‖ = √3.
    expect(w[0]![1]).toBeCloseTo(2 / (Math.sqrt(6) + 1), 6);
    expect(w[1]![2]).toBeCloseTo(2 / (Math.sqrt(6) + 1), 6);
    expect(w[0]![2]).toBeCloseTo(1 / (2 + 1), 6);
    expect(w[0]![0]).toBe(0);
    expect(w[3]!.every((v) => v === 0)).toBe(true);
  });

  it('RP3beta: the item → user → item walk, α-powered, over popularity^β; keeps the best k', () => {
    const w = dense(trainRp3Beta(small, { alpha: 1, beta: 0.5, neighbours: 10 }));
    // From item 0 (2 users): user 0 (2 items) and user 1 (3 items) reach item 1.
    expect(w[0]![1]).toBeCloseTo((0.5 * 0.5 + 0.5 * (1 / 3)) / Math.sqrt(3), 6);
    expect(w[0]![2]).toBeCloseTo((0.5 * (1 / 3)) / Math.sqrt(2), 6);
    const top1 = trainRp3Beta(small, { alpha: 1, beta: 0.5, neighbours: 1 });
    expect(Array.from(top1.indices.subarray(top1.indptr[0]!, top1.indptr[1]!))).toEqual([1]);
    expect(Array.from(neighbourScores(top1, [0]))).toEqual([0, top1.data[0]!, 0, 0]);
    expect(() => trainRp3Beta(small, { neighbours: 0 })).toThrow(RecommendationError);
  });
});
