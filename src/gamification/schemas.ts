// What the gamification routes answer, as zod: the OpenAPI spec's schemas and, in test mode, the
// check of every reply (src/server/response-check.ts). They mirror the types in service.ts.
import { z } from 'zod';

export const standingReply = z.object({
  userId: z.string(),
  points: z.number(),
  level: z.number().int(),
  nextLevelAt: z.number(),
  achievements: z.array(z.object({ achievementId: z.string(), title: z.string(), category: z.string(), points: z.number(), version: z.number().int(), reward: z.unknown(), awardedAt: z.string() })),
  progress: z.array(z.object({ achievementId: z.string(), title: z.string(), category: z.string(), current: z.number(), goal: z.number() })),
  quests: z.array(z.object({ questId: z.string(), title: z.string(), progress: z.number(), goal: z.number(), contribution: z.number(), endsAt: z.string(), completedAt: z.string().nullable() })),
});
