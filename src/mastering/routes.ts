// HTTP and WebSocket API of the mastering assistant. A mix is uploaded as the raw body of
// POST /api/v1/mastering (options in the query), a reference track as the body of
// POST /api/v1/mastering/references; the job's status, its master and its input (for A/B listening)
// are read back by id, and /mastering/jobs/:id streams its progress.
import { z } from 'zod';
import { badRequest, CloseCode, HttpError, notFound } from '../server/errors.js';
import { fileReply } from '../server/files.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import type { WebSocketRouter } from '../server/websocket.js';
import { FfmpegMissingError } from './ffmpeg.js';
import { FORMATS, FORMAT_NAMES, parseFormat } from './formats.js';
import { GENRE_IDS } from './genres.js';
import type { Job, JobOptions } from './jobs.js';
import { InputError } from './probe.js';
import { masteringJob, masteringQuery, masteringReference } from './replies.js';
import { frameOf, type MasteringService } from './service.js';

const JOB_ID = /^[0-9a-f-]{36}$/;
const TAGS = ['title', 'artist', 'album', 'comment', 'date', 'genre'];
export const TARGET_PRESETS = [-14, -16, -23, -9];

/** The problem for a file the chain refuses: 415 for a format it does not take, 422 otherwise. */
function refused(error: unknown): never {
  if (error instanceof InputError) {
    if (error.problem === 'unsupported-format') throw new HttpError(415, 'unsupported-media-type', error.message);
    throw new HttpError(422, error.problem, error.message);
  }
  if (error instanceof FfmpegMissingError) throw new HttpError(503, 'ffmpeg-missing', error.message);
  throw error;
}

export function parseOptions(query: URLSearchParams): JobOptions {
  const rawTarget = query.get('target');
  const target = rawTarget === null || rawTarget.trim() === '' ? -14 : Number(rawTarget);
  if (!Number.isFinite(target) || target < -30 || target > -6) throw badRequest(`target must be a loudness from -30 to -6 LUFS (presets: ${TARGET_PRESETS.join(', ')})`);
  const genre = query.get('genre') ?? 'auto';
  if (genre !== 'auto' && !GENRE_IDS.includes(genre)) throw badRequest(`genre must be auto or one of ${GENRE_IDS.join(', ')}`);
  const format = parseFormat(query.get('format') ?? 'wav24');
  if (!format) throw badRequest(`format must be one of ${FORMAT_NAMES.join(', ')}`);
  const referenceId = query.get('reference');
  if (referenceId !== null && !JOB_ID.test(referenceId)) throw badRequest('reference must be the id POST /api/v1/mastering/references answered');
  const metadata = Object.fromEntries(TAGS.flatMap((t) => (query.get(t) ? [[t, query.get(t)!.slice(0, 500)]] : [])));
  return { target, targetGiven: rawTarget !== null && rawTarget.trim() !== '', genre, format, metadata, referenceId };
}

/** What the API shows of a job: everything but the paths on this node. */
export function jobView(job: Job) {
  return {
    id: job.id,
    state: job.state,
    progress: job.progress,
    stage: job.stage,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    options: job.options,
    input: { name: job.input.name, ...job.input.info },
    result: job.result,
    error: job.error,
    links: {
      self: `/api/v1/mastering/${job.id}`,
      progress: `/mastering/jobs/${job.id}`,
      input: `/api/v1/mastering/${job.id}/input`,
      ...(job.state === 'done' ? { master: `/api/v1/mastering/${job.id}/master` } : {}),
    },
  };
}

async function ownJob(ctx: HttpContext, service: MasteringService): Promise<Job> {
  const id = ctx.params.id ?? '';
  const job = JOB_ID.test(id) ? await service.job(ctx.principal!.tenantId, id) : null;
  if (!job) throw notFound(`no mastering job ${id}`);
  return job;
}

function audioBody(ctx: HttpContext, body: Buffer): void {
  const type = (ctx.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || type.startsWith('text/') || type === 'multipart/form-data') {
    throw new HttpError(415, 'unsupported-media-type', 'send the audio file itself as the body (e.g. content-type audio/wav), options in the query, or a session bounce as JSON {"bounceId": …}');
  }
  if (body.length === 0) throw badRequest('the body is empty: send the audio file');
}

/** A session's bounce as mastering takes it: its audio file, or why it cannot be taken. */
export type BounceAudio = (tenantId: string, bounceId: string) => Promise<{ file: string; name: string } | { refused: HttpError }>;

const bounceBody = z.object({ bounceId: z.string().min(1).max(100) }).strict();

