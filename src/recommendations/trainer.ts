// One training run for one tenant: read the interactions (decayed to now), train ALS on a worker
// thread, give cold items a vector, export the ONNX scoring graph and the factors, and register the
// version. Progress goes to a callback after every step and iteration (the job API and the CLI's
// progress bar both read it).
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { ALS_DEFAULTS, type AlsOptions, type AlsProgress } from './als.js';
import { RecommendationError } from './errors.js';
import { writeModel, type ModelMeta } from './model-files.js';
import { FOLLOW_WEIGHT } from './signals.js';
import type { RecommendationStore, TrainingData } from './store.js';

export type TrainingPhase = 'loading' | 'tuning' | 'training' | 'exporting' | 'done' | 'failed';

export interface TrainingProgress {
  phase: TrainingPhase;
  /** 0..1 over the whole run. */
  fraction: number;
  iteration?: number;
  iterations?: number;
  loss?: number;
  message: string;
}

export interface TrainingResult {
  version: string;
  path: string;
  summary: Record<string, unknown>;
}

export interface TrainOptions {
  als?: Omit<AlsOptions, 'onIteration'>;
  /** λ values tried on a hold-out of the tenant's data before the final training; [] or one value: no tuning. */
  regularizationGrid?: number[];
  onProgress?: (progress: TrainingProgress) => void;
  now?: Date;
  /** Aborting stops the training thread at once (shutdown); the run fails with the signal's reason. */
  signal?: AbortSignal;
}

/** λ candidates: 100 is Last.fm's best (bench/RESULTS.md); small catalogues want far less. */
export const REGULARIZATION_GRID = [1, 10, 100];
/** Fewer users with held-out items than this, and λ is not tuned (the measure would be noise). */
const MIN_TUNING_USERS = 20;
/** Small tenants that cannot be tuned get this λ rather than Last.fm's 100. */
const UNTUNED_SMALL_REGULARIZATION = 10;

/** Vectors borrowed by cold items are shrunk: a guess from the artist should not outrank evidence. */
const COLD_SHRINK = 0.5;

