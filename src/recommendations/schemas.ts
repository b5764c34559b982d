// What the recommendations routes answer, as zod: the OpenAPI spec's schemas and, in test mode, the
// check of every reply (src/server/response-check.ts). They mirror the types in recommend.ts.
import { z } from 'zod';
import { CONTEXTS } from './recommend.js';

const item = z.object({ id: z.string(), kind: z.enum(['track', 'sample']), title: z.string().nullable(), artistId: z.string().nullable(), score: z.number(), reason: z.string() });

export const recommendationsReply = z.object({
  userId: z.string(),
  context: z.enum(CONTEXTS),
  source: z.enum(['model', 'fold-in', 'popularity']),
  modelVersion: z.string().nullable(),
  confidence: z.number(),
  tracks: z.array(item),
  artists: z.array(z.object({ id: z.string(), score: z.number(), reason: z.string() })),
  samples: z.array(item),
  playlists: z.array(z.object({ id: z.string(), title: z.string(), reason: z.string(), tracks: z.array(item) })),
  collaborators: z.array(z.object({ userId: z.string(), score: z.number(), taste: z.number(), complementarity: z.number(), reason: z.string() })),
  experiments: z.array(z.object({ id: z.string(), variant: z.string() })),
});

export const recommendationsQuery = z.object({
  user_id: z.string().optional().describe('another user (tenant administrators only)'),
  context: z.enum(CONTEXTS).optional().describe('discovery by default'),
  limit: z.coerce.number().int().min(1).max(100).optional().describe('1-100, 20 by default'),
  filters: z.string().optional().describe('`tag:house,artist:a1,kind:sample`'),
});
