// The mastering assistant: analysis, genre templates with a classifier, the measured ffmpeg chain,
// reference matching, suggestions and export, behind a durable job queue with progress over
// WebSocket. Jobs and their files live under <data directory>/mastering.
import path from 'node:path';
import { bounceModule } from '../bounce/module.js';
import { defineModule } from '../modules/contract.js';
import { HttpError, notFound } from '../server/errors.js';
import { ffmpegBinary } from './ffmpeg.js';
import { registerMasteringRoutes, type BounceAudio } from './routes.js';
import { MasteringService } from './service.js';

export const masteringModule = defineModule({
  name: 'mastering',
  settings: 'mastering',
  async start(ctx) {
    const ffmpeg = ffmpegBinary();
    if (!ffmpeg.available) ctx.logger.warn({ reason: ffmpeg.reason, fix: ffmpeg.fix }, `mastering unavailable: ${ffmpeg.reason}`);
    // Jobs run on a worker thread started with the first job; the genre classifier (onnxruntime) loads
    // there with the first job that asks for an automatic genre.
    const service = new MasteringService(path.join(ctx.deployment.dataDir, 'mastering'), ctx.settings, ctx.logger);
    const recovered = await service.recover();
    if (recovered > 0) ctx.logger.info({ jobs: recovered }, 'mastering jobs queued again after a restart');
    // A session's bounce (rendered by the bounce module) is mastered from its stored audio.
    const { bounces, content } = ctx.use(bounceModule);
    const bounceAudio: BounceAudio | null = bounces
      ? async (tenantId, bounceId) => {
          const bounce = await bounces.get(tenantId, bounceId);
          if (!bounce) return { refused: notFound(`no bounce ${bounceId.slice(0, 100)}`) };
          if (bounce.state !== 'done' || !bounce.audioCid) return { refused: new HttpError(409, 'conflict', `the bounce ${bounce.id} is ${bounce.state}: master it once it is done`) };
          return { file: content.pathOf(bounce.audioCid), name: `${bounce.sessionId}.flac` };
        }
      : null;
    const health = ffmpeg.available
      ? { ffmpeg: ffmpeg.path, version: ffmpeg.version, source: ffmpeg.source, notes: ffmpeg.notes }
      : { ffmpeg: null, reason: ffmpeg.reason, fix: ffmpeg.fix, notes: ffmpeg.notes };
    return {
      api: service,
      routes: () => registerMasteringRoutes(ctx.http, ctx.ws, service, ctx.settings.maxUploadBytes, bounceAudio),
      health: [{ name: 'mastering', status: () => health }],
      report: () => [{ name: 'mastering', state: ffmpeg.available ? { on: true, detail: `ffmpeg ${ffmpeg.version} at ${ffmpeg.path} (${ffmpeg.source})` } : { on: false, reason: ffmpeg.reason, fix: ffmpeg.fix } }],
      close: () => service.close(),
    };
  },
});
