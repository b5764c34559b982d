// HTTP API of bounces: start one (editors and owners of the session), follow its progress, fetch its
// audio (byte ranges for players). Without fluidsynth or a soundfont every route answers 503 with
// what to install.
import { z } from 'zod';
import { canWrite, roleFor } from '../server/auth.js';
import { forbidden, HttpError, notFound } from '../server/errors.js';
import { fileReply } from '../server/files.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import { sessionOf } from '../studio/routes.js';
import type { ContentStore } from '../nft/content.js';
import { BounceError, type BounceService } from './service.js';

const MAX_UNIX_MS = 8_640_000_000_000_000;

const bounceRequest = z
  .object({
    at: z.number().int().min(0).max(MAX_UNIX_MS).optional(),
    versionId: z.string().regex(/^[0-9]{1,18}$/, 'a version id').optional(),
  })
  .strict()
  .refine((b) => b.at === undefined || b.versionId === undefined, 'give at or versionId, not both');

/** A bounce as the routes answer it (service.ts's Bounce). */
export const bounceView = z.object({
  id: z.string(),
  sessionId: z.string(),
  versionId: z.string().nullable().describe('the saved version bounced, if one was asked for'),
  uptoId: z.string().nullable().describe('the last update included (null: the empty session)'),
  at: z.number().nullable().describe('Unix ms of that update'),
  state: z.enum(['running', 'done', 'failed']),
  progress: z.number().describe('0..1'),
  error: z.string().nullable(),
  audioCid: z.string().nullable(),
  audioHash: z.string().nullable().describe('sha-256 of the FLAC file, hex'),
  stateHash: z.string().nullable().describe('sha-256 of the session\'s state at the moment, hex'),
  durationMs: z.number().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
});

export interface BounceRouteDeps {
  bounces: BounceService | null;
  content: ContentStore;
  /** Why bounces are off (null when on). */
  off: { reason: string; fix: string } | null;
}

export function registerBounceRoutes(http: HttpRouter, deps: BounceRouteDeps): void {
  const service = (): BounceService => {
    if (!deps.bounces || deps.off) throw new HttpError(503, 'bounce-unavailable', `bounces are off: ${deps.off?.reason ?? 'not started'}; install with: ${deps.off?.fix ?? ''}`);
    return deps.bounces;
  };
  const readable = async (ctx: HttpContext) => {
    const principal = ctx.principal!;
    const bounce = await service().get(principal.tenantId, ctx.params.id ?? '');
    if (!bounce || roleFor(principal, bounce.sessionId) === null) throw notFound(`no bounce ${ctx.params.id}`);
    return bounce;
  };

  http.route(
    'POST',
    '/api/v1/sessions/:id/bounces',
    async (ctx) => {
      const bounces = service();
      const { id, role, principal } = sessionOf(ctx);
      if (!canWrite(role)) throw forbidden(`role ${role} cannot bounce session ${id}: editors and owners can`);
      const empty = ctx.headers['content-length'] === '0' || ctx.headers['content-length'] === undefined;
      const body = empty ? {} : await ctx.json(bounceRequest);
      const moment = body.versionId !== undefined ? { versionId: body.versionId } : body.at !== undefined ? { at: body.at } : {};
      try {
        const bounce = await bounces.start(principal.tenantId, id, principal.userId, moment);
        return { status: 202, headers: { location: `/api/v1/bounces/${bounce.id}` }, json: bounce };
      } catch (error) {
        if (error instanceof BounceError) throw new HttpError(error.status, error.status === 404 ? 'not-found' : 'conflict', error.message);
        throw error;
      }
    },
    { auth: 'required', maxBodyBytes: 1024, body: bounceRequest, tag: 'sessions', summary: 'Render the session (now, a version or a time) to FLAC (editors and owners)', responses: { 202: bounceView } },
  );

  http.route('GET', '/api/v1/bounces/:id', async (ctx) => ({ json: await readable(ctx) }), { auth: 'required', tag: 'sessions', summary: 'A bounce and its progress', responses: { 200: bounceView } });

  http.route(
    'GET',
    '/api/v1/bounces/:id/audio',
    async (ctx) => {
      const bounce = await readable(ctx);
      if (bounce.state !== 'done' || !bounce.audioCid) throw new HttpError(409, 'conflict', `bounce ${bounce.id} is ${bounce.state}: its audio is not ready`);
      return fileReply(ctx, deps.content.pathOf(bounce.audioCid), {
        'content-type': 'audio/flac',
        'cache-control': 'private, max-age=31536000, immutable',
        etag: `"${bounce.audioCid}"`,
        'content-disposition': `inline; filename="${bounce.sessionId.replace(/[^A-Za-z0-9._-]/g, '_')}.flac"`,
      });
    },
    {
      auth: 'required',
      tag: 'sessions',
      summary: 'A finished bounce\'s FLAC (byte ranges)',
      responses: { 200: { type: 'audio/flac', description: 'the whole file' }, 206: { type: 'audio/flac', description: 'the byte range asked for' } },
    },
  );
}
