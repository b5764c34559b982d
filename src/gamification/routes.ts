// HTTP and WebSocket API of gamification and tips. Anyone signed in reads standings, rules, quests
// and leaderboards of their tenant; tenant administrators (claim `adm`) define rules and quests.
// Tips need an Idempotency-Key header; a retry gets the first answer back.
import { z } from 'zod';
import type { Principal } from '../server/auth.js';
import { badRequest, CloseCode, forbidden, HttpError, notFound } from '../server/errors.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import type { WebSocketRouter } from '../server/websocket.js';
import { GLOBAL_BOARD_TENANT } from './engine.js';
import { PERIODS, type BoardRef, type Period } from './leaderboards.js';
import { questSchema } from './quests.js';
import { RuleError, ruleSchema } from './rules.js';
import { gamificationReplies as r, questView, standingReply, tipView } from './schemas.js';
import type { GamificationService } from './service.js';
import { TipError, tipRequestSchema } from './tips.js';

const ID = /^[^\s]{1,200}$/;
const RULE_ID = /^[a-z0-9][a-z0-9._-]{0,99}$/;
const KEY = /^[\x21-\x7e]{1,200}$/;
const METRIC = /^(points|tips:[A-Z]{3})$/;
const refundSchema = z.object({ reason: z.string().max(500).optional() }).strict();
const leaderboardQuery = z.object({
  scope: z.string().optional().describe('tenant (default), global or room:<roomId>'),
  period: z.enum(PERIODS).optional().describe('all by default'),
  at: z.string().optional().describe('ISO 8601 time whose period is read; now by default'),
  around: z.string().optional().describe('a user id: their entry and its neighbours instead of the top'),
  neighbours: z.string().optional().describe('entries above and below with around, 0-50 (default 5)'),
  offset: z.string().optional(),
  limit: z.string().optional().describe('1-100 (default 10)'),
});

function admin(ctx: HttpContext, what: string): Principal {
  const principal = ctx.principal!;
  if (!principal.admin) throw forbidden(`${what} needs a tenant administrator (token claim adm)`);
  return principal;
}

function pathId(ctx: HttpContext, name: string, pattern = ID, what = '1-200 characters without spaces'): string {
  const value = ctx.params[name] ?? '';
  if (!pattern.test(value)) throw badRequest(`${name} must be ${what}`);
  return value;
}

/** A rule's or a quest's id from the path. */
const slugId = (ctx: HttpContext) => pathId(ctx, 'id', RULE_ID, '1-100 characters of a-z, 0-9 and ._-');

function integer(ctx: HttpContext, name: string, fallback: number, min: number, max: number): number {
  const raw = ctx.query.get(name);
  if (raw === null) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < min || value > max) throw badRequest(`${name} must be an integer from ${min} to ${max}`);
  return value;
}

/** The board a query names: `metric` (path), `scope` (tenant, global or room:<id>) and `period`. */
export function parseBoard(tenantId: string, metric: string, scope: string | null, period: string | null): { board: BoardRef; period: Period } {
  if (!METRIC.test(metric)) throw badRequest(`metric must be points or tips:<CURRENCY> (e.g. tips:EUR), got ${JSON.stringify(metric)}`);
  const s = scope ?? 'tenant';
  if (s !== 'tenant' && s !== 'global' && !(s.startsWith('room:') && ID.test(s.slice(5)))) throw badRequest('scope must be tenant, global or room:<roomId>');
  if (s === 'global' && metric !== 'points') throw badRequest('the global scope ranks points only (money is not summed across tenants)');
  const p = (period ?? 'all') as Period;
  if (!PERIODS.includes(p)) throw badRequest(`period must be one of ${PERIODS.join(', ')}`);
  return { board: { tenantId: s === 'global' ? GLOBAL_BOARD_TENANT : tenantId, scope: s, metric }, period: p };
}

const TIP_PROBLEMS = { 403: 'forbidden', 404: 'not-found', 422: 'unprocessable' } as const;