export function registerMasteringRoutes(http: HttpRouter, ws: WebSocketRouter, service: MasteringService, maxUploadBytes: number, bounceAudio: BounceAudio | null): void {
  const tag = 'mastering';
  const fileResponses = (type: string, what: string) => ({ 200: { type, description: what }, 206: { type, description: `a byte range of ${what}` } });
  http.route(
    'POST',
    '/api/v1/mastering',
    async (ctx) => {
      const options = parseOptions(ctx.query);
      const principal = ctx.principal!;
      if (options.referenceId && !(await service.hasReference(principal.tenantId, options.referenceId))) throw notFound(`no reference ${options.referenceId}`);
      let job: Job;
      if ((ctx.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() === 'application/json') {
        // A session's bounce, by its id: {"bounceId": "bnc_…"}.
        const { bounceId } = await ctx.json(bounceBody);
        if (!bounceAudio) throw new HttpError(503, 'bounces-unavailable', 'session bounces are off on this server: upload the audio file instead');
        const audio = await bounceAudio(principal.tenantId, bounceId);
        if ('refused' in audio) throw audio.refused;
        job = await service.submitFile(principal.tenantId, principal.userId, (ctx.query.get('name') ?? audio.name).slice(0, 200), audio.file, options).catch(refused);
      } else {
        const body = await ctx.body();
        audioBody(ctx, body);
        const name = (ctx.query.get('name') ?? 'mix').slice(0, 200);
        job = await service.submit(principal.tenantId, principal.userId, name, body, options).catch(refused);
      }
      return { status: 202, headers: { location: `/api/v1/mastering/${job.id}` }, json: jobView(job) };
    },
    {
      auth: 'required',
      maxBodyBytes: maxUploadBytes,
      tag,
      summary: 'Master a mix: the audio file as the body (or a session bounce as JSON {bounceId}), options in the query',
      bodyType: 'audio/*',
      query: masteringQuery,
      responses: { 202: masteringJob },
    },
  );

  http.route(
    'POST',
    '/api/v1/mastering/references',
    async (ctx) => {
      const body = await ctx.body();
      audioBody(ctx, body);
      const reference = await service.addReference(ctx.principal!.tenantId, body).catch(refused);
      return { status: 201, json: reference };
    },
    { auth: 'required', maxBodyBytes: maxUploadBytes, tag, summary: 'Upload a reference track to match', bodyType: 'audio/*', responses: { 201: masteringReference } },
  );

  http.route('GET', '/api/v1/mastering/:id', async (ctx) => ({ json: jobView(await ownJob(ctx, service)) }), { auth: 'required', tag, summary: 'A mastering job: its state, analysis and links', responses: { 200: masteringJob } });

  http.route(
    'GET',
    '/api/v1/mastering/:id/master',
    async (ctx) => {
      const job = await ownJob(ctx, service);
      if (job.state !== 'done' || !job.output) throw new HttpError(409, 'not-ready', `the job is ${job.state}${job.error ? `: ${job.error}` : ''}`);
      const spec = FORMATS[job.options.format];
      const filename = `${job.input.name.replace(/[^\w.-]+/g, '_').replace(/\.[a-z0-9]+$/i, '')}-master.${spec.extension}`;
      return fileReply(ctx, job.output, { 'content-type': spec.contentType, 'content-disposition': `attachment; filename="${filename}"` });
    },
    { auth: 'required', tag, summary: 'The master, in the format asked for (byte ranges)', responses: fileResponses('audio/wav', 'the master (audio/wav, audio/flac, audio/mpeg or audio/mp4 by format)') },
  );

  http.route(
    'GET',
    '/api/v1/mastering/:id/input',
    async (ctx) => {
      const job = await ownJob(ctx, service);
      return fileReply(ctx, job.input.file, { 'content-type': 'application/octet-stream' });
    },
    { auth: 'required', tag, summary: 'The mix as uploaded, for A/B listening (byte ranges)', responses: fileResponses('application/octet-stream', 'the uploaded mix') },
  );

  ws.route<{ tenantId: string; id: string; unsubscribe: (() => void) | null; closed: boolean }>('/mastering/jobs/:id', {
    authorize: ({ params, principal }) => {
      const id = params.id ?? '';
      if (!JOB_ID.test(id)) throw badRequest('the job id is not one POST /api/v1/mastering answered');
      return { tenantId: principal.tenantId, id, unsubscribe: null, closed: false };
    },
    open: (socket) => {
      const state = socket.getUserData().state;
      // Listen first, then read the record, so no step between the two is missed.
      const unsubscribe = service.subscribe(state.id, (frame) => {
        if (state.closed) return;
        socket.send(JSON.stringify(frame), false);
        if (frame.state === 'done' || frame.state === 'failed') socket.end(CloseCode.normal, `job ${frame.state}`);
      });
      state.unsubscribe = unsubscribe;
      service
        .job(state.tenantId, state.id)
        .then((job) => {
          if (state.closed) return;
          if (!job) return socket.end(CloseCode.policyViolation, 'no such mastering job');
          socket.send(JSON.stringify(frameOf(job)), false);
          if (job.state === 'done' || job.state === 'failed') socket.end(CloseCode.normal, `job ${job.state}`);
        })
        .catch(() => {
          if (!state.closed) socket.end(CloseCode.internalError, 'the job could not be read; retry later');
        });
    },
    message: (socket) => socket.end(CloseCode.protocolError, 'this socket only sends; it takes no messages'),
    close: (socket) => {
      const state = socket.getUserData().state;
      state.closed = true;
      state.unsubscribe?.();
    },
  });
}
