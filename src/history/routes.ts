// HTTP API of a session's authorship and diffs. Moments are times (Unix ms: the last update accepted
// at or before) or saved versions (resolved through `resolveVersion` to the log id they end at).
import { badRequest, notFound } from '../server/errors.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import { sessionOf, timeParam } from '../studio/routes.js';
import { z } from 'zod';
import { historyReplies as r } from './replies.js';
import { isAfter, type HistoryService, type Moment } from './service.js';

/** A saved version of a session: the log id it ends at (null: the empty session) and its time; null when there is none. */
export type VersionResolver = (tenantId: string, sessionId: string, versionId: string) => Promise<{ uptoId: string | null; at: number } | null>;

export interface AuthorshipRouteDeps {
  history: HistoryService;
  resolveVersion?: VersionResolver;
  now?: () => number;
}

const authorshipQuery = z.object({ at: z.string().optional().describe('Unix ms: the session as it was then; now by default') });
const diffQuery = z.object({
  from: z.string().optional().describe('Unix ms of the first moment'),
  fromVersion: z.string().optional().describe('or a saved version as the first moment'),
  to: z.string().optional().describe('Unix ms of the second moment; now by default'),
  toVersion: z.string().optional().describe('or a saved version as the second moment'),
});

const VERSION_ID = /^[A-Za-z0-9._:-]{1,200}$/;

/** The moment named by `<side>` (a time) or `<side>Version`; `fallback` when neither is given (null: required). */
async function momentParam(ctx: HttpContext, deps: AuthorshipRouteDeps, tenantId: string, sessionId: string, side: 'from' | 'to', fallback: number | null): Promise<Moment> {
  const at = timeParam(ctx, side);
  const version = ctx.query.get(`${side}Version`);
  if (at !== undefined && version !== null) throw badRequest(`give ${side} or ${side}Version, not both`);
  if (version !== null) {
    if (!VERSION_ID.test(version)) throw badRequest(`${side}Version must be a version id`);
    const found = deps.resolveVersion ? await deps.resolveVersion(tenantId, sessionId, version) : null;
    if (!found) throw notFound(`version ${version} of session ${sessionId} not found`);
    return { at: found.at, uptoId: found.uptoId };
  }
  const time = at ?? fallback;
  if (time === null) throw badRequest(`${side} (Unix milliseconds) or ${side}Version is required`);
  return deps.history.momentAt(tenantId, sessionId, time);
}

export function registerAuthorshipRoutes(http: HttpRouter, deps: AuthorshipRouteDeps): void {
  const now = deps.now ?? Date.now;

  http.route(
    'GET',
    '/api/v1/sessions/:id/authorship',
    async (ctx) => {
      const { id, principal } = sessionOf(ctx);
      const at = timeParam(ctx, 'at') ?? now();
      if (!(await deps.history.exists(principal.tenantId, id))) throw notFound(`session ${id} has no recording`);
      const moment = await deps.history.momentAt(principal.tenantId, id, at);
      const report = await deps.history.authorship(principal.tenantId, id, moment);
      return { json: { sessionId: id, at, ...report } };
    },
    { auth: 'required', tag: 'sessions', summary: 'Who made each track, clip and note, what was removed, and each user\'s share', query: authorshipQuery, responses: { 200: r.authorship } },
  );

  http.route(
    'GET',
    '/api/v1/sessions/:id/diff',
    async (ctx) => {
      const { id, principal } = sessionOf(ctx);
      const fromAt = timeParam(ctx, 'from');
      const toAt = timeParam(ctx, 'to');
      if (fromAt !== undefined && toAt !== undefined && fromAt > toAt) throw badRequest(`from (${fromAt}) must not be after to (${toAt})`);
      if (!(await deps.history.exists(principal.tenantId, id))) throw notFound(`session ${id} has no recording`);
      const from = await momentParam(ctx, deps, principal.tenantId, id, 'from', null);
      const to = await momentParam(ctx, deps, principal.tenantId, id, 'to', now());
      if (isAfter(from, to) || from.at > to.at) throw badRequest(`the first moment (${from.at}) must not come after the second (${to.at})`);
      const diff = await deps.history.diff(principal.tenantId, id, from, to);
      return { json: { sessionId: id, from, to, ...diff } };
    },
    { auth: 'required', tag: 'sessions', summary: 'What changed between two moments or versions, and who changed it', query: diffQuery, responses: { 200: r.diff } },
  );
}
