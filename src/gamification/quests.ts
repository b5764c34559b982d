// Community quests: one goal shared by everyone (a thousand shares this week, €500 of tips in a
// room), counted from events between the quest's start and end. Completing it rewards every
// contributor whose share reached the minimum.
import { z } from 'zod';
import { eventTypes, formatIssues, type EventType, type VezaEvent } from '../events/catalog.js';
import { RuleError, parseRule } from './rules.js';

const field = z.string().regex(/^[a-zA-Z][a-zA-Z0-9]{0,50}$/, 'a payload field name');

export const questSchema = z
  .object({
    title: z.string().min(1).max(200),
    description: z.string().max(1000).optional(),
    event: z.enum(eventTypes as [EventType, ...EventType[]]),
    where: z.record(field, z.union([z.string().max(200), z.number(), z.boolean()])).optional(),
    subject: z.union([z.literal('actor'), field]).default('actor'),
    measure: z.discriminatedUnion('kind', [z.object({ kind: z.literal('count') }).strict(), z.object({ kind: z.literal('sum'), field }).strict()]).default({ kind: 'count' }),
    goal: z.number().int().min(1).max(2 ** 31 - 1),
    startsAt: z.iso.datetime({ offset: true }),
    endsAt: z.iso.datetime({ offset: true }),
    reward: z.object({ points: z.number().int().min(0).max(100_000), minContribution: z.number().int().min(1).default(1) }).strict(),
  })
  .strict();

export type Quest = z.output<typeof questSchema>;

/** Validates a quest; its fields are checked against its event as a rule's are. */
export function parseQuest(input: unknown): Quest {
  const parsed = questSchema.safeParse(input);
  if (!parsed.success) throw new RuleError(formatIssues(parsed.error));
  const quest = parsed.data;
  if (Date.parse(quest.endsAt) <= Date.parse(quest.startsAt)) throw new RuleError('endsAt must be after startsAt');
  // The same field checks as a rule: a count rule or a sum rule over the quest's measure.
  parseRule({
    title: quest.title,
    category: 'listener',
    event: quest.event,
    ...(quest.where ? { where: quest.where } : {}),
    subject: quest.subject,
    criteria: quest.measure.kind === 'sum' ? { kind: 'sum', field: quest.measure.field, atLeast: 1 } : { kind: 'count', atLeast: 1 },
    points: 0,
  });
  return quest;
}

/** What the event adds to the quest, and whose contribution it is; null when it does not count. */
export function contributionOf(quest: Quest, event: VezaEvent): { userId: string; amount: number } | null {
  if (event.type !== quest.event) return null;
  const at = Date.parse(event.at);
  if (at < Date.parse(quest.startsAt) || at >= Date.parse(quest.endsAt)) return null;
  const payload = event.payload as Record<string, unknown>;
  for (const [key, value] of Object.entries(quest.where ?? {})) if (payload[key] !== value) return null;
  const userId = quest.subject === 'actor' ? event.actor : payload[quest.subject];
  if (typeof userId !== 'string' || userId.length === 0) return null;
  const amount = quest.measure.kind === 'sum' ? Math.trunc(Number(payload[quest.measure.field] ?? 0)) : 1;
  return amount > 0 ? { userId, amount } : null;
}
