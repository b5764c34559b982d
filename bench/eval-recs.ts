// Offline evaluation of the recommendations model on Last.fm HetRec 2k (user_artists.dat: 1,892
// users, 17,632 artists, 92,834 (user, artist, plays) rows). Fixed-seed split: each user with ≥ 5
// artists has 20 % of them (rounded, at least one) held out as the test set. The confidence scaling,
// α and λ are chosen on a validation split carved the same way out of the training set only; the
// chosen model is then retrained on the whole training set and scored once on the test set.
// Then the same for EASE, RP3beta and item-kNN (each family's setting chosen on validation) and for
// blends of the best of each with ALS, and the model with the best validation NDCG@10 is named.
// Usage: node --import tsx bench/eval-recs.ts [--data FILE] [--iterations N] [--factors N]
//        [--seed N] [--no-tune] [--confidence log|linear --alpha A --regularization L] [--als-only]
// --no-tune skips the ALS search and trains the given setting (by default the one the search chose).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { trainAls, type AlsModel, type AlsOptions, type ConfidenceScaling } from '../src/recommendations/als.js';
import { readInteractionFile } from '../src/recommendations/dataset.js';
import { evaluateRanking, splitPerUser, type RankingMetrics, type Split } from '../src/recommendations/evaluation.js';
import { popularity, topPopular } from '../src/recommendations/popularity.js';
import { topK } from '../src/recommendations/topk.js';
import { blend, describeSpec, memoised, metrics, train, type ModelSpec, type Scorer } from './lib/recs-models.js';

const DEFAULT_DATA = fileURLToPath(new URL('../../shared/data/lastfm-hetrec-2k/user_artists.dat', import.meta.url));
const K = 10;
const SPLIT = { fraction: 0.2, minItems: 5 };
const TEST_SEED = 2026;
const VALIDATION_SEED = 7;
const MODEL_SEED = 42;

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: DEFAULT_DATA },
    iterations: { type: 'string', default: '15' },
    factors: { type: 'string', default: '64' },
    'no-tune': { type: 'boolean', default: false },
    confidence: { type: 'string', default: 'log' },
    alpha: { type: 'string', default: '4' },
    regularization: { type: 'string', default: '100' },
    seed: { type: 'string', default: String(MODEL_SEED) },
    'als-only': { type: 'boolean', default: false },
  },
});
const base: AlsOptions = { factors: Number(values.factors), iterations: Number(values.iterations), cgSteps: 3, seed: Number(values.seed) };

/** The grid searched on the validation split: both scalings, a few α and λ each. */
const GRID: AlsOptions[] = [
  ...[0.01, 0.1].flatMap((alpha) => [1, 30].map((regularization) => ({ confidence: 'linear' as const, alpha, regularization }))),
  ...[0.5, 1, 2, 4, 8].flatMap((alpha) => [10, 30, 100, 300].map((regularization) => ({ confidence: 'log' as const, alpha, regularization }))),
];

function alsMetrics(model: AlsModel, split: Split): RankingMetrics {
  const f = model.factors;
  return evaluateRanking((user, exclude, k) => topK(model.userFactors.subarray(user * f, (user + 1) * f), model.itemFactors, exclude, k).map((s) => s.item), split, K);
}

function popularityMetrics(split: Split): RankingMetrics {
  const counts = popularity(split.train);
  return evaluateRanking((_user, exclude, k) => topPopular(counts, exclude, k).map((s) => s.item), split, K);
}

function describe(o: AlsOptions): string {
  return `${o.confidence} α=${o.alpha} λ=${o.regularization}`;
}

const fmt = (x: number) => x.toFixed(3);

