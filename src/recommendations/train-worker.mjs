// ALS training on its own thread: a Last.fm-sized model takes seconds of pure arithmetic, which must
// not stall the server's sockets. The main thread sends (user, item, weight) triples and gets the
// factors back (transferred, not copied), with a message after every tuning run and iteration.
//
// The L2 penalty λ that suits a tenant depends on its size: λ = 100 is best on Last.fm's 1 892
// users × 17 632 artists, and ruins a catalogue of 60 tracks (scores collapse to zero). So, when
// there are enough users to measure, each λ of the grid is tried on a per-user hold-out of the
// tenant's own data and the best NDCG@10 wins; the final model trains on everything.
// Plain JavaScript that loads the TypeScript sources through tsx (or, under build/, the compiled
// copy), so that it starts the same way under node, tsx and vitest.
import { existsSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

const compiled = existsSync(new URL('./als.js', import.meta.url));
if (!compiled) (await import('tsx/esm/api')).register();
const load = (name) => import(new URL(`./${name}${compiled ? '.js' : '.ts'}`, import.meta.url).href);
const { trainAls } = await load('als');
const { csrFromTriples } = await load('sparse');
const { evaluateRanking, splitPerUser } = await load('evaluation');
const { topK } = await load('topk');

/** @type {{ rows: Int32Array, cols: Int32Array, values: Float32Array, users: number, items: number, options: { factors: number, iterations: number, regularization: number }, grid: number[], minTuningUsers: number }} */
const job = workerData;
try {
  const matrix = csrFromTriples({ rows: job.rows, cols: job.cols, values: job.values }, job.users, job.items);
  let regularization = job.options.regularization;
  const tuning = [];
  const split = job.grid.length > 1 ? splitPerUser(matrix, { fraction: 0.2, minItems: 5, seed: 1 }) : null;
  let heldOutUsers = 0;
  if (split) for (let u = 0; u < split.test.rows; u++) if (split.test.indptr[u + 1] > split.test.indptr[u]) heldOutUsers++;
  if (split && heldOutUsers >= job.minTuningUsers) {
    let best = -1;
    for (const candidate of job.grid) {
      const model = trainAls(split.train, { ...job.options, regularization: candidate, iterations: Math.min(job.options.iterations, 10) });
      const f = model.factors;
      const metrics = evaluateRanking(
        (user, exclude, k) => topK(model.userFactors.subarray(user * f, (user + 1) * f), model.itemFactors, exclude, k).map((s) => s.item),
        split,
        10,
      );
      tuning.push({ regularization: candidate, ndcg: metrics.ndcg, recall: metrics.recall, users: metrics.users });
      parentPort.postMessage({ tuning: { regularization: candidate, ndcg: metrics.ndcg, recall: metrics.recall, step: tuning.length, steps: job.grid.length } });
      if (metrics.ndcg > best) {
        best = metrics.ndcg;
        regularization = candidate;
      }
    }
  }
  const model = trainAls(matrix, { ...job.options, regularization, onIteration: (progress) => parentPort.postMessage({ progress }) });
  parentPort.postMessage(
    { done: { userFactors: model.userFactors, itemFactors: model.itemFactors, regularization, tuning } },
    [model.userFactors.buffer, model.itemFactors.buffer],
  );
} catch (error) {
  parentPort.postMessage({ error: { name: error?.name ?? 'Error', message: error?.message ?? String(error) } });
}