export async function trainTenant(store: RecommendationStore, dataDir: string, tenantId: string, options: TrainOptions = {}): Promise<TrainingResult> {
  const report = options.onProgress ?? (() => undefined);
  const now = options.now ?? new Date();
  const als = { ...ALS_DEFAULTS, ...options.als };
  const started = performance.now();
  report({ phase: 'loading', fraction: 0, message: 'reading interactions' });
  const data = await store.trainingData(tenantId, now, FOLLOW_WEIGHT);
  if (data.values.length === 0) throw new RecommendationError(`tenant ${tenantId} has no interactions to train on`);
  const grid = options.regularizationGrid ?? (options.als?.regularization === undefined ? REGULARIZATION_GRID : []);
  // Used when the grid is not tried (too few users to measure, or tuning turned off).
  if (options.als?.regularization === undefined) als.regularization = grid.length === 1 ? grid[0]! : data.users.length < 1000 ? UNTUNED_SMALL_REGULARIZATION : ALS_DEFAULTS.regularization;
  const trainStarted = performance.now();
  options.signal?.throwIfAborted();
  const factors = await trainOnWorker(data, als, grid, options.signal, {
    onTuning: (t) =>
      report({ phase: 'tuning', fraction: 0.05 + 0.4 * (t.step / t.steps), message: `λ ${t.regularization}: NDCG@10 ${t.ndcg.toFixed(4)} on a hold-out (${t.step}/${t.steps})` }),
    onIteration: (p) =>
      report({ phase: 'training', fraction: 0.45 + 0.45 * (p.iteration / p.iterations), iteration: p.iteration, iterations: p.iterations, loss: p.loss, message: `iteration ${p.iteration}/${p.iterations}` }),
  });
  als.regularization = factors.regularization;
  const trainMs = Math.round(performance.now() - trainStarted);
  report({ phase: 'exporting', fraction: 0.92, message: 'exporting the ONNX scoring graph' });
  const meta = describe(data, tenantId, now, als.factors);
  meta.coldItems = fillColdItems(factors.itemFactors, meta, data);
  const version = `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
  meta.version = version;
  meta.summary = {
    users: data.users.length,
    items: data.items.length,
    coldItems: meta.coldItems,
    interactions: data.interactions,
    weights: data.values.length,
    factors: als.factors,
    iterations: als.iterations,
    regularization: als.regularization,
    alpha: als.alpha,
    confidence: als.confidence,
    epsilon: als.epsilon,
    tuning: factors.tuning,
    trainMs,
    totalMs: Math.round(performance.now() - started),
  };
  const path = await writeModel(dataDir, { meta, userFactors: factors.userFactors, itemFactors: factors.itemFactors });
  meta.summary.totalMs = Math.round(performance.now() - started);
  await store.addModel(tenantId, { version, createdAt: now, path, summary: meta.summary });
  report({ phase: 'done', fraction: 1, message: `model ${version} ready` });
  return { version, path, summary: meta.summary };
}

function describe(data: TrainingData, tenantId: string, now: Date, factors: number): ModelMeta {
  const artists: string[] = [];
  const artistIndex = new Map<string, number>();
  const popularity = new Array<number>(data.items.length).fill(0);
  const seen = new Set<string>();
  for (let k = 0; k < data.rows.length; k++) {
    const key = `${data.rows[k]!}:${data.cols[k]!}`;
    if (!seen.has(key)) {
      seen.add(key);
      popularity[data.cols[k]!]!++;
    }
  }
  const meta: ModelMeta = {
    version: '',
    tenantId,
    trainedAt: now.toISOString(),
    factors,
    users: data.users,
    items: data.items,
    kinds: [],
    artistOf: [],
    artists,
    tags: [],
    titles: [],
    popularity,
    coldItems: 0,
    summary: {},
  };
  for (const itemId of data.items) {
    const info = data.catalog.get(itemId);
    meta.kinds.push(info?.kind === 'sample' ? 1 : 0);
    meta.tags.push(info?.tags ?? []);
    meta.titles.push(info?.title ?? null);
    const artist = info?.artistId;
    if (artist) {
      let at = artistIndex.get(artist);
      if (at === undefined) {
        artistIndex.set(artist, (at = artists.length));
        artists.push(artist);
      }
      meta.artistOf.push(at);
    } else meta.artistOf.push(-1);
  }
  return meta;
}

/**
 * Items nobody has played yet have no evidence, so ALS leaves them near zero. They borrow the mean
 * vector of the warm items by the same artist, or else of warm items sharing a tag (content-based
 * item-item similarity), shrunk. Returns how many items were cold.
 */
function fillColdItems(itemFactors: Float32Array, meta: ModelMeta, data: TrainingData): number {
  const f = meta.factors;
  const warm = new Uint8Array(meta.items.length);
  for (const col of data.cols) warm[col] = 1;
  const byArtist = new Map<number, number[]>();
  const byTag = new Map<string, number[]>();
  meta.items.forEach((_, item) => {
    if (!warm[item]) return;
    const artist = meta.artistOf[item]!;
    if (artist >= 0) (byArtist.get(artist) ?? byArtist.set(artist, []).get(artist)!).push(item);
    for (const tag of meta.tags[item]!) (byTag.get(tag) ?? byTag.set(tag, []).get(tag)!).push(item);
  });
  let cold = 0;
  for (let item = 0; item < meta.items.length; item++) {
    if (warm[item]) continue;
    cold++;
    const artist = meta.artistOf[item]!;
    let donors = artist >= 0 ? (byArtist.get(artist) ?? []) : [];
    if (donors.length === 0) donors = [...new Set(meta.tags[item]!.flatMap((tag) => byTag.get(tag) ?? []))];
    const out = itemFactors.subarray(item * f, (item + 1) * f);
    out.fill(0);
    if (donors.length === 0) continue;
    for (const donor of donors) for (let d = 0; d < f; d++) out[d]! += itemFactors[donor * f + d]!;
    for (let d = 0; d < f; d++) out[d] = (out[d]! / donors.length) * COLD_SHRINK;
  }
  return cold;
}

interface TuningStep {
  regularization: number;
  ndcg: number;
  recall: number;
  step: number;
  steps: number;
}

interface WorkerResult {
  userFactors: Float32Array;
  itemFactors: Float32Array;
  regularization: number;
  tuning: Omit<TuningStep, 'step' | 'steps'>[];
}

function trainOnWorker(
  data: TrainingData,
  options: Omit<AlsOptions, 'onIteration'>,
  grid: number[],
  signal: AbortSignal | undefined,
  on: { onTuning: (t: TuningStep) => void; onIteration: (p: AlsProgress) => void },
): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./train-worker.mjs', import.meta.url), {
      workerData: { rows: data.rows, cols: data.cols, values: data.values, users: data.users.length, items: data.items.length, options, grid, minTuningUsers: MIN_TUNING_USERS },
    });
    let settled = false;
    const abort = () => {
      if (settled) return;
      settled = true;
      reject(signal!.reason instanceof Error ? signal!.reason : new Error('training aborted'));
      void worker.terminate();
    };
    signal?.addEventListener('abort', abort, { once: true });
    worker.once('exit', () => signal?.removeEventListener('abort', abort));
    worker.on('message', (message: { progress?: AlsProgress; tuning?: TuningStep; done?: WorkerResult; error?: { message: string } }) => {
      if (message.tuning) on.onTuning(message.tuning);
      else if (message.progress) on.onIteration(message.progress);
      else if (message.done) {
        settled = true;
        resolve(message.done);
        void worker.terminate();
      } else if (message.error) {
        settled = true;
        reject(new RecommendationError(message.error.message));
        void worker.terminate();
      }
    });
    worker.on('error', (error) => {
      settled = true;
      reject(error);
    });
    worker.on('exit', (code) => {
      if (!settled) reject(new Error(`the training thread exited with code ${code}`));
    });
  });
}
