// The GraphQL API: how deep and how costly a query may be, which operations may run (any, with
// automatic persisted queries; or only those of the operations manifest) and where that manifest is.
import { z } from 'zod';
import { int, type SettingsGroup, type SettingsOf } from '../shared/settings.js';

/** What the graphql module reads. */
export const graphqlSettings = {
  maxDepth: {
    env: 'VEZA_GRAPHQL_MAX_DEPTH',
    flag: 'graphql-max-depth',
    schema: int(1, 100).default(10),
    doc: 'Deepest selection a GraphQL operation may make (fields inside fields, fragments included); deeper ones are refused before they run',
  },
  maxCost: {
    env: 'VEZA_GRAPHQL_MAX_COST',
    flag: 'graphql-max-cost',
    schema: int(1, 10_000_000).default(5000),
    doc: 'Largest cost a GraphQL operation may have: one per field, times the `limit` of every list it sits in; costlier ones are refused before they run',
  },
  operations: {
    env: 'VEZA_GRAPHQL_OPERATIONS',
    flag: 'graphql-operations',
    schema: z.enum(['any', 'allow-list']).default('any'),
    doc: 'Which GraphQL operations run: any (clients may also register automatic persisted queries by hash) or allow-list (only the operations of the manifest)',
  },
  manifest: {
    env: 'VEZA_GRAPHQL_MANIFEST',
    flag: 'graphql-manifest',
    schema: z.string().min(1).default('web/dist/graphql-operations.json'),
    doc: "The operations manifest (hash to query) written by the web client's build; relative to the package's directory",
  },
  persistedMax: {
    env: 'VEZA_GRAPHQL_PERSISTED_MAX',
    flag: 'graphql-persisted-max',
    schema: int(0, 1_000_000).default(10_000),
    doc: 'Automatic persisted queries kept in memory (least recently used dropped first; clients send a dropped one again)',
  },
  contentCacheMax: {
    env: 'VEZA_GRAPHQL_CONTENT_CACHE_MAX',
    flag: 'graphql-content-cache-max',
    schema: int(0, 10_000_000).default(10_000),
    doc: "Sessions whose title and track list are kept between GraphQL requests (dropped when the session changes; least recently used dropped first); 0 keeps none",
  },
  maxBatch: {
    env: 'VEZA_GRAPHQL_MAX_BATCH',
    flag: 'graphql-max-batch',
    schema: int(1, 1000).default(10),
    doc: 'Most operations one batched POST (a JSON array of requests) may carry; a longer batch is refused with 400',
  },
} as const satisfies SettingsGroup;

export type GraphqlSettings = SettingsOf<typeof graphqlSettings>;
