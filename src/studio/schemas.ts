// What the studio routes take and answer, as zod: the OpenAPI spec's schemas and, in test mode, the
// check of every reply (src/server/response-check.ts). They mirror replay-store.ts and midi-import.ts.
import { z } from 'zod';

export const sessionListReply = z.object({
  sessions: z.array(z.object({ id: z.string(), createdAt: z.string(), updates: z.number().int(), lastUpdateAt: z.string().nullable() })),
});
export const sessionListQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).optional().describe('1-200, 50 by default') });

export const sessionHistoryReply = z.object({
  sessionId: z.string(),
  start: z.number().nullable(),
  end: z.number().nullable(),
  updates: z.number().int(),
  bytes: z.number().int(),
  authors: z.array(z.object({ userId: z.string(), updates: z.number().int(), bytes: z.number().int(), first: z.number(), last: z.number() })),
  checkpoints: z.array(z.object({ uptoId: z.string(), at: z.number(), updates: z.number().int() })),
});

export const midiImportReply = z.object({ trackIds: z.array(z.string()), notes: z.number().int(), warnings: z.array(z.string()) });
export const midiExportQuery = z.object({
  track: z.string().optional().describe('one track only'),
  at: z.coerce.number().optional().describe('the session as it was then (Unix ms)'),
});
