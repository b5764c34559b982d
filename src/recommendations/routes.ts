// HTTP API of the recommendations module. Anyone signed in gets their own recommendations; tenant
// administrators (token claim `adm`) load history, train, ask for anyone's recommendations and run
// experiments. Every refusal is a problem+json with the reason.
import { z } from 'zod';
import type { Principal } from '../server/auth.js';
import { badRequest, forbidden, HttpError, notFound } from '../server/errors.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import { RecommendationError } from './errors.js';
import { recommendationReplies as r, recommendationsQuery, recommendationsReply, trainingJob } from './schemas.js';
import { CONTEXTS, parseFilters, type Context } from './recommend.js';
import { DEFAULT_LIMIT } from './answer-types.js';
import { ExperimentExistsError, type RecommendationService } from './service.js';

const USER_ID = /^[^\s]{1,200}$/;
const EXPERIMENT_ID = /^[a-z0-9._-]{1,100}$/;
const NDJSON_TYPES = ['application/x-ndjson', 'application/jsonl', 'application/ndjson'];

function admin(ctx: HttpContext, what: string): Principal {
  const principal = ctx.principal!;
  if (!principal.admin) throw forbidden(`${what} needs a tenant administrator (token claim adm)`);
  return principal;
}

function experimentId(ctx: HttpContext): string {
  const id = ctx.params.id ?? '';
  if (!EXPERIMENT_ID.test(id)) throw badRequest('experiment id must be 1-100 characters of a-z, 0-9 and ._-');
  return id;
}

function asBadRequest<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof RecommendationError) throw badRequest(error.message);
    throw error;
  }
}

