// What the recording and HLS routes answer, as zod: the OpenAPI spec's schemas and, in test mode,
// the check of every reply (src/server/response-check.ts). It mirrors MediaOutput (outputs.ts).
import { z } from 'zod';

export const mediaOutput = z.object({
  id: z.string(),
  roomId: z.string(),
  kind: z.enum(['recording', 'hls']),
  status: z.enum(['running', 'finished', 'failed']),
  startedBy: z.string(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  tracks: z.array(z.object({ kind: z.enum(['audio', 'video']), producerId: z.string(), userId: z.string(), source: z.string().nullable().describe('the camera or microphone\'s label') })),
  bytes: z.number().int().nullable(),
  durationMs: z.number().nullable(),
  error: z.string().nullable(),
  url: z.string().nullable().describe('recordings: where the file is served once finished; HLS: the public master playlist while it runs'),
});

export const recordingList = z.object({ recordings: z.array(mediaOutput) });

/** `?kind=` of the room routes. */
export const roomKindQuery = z.object({ kind: z.enum(['live', 'voice']).optional().describe('live (a live room, the default) or voice (a studio session\'s voice room)') });

/** A file served whole (200) or as the byte range asked for (206). */
export function fileResponses(type: string): Record<number, { type: string; description: string }> {
  return { 200: { type, description: 'the whole file' }, 206: { type, description: 'the byte range asked for (Range header)' } };
}
