// The recommendations module as the server runs it: bulk NDJSON into the store (the bus's signals
// arrive through the consumer in consumer.ts), training jobs (on demand and on a schedule) with progress, the serving model per tenant
// with hot swap, and A/B experiments (assignment, exposures and outcomes as events, readouts).
import { randomUUID } from 'node:crypto';
import type { EventBus, Subscription } from '../events/bus.js';
import { createEvent } from '../events/catalog.js';
import type { Logger } from '../log.js';
import type { KeptBody } from '../server/compression.js';
import type { Storage } from '../storage/database.js';
import { announceStored } from './consumer.js';
import { RecommendationError } from './errors.js';
import { assignVariant, readout, validateExperiment, type ExperimentDefinition, type Readout } from './experiments.js';
import { routeReply, type RecommendationsReply } from './answer-types.js';
import { recommendWithModel, recommendWithoutModel, type Context, type Recommendations, type RecommendParams } from './recommend.js';
import { prewarm } from './prewarm.js';
import { keptAnswer, type KeepBody } from './kept-answers.js';
import { filterKey, ModelSlot, ServingModel } from './serving.js';
import type { RecommendationsSettings } from './settings.js';
import { HistoryCache } from './history-cache.js';
import { parseHistoryLine, rowWeight, type CatalogItem, type Interaction } from './signals.js';
import { RecommendationStore, type UserHistory } from './store.js';
import { trainTenant, type TrainingProgress, type TrainingResult } from './trainer.js';

export interface TrainingJob {
  id: string;
  tenantId: string;
  requestedBy: string;
  status: 'running' | 'finished' | 'failed';
  progress: TrainingProgress;
  startedAt: string;
  endedAt: string | null;
  result: TrainingResult | null;
  error: string | null;
}

export interface ImportReport {
  lines: number;
  accepted: number;
  rejected: number;
  /** The first 100 rejected lines (1-based) and why. */
  errors: { line: number; error: string }[];
  counts: { items: number; interactions: number; follows: number; coedits: number };
}

/** What a variant's `config` may say. */
export interface VariantConfig {
  strategy?: 'model' | 'popularity';
}

export interface ExperimentInput extends ExperimentDefinition {
  /** Only requests in this context take part; all contexts when absent. */
  context?: Context;
}

interface AnswerRequest {
  slot: ModelSlot;
  assignments: { experiment: ExperimentInput; variant: ExperimentDefinition['variants'][number] }[];
  history: UserHistory;
}

const MAX_JOBS_KEPT = 50;
const EXPERIMENT_CACHE_MS = 5000;

export interface RecommendationDeps {
  settings: RecommendationsSettings;
  /** Model files are written under it (`trainTenant`, `ServingModel`). */
  dataDir: string;
  storage: Storage;
  bus: EventBus;
  logger: Logger;
  /** Encodes an answer once to be sent as it is kept (the server's HttpRouter.keep). */
  keep: KeepBody;
}

export class RecommendationService {
  readonly store: RecommendationStore;
  private readonly slots = new Map<string, ModelSlot>();
  private readonly jobs = new Map<string, TrainingJob>();
  private readonly running = new Map<string, Promise<unknown>>();
  private readonly preparing = new Set<Promise<unknown>>();
  private readonly experimentCache = new Map<string, { at: number; experiments: ExperimentInput[] }>();
  /** Users' items, follows and co-editors between requests; the bus says when one changes. */
  readonly histories = new HistoryCache();
  private invalidations: Subscription | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly stopping = new AbortController();

  constructor(private readonly deps: RecommendationDeps) {
    this.store = new RecommendationStore(deps.storage);
  }

  async start(): Promise<this> {
    // This node's own group: every node drops its own cached users once their signals are stored.
    this.invalidations = await this.deps.bus.subscribe(
      'recommendations-serving',
      (event) => {
        if (event.type === 'recommendations.signals.stored') this.histories.invalidate(event.tenantId, event.payload.users, event.payload.sessions);
      },
      { types: ['recommendations.signals.stored'], ephemeral: true },
    );
    const every = this.deps.settings.trainIntervalS;
    if (every > 0) {
      this.timer = setInterval(() => void this.trainAll().catch((error: unknown) => this.deps.logger.error({ err: error }, 'scheduled recommendation training failed')), every * 1000);
      this.timer.unref();
    }
    return this;
  }

  // ---- Signals (the `recommendations` consumer group is in consumer.ts) ----