function mapErrors<T>(work: () => Promise<T>): Promise<T> {
  return work().catch((error: unknown) => {
    if (error instanceof RuleError) throw badRequest(error.message);
    if (error instanceof TipError) throw new HttpError(error.status, TIP_PROBLEMS[error.status], error.message);
    throw error;
  });
}

export function registerGamificationRoutes(http: HttpRouter, ws: WebSocketRouter, service: GamificationService): void {
  const standing = async (ctx: HttpContext, userId: string) => ({ json: await service.standing(ctx.principal!.tenantId, userId) });
  const tag = 'gamification';
  http.route('GET', '/api/v1/gamification/me', (ctx) => standing(ctx, ctx.principal!.userId), { auth: 'required', tag, summary: 'The caller\'s points, level, achievements and quests', responses: { 200: standingReply } });
  http.route('GET', '/api/v1/gamification/users/:user', (ctx) => standing(ctx, pathId(ctx, 'user')), { auth: 'required', tag, summary: 'A user\'s points, level, achievements and quests', responses: { 200: standingReply } });

  http.route('GET', '/api/v1/gamification/rules', async (ctx) => ({ json: { rules: await service.rules(ctx.principal!.tenantId) } }), {
    auth: 'required',
    tag,
    summary: 'Every version of the tenant\'s achievement rules',
    responses: { 200: r.rules },
  });
  http.route(
    'GET',
    '/api/v1/gamification/rules/:id',
    async (ctx) => {
      const ruleId = slugId(ctx);
      const versions = await service.rules(ctx.principal!.tenantId, ruleId);
      if (versions.length === 0) throw notFound(`no rule ${ruleId}`);
      return { json: { ruleId, versions } };
    },
    { auth: 'required', tag, summary: 'Every version of one rule', responses: { 200: r.ruleVersions } },
  );
  http.route(
    'PUT',
    '/api/v1/gamification/rules/:id',
    async (ctx) => {
      const principal = admin(ctx, 'defining achievements');
      const ruleId = slugId(ctx);
      const body = await ctx.json(z.unknown());
      const stored = await mapErrors(() => service.defineRule(principal.tenantId, ruleId, body, principal.userId));
      return { status: stored.version === 1 ? 201 : 200, json: stored };
    },
    { auth: 'required', maxBodyBytes: 16 * 1024, tag, summary: 'Define a rule, or its next version (administrators)', body: ruleSchema, responses: { 200: r.definedRule, 201: r.definedRule } },
  );

  http.route('GET', '/api/v1/gamification/quests', async (ctx) => ({ json: { quests: await service.quests(ctx.principal!.tenantId) } }), {
    auth: 'required',
    tag,
    summary: 'The tenant\'s quests, latest ending first',
    responses: { 200: r.quests },
  });
  http.route(
    'GET',
    '/api/v1/gamification/quests/:id',
    async (ctx) => {
      const questId = slugId(ctx);
      const [quest] = await service.quests(ctx.principal!.tenantId, questId);
      if (!quest) throw notFound(`no quest ${questId}`);
      return { json: quest };
    },
    { auth: 'required', tag, summary: 'One quest and its progress', responses: { 200: questView } },
  );
  http.route(
    'PUT',
    '/api/v1/gamification/quests/:id',
    async (ctx) => {
      const principal = admin(ctx, 'creating quests');
      const questId = slugId(ctx);
      const body = await ctx.json(z.unknown());
      const quest = await mapErrors(() => service.createQuest(principal.tenantId, questId, body));
      if (!quest) throw new HttpError(409, 'conflict', `quest ${questId} exists; quests are not changed once they count (create another)`);
      return { status: 201, json: { questId, ...quest } };
    },
    { auth: 'required', maxBodyBytes: 16 * 1024, tag, summary: 'Create a quest (administrators; quests are not changed once made)', body: questSchema, responses: { 201: r.createdQuest } },
  );

  http.route(
    'GET',
    '/api/v1/gamification/leaderboards/:metric',
    async (ctx) => {
      const { board, period } = parseBoard(ctx.principal!.tenantId, ctx.params.metric ?? '', ctx.query.get('scope'), ctx.query.get('period'));
      const atRaw = ctx.query.get('at');
      const at = atRaw === null ? new Date() : new Date(atRaw);
      if (Number.isNaN(at.getTime())) throw badRequest('at must be an ISO 8601 time');
      const around = ctx.query.get('around');
      if (around !== null) {
        if (!ID.test(around)) throw badRequest('around must be a user id');
        const member = board.scope === 'global' ? `${ctx.principal!.tenantId}/${around}` : around;
        const neighbours = integer(ctx, 'neighbours', 5, 0, 50);
        return { json: { board, period, ...(await service.leaderboards.around(board, period, member, neighbours, at)) } };
      }
      const offset = integer(ctx, 'offset', 0, 0, 1_000_000);
      const limit = integer(ctx, 'limit', 10, 1, 100);
      return { json: { board, period, entries: await service.leaderboards.top(board, period, { offset, limit, at }) } };
    },
    { auth: 'required', tag, summary: 'A leaderboard\'s top entries, or those around one user', query: leaderboardQuery, responses: { 200: r.leaderboard } },
  );

  http.route(
    'POST',
    '/api/v1/live/:room/tips',
    async (ctx) => {
      const principal = ctx.principal!;
      const roomId = pathId(ctx, 'room');
      const key = ctx.headers['idempotency-key'];
      if (key === undefined) throw badRequest('an Idempotency-Key header is required: retries with the same key send the tip once');
      if (!KEY.test(key)) throw badRequest('Idempotency-Key must be 1-200 visible ASCII characters');
      const request = await ctx.json(tipRequestSchema);
      const { tip, replayed } = await mapErrors(() => service.tips.send(principal.tenantId, principal.userId, roomId, key, request));
      return { status: replayed ? 200 : 201, headers: replayed ? { 'idempotent-replayed': 'true' } : {}, json: tip };
    },
    {
      auth: 'required',
      maxBodyBytes: 4096,
      body: tipRequestSchema,
      tag,
      summary: 'Tip a creator in a live room (Idempotency-Key header; a retry answers 200 with the first tip)',
      responses: { 200: tipView, 201: tipView },
    },
  );
  http.route('GET', '/api/v1/live/:room/tips', async (ctx) => ({ json: await service.tips.room(ctx.principal!.tenantId, pathId(ctx, 'room'), integer(ctx, 'limit', 50, 1, 200)) }), {
    auth: 'required',
    tag,
    summary: 'A room\'s pinned and latest tips',
    query: z.object({ limit: z.string().optional().describe('how many recent tips, 1-200 (default 50)') }),
    responses: { 200: r.roomTips },
  });
  http.route('GET', '/api/v1/tips/provider', () => ({ json: service.tips.providerInfo }), { auth: 'required', tag, summary: 'Which payment provider takes tips', responses: { 200: r.provider } });
  http.route(
    'GET',
    '/api/v1/tips/balance',
    async (ctx) => {
      const principal = ctx.principal!;
      const userId = ctx.query.get('user_id') ?? principal.userId;
      if (!ID.test(userId)) throw badRequest('user_id must be 1-200 characters without spaces');
      if (userId !== principal.userId && !principal.admin) throw forbidden('only the user or a tenant administrator may read a balance');
      return { json: { userId, balances: await service.tips.balance(principal.tenantId, userId), provider: service.tips.providerInfo } };
    },
    {
      auth: 'required',
      tag,
      summary: 'What a user has received in tips, by currency',
      query: z.object({ user_id: z.string().optional().describe('another user (administrators); the caller by default') }),
      responses: { 200: r.balance },
    },
  );
  http.route(
    'GET',
    '/api/v1/tips/:id',
    async (ctx) => {
      const principal = ctx.principal!;
      const tip = await service.tips.get(principal.tenantId, pathId(ctx, 'id'));
      if (!tip) throw notFound(`no tip ${ctx.params.id}`);
      if (tip.fromUserId !== principal.userId && tip.toUserId !== principal.userId && !principal.admin) throw forbidden(`only the sender, the recipient or an administrator may read tip ${tip.tipId}`);
      return { json: tip };
    },
    { auth: 'required', tag, summary: 'One tip (its sender, its recipient or an administrator)', responses: { 200: tipView } },
  );
  http.route(
    'POST',
    '/api/v1/tips/:id/refund',
    async (ctx) => {
      const principal = ctx.principal!;
      const tipId = pathId(ctx, 'id');
      const empty = ctx.headers['content-length'] === '0' || ctx.headers['content-length'] === undefined;
      const { reason } = empty ? {} : await ctx.json(refundSchema);
      const { tip, replayed } = await mapErrors(() => service.tips.refund(principal.tenantId, tipId, { userId: principal.userId, admin: principal.admin === true }, reason));
      return { status: 200, headers: replayed ? { 'idempotent-replayed': 'true' } : {}, json: tip };
    },
    { auth: 'required', maxBodyBytes: 4096, body: refundSchema, tag, summary: 'Refund a tip (its recipient or an administrator)', responses: { 200: tipView } },
  );

  /** `/gamification/leaderboards/<metric>?scope=&period=&limit=`: the top entries, then every change. */
  ws.route<{ board: BoardRef; period: Period; limit: number; unsubscribe: (() => void) | null; closed: boolean }>('/gamification/leaderboards/:metric', {
    authorize: ({ params, query, principal }) => {
      const { board, period } = parseBoard(principal.tenantId, params.metric ?? '', query.get('scope'), query.get('period'));
      const limitRaw = query.get('limit') ?? '10';
      const limit = Number(limitRaw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw badRequest('limit must be an integer from 1 to 100');
      return { board, period, limit, unsubscribe: null, closed: false };
    },
    open: (socket) => {
      const state = socket.getUserData().state;
      follow(state, socket, (send) => service.feeds.leaderboard(state.board, state.period, state.limit, send), 'the leaderboard could not be loaded; retry later');
    },
    message: (socket) => socket.end(CloseCode.protocolError, 'this socket only sends; it takes no messages'),
    close: (socket) => stop(socket.getUserData().state),
  });

  /** `/live/<room>/tips`: the room's pinned and latest tips, then every change. */
  ws.route<{ tenantId: string; roomId: string; unsubscribe: (() => void) | null; closed: boolean }>('/live/:room/tips', {
    authorize: ({ params, principal }) => {
      const roomId = params.room ?? '';
      if (!ID.test(roomId)) throw badRequest('room id must be 1-200 characters without spaces');
      return { tenantId: principal.tenantId, roomId, unsubscribe: null, closed: false };
    },
    open: (socket) => {
      const state = socket.getUserData().state;
      follow(state, socket, (send) => service.feeds.room(state.tenantId, state.roomId, send), 'the room\'s tips could not be loaded; retry later');
    },
    message: (socket) => socket.end(CloseCode.protocolError, 'this socket only sends; it takes no messages'),
    close: (socket) => stop(socket.getUserData().state),
  });
}

type FeedState = { unsubscribe: (() => void) | null; closed: boolean };

function follow<F>(
  state: FeedState,
  socket: { send(message: string, isBinary: boolean): unknown; end(code: number, reason: string): void },
  subscribe: (send: (frame: F) => void) => Promise<() => void>,
  failure: string,
): void {
  subscribe((frame) => {
    if (!state.closed) socket.send(JSON.stringify(frame), false);
  })
    .then((unsubscribe) => {
      if (state.closed) unsubscribe();
      else state.unsubscribe = unsubscribe;
    })
    .catch(() => {
      if (!state.closed) socket.end(CloseCode.internalError, failure);
    });
}

function stop(state: FeedState): void {
  state.closed = true;
  state.unsubscribe?.();
}
