// What the gamification routes answer, as zod: the OpenAPI spec's schemas and, in test mode, the
// check of every reply (src/server/response-check.ts). They mirror the types in service.ts.
import { z } from 'zod';
import { PERIODS } from './leaderboard-core.js';
import { questSchema } from './quests.js';
import { ruleSchema } from './rules.js';

export const standingReply = z.object({
  userId: z.string(),
  points: z.number(),
  level: z.number().int(),
  nextLevelAt: z.number(),
  achievements: z.array(z.object({ achievementId: z.string(), title: z.string(), category: z.string(), points: z.number(), version: z.number().int(), reward: z.unknown(), awardedAt: z.string() })),
  progress: z.array(z.object({ achievementId: z.string(), title: z.string(), category: z.string(), current: z.number(), goal: z.number() })),
  quests: z.array(z.object({ questId: z.string(), title: z.string(), progress: z.number(), goal: z.number(), contribution: z.number(), endsAt: z.string(), completedAt: z.string().nullable() })),
});

/** A rule as stored: its definition with the id and version it was stored under. */
export const storedRule = ruleSchema.extend({ ruleId: z.string(), version: z.number().int() });

/** A quest as listed: its definition, with the shared progress and how many contributed. */
export const questView = questSchema.extend({
  questId: z.string(),
  progress: z.number().describe('the sum counted towards the goal so far'),
  completedAt: z.string().nullable(),
  contributors: z.number().int(),
});

const boardRef = z.object({ tenantId: z.string(), scope: z.string().describe('tenant, global or room:<id>'), metric: z.string().describe('points or tips:<CURRENCY>') });
const entry = z.object({ rank: z.number().int().describe('1-based'), member: z.string().describe('a user id (tenant/user on the global board)'), value: z.number() });

export const tipView = z.object({
  tipId: z.string(),
  roomId: z.string(),
  fromUserId: z.string(),
  toUserId: z.string(),
  amount: z.number().int().describe('minor units (cents)'),
  currency: z.string(),
  message: z.string().nullable(),
  status: z.enum(['sent', 'refunded']),
  createdAt: z.string(),
  refundedAt: z.string().nullable(),
  pinnedUntil: z.string().nullable().describe('until when the room shows it pinned; null: not pinned'),
  provider: z.string(),
  testMode: z.boolean(),
});

const providerInfo = z.object({ name: z.string(), testMode: z.boolean().describe('true: payments are recorded, no money moves'), note: z.string() });

export const gamificationReplies = {
  rules: z.object({ rules: z.array(storedRule) }),
  ruleVersions: z.object({ ruleId: z.string(), versions: z.array(storedRule) }),
  definedRule: z.object({ ruleId: z.string(), version: z.number().int(), rule: ruleSchema }),
  quests: z.object({ quests: z.array(questView) }),
  createdQuest: questSchema.extend({ questId: z.string() }),
  leaderboard: z.union([
    z.object({ board: boardRef, period: z.enum(PERIODS), entries: z.array(entry) }),
    z.object({ board: boardRef, period: z.enum(PERIODS), entry: entry.nullable().describe('the member\'s own entry; null when not ranked'), above: z.array(entry), below: z.array(entry), size: z.number().int() }),
  ]),
  roomTips: z.object({ pinned: z.array(tipView), recent: z.array(tipView) }),
  provider: providerInfo,
  balance: z.object({ userId: z.string(), balances: z.array(z.object({ currency: z.string(), amount: z.number().int().describe('minor units') })), provider: providerInfo }),
};
