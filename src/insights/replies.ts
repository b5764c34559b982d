// What the insights routes answer, as zod: the OpenAPI spec's schemas and, in test mode, the check
// of every reply (src/server/response-check.ts). They mirror the types in queries.ts, service.ts
// and report.ts.
import { z } from 'zod';
import { SEGMENTS } from './listening.js';
import { FUNNEL_STEPS } from './queries.js';

const ratio = z.number().nullable();
const funnelStep = z.object({ step: z.enum(FUNNEL_STEPS), users: z.number().int(), conversion: ratio.describe('users / users of the previous step; null for the first or after 0') });
const daily = z.array(z.object({ day: z.string(), plays: z.number(), listeners: z.number() }));
const atRiskUser = z.object({ userId: z.string(), score: z.number().describe('0-1: the chance of leaving within the horizon'), reasons: z.array(z.string()) });
const catalogueTrack = z.object({ trackId: z.string(), title: z.string().nullable() });
const trackTotals = catalogueTrack.extend({
  plays: z.number(),
  completes: z.number(),
  skips: z.number(),
  listenMs: z.number(),
  likes: z.number(),
  shares: z.number(),
  purchases: z.number(),
});

export const churnReport = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('ok'),
    horizonDays: z.number().int(),
    evaluation: z.object({ trainUsers: z.number(), testUsers: z.number(), testChurnRate: z.number(), logLoss: z.number(), auc: z.number(), baseRateLogLoss: z.number() }),
    activeListeners: z.number().int(),
    atRiskShare: z.number(),
    atRisk: z.array(atRiskUser),
  }),
  z.object({ status: z.literal('insufficient-history'), reason: z.string(), horizonDays: z.number().int() }),
]);

export const overviewReply = z.object({
  creatorId: z.string(),
  from: z.string(),
  to: z.string(),
  catalogue: z.array(catalogueTrack).describe('every track of the creator\'s in the catalogue, played in the period or not'),
  listening: z.object({
    plays: z.number(),
    listeners: z.number(),
    listenHours: z.number(),
    completionRate: ratio,
    skipRate: ratio,
    likes: z.number(),
    shares: z.number(),
    purchases: z.number(),
    revenue: z.array(z.object({ currency: z.string(), amountMinor: z.number(), purchases: z.number() })),
    byHourOfDay: z.array(z.number()).describe('plays by hour of day (UTC), 0..23'),
    byWeekday: z.array(z.number()).describe('plays by weekday, Monday first'),
    daily,
    tracks: z.array(trackTotals),
    peakHourOfDay: z.number().int().nullable(),
  }),
  funnel: z.array(funnelStep),
  collaboration: z.object({
    sessions: z.number(),
    collaborators: z.number(),
    score: z.number().describe('0-100'),
    authorship: z.object({ sessions: z.number(), sharedSessions: z.number(), balance: ratio.describe('mean balance of the shared sessions, 0-1') }),
  }),
  monetization: z.object({ revenue: z.array(z.object({ currency: z.string(), amountMinor: z.number(), purchases: z.number() })), buyers: z.number(), score: z.number().describe('0-100') }),
  churnRisk: z.union([
    z.object({ status: z.literal('ok'), activeListeners: z.number(), atRiskShare: ratio, atRisk: z.number().int(), auc: ratio }),
    z.object({ status: z.literal('insufficient-history'), reason: z.string() }),
  ]),
  recommendations: z.array(z.string()).describe('plain-language suggestions, each with the figure behind it'),
});

const reportTotals = z.object({
  plays: z.number(),
  listeners: z.number(),
  listenHours: z.number(),
  likes: z.number(),
  shares: z.number(),
  purchases: z.number(),
  revenueMinor: z.number(),
  currency: z.string().nullable(),
});

export const weeklyReport = z.object({
  creatorId: z.string(),
  tenantId: z.string(),
  from: z.string().describe('ISO date, inclusive'),
  to: z.string().describe('ISO date, exclusive'),
  generatedAt: z.string(),
  totals: reportTotals,
  previousTotals: reportTotals.nullable(),
  daily,
  topTracks: z.array(catalogueTrack.extend({ plays: z.number(), completionRate: z.number() })),
  funnel: z.array(z.object({ step: z.enum(FUNNEL_STEPS), users: z.number() })),
  heatmap: z.object({ trackId: z.string(), title: z.string().nullable(), buckets: z.array(z.number()) }).nullable(),
  churn: z.object({ atRisk: z.number(), users: z.array(atRiskUser) }).nullable(),
  alerts: z.array(z.object({ at: z.string(), kind: z.string(), message: z.string() })),
});

export const heatmapReply = z.object({
  trackId: z.string(),
  segment: z.enum(['all', ...SEGMENTS]),
  buckets: z.array(
    z.object({
      bucket: z.number().int(),
      position: z.number().describe('start of the bucket as a fraction of the track'),
      listens: z.number(),
      retention: ratio.describe('listens / listens of the first bucket'),
      drops: z.number(),
      seeks: z.number(),
      replays: z.number(),
    }),
  ),
  bySegment: z.record(z.string(), z.array(ratio)),
  otherTracks: z.array(ratio).nullable().describe('mean retention of the creator\'s other tracks; null: none played'),
  keyMoments: z.object({ biggestDrop: z.number().nullable(), mostReplayed: z.number().nullable(), mostSeekedTo: z.number().nullable() }),
});

export const insightsReplies = {
  churn: z.intersection(z.object({ creatorId: z.string() }), churnReport),
  funnel: z.object({ creatorId: z.string(), trackId: z.string().nullable(), from: z.string(), to: z.string(), all: z.array(funnelStep), bySegment: z.record(z.string(), z.array(funnelStep)) }),
  cohorts: z.object({
    creatorId: z.string(),
    kind: z.enum(['listeners', 'followers']),
    weeks: z.number().int(),
    cohorts: z.array(z.object({ week: z.string().describe('Monday of the cohort\'s week'), users: z.number(), retention: z.array(ratio).describe('share active k weeks after the first; null: not begun') })),
  }),
  webhookCreated: z.object({ id: z.string(), secret: z.string(), creatorId: z.string(), url: z.string(), signature: z.string().describe('how deliveries are signed') }),
  webhooks: z.object({ webhooks: z.array(z.object({ id: z.string(), url: z.string(), createdAt: z.string() })) }),
  alerts: z.object({
    alerts: z.array(
      z.object({
        id: z.string(),
        kind: z.string(),
        subject: z.string(),
        raisedAt: z.string(),
        payload: z.unknown(),
        attempts: z.number(),
        deliveredAt: z.string().nullable(),
        lastError: z.string().nullable(),
      }),
    ),
  }),
};
