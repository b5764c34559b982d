// HTTP and WebSocket API of creator insights. A creator reads their own insights (creator_id is
// their user id, the `artistId` of their catalogue items); a tenant administrator reads anyone's.
import { z } from 'zod';
import type { Principal } from '../server/auth.js';
import { badRequest, CloseCode, forbidden, HttpError, notFound } from '../server/errors.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import type { WebSocketRouter } from '../server/websocket.js';
import { collaborationScore as collaborationScoreOf } from './authorship.js';
import { SEGMENTS, type Segment } from './listening.js';
import { renderPdf, renderReportHtml, ReportError, type ReportBrand } from './report.js';
import type { Period } from './queries.js';
import { heatmapReply, insightsReplies as r, overviewReply, weeklyReport } from './replies.js';
import type { InsightsService } from './service.js';

const ID = /^[^\s]{1,200}$/;
const webhookSchema = z.object({
  creator_id: z.string().regex(ID),
  url: z.url({ protocol: /^https?$/, error: 'url must be an http or https URL' }).max(2000),
});
const periodQuery = z.object({
  from: z.string().optional().describe('YYYY-MM-DD or an ISO 8601 time; 28 days before to by default'),
  to: z.string().optional().describe('YYYY-MM-DD or an ISO 8601 time, exclusive; the end of today by default'),
});
const creatorQuery = z.object({ creator_id: z.string().optional().describe('the creator (their user id)') });
const trackQuery = creatorQuery.extend({ track_id: z.string().optional().describe('one of the creator\'s tracks (instead of or with creator_id)') });
const heatmapQuery = periodQuery.extend(trackQuery.shape).extend({ segment: z.enum(['all', ...SEGMENTS]).optional() });
const cohortsQuery = periodQuery.extend(creatorQuery.shape).extend({ kind: z.enum(['listeners', 'followers']).optional(), weeks: z.string().optional().describe('1-26 (default 8)') });
const reportQuery = creatorQuery.extend({
  format: z.enum(['html', 'pdf', 'json']).optional(),
  week: z.string().optional().describe('its Monday, YYYY-MM-DD; the last complete week by default'),
});
const tag = 'insights';
const DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;
const MAX_DAYS = 366;
const DAY_MS = 86_400_000;

function param(ctx: HttpContext, name: string): string | null {
  const value = ctx.query.get(name);
  if (value === null) return null;
  if (!ID.test(value)) throw badRequest(`${name} must be 1-200 characters without spaces`);
  return value;
}

/** `from` and `to` as dates or ISO times; the last 28 days by default; at most a year. */
export function parsePeriod(fromRaw: string | null, toRaw: string | null, now = new Date()): Period {
  const parse = (name: string, raw: string) => {
    const at = DATE.test(raw) ? new Date(raw.length === 10 ? `${raw}T00:00:00Z` : raw) : new Date(Number.NaN);
    if (Number.isNaN(at.getTime())) throw badRequest(`${name} must be a date (YYYY-MM-DD) or an ISO 8601 time, got ${JSON.stringify(raw)}`);
    return at;
  };
  const to = toRaw === null ? new Date(Math.floor(now.getTime() / DAY_MS + 1) * DAY_MS) : parse('to', toRaw);
  const from = fromRaw === null ? new Date(to.getTime() - 28 * DAY_MS) : parse('from', fromRaw);
  if (from >= to) throw badRequest(`from (${from.toISOString()}) must be before to (${to.toISOString()})`);
  if (to.getTime() - from.getTime() > MAX_DAYS * DAY_MS) throw badRequest(`the period may span at most ${MAX_DAYS} days`);
  return { from, to };
}

function mayRead(principal: Principal, creatorId: string): void {
  if (principal.userId !== creatorId && !principal.admin) throw forbidden(`only ${creatorId} or a tenant administrator may read these insights`);
}

/** `creator_id` of the query, which the caller may read (no catalogue check: webhooks and alerts). */
function readableCreator(ctx: HttpContext): string {
  const creatorId = param(ctx, 'creator_id');
  if (!creatorId) throw badRequest('creator_id is required');
  mayRead(ctx.principal!, creatorId);
  return creatorId;
}

const round = (x: number | null, digits = 3) => (x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits);

/** A tenant's look on a report of `creator` for `from`–`to` (its theme, where the tenants module runs). */
export type ReportBrandSource = (tenantId: string, report: { creator: string; from: string; to: string }) => Promise<ReportBrand | null>;

