// What the history routes (authorship, diffs, versions) answer, as zod: the OpenAPI spec's schemas
// and, in test mode, the check of every reply (src/server/response-check.ts). They mirror the plain
// types of answers.ts, report.ts and versions.ts.
import { z } from 'zod';
import { noteSchema, studioSnapshot } from '../studio/schemas.js';

const by = z.string().nullable();
const at = z.number().nullable();
const credit = { by: by.describe('who made the change (null: unknown)'), at: at.describe('Unix ms') };
const authored = { createdBy: by, createdAt: at, lastChangedBy: by, lastChangedAt: at };
const moment = z.object({ at: z.number().describe('Unix ms'), uptoId: z.string().nullable().describe('the last logged update included; null: before the first') });
const share = z.object({ count: z.number().int(), share: z.number().describe('count / the total of all users, 0-1') });

export const versionView = z.object({
  id: z.string(),
  sessionId: z.string(),
  label: z.string(),
  description: z.string(),
  author: z.string().describe('who named it; veza for automatic versions'),
  kind: z.enum(['named', 'auto']),
  reason: z.enum(['session-end', 'bounce', 'mint', 'interval', 'before-restore']).nullable().describe('why an automatic version was taken'),
  uptoId: z.string().nullable().describe('the version holds every logged update up to this id; null: the empty session'),
  at: at.describe('Unix ms of update uptoId'),
  updates: z.number().int(),
  createdAt: z.string(),
});

const branch = z.object({ sessionId: z.string(), sourceSessionId: z.string(), versionId: z.string().nullable(), uptoId: z.string().nullable(), createdBy: z.string(), createdAt: z.string() });

export const historyReplies = {
  authorship: z.object({
    sessionId: z.string(),
    at: z.number().describe('Unix ms'),
    uptoId: z.string().nullable(),
    updates: z.number().int(),
    tracks: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        ...authored,
        clips: z.array(z.object({ id: z.string(), name: z.string(), ...authored, notes: z.array(z.object({ id: z.string(), ...authored })) })),
      }),
    ),
    removed: z.array(
      z.object({ kind: z.enum(['track', 'clip', 'note']), trackId: z.string(), clipId: z.string().optional(), noteId: z.string().optional(), removedBy: z.string(), removedAt: z.number() }),
    ),
    shares: z.array(z.object({ userId: z.string(), notes: share, tracks: share, edits: share })),
  }),
  diff: z.object({
    sessionId: z.string(),
    from: moment,
    to: moment,
    tracks: z.array(
      z.object({
        trackId: z.string(),
        name: z.string(),
        change: z.enum(['added', 'removed', 'renamed']).nullable().describe('null: only its clips or notes changed'),
        ...credit,
        clips: z.array(z.object({ clipId: z.string(), name: z.string(), change: z.enum(['added', 'removed', 'renamed']), ...credit })),
        notes: z.array(
          z.object({
            noteId: z.string(),
            clipId: z.string(),
            change: z.enum(['added', 'removed', 'moved', 'resized', 'revelocitied']),
            before: noteSchema.optional(),
            after: noteSchema.optional(),
            ...credit,
          }),
        ),
      }),
    ),
    tempo: z.array(z.object({ change: z.enum(['added', 'removed', 'changed']), tick: z.number(), before: z.number().optional(), after: z.number().optional(), ...credit })),
    timeSignatures: z.array(
      z.object({
        change: z.enum(['added', 'removed', 'changed']),
        tick: z.number(),
        before: z.object({ numerator: z.number().int(), denominator: z.number().int() }).optional(),
        after: z.object({ numerator: z.number().int(), denominator: z.number().int() }).optional(),
        ...credit,
      }),
    ),
    summary: z.object({
      notesAdded: z.number().int(),
      notesRemoved: z.number().int(),
      notesMoved: z.number().int(),
      notesResized: z.number().int(),
      notesRevelocitied: z.number().int(),
      tracksAdded: z.number().int(),
      tracksRemoved: z.number().int(),
      clipsAdded: z.number().int(),
      clipsRemoved: z.number().int(),
      tempoChanges: z.number().int(),
      timeSignatureChanges: z.number().int(),
    }),
    authors: z.array(z.object({ userId: z.string(), changes: z.number().int() })),
  }),
  versions: z.object({
    sessionId: z.string(),
    versions: z.array(versionView),
    branchOf: branch.nullable().describe('the session and version this one was branched from'),
    branches: z.array(branch),
  }),
  versionWithSnapshot: versionView.extend({ snapshot: studioSnapshot }),
  restored: z.discriminatedUnion('mode', [
    z.object({ mode: z.literal('branch'), version: versionView, branch }),
    z.object({ mode: z.literal('into'), version: versionView, undo: versionView.nullable().describe('the version taken before the restore: restoring it undoes this one') }),
  ]),
};