export function registerRecommendationRoutes(http: HttpRouter, service: RecommendationService, maxImportBytes: number): void {
  http.route(
    'GET',
    '/api/v1/recommendations',
    async (ctx) => {
      const principal = ctx.principal!;
      const userId = ctx.query.get('user_id') ?? principal.userId;
      if (!USER_ID.test(userId)) throw badRequest('user_id must be 1-200 characters without spaces');
      if (userId !== principal.userId && !principal.admin) throw forbidden('only a tenant administrator may ask for another user\'s recommendations');
      const context = (ctx.query.get('context') ?? 'discovery') as Context;
      if (!CONTEXTS.includes(context)) throw badRequest(`context must be one of ${CONTEXTS.join(', ')}`);
      const rawLimit = ctx.query.get('limit') ?? String(DEFAULT_LIMIT);
      const limit = Number(rawLimit);
      if (rawLimit.trim() === '' || !Number.isInteger(limit) || limit < 1 || limit > 100) throw badRequest('limit must be an integer from 1 to 100');
      const filters = asBadRequest(() => parseFilters(ctx.query.get('filters')));
      return service.recommendReply(principal.tenantId, { userId, context, limit, filters });
    },
    { auth: 'required', tag: 'recommendations', summary: 'Tracks, samples, artists, playlists and collaborators for a user', query: recommendationsQuery, responses: { 200: recommendationsReply } },
  );

  http.route(
    'POST',
    '/api/v1/interactions',
    async (ctx) => {
      const principal = admin(ctx, 'loading history');
      const type = (ctx.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!NDJSON_TYPES.includes(type)) throw new HttpError(415, 'unsupported-media-type', `send newline-delimited JSON as ${NDJSON_TYPES[0]}`);
      const body = await ctx.body();
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(body);
      } catch {
        throw badRequest('the body is not UTF-8');
      }
      const report = await service.importHistory(principal.tenantId, text);
      if (report.lines === 0) throw badRequest('the body has no rows: one JSON object per line');
      return { json: report };
    },
    { auth: 'required', maxBodyBytes: maxImportBytes, tag: 'recommendations', summary: 'Load history as newline-delimited JSON (administrators)', bodyType: 'application/x-ndjson', responses: { 200: r.imported } },
  );

  http.route(
    'POST',
    '/api/v1/recommendations/train',
    (ctx) => {
      const principal = admin(ctx, 'training');
      const job = service.train(principal.tenantId, principal.userId);
      return { status: 202, headers: { location: `/api/v1/recommendations/jobs/${job.id}` }, json: job };
    },
    { auth: 'required', tag: 'recommendations', summary: 'Start training the tenant\'s model (administrators); Location names the job', responses: { 202: trainingJob } },
  );

  http.route(
    'GET',
    '/api/v1/recommendations/jobs/:id',
    (ctx) => {
      const principal = admin(ctx, 'training');
      const job = service.job(ctx.params.id ?? '');
      if (!job || job.tenantId !== principal.tenantId) throw notFound(`no training job ${ctx.params.id}`);
      return { json: job };
    },
    { auth: 'required', tag: 'recommendations', summary: 'A training job\'s progress and result (administrators)', responses: { 200: trainingJob } },
  );

  http.route(
    'GET',
    '/api/v1/recommendations/model',
    async (ctx) => {
      const principal = ctx.principal!;
      const latest = await service.store.latestModel(principal.tenantId);
      if (!latest) throw notFound('no model has been trained for this tenant; POST /api/v1/recommendations/train');
      return { json: { version: latest.version, createdAt: latest.createdAt, summary: latest.summary } };
    },
    { auth: 'required', tag: 'recommendations', summary: 'The tenant\'s latest model', responses: { 200: r.model } },
  );

  http.route(
    'POST',
    '/api/v1/experiments',
    async (ctx) => {
      const principal = admin(ctx, 'defining experiments');
      const body = await ctx.json(z.unknown());
      try {
        const experiment = await service.createExperiment(principal.tenantId, body, principal.userId);
        return { status: 201, json: { ...experiment, status: 'running' } };
      } catch (error) {
        if (error instanceof RecommendationError) throw badRequest(error.message);
        if (error instanceof ExperimentExistsError) throw new HttpError(409, 'conflict', error.message);
        throw error;
      }
    },
    { auth: 'required', tag: 'recommendations', summary: 'Start an A/B experiment (administrators; never redefined)', responses: { 201: r.experimentCreated } },
  );

  http.route(
    'GET',
    '/api/v1/experiments',
    async (ctx) => {
      const principal = admin(ctx, 'reading experiments');
      const experiments = await service.store.experiments(principal.tenantId);
      return { json: { experiments: experiments.map((e) => ({ ...(e.definition as object), status: e.status, createdAt: e.createdAt, stoppedAt: e.stoppedAt })) } };
    },
    { auth: 'required', tag: 'recommendations', summary: 'The tenant\'s experiments (administrators)', responses: { 200: r.experiments } },
  );

  http.route(
    'GET',
    '/api/v1/experiments/:id/readout',
    async (ctx) => {
      const principal = admin(ctx, 'reading experiments');
      const id = experimentId(ctx);
      const result = await service.readout(principal.tenantId, id);
      if (!result) throw notFound(`no experiment ${id}`);
      return { json: result };
    },
    { auth: 'required', tag: 'recommendations', summary: 'Per variant and metric: conversion against the control, with a z-test (administrators)', responses: { 200: r.readout } },
  );

  http.route(
    'POST',
    '/api/v1/experiments/:id/stop',
    async (ctx) => {
      const principal = admin(ctx, 'stopping experiments');
      const id = experimentId(ctx);
      if (!(await service.stopExperiment(principal.tenantId, id))) {
        if (!(await service.store.experiment(principal.tenantId, id))) throw notFound(`no experiment ${id}`);
        throw new HttpError(409, 'conflict', `experiment ${id} is already stopped`);
      }
      return { json: { id, status: 'stopped' } };
    },
    { auth: 'required', tag: 'recommendations', summary: 'Stop an experiment (administrators)', responses: { 200: r.stopped } },
  );
}
