// The GraphQL schema of the mobile and web screens: the same services and storage reads as the REST
// routes (every read scoped to the caller's tenant, sessions to the caller's roles), with the
// per-request loaders of `context.ts` batching what lists ask for. Written as SDL; the resolvers are
// attached to its fields, so the one schema object serves graphql-js, graphql-jit and the benchmark's
// other servers alike.
import { buildSchema, GraphQLError, type GraphQLFieldResolver, type GraphQLObjectType, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import { HttpError } from '../server/errors.js';
import type { GraphqlContext } from './context.js';

export const typeDefs = /* GraphQL */ `
  type Query {
    "Who the bearer token names."
    me: Me!
    "The tenant's most recent sessions the caller has a role on."
    sessions(limit: Int = 20): [Session!]!
    "One session, by id (null when it does not exist)."
    session(id: ID!): Session
    "A leaderboard: metric points or tips:<CURRENCY>; scope tenant, global or room:<id>; period all, day, week or month."
    leaderboard(metric: String = "points", scope: String = "tenant", period: String = "all", limit: Int = 10): Leaderboard!
    "Points, level and achievements of a user (the caller by default)."
    standing(userId: ID): Standing!
    "A live room's pinned and latest tips."
    roomTips(roomId: ID!, limit: Int = 20): RoomTips!
    "Recommendations for the caller: context discovery, radio or sampling."
    recommendations(context: String = "discovery", limit: Int = 20): Recommendations!
  }

  type Subscription {
    "Every tip sent in a live room, as it is paid."
    tipSent(roomId: ID!): Tip!
    "A leaderboard's top entries now, then each time they change."
    leaderboard(metric: String = "points", scope: String = "tenant", period: String = "all", limit: Int = 10): Leaderboard!
    "A live room's state each time it changes (stream started or ended, viewers joined or left)."
    roomState(roomId: ID!): RoomState!
  }

  type Me {
    userId: ID!
    tenantId: ID!
    admin: Boolean!
    standing: Standing!
  }

  type Session {
    id: ID!
    title: String!
    "The caller's role: owner, editor or viewer."
    role: String!
    createdAt: String!
    updates: Int!
    lastUpdateAt: String
    tracks: [Track!]!
  }

  type Track {
    id: ID!
    name: String!
    kind: String!
    color: String!
    mute: Boolean!
    solo: Boolean!
    volume: Float!
    pan: Float!
    order: Int!
    program: Int!
  }

  type Leaderboard {
    metric: String!
    scope: String!
    period: String!
    entries: [LeaderboardEntry!]!
  }

  type LeaderboardEntry {
    rank: Int!
    member: String!
    value: Float!
  }

  type Standing {
    userId: ID!
    points: Int!
    level: Int!
    nextLevelAt: Int!
    achievements: [Achievement!]!
  }

  type Achievement {
    achievementId: ID!
    title: String!
    category: String!
    points: Int!
    awardedAt: String!
  }

  type Tip {
    tipId: ID!
    roomId: ID!
    fromUserId: ID!
    toUserId: ID!
    amount: Float!
    currency: String!
    message: String
    status: String!
    createdAt: String!
    pinnedUntil: String
  }

  type RoomTips {
    roomId: ID!
    pinned: [Tip!]!
    recent: [Tip!]!
  }

  type Recommendations {
    source: String!
    modelVersion: String
    tracks: [RecommendedItem!]!
  }

  type RecommendedItem {
    id: ID!
    title: String
    artistId: String
    score: Float!
    reason: String!
  }

  type RoomState {
    roomId: ID!
    live: Boolean!
    streamerId: ID
    viewers: Int!
    "The event that changed it: stream.started, stream.ended, stream.viewer.joined or stream.viewer.left."
    event: String!
  }
`;

/** A field's resolver; `source` is what the parent field resolved to (typed by each resolver). */
export type Resolver = (source: never, args: Record<string, unknown>, context: GraphqlContext, info: GraphQLResolveInfo) => unknown;
export interface SubscriptionResolver {
  subscribe: Resolver;
  resolve?: Resolver;
}
export type ResolverMap = Record<string, Record<string, Resolver | SubscriptionResolver>>;

/** The schema with the resolvers attached; errors from the services come out with a GraphQL error code. */
export function buildVezaSchema(map: ResolverMap): GraphQLSchema {
  const schema = buildSchema(typeDefs);
  for (const [typeName, fields] of Object.entries(map)) {
    const type = schema.getType(typeName) as GraphQLObjectType | undefined;
    if (!type) throw new Error(`no type ${typeName} in the schema`);
    const defined = type.getFields();
    for (const [name, resolver] of Object.entries(fields)) {
      const field = defined[name];
      if (!field) throw new Error(`no field ${typeName}.${name} in the schema`);
      if (typeof resolver === 'function') field.resolve = withCodes(resolver);
      else {
        field.subscribe = withCodes(resolver.subscribe);
        if (resolver.resolve) field.resolve = withCodes(resolver.resolve);
      }
    }
  }
  return schema;
}

const CODES: Record<number, string> = { 400: 'BAD_USER_INPUT', 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 409: 'CONFLICT', 422: 'BAD_USER_INPUT', 429: 'RATE_LIMITED', 503: 'UNAVAILABLE' };

/** An HTTP error of a shared service becomes a GraphQL error with the same message and a code. */
export function asGraphqlError(error: unknown): unknown {
  if (error instanceof HttpError) return new GraphQLError(error.message, { extensions: { code: CODES[error.status] ?? 'INTERNAL_SERVER_ERROR', status: error.status } });
  return error;
}

function withCodes(resolver: Resolver): GraphQLFieldResolver<unknown, GraphqlContext> {
  return (source, args: Record<string, unknown>, context, info) => {
    try {
      const value = resolver(source as never, args, context, info);
      return value instanceof Promise ? value.catch((error: unknown) => Promise.reject(asGraphqlError(error))) : value;
    } catch (error) {
      throw asGraphqlError(error);
    }
  };
}