  /** Bulk history: every line is validated; good lines are stored, bad ones reported. */
  async importHistory(tenantId: string, text: string, now = new Date()): Promise<ImportReport> {
    const items: CatalogItem[] = [];
    const interactions: Interaction[] = [];
    const follows: { userId: string; artistId: string; at: Date }[] = [];
    const coedits: { userId: string; sessionId: string; at: Date }[] = [];
    const errors: { line: number; error: string }[] = [];
    let rejected = 0;
    let lines = 0;
    text.split('\n').forEach((raw, index) => {
      const line = raw.trim();
      if (line === '') return;
      lines++;
      const parsed = parseHistoryLine(line, now);
      if (!parsed.ok) {
        rejected++;
        if (errors.length < 100) errors.push({ line: index + 1, error: parsed.error });
        return;
      }
      const row = parsed.row;
      if (row.type === 'item') items.push(row);
      else if (row.type === 'follow') follows.push({ userId: row.userId, artistId: row.artistId, at: new Date(row.at) });
      else if (row.type === 'coedit') coedits.push({ userId: row.userId, sessionId: row.sessionId, at: new Date(row.at) });
      else interactions.push({ userId: row.userId, itemId: row.itemId, weight: rowWeight(row), at: new Date(row.at) });
    });
    if (items.length) await this.store.upsertItems(tenantId, items);
    if (interactions.length) await this.store.addInteractions(tenantId, interactions);
    if (follows.length) await this.store.addFollows(tenantId, follows);
    if (coedits.length) await this.store.addCoedits(tenantId, coedits);
    const stored = { users: [...interactions, ...follows, ...coedits].map((row) => row.userId), sessions: coedits.map((c) => c.sessionId) };
    // This node at once; every node (this one again) through the bus.
    this.histories.invalidate(tenantId, stored.users, stored.sessions);
    await announceStored(this.deps.bus, tenantId, stored).catch((error: unknown) => this.deps.logger.warn({ err: error, tenantId }, 'imported history not announced; other nodes keep those users until their cache expires'));
    return {
      lines,
      accepted: lines - rejected,
      rejected,
      errors,
      counts: { items: items.length, interactions: interactions.length, follows: follows.length, coedits: coedits.length },
    };
  }

  // ---- Training ----

  /** Starts a training job for the tenant, or returns the one already running. */
  train(tenantId: string, requestedBy: string): TrainingJob {
    const existing = [...this.jobs.values()].find((j) => j.tenantId === tenantId && j.status === 'running');
    if (existing) return existing;
    if (this.closed) throw new Error('the recommendations service is closed');
    const job: TrainingJob = {
      id: randomUUID(),
      tenantId,
      requestedBy,
      status: 'running',
      progress: { phase: 'loading', fraction: 0, message: 'queued' },
      startedAt: new Date().toISOString(),
      endedAt: null,
      result: null,
      error: null,
    };
    this.jobs.set(job.id, job);
    for (const id of [...this.jobs.keys()].slice(0, Math.max(0, this.jobs.size - MAX_JOBS_KEPT))) this.jobs.delete(id);
    const work = (async () => {
      try {
        const result = await trainTenant(this.store, this.deps.dataDir, tenantId, { onProgress: (p) => (job.progress = p), signal: this.stopping.signal });
        // Serving first: a job reads "finished" only once its version answers requests. A load
        // already in flight may have looked for the newest version before this one existed.
        await this.slot(tenantId).loading;
        await this.load(tenantId);
        job.result = result;
        job.status = 'finished';
        this.deps.logger.info({ tenantId, version: result.version, ...result.summary }, 'recommendation model trained');
      } catch (error) {
        job.status = 'failed';
        job.error = (error as Error).message;
        job.progress = { ...job.progress, phase: 'failed', message: job.error };
        if (!(error instanceof RecommendationError) && !this.closed) this.deps.logger.error({ err: error, tenantId }, 'recommendation training failed');
      } finally {
        job.endedAt = new Date().toISOString();
        this.running.delete(job.id);
      }
    })();
    this.running.set(job.id, work);
    return job;
  }

  job(id: string): TrainingJob | null {
    return this.jobs.get(id) ?? null;
  }

  /** Waits for a job to end (tests, the CLI). */
  async settled(id: string): Promise<TrainingJob | null> {
    await this.running.get(id);
    return this.job(id);
  }

  private async trainAll(): Promise<void> {
    for (const tenantId of await this.store.tenants()) {
      if (this.closed) return;
      const job = this.train(tenantId, 'schedule');
      await this.settled(job.id);
    }
  }

  // ---- Serving ----