function tune(validation: Split): AlsOptions {
  console.log(`\nTuning on the validation split (${GRID.length} settings, ${base.iterations} iterations each; test set untouched):`);
  let best: { options: AlsOptions; metrics: RankingMetrics } | undefined;
  for (const setting of GRID) {
    const options = { ...base, ...setting };
    const started = performance.now();
    const metrics = alsMetrics(trainAls(validation.train, options), validation);
    console.log(`  ${describe(options).padEnd(26)} recall@10 ${fmt(metrics.recall)}  NDCG@10 ${fmt(metrics.ndcg)}  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    if (!best || metrics.ndcg > best.metrics.ndcg) best = { options, metrics };
  }
  console.log(`Chosen by validation NDCG@10: ${describe(best!.options)}`);
  return best!.options;
}

function main(): void {
  if (!existsSync(values.data)) throw new Error(`${values.data} not found (pass --data FILE)`);
  const data = readInteractionFile(values.data);
  const { matrix } = data;
  console.log(`${values.data}: ${matrix.rows} users, ${matrix.cols} items, ${matrix.indices.length} interactions`);
  const test = splitPerUser(matrix, { ...SPLIT, seed: TEST_SEED });
  const validation = splitPerUser(test.train, { ...SPLIT, seed: VALIDATION_SEED });
  console.log(`Test split (seed ${TEST_SEED}): ${test.train.indices.length} training, ${test.test.indices.length} held out; validation split (seed ${VALIDATION_SEED}) of the training set: ${validation.train.indices.length} / ${validation.test.indices.length}`);

  const chosen: AlsOptions = values['no-tune']
    ? { ...base, confidence: values.confidence as ConfidenceScaling, alpha: Number(values.alpha), regularization: Number(values.regularization) }
    : tune(validation);

  console.log(`\nTraining on the full training set: ${describe(chosen)}, ${chosen.factors} factors, ${chosen.cgSteps} CG steps, seed ${chosen.seed}`);
  const started = performance.now();
  const model = trainAls(test.train, {
    ...chosen,
    onIteration: ({ iteration, iterations, milliseconds, loss }) => console.log(`  iteration ${String(iteration).padStart(2)}/${iterations}  ${milliseconds.toFixed(0).padStart(5)} ms  loss ${loss.toFixed(5)}`),
  });
  const trainSeconds = (performance.now() - started) / 1000;
  const scoringStarted = performance.now();
  const als = alsMetrics(model, test);
  const scoringSeconds = (performance.now() - scoringStarted) / 1000;
  const pop = popularityMetrics(test);

  console.log(`\nTest set: ${als.users} users with held-out items, k = ${K}, training items excluded from every ranking.`);
  console.log('recall@10 = hits in the top 10 / min(10, held-out count); NDCG@10 = DCG of the top 10 (binary gain, 1/log2(rank+1)) / DCG of a perfect top min(10, held-out); both averaged over users.\n');
  console.log('| model | recall@10 | NDCG@10 | training |');
  console.log('|---|---|---|---|');
  console.log(`| popularity (users per artist) | ${fmt(pop.recall)} | ${fmt(pop.ndcg)} | — |`);
  console.log(`| ALS, ${describe(chosen)}, ${chosen.factors} factors, ${chosen.iterations} it. | ${fmt(als.recall)} | ${fmt(als.ndcg)} | ${trainSeconds.toFixed(1)} s |`);
  console.log(`\nScoring ${als.users} users × ${matrix.cols} items (brute-force top-10): ${scoringSeconds.toFixed(1)} s`);
  if (!values['als-only']) otherModels(chosen, validation, test, { recall: als.recall, ndcg: als.ndcg, trainSeconds });
}

/** Settings searched per family on the validation split (binary X for the item-item models). */
const FAMILIES: { name: string; specs: ModelSpec[] }[] = [
  // Plain EASE on items with ≥ 5 users (λ = 100 was best of 50/100/200 there), then EASE over items
  // with ≥ 2 users, regularised by popularity (ρ = 1) and with scores damped by popularity^0.1: the
  // best of the wider search in bench/RESULTS.md ("EASE over more items").
  {
    name: 'EASE',
    specs: [
      { kind: 'ease', options: { regularization: 100, minUsers: 5, weighting: 'binary' } },
      ...[0, 0.1].map((popularityExponent): ModelSpec => ({ kind: 'ease', options: { regularization: 50, popularityRegularization: 1, popularityExponent, minUsers: 2, weighting: 'binary' } })),
    ],
  },
  { name: 'RP3beta', specs: [0.8, 1].flatMap((alpha) => [0.1, 0.2, 0.3].map((beta): ModelSpec => ({ kind: 'rp3beta', options: { alpha, beta, neighbours: 200 } }))) },
  { name: 'item-kNN', specs: [10, 50].flatMap((shrink) => [200, 500].map((neighbours): ModelSpec => ({ kind: 'itemknn', options: { shrink, neighbours } }))) },
];
/** Weight of the first part in two-model blends. */
const BLEND_WEIGHTS = [0.3, 0.5, 0.7];

interface Candidate {
  name: string;
  /** Builds the scorer on a matrix; returns it with the training time (sum of the parts'). */
  build: (matrix: Split['train'], reuse?: Map<string, { scorer: Scorer; trainMs: number }>) => { scorer: Scorer; trainMs: number; note?: string };
  validation: RankingMetrics;
}

function otherModels(alsOptions: AlsOptions, validation: Split, test: Split, alsTest: { recall: number; ndcg: number; trainSeconds: number }): void {
  const users = validation.train.rows;
  const alsSpec: ModelSpec = { kind: 'als', options: { ...alsOptions } };
  delete alsSpec.options.onIteration;
  console.log(`\nOther models, each family's setting chosen on the validation split (test set untouched):`);
  const alsValidation = memoised(train(alsSpec, validation.train).scorer, users);
  const alsMetricsValidation = metrics(alsValidation, validation, K);
  console.log(`  ${describe(alsOptions).padEnd(40)} recall@10 ${fmt(alsMetricsValidation.recall)}  NDCG@10 ${fmt(alsMetricsValidation.ndcg)}`);
  const best: { name: string; spec: ModelSpec; scorer: Scorer; metrics: RankingMetrics }[] = [{ name: 'ALS', spec: alsSpec, scorer: alsValidation, metrics: alsMetricsValidation }];
  for (const family of FAMILIES) {
    let top: (typeof best)[number] | undefined;
    for (const spec of family.specs) {
      const trained = train(spec, validation.train);
      const scorer = memoised(trained.scorer, users);
      const m = metrics(scorer, validation, K);
      console.log(`  ${describeSpec(spec).padEnd(40)} recall@10 ${fmt(m.recall)}  NDCG@10 ${fmt(m.ndcg)}  (${(trained.trainMs / 1000).toFixed(1)} s${trained.note ? `; ${trained.note}` : ''})`);
      if (!top || m.ndcg > top.metrics.ndcg) top = { name: family.name, spec, scorer, metrics: m };
    }
    best.push(top!);
  }
  const candidates: Candidate[] = best.map((b) => ({ name: `${b.name}, ${describeSpec(b.spec)}`, build: (matrix) => train(b.spec, matrix), validation: b.metrics }));
  const pairs: [number, number][] = [[0, 1], [0, 2], [0, 3], [1, 2]];
  for (const [a, b] of pairs) {
    let top: { weight: number; metrics: RankingMetrics } | undefined;
    for (const weight of BLEND_WEIGHTS) {
      const m = metrics(blend([{ scorer: best[a]!.scorer, weight }, { scorer: best[b]!.scorer, weight: 1 - weight }]), validation, K);
      console.log(`  blend ${weight} ${best[a]!.name} + ${(1 - weight).toFixed(1)} ${best[b]!.name}`.padEnd(42) + ` recall@10 ${fmt(m.recall)}  NDCG@10 ${fmt(m.ndcg)}`);
      if (!top || m.ndcg > top.metrics.ndcg) top = { weight, metrics: m };
    }
    const [specA, specB, weight] = [best[a]!.spec, best[b]!.spec, top!.weight];
    candidates.push({
      name: `blend ${weight} ${best[a]!.name} + ${(1 - weight).toFixed(1)} ${best[b]!.name}`,
      build: (matrix) => {
        const first = train(specA, matrix);
        const second = train(specB, matrix);
        return { scorer: blend([{ scorer: first.scorer, weight }, { scorer: second.scorer, weight: 1 - weight }]), trainMs: first.trainMs + second.trainMs };
      },
      validation: top!.metrics,
    });
  }
  const chosen = candidates.reduce((x, y) => (y.validation.ndcg > x.validation.ndcg ? y : x));
  console.log(`Chosen by validation NDCG@10: ${chosen.name}`);

  console.log('\nTest set (each retrained on the full training set):\n');
  console.log('| model | validation recall@10 / NDCG@10 | test recall@10 | test NDCG@10 | training |');
  console.log('|---|---|---|---|---|');
  console.log(`| ${candidates[0]!.name} | ${fmt(candidates[0]!.validation.recall)} / ${fmt(candidates[0]!.validation.ndcg)} | ${fmt(alsTest.recall)} | ${fmt(alsTest.ndcg)} | ${alsTest.trainSeconds.toFixed(1)} s |`);
  for (const candidate of candidates.slice(1)) {
    const built = candidate.build(test.train);
    const m = metrics(built.scorer, test, K);
    const mark = candidate === chosen ? '**' : '';
    console.log(`| ${mark}${candidate.name}${mark} | ${fmt(candidate.validation.recall)} / ${fmt(candidate.validation.ndcg)} | ${mark}${fmt(m.recall)}${mark} | ${mark}${fmt(m.ndcg)}${mark} | ${(built.trainMs / 1000).toFixed(1)} s${built.note ? ` (${built.note})` : ''} |`);
  }
}

main();
