// The resolvers: each reads through the service the matching REST route uses, with the same checks
// (tenant from the token, a role on a session, administrators for other users' data).
import { GraphQLError } from 'graphql';
import { parseBoard } from '../gamification/routes.js';
import type { Tip } from '../gamification/tips.js';
import { roleFor } from '../server/auth.js';
import type { GraphqlContext, SessionRow } from './context.js';
import { channel, type RoomState } from './live-events.js';
import type { ResolverMap } from './schema.js';

const ID = /^[^\s]{1,200}$/;
const CONTEXTS = ['discovery', 'radio', 'sampling'];

function input(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}

function unavailable(what: string): GraphQLError {
  return new GraphQLError(`${what} is not running on this server`, { extensions: { code: 'UNAVAILABLE' } });
}

function limitOf(value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) throw input(`limit must be an integer from 1 to ${max}`);
  return value;
}

function idOf(value: unknown, name: string): string {
  if (typeof value !== 'string' || !ID.test(value)) throw input(`${name} must be 1-200 characters without spaces`);
  return value;
}

function gamification(ctx: GraphqlContext) {
  const service = ctx.services.gamification;
  if (!service) throw unavailable('gamification');
  return service;
}

/** The user whose data is asked for: the caller, or anyone for an administrator. */
function userOf(ctx: GraphqlContext, userId: unknown, what: string): string {
  if (userId === undefined || userId === null) return ctx.principal.userId;
  const id = idOf(userId, 'userId');
  if (id !== ctx.principal.userId && !ctx.principal.admin) throw new GraphQLError(`only a tenant administrator may read another user's ${what}`, { extensions: { code: 'FORBIDDEN' } });
  return id;
}

async function leaderboard(ctx: GraphqlContext, args: Record<string, unknown>) {
  const limit = limitOf(args.limit, 100);
  const { board, period } = parseBoard(ctx.principal.tenantId, String(args.metric), String(args.scope), String(args.period));
  const entries = await gamification(ctx).leaderboards.top(board, period, { limit });
  return { metric: board.metric, scope: board.scope, period, entries };
}

const tipView = (tip: Tip) => tip;

export const resolvers: ResolverMap = {
  Query: {
    me: (_, __, ctx) => ({ userId: ctx.principal.userId, tenantId: ctx.principal.tenantId, admin: ctx.principal.admin === true }),
    sessions: async (_, args, ctx) => {
      const limit = limitOf(args.limit, 200);
      const rows = await ctx.services.sessions(ctx.principal.tenantId, limit);
      return rows.filter((s) => roleFor(ctx.principal, s.id) !== null);
    },
    session: (_, args, ctx) => {
      const id = idOf(args.id, 'id');
      if (roleFor(ctx.principal, id) === null) throw new GraphQLError(`no role on session ${id}`, { extensions: { code: 'FORBIDDEN' } });
      return ctx.session.load(id);
    },
    leaderboard: (_, args, ctx) => leaderboard(ctx, args),
    standing: (_, args, ctx) => gamification(ctx).standing(ctx.principal.tenantId, userOf(ctx, args.userId, 'standing')),
    roomTips: async (_, args, ctx) => {
      const roomId = idOf(args.roomId, 'roomId');
      const { pinned, recent } = await gamification(ctx).tips.room(ctx.principal.tenantId, roomId, limitOf(args.limit, 200));
      return { roomId, pinned: pinned.map(tipView), recent: recent.map(tipView) };
    },
    recommendations: (_, args, ctx) => {
      const service = ctx.services.recommendations;
      if (!service) throw unavailable('recommendations');
      const context = String(args.context);
      if (!CONTEXTS.includes(context)) throw input(`context must be one of ${CONTEXTS.join(', ')}`);
      return service.recommend(ctx.principal.tenantId, { userId: ctx.principal.userId, context: context as 'discovery', limit: limitOf(args.limit, 100), filters: { kinds: null, tags: null, artists: null } });
    },
  },
  Me: {
    standing: (me: { userId: string }, _, ctx) => gamification(ctx).standing(ctx.principal.tenantId, me.userId),
  },
  Session: {
    role: (session: SessionRow, _, ctx) => roleFor(ctx.principal, session.id),
    title: async (session: SessionRow, _, ctx) => (await ctx.content.load(session.id)).title,
    tracks: async (session: SessionRow, _, ctx) => (await ctx.content.load(session.id)).tracks,
  },
  Subscription: {
    tipSent: {
      subscribe: (_, args, ctx) => {
        const roomId = idOf(args.roomId, 'roomId');
        return channel((push) => ctx.services.live.onTip(ctx.principal.tenantId, roomId, push));
      },
      resolve: (event: { id: string; at: string; payload: { tipId?: string; roomId: string; fromUserId: string; toUserId: string; amount: number; currency: string; message?: string } }) => ({
        ...event.payload,
        tipId: event.payload.tipId ?? event.id,
        message: event.payload.message ?? null,
        status: 'sent',
        createdAt: event.at,
        pinnedUntil: null,
      }),
    },
    leaderboard: {
      subscribe: async (_, args, ctx) => {
        const limit = limitOf(args.limit, 100);
        const { board, period } = parseBoard(ctx.principal.tenantId, String(args.metric), String(args.scope), String(args.period));
        const feeds = gamification(ctx).feeds;
        let stop: (() => void) | null = null;
        let closed = false;
        const iterator = channel<unknown>((push) => {
          void feeds.leaderboard(board, period, limit, (frame) => push({ metric: board.metric, scope: board.scope, period, entries: frame.entries })).then((unsubscribe) => {
            if (closed) unsubscribe();
            else stop = unsubscribe;
          });
          return () => {
            closed = true;
            stop?.();
          };
        });
        return iterator;
      },
      resolve: (frame: unknown) => frame,
    },
    roomState: {
      subscribe: (_, args, ctx) => {
        const roomId = idOf(args.roomId, 'roomId');
        const { live } = ctx.services;
        return channel<RoomState>((push) => {
          push(live.roomState(ctx.principal.tenantId, roomId));
          return live.onRoom(ctx.principal.tenantId, roomId, push);
        });
      },
      resolve: (state: RoomState) => state,
    },
  },
};