  private slot(tenantId: string): ModelSlot {
    let slot = this.slots.get(tenantId);
    if (!slot) this.slots.set(tenantId, (slot = new ModelSlot()));
    return slot;
  }

  /** Loads the tenant's newest version if it is not the one serving; swaps it in. */
  async load(tenantId: string): Promise<ServingModel | null> {
    const slot = this.slot(tenantId);
    slot.loading ??= (async () => {
      try {
        slot.checkedAt = Date.now();
        const latest = await this.store.latestModel(tenantId);
        if (!latest || latest.version === slot.model?.version) return slot.model;
        const model = await ServingModel.load(this.deps.dataDir, latest.path, this.deps.settings.threads);
        if (this.closed) {
          await model.retire();
          return null;
        }
        void slot.swap(model)?.catch((error: unknown) => this.deps.logger.warn({ err: error }, 'releasing a retired model failed'));
        this.deps.logger.info({ tenantId, version: model.version }, 'recommendation model serving');
        this.prepareUsers(tenantId, slot, model);
        return model;
      } catch (error) {
        this.deps.logger.error({ err: error, tenantId }, 'recommendation model could not be loaded; the previous version keeps serving');
        return slot.model;
      } finally {
        slot.loading = null;
      }
    })();
    return slot.loading;
  }

  /** The version's users made ready in the background (prewarm.ts), holding a lease while it runs. */
  private prepareUsers(tenantId: string, slot: ModelSlot, model: ServingModel): void {
    const count = this.deps.settings.precomputeUsers;
    if (count === 0 || model.meta.users.length === 0) return;
    const end = model.lease();
    const work = prewarm(model, tenantId, { store: this.store, histories: this.histories, logger: this.deps.logger, keep: this.deps.keep }, count, () => slot.model === model && !this.closed)
      .then((report) => this.deps.logger.info({ tenantId, version: model.version, ...report }, 'recommendation users prepared'))
      .catch((error: unknown) => this.deps.logger.warn({ err: error, tenantId }, 'preparing recommendation users failed; they are answered as they come'))
      .finally(end);
    this.preparing.add(work);
    void work.finally(() => this.preparing.delete(work));
  }

  /** Waits for the users of the versions loaded so far to be prepared (tests, benchmarks). */
  async prepared(): Promise<void> {
    while (this.preparing.size > 0) await Promise.all([...this.preparing]);
  }

  async recommend(tenantId: string, params: Omit<RecommendParams, 'strategy'>): Promise<RecommendationsReply> {
    return this.answer(tenantId, params, await this.begin(tenantId, params));
  }

  /**
   * The route's reply. A request without filters that no experiment takes part in gets the user's
   * answer kept encoded (kept-answers.ts) where the model has a vector for them; others are answered
   * as `recommend` answers them.
   */
  async recommendReply(tenantId: string, params: Omit<RecommendParams, 'strategy'>): Promise<{ kept: KeptBody } | { json: RecommendationsReply }> {
    const request = await this.begin(tenantId, params);
    if (request.assignments.length === 0 && filterKey(params.filters) === '') {
      const lease = request.slot.acquire();
      if (lease) {
        try {
          const kept = await keptAnswer(lease.model, request.history, params.userId, params.context, params.limit, this.deps.keep);
          if (kept) return { kept };
        } finally {
          lease.end();
        }
      }
    }
    return { json: await this.answer(tenantId, params, request) };
  }

  /** What every answer needs: the serving model (loaded, or reloaded when due), the experiments the user is in, their history. */
  private async begin(tenantId: string, params: Omit<RecommendParams, 'strategy'>): Promise<AnswerRequest> {
    const slot = this.slot(tenantId);
    const reload = this.deps.settings.reloadIntervalMs;
    if (!slot.model) await this.load(tenantId);
    else if (reload > 0 && Date.now() - slot.checkedAt > reload && !slot.loading) void this.load(tenantId);
    const assignments = (await this.runningExperiments(tenantId))
      .filter((e) => e.context === undefined || e.context === params.context)
      .map((e) => ({ experiment: e, variant: assignVariant(e, params.userId) }));
    const history = await this.histories.get(tenantId, params.userId, () => this.store.history(tenantId, params.userId));
    return { slot, assignments, history };
  }

