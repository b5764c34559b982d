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

const experiment = z.object({
  id: z.string(),
  variants: z.array(z.object({ name: z.string(), weight: z.number(), config: z.record(z.string(), z.unknown()).optional() })).describe('the first is the control'),
  salt: z.string().optional().describe('the hash salt, where it is not the id'),
  context: z.enum(CONTEXTS).optional().describe('only requests in this context take part; all when absent'),
});
const interval = z.object({ lower: z.number(), upper: z.number() }).nullable();

export const trainingJob = z.object({
  id: z.string(),
  tenantId: z.string(),
  requestedBy: z.string(),
  status: z.enum(['running', 'finished', 'failed']),
  progress: z.object({
    phase: z.enum(['loading', 'tuning', 'training', 'exporting', 'done', 'failed']),
    fraction: z.number().describe('0..1 over the whole run'),
    iteration: z.number().int().optional(),
    iterations: z.number().int().optional(),
    loss: z.number().optional(),
    message: z.string(),
  }),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  result: z.object({ version: z.string(), path: z.string(), summary: z.record(z.string(), z.unknown()) }).nullable(),
  error: z.string().nullable(),
});

export const recommendationReplies = {
  imported: z.object({
    lines: z.number().int(),
    accepted: z.number().int(),
    rejected: z.number().int(),
    errors: z.array(z.object({ line: z.number().int(), error: z.string() })).describe('the first 100 rejected lines (1-based) and why'),
    counts: z.object({ items: z.number().int(), interactions: z.number().int(), follows: z.number().int(), coedits: z.number().int() }),
  }),
  model: z.object({ version: z.string(), createdAt: z.string(), summary: z.unknown() }),
  experimentCreated: experiment.extend({ status: z.literal('running') }),
  experiments: z.object({ experiments: z.array(experiment.extend({ status: z.enum(['running', 'stopped']), createdAt: z.string(), stoppedAt: z.string().nullable() })) }),
  readout: z.object({
    experiment,
    status: z.enum(['running', 'stopped']),
    exposed: z.record(z.string(), z.number().int()).describe('users exposed, by variant'),
    metrics: z.record(
      z.string(),
      z.object({
        control: z.string(),
        alpha: z.number(),
        variants: z.array(z.object({ name: z.string(), users: z.number().int(), conversions: z.number().int(), rate: z.number().nullable(), interval })),
        comparisons: z.array(
          z.object({
            variant: z.string(),
            control: z.string(),
            absoluteLift: z.number().nullable(),
            relativeLift: z.number().nullable(),
            liftInterval: interval,
            z: z.number().nullable(),
            pValue: z.number().nullable(),
            significant: z.boolean(),
          }),
        ),
        srm: z.object({ chiSquare: z.number().nullable(), pValue: z.number().nullable(), mismatch: z.boolean().describe('the split itself is broken: do not trust the comparisons') }),
      }),
    ),
  }),
  stopped: z.object({ id: z.string(), status: z.literal('stopped') }),
};