export function registerInsightsRoutes(http: HttpRouter, ws: WebSocketRouter, service: InsightsService, brandFor: ReportBrandSource = async () => null): void {
  const { queries } = service;

  /** The creator of the query (creator_id, or the creator of track_id) and their tracks; 404 when none. */
  async function scope(ctx: HttpContext, allowTrack: boolean) {
    const principal = ctx.principal!;
    const creatorParam = param(ctx, 'creator_id');
    const trackId = allowTrack ? param(ctx, 'track_id') : null;
    if (!creatorParam && !trackId) throw badRequest(allowTrack ? 'give creator_id or track_id' : 'creator_id is required');
    const creatorId = creatorParam ?? (await queries.trackCreator(principal.tenantId, trackId!));
    if (!creatorId) throw notFound(`track ${trackId} is not in the catalogue`);
    mayRead(principal, creatorId);
    const tracks = await queries.tracksOf(principal.tenantId, creatorId);
    if (tracks.length === 0) throw notFound(`unknown creator ${creatorId}: no tracks of theirs are in the catalogue`);
    if (trackId && !tracks.some((t) => t.trackId === trackId)) throw notFound(`track ${trackId} is not one of ${creatorId}'s`);
    return { principal, creatorId, trackId, tracks };
  }

  http.route(
    'GET',
    '/api/v1/insights',
    async (ctx) => {
      const period = parsePeriod(ctx.query.get('from'), ctx.query.get('to'));
      const { principal, creatorId, tracks } = await scope(ctx, false);
      const trackIds = tracks.map((t) => t.trackId);
      const titles = new Map(tracks.map((t) => [t.trackId, t.title]));
      const [listening, funnel, collaboration, churn, authorship] = await Promise.all([
        queries.listening(principal.tenantId, trackIds, period),
        queries.funnel(principal.tenantId, trackIds, period),
        queries.collaboration(principal.tenantId, creatorId, period),
        service.churn(principal.tenantId, creatorId, trackIds),
        queries.authorship(principal.tenantId, creatorId, period),
      ]);
      const buyers = funnel.all[3]!.users;
      const streamers = funnel.all[0]!.users;
      // Both scores are 0-100 and saturate: five collaborators (or twenty sessions, or five evenly
      // shared sessions) score 63, and one buyer in ten new listeners scores 63.
      const collaborationScore = collaborationScoreOf({ ...collaboration, weightedShared: authorship.weightedShared });
      const monetizationScore = streamers ? Math.round(100 * (1 - Math.exp(-10 * (buyers / streamers)))) : 0;
      return {
        json: {
          creatorId,
          from: period.from.toISOString(),
          to: period.to.toISOString(),
          // Every track of the creator's in the catalogue, played in the period or not (pickers, links).
          catalogue: tracks,
          listening: {
            ...listening,
            completionRate: round(listening.completionRate),
            skipRate: round(listening.skipRate),
            tracks: listening.tracks.map((t) => ({ ...t, title: titles.get(t.trackId) ?? null })),
            peakHourOfDay: listening.plays ? listening.byHourOfDay.indexOf(Math.max(...listening.byHourOfDay)) : null,
          },
          funnel: funnel.all,
          collaboration: { ...collaboration, score: collaborationScore, authorship: { sessions: authorship.sessions, sharedSessions: authorship.sharedSessions, balance: authorship.balance } },
          monetization: { revenue: listening.revenue, buyers, score: monetizationScore },
          churnRisk:
            churn.status === 'ok'
              ? { status: 'ok', activeListeners: churn.activeListeners, atRiskShare: round(churn.atRiskShare), atRisk: churn.atRisk.length, auc: round(churn.evaluation.auc) }
              : { status: churn.status, reason: churn.reason },
          recommendations: advice({ ...listening, tracks: listening.tracks.map((t) => ({ ...t, title: titles.get(t.trackId) ?? null })) }, funnel.all),
        },
      };
    },
    { auth: 'required', tag, summary: 'A creator\'s listening, funnel, collaboration, money and churn risk for a period', query: periodQuery.extend(creatorQuery.shape), responses: { 200: overviewReply } },
  );

  http.route(
    'GET',
    '/api/v1/insights/report',
    async (ctx) => {
      const format = ctx.query.get('format') ?? 'html';
      if (format !== 'html' && format !== 'pdf' && format !== 'json') throw badRequest('format must be html, pdf or json');
      const weekRaw = ctx.query.get('week');
      let weekStart: Date;
      if (weekRaw === null) {
        // The last complete week, Monday to Monday (UTC).
        const today = Math.floor(Date.now() / DAY_MS);
        const monday = today - ((new Date(today * DAY_MS).getUTCDay() + 6) % 7);
        weekStart = new Date((monday - 7) * DAY_MS);
      } else {
        weekStart = parsePeriod(weekRaw, null).from;
        if (weekRaw.length !== 10 || weekStart.getUTCDay() !== 1) throw badRequest('week must be a Monday, as YYYY-MM-DD');
      }
      const { principal, creatorId } = await scope(ctx, false);
      const report = await service.weeklyReport(principal.tenantId, creatorId, weekStart);
      if (format === 'json') return { json: report };
      const html = renderReportHtml(report, await brandFor(principal.tenantId, { creator: creatorId, from: report.from, to: report.to }));
      const name = `veza-${creatorId.replace(/[^A-Za-z0-9_-]/g, '_')}-${report.from}`;
      if (format === 'html') {
        // The report is a standalone page with inline styles and no scripts.
        return { headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:" }, body: html };
      }
      try {
        const pdf = await renderPdf(html);
        return { headers: { 'content-type': 'application/pdf', 'content-disposition': `attachment; filename="${name}.pdf"` }, body: pdf };
      } catch (error) {
        if (error instanceof ReportError) throw new HttpError(503, 'unavailable', `the PDF could not be printed: ${error.message}`);
        throw error;
      }
    },
    {
      auth: 'required',
      tag,
      summary: 'The weekly report, as a page, a PDF or JSON',
      query: reportQuery,
      responses: { 200: { description: 'the report: HTML by default, PDF or JSON by format', schema: weeklyReport } },
    },
  );

  http.route(
    'GET',
    '/api/v1/insights/churn',
    async (ctx) => {
      const { principal, creatorId, tracks } = await scope(ctx, false);
      return { json: { creatorId, ...(await service.churn(principal.tenantId, creatorId, tracks.map((t) => t.trackId))) } };
    },
    { auth: 'required', tag, summary: 'Which listeners are likely to leave, and the model\'s evaluation', query: creatorQuery, responses: { 200: r.churn } },
  );

  http.route(
    'GET',
    '/api/v1/insights/heatmap',
    async (ctx) => {
      const period = parsePeriod(ctx.query.get('from'), ctx.query.get('to'));
      const segment = (ctx.query.get('segment') ?? 'all') as Segment | 'all';
      if (segment !== 'all' && !SEGMENTS.includes(segment)) throw badRequest(`segment must be all or one of ${SEGMENTS.join(', ')}`);
      if (!ctx.query.get('track_id')) throw badRequest('track_id is required');
      const { principal, trackId, tracks } = await scope(ctx, true);
      const others = tracks.map((t) => t.trackId).filter((id) => id !== trackId);
      return { json: await queries.heatmap(principal.tenantId, trackId!, others, period, segment) };
    },
    { auth: 'required', tag, summary: 'Where in a track listeners drop, seek and replay', query: heatmapQuery, responses: { 200: heatmapReply } },
  );

  http.route(
    'GET',
    '/api/v1/insights/funnel',
    async (ctx) => {
      const period = parsePeriod(ctx.query.get('from'), ctx.query.get('to'));
      const { principal, creatorId, trackId, tracks } = await scope(ctx, true);
      const funnel = await queries.funnel(principal.tenantId, trackId ? [trackId] : tracks.map((t) => t.trackId), period);
      return { json: { creatorId, trackId, from: period.from.toISOString(), to: period.to.toISOString(), ...funnel } };
    },
    { auth: 'required', tag, summary: 'Stream, like, share, purchase: users at each step', query: periodQuery.extend(trackQuery.shape), responses: { 200: r.funnel } },
  );

  http.route(
    'GET',
    '/api/v1/insights/cohorts',
    async (ctx) => {
      const period = parsePeriod(ctx.query.get('from'), ctx.query.get('to'));
      const kind = ctx.query.get('kind') ?? 'listeners';
      if (kind !== 'listeners' && kind !== 'followers') throw badRequest('kind must be listeners (first-listen week) or followers (follow week)');
      const weeksRaw = ctx.query.get('weeks') ?? '8';
      const weeks = Number(weeksRaw);
      if (!Number.isInteger(weeks) || weeks < 1 || weeks > 26) throw badRequest('weeks must be an integer from 1 to 26');
      const { principal, creatorId, tracks } = await scope(ctx, false);
      const cohorts = await queries.cohorts(principal.tenantId, creatorId, tracks.map((t) => t.trackId), kind, period, weeks);
      return { json: { creatorId, kind, weeks, cohorts } };
    },
    { auth: 'required', tag, summary: 'Weekly cohorts of listeners or followers and how many stay', query: cohortsQuery, responses: { 200: r.cohorts } },
  );

  http.route(
    'POST',
    '/api/v1/insights/webhooks',
    async (ctx) => {
      const body = await ctx.json(webhookSchema);
      mayRead(ctx.principal!, body.creator_id);
      const hook = await service.alerts.addWebhook(ctx.principal!.tenantId, body.creator_id, body.url);
      return { status: 201, json: { ...hook, creatorId: body.creator_id, url: body.url, signature: 'x-veza-signature: sha256=<hex HMAC-SHA256 of the body with the secret>' } };
    },
    { auth: 'required', body: webhookSchema, tag, summary: 'Send a creator\'s alerts to a URL (signed with the secret shown once)', responses: { 201: r.webhookCreated } },
  );

  http.route(
    'GET',
    '/api/v1/insights/webhooks',
    async (ctx) => {
      const creatorId = readableCreator(ctx);
      return { json: { webhooks: await service.alerts.webhooks(ctx.principal!.tenantId, creatorId) } };
    },
    { auth: 'required', tag, summary: 'A creator\'s alert webhooks', query: creatorQuery, responses: { 200: r.webhooks } },
  );

  http.route(
    'DELETE',
    '/api/v1/insights/webhooks/:id',
    async (ctx) => {
      const creatorId = readableCreator(ctx);
      if (!(await service.alerts.removeWebhook(ctx.principal!.tenantId, creatorId, ctx.params.id ?? ''))) throw notFound(`no webhook ${ctx.params.id} of ${creatorId}`);
      return { status: 204 };
    },
    { auth: 'required', tag, summary: 'Remove an alert webhook', query: creatorQuery, responses: { 204: { description: 'removed' } } },
  );

  http.route(
    'GET',
    '/api/v1/insights/alerts',
    async (ctx) => {
      const creatorId = readableCreator(ctx);
      return { json: { alerts: await service.alerts.alerts(ctx.principal!.tenantId, creatorId) } };
    },
    { auth: 'required', tag, summary: 'A creator\'s latest alerts and their delivery', query: creatorQuery, responses: { 200: r.alerts } },
  );

  /** `/insights/live/<creator>`: a snapshot, then an update whenever the creator's counters move. */
  ws.route<{ tenantId: string; creatorId: string; unsubscribe: (() => void) | null; closed: boolean }>('/insights/live/:creator', {
    authorize: ({ params, principal }) => {
      const creatorId = params.creator ?? '';
      if (!ID.test(creatorId)) throw badRequest('creator id must be 1-200 characters without spaces');
      mayRead(principal, creatorId);
      return { tenantId: principal.tenantId, creatorId, unsubscribe: null, closed: false };
    },
    open: (socket) => {
      const state = socket.getUserData().state;
      service.live
        .subscribe(state.tenantId, state.creatorId, (frame) => {
          if (!state.closed) socket.send(JSON.stringify(frame), false);
        })
        .then((unsubscribe) => {
          if (state.closed) unsubscribe();
          else state.unsubscribe = unsubscribe;
        })
        .catch(() => {
          if (!state.closed) socket.end(CloseCode.internalError, 'the dashboard could not be loaded; retry later');
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

/** Plain-language suggestions from the numbers, each with the figure behind it. */
function advice(
  listening: { plays: number; skipRate: number | null; completionRate: number | null; byHourOfDay: number[]; tracks: { trackId: string; title: string | null; plays: number; skips: number }[] },
  funnel: { step: string; users: number; conversion: number | null }[],
): string[] {
  const out: string[] = [];
  if (listening.plays === 0) return ['no plays in this period: share a track to get your first listeners'];
  const peak = listening.byHourOfDay.indexOf(Math.max(...listening.byHourOfDay));
  out.push(`your listeners play most at ${String(peak).padStart(2, '0')}:00 UTC: release and go live around then`);
  const worst = listening.tracks.filter((t) => t.plays >= 20).sort((a, b) => b.skips / b.plays - a.skips / a.plays)[0];
  if (worst && worst.skips / worst.plays > 0.3) out.push(`${Math.round((100 * worst.skips) / worst.plays)}% of plays of ${worst.title ?? worst.trackId} are skipped in the first 30 s: look at its intro (see its heat-map)`);
  const like = funnel[1]?.conversion;
  if (like !== null && like !== undefined && like < 0.05) out.push(`only ${Math.round(like * 100)}% of new listeners like a track: ask for the like in your description or live`);
  const purchase = funnel[3];
  if (purchase && purchase.users === 0 && funnel[0]!.users >= 50) out.push('nobody bought a track yet: offer one for sale or a tip jar in your next live set');
  return out;
}
