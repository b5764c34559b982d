// What the mastering routes answer, as zod: the OpenAPI spec's schemas and, in test mode, the check
// of every reply (src/server/response-check.ts). They mirror `jobView` (routes.ts) and the types
// of jobs.ts, chain.ts, filters.ts and suggestions.ts.
import { z } from 'zod';
import { FORMAT_NAMES } from './formats.js';

const audioInfo = {
  container: z.string().describe('ffprobe\'s container name, e.g. wav, flac, mp3'),
  codec: z.string(),
  sampleRate: z.number().int(),
  channels: z.number().int(),
  durationSeconds: z.number(),
};

const summary = z.object({
  integrated: z.number().describe('LUFS'),
  range: z.number().describe('loudness range, LU'),
  truePeak: z.number().describe('dBTP'),
  samplePeak: z.number(),
  crestFactorDb: z.number(),
  stereoWidth: z.number(),
  correlation: z.number(),
  clippedRuns: z.number().int(),
  dcOffsetDb: z.array(z.number()),
  durationSeconds: z.number(),
  bands: z.object({ mid: z.record(z.string(), z.number()), side: z.record(z.string(), z.number()) }),
  thirdOctaves: z.array(z.number()),
  shortTerm: z.array(z.number()).describe('short-term loudness every 100 ms, at most 600 points'),
});

const suggestion = z.object({
  id: z.enum(['too-bright', 'too-dull', 'muddy-low-mids', 'boomy-bass', 'thin-bass', 'over-compressed', 'very-dynamic', 'clipping', 'narrow', 'too-wide', 'phase', 'dc-offset']),
  severity: z.enum(['info', 'warning']),
  message: z.string(),
  numbers: z.record(z.string(), z.number()).describe('the measurements the advice rests on'),
});

const outcome = z.object({
  template: z.object({ id: z.string(), label: z.string() }),
  genreProbabilities: z.record(z.string(), z.number()).nullable().describe('the classifier\'s, with genre=auto'),
  before: summary,
  after: summary,
  passes: z.array(z.object({ gainDb: z.number(), ceilingDb: z.number(), integrated: z.number(), truePeak: z.number() })),
  settings: z.object({
    eq: z.array(z.object({ hz: z.number(), db: z.number() })),
    preGainDb: z.number(),
    compressor: z.object({ thresholdDb: z.number(), ratio: z.number(), attackMs: z.number(), releaseMs: z.number() }).nullable(),
    gainDb: z.number(),
    ceilingDb: z.number(),
  }),
  converged: z.boolean().describe('within tolerance of the target with the true peak at or under -1 dBTP'),
  referenceDeviationDb: z.number().nullable(),
  referenceDeviationBeforeDb: z.number().nullable(),
  suggestions: z.object({ before: z.array(suggestion), after: z.array(suggestion) }),
});

export const masteringJob = z.object({
  id: z.string(),
  state: z.enum(['queued', 'running', 'done', 'failed']),
  progress: z.number().describe('0..1'),
  stage: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  options: z.object({
    target: z.number().describe('LUFS'),
    genre: z.string().describe('a genre id, or auto'),
    format: z.enum(FORMAT_NAMES as [string, ...string[]]),
    metadata: z.record(z.string(), z.string()),
    referenceId: z.string().nullable(),
    targetGiven: z.boolean(),
  }),
  input: z.object({ name: z.string(), ...audioInfo }),
  result: outcome.nullable(),
  error: z.string().nullable(),
  links: z.object({ self: z.string(), progress: z.string().describe('the WebSocket of its progress'), input: z.string(), master: z.string().optional().describe('once done') }),
});

export const masteringReference = z.object({ id: z.string().describe('what ?reference= takes'), info: z.object(audioInfo) });

export const masteringQuery = z.object({
  target: z.string().optional().describe('LUFS, -30 to -6 (default -14)'),
  genre: z.string().optional().describe('auto (default) or a genre id'),
  format: z.enum(FORMAT_NAMES as [string, ...string[]]).optional().describe('wav24 by default'),
  reference: z.string().optional().describe('an id POST /api/v1/mastering/references answered'),
  name: z.string().optional(),
  title: z.string().optional(),
  artist: z.string().optional(),
  album: z.string().optional(),
  comment: z.string().optional(),
  date: z.string().optional(),
});
