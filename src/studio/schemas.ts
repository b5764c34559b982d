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

export const noteSchema = z.object({
  id: z.string(),
  pitch: z.number().int().describe('0-127, 60 = middle C'),
  start: z.number().describe('ticks from the clip\'s start'),
  duration: z.number(),
  velocity: z.number().int().describe('1-127'),
  channel: z.number().int().describe('0-15'),
});

/** The whole session as plain data (model-types.ts StudioSnapshot), tracks in display order. */
export const studioSnapshot = z.object({
  settings: z.object({ title: z.string(), ppq: z.number().int().describe('ticks per quarter note'), key: z.string() }),
  tempo: z.array(z.object({ tick: z.number(), bpm: z.number() })),
  timeSignatures: z.array(z.object({ tick: z.number(), numerator: z.number().int(), denominator: z.number().int() })),
  transport: z.object({
    playing: z.boolean(),
    bpm: z.number(),
    beatZeroAt: z.number().describe('server time (Unix ms) at which beat 0 fell'),
    stoppedAtBeat: z.number(),
    looping: z.boolean(),
    loopStart: z.number(),
    loopEnd: z.number(),
  }),
  tracks: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      kind: z.enum(['midi', 'audio']),
      color: z.string(),
      mute: z.boolean(),
      solo: z.boolean(),
      volume: z.number().describe('linear gain, 0-2'),
      pan: z.number().describe('-1 (left) to 1 (right)'),
      order: z.number().describe('sort key, ascending'),
      program: z.number().int().describe('General MIDI program 0-127'),
      clips: z.array(
        z.object({
          id: z.string(),
          trackId: z.string(),
          name: z.string(),
          start: z.number(),
          length: z.number(),
          notes: z.array(noteSchema),
          controllers: z.array(z.object({ tick: z.number(), controller: z.number().int(), value: z.number(), channel: z.number().int() })),
        }),
      ),
    }),
  ),
  markers: z.array(z.object({ id: z.string(), tick: z.number(), name: z.string(), color: z.string() })),
  chat: z.array(z.object({ id: z.string(), author: z.string(), text: z.string(), at: z.number().describe('Unix ms') })),
});