  private async answer(tenantId: string, params: Omit<RecommendParams, 'strategy'>, { slot, assignments, history }: AnswerRequest): Promise<RecommendationsReply> {
    const strategy = (assignments[0]?.variant.config as VariantConfig | undefined)?.strategy ?? 'model';
    const lease = slot.acquire();
    let answer: Recommendations;
    try {
      if (lease) answer = await recommendWithModel(lease.model, history, { ...params, strategy });
      else {
        const popular = await this.store.popular(tenantId, 500);
        answer = recommendWithoutModel(popular, await this.store.items(tenantId, popular.map((p) => p.itemId)), history, { ...params, strategy });
      }
    } finally {
      lease?.end();
    }
    const shown = [...answer.tracks, ...answer.samples].map((i) => i.id).slice(0, 200);
    for (const { experiment, variant } of assignments) {
      const event = createEvent('experiment.exposed', { tenantId, actor: params.userId, payload: { experimentId: experiment.id, variant: variant.name, context: params.context, items: shown } });
      await this.deps.bus.publish(event).catch((error: unknown) => this.deps.logger.warn({ err: error }, 'exposure event not published'));
    }
    return routeReply(answer, assignments.map((a) => ({ id: a.experiment.id, variant: a.variant.name })));
  }

  // ---- Experiments ----

  async createExperiment(tenantId: string, input: unknown, createdBy: string): Promise<ExperimentInput> {
    const definition = validateExperiment(input);
    const raw = input as { context?: unknown };
    const context = raw.context;
    if (context !== undefined && context !== 'discovery' && context !== 'collaboration' && context !== 'production') {
      throw new RecommendationError(`context must be discovery, collaboration or production, got ${JSON.stringify(context)}`);
    }
    for (const variant of definition.variants) {
      const strategy = (variant.config as VariantConfig | undefined)?.strategy;
      if (strategy !== undefined && strategy !== 'model' && strategy !== 'popularity') {
        throw new RecommendationError(`variant ${variant.name}: config.strategy must be model or popularity, got ${JSON.stringify(strategy)}`);
      }
    }
    const stored: ExperimentInput = { ...definition, ...(context === undefined ? {} : { context }) };
    if (!(await this.store.createExperiment(tenantId, definition.id, stored, createdBy))) {
      throw new ExperimentExistsError(`experiment ${definition.id} exists; experiments are never redefined (their readouts would mix), create one with a new id`);
    }
    this.experimentCache.delete(tenantId);
    return stored;
  }

  async stopExperiment(tenantId: string, id: string): Promise<boolean> {
    const stopped = await this.store.stopExperiment(tenantId, id);
    this.experimentCache.delete(tenantId);
    return stopped;
  }

  private async runningExperiments(tenantId: string): Promise<ExperimentInput[]> {
    const cached = this.experimentCache.get(tenantId);
    if (cached && Date.now() - cached.at < EXPERIMENT_CACHE_MS) return cached.experiments;
    const experiments = (await this.store.experiments(tenantId, 'running')).map((e) => e.definition as ExperimentInput);
    this.experimentCache.set(tenantId, { at: Date.now(), experiments });
    return experiments;
  }

  /** Per variant: exposed users; per metric: conversion per variant against the control, with a z-test. */
  async readout(tenantId: string, id: string): Promise<{ experiment: ExperimentInput; status: string; exposed: Record<string, number>; metrics: Record<string, Readout> } | null> {
    const row = await this.store.experiment(tenantId, id);
    if (!row) return null;
    const experiment = row.definition as ExperimentInput;
    const { exposed, outcomes } = await this.store.experimentCounts(tenantId, id);
    const weights = Object.fromEntries(experiment.variants.map((v) => [v.name, v.weight]));
    const metrics: Record<string, Readout> = {};
    for (const metric of new Set(outcomes.map((o) => o.metric))) {
      const counts = experiment.variants.map((v) => ({
        name: v.name,
        users: exposed.get(v.name) ?? 0,
        conversions: outcomes.find((o) => o.metric === metric && o.variant === v.name)?.users ?? 0,
      }));
      metrics[metric] = readout(counts, { control: experiment.variants[0]!.name, weights });
    }
    return { experiment, status: row.status, exposed: Object.fromEntries(experiment.variants.map((v) => [v.name, exposed.get(v.name) ?? 0])), metrics };
  }

  private closing: Promise<void> | null = null;

  close(): Promise<void> {
    return (this.closing ??= this.closeOnce());
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.invalidations?.close();
    this.stopping.abort(new Error('the server is shutting down'));
    await Promise.allSettled([...this.running.values(), ...this.preparing]);
    await Promise.all([...this.slots.values()].map((s) => s.close()));
  }
}

export class ExperimentExistsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExperimentExistsError';
  }
}
