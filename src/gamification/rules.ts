// Achievements as data: a rule names the event it watches, which events count (`where`), who gets
// the credit (`subject`), and the criteria (a count, a sum, one big enough event, or a streak of
// days, optionally within a sliding time window). Everything here is pure: the engine keeps the
// state these functions return, one row per user and rule.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { eventTypes, formatIssues, payloadSchemas, type EventType, type VezaEvent } from '../events/catalog.js';

export const CATEGORIES = ['creator', 'collaborator', 'supporter', 'listener'] as const;
/** Entries a windowed rule keeps per user: a count or sum within a window needs its events' times. */
export const MAX_WINDOW_ENTRIES = 10_000;
const MAX_WINDOW_S = 366 * 86_400;
const field = z.string().regex(/^[a-zA-Z][a-zA-Z0-9]{0,50}$/, 'a payload field name');

const criteriaSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('count'), atLeast: z.number().int().min(1).max(1_000_000), withinSeconds: z.number().int().min(1).max(MAX_WINDOW_S).optional() }).strict(),
  z.object({ kind: z.literal('sum'), field, atLeast: z.number().int().min(1).max(2 ** 31 - 1), withinSeconds: z.number().int().min(1).max(MAX_WINDOW_S).optional() }).strict(),
  z.object({ kind: z.literal('threshold'), field, atLeast: z.number().finite() }).strict(),
  z.object({ kind: z.literal('streak'), days: z.number().int().min(2).max(366) }).strict(),
]);

export const ruleSchema = z
  .object({
    title: z.string().min(1).max(200),
    description: z.string().max(1000).optional(),
    category: z.enum(CATEGORIES),
    event: z.enum(eventTypes as [EventType, ...EventType[]]),
    where: z.record(field, z.union([z.string().max(200), z.number(), z.boolean()])).optional(),
    subject: z.union([z.literal('actor'), field]).default('actor'),
    criteria: criteriaSchema,
    points: z.number().int().min(0).max(100_000),
    reward: z.object({ badge: z.string().min(1).max(100).optional(), title: z.string().min(1).max(100).optional() }).strict().optional(),
    active: z.boolean().default(true),
  })
  .strict();

export type Rule = z.output<typeof ruleSchema>;
export type Criteria = Rule['criteria'];
export interface StoredRule extends Rule {
  ruleId: string;
  version: number;
}

export class RuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuleError';
  }
}

/** The payload's fields and their zod kind ('string', 'number', ...), for checking a rule against its event. */
function payloadFields(type: EventType): Map<string, string> {
  const shape = (payloadSchemas[type] as unknown as { shape: Record<string, { def: { type: string; innerType?: { def: { type: string } } } }> }).shape;
  return new Map(Object.entries(shape).map(([name, schema]) => [name, schema.def.type === 'optional' ? (schema.def.innerType?.def.type ?? 'unknown') : schema.def.type]));
}

/** Validates a rule definition, and that its fields exist on its event with the right kind. */
export function parseRule(input: unknown): Rule {
  const parsed = ruleSchema.safeParse(input);
  if (!parsed.success) throw new RuleError(formatIssues(parsed.error));
  const rule = parsed.data;
  const fields = payloadFields(rule.event);
  const named = (kind: string) => [...fields].filter(([, k]) => k === kind).map(([n]) => n);
  for (const key of Object.keys(rule.where ?? {})) {
    if (!fields.has(key)) throw new RuleError(`where.${key}: ${rule.event} has no field ${key} (its fields: ${[...fields.keys()].join(', ')})`);
  }
  if (rule.subject !== 'actor' && fields.get(rule.subject) !== 'string') {
    throw new RuleError(`subject: ${rule.subject} is not a user field of ${rule.event}; use 'actor' or one of: ${named('string').join(', ') || '(none)'}`);
  }
  const c = rule.criteria;
  if ((c.kind === 'sum' || c.kind === 'threshold') && fields.get(c.field) !== 'number') {
    throw new RuleError(`criteria.field: ${c.field} is not a number field of ${rule.event} (its number fields: ${named('number').join(', ') || 'none'})`);
  }
  if (c.kind === 'count' && c.withinSeconds !== undefined && c.atLeast > MAX_WINDOW_ENTRIES) {
    throw new RuleError(`criteria.atLeast: a count within a window may ask for at most ${MAX_WINDOW_ENTRIES} events`);
  }
  return rule;
}

/**
 * What the progress row counts. Two versions of a rule with the same fingerprint share progress (a
 * new threshold or title keeps what users did); a change to what is counted starts afresh.
 */
export function counterOf(rule: Rule): string {
  const { kind } = rule.criteria;
  const what = {
    event: rule.event,
    where: Object.entries(rule.where ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)),
    subject: rule.subject,
    kind,
    field: 'field' in rule.criteria ? rule.criteria.field : null,
    window: 'withinSeconds' in rule.criteria ? (rule.criteria.withinSeconds ?? null) : null,
  };
  return createHash('sha256').update(JSON.stringify(what)).digest('hex').slice(0, 16);
}

/** Whether the event counts for the rule, and for whom; null when it does not. */
export function subjectOf(rule: Rule, event: VezaEvent): string | null {
  if (event.type !== rule.event) return null;
  const payload = event.payload as Record<string, unknown>;
  for (const [key, value] of Object.entries(rule.where ?? {})) if (payload[key] !== value) return null;
  const subject = rule.subject === 'actor' ? event.actor : payload[rule.subject];
  return typeof subject === 'string' && subject.length > 0 ? subject : null;
}

export type Progress =
  | { kind: 'count'; count: number; times?: number[] }
  | { kind: 'sum'; total: number; entries?: [number, number][] }
  | { kind: 'threshold'; best: number | null }
  | { kind: 'streak'; lastDay: number | null; length: number; best: number };

export function emptyProgress(criteria: Criteria): Progress {
  switch (criteria.kind) {
    case 'count':
      return criteria.withinSeconds === undefined ? { kind: 'count', count: 0 } : { kind: 'count', count: 0, times: [] };
    case 'sum':
      return criteria.withinSeconds === undefined ? { kind: 'sum', total: 0 } : { kind: 'sum', total: 0, entries: [] };
    case 'threshold':
      return { kind: 'threshold', best: null };
    case 'streak':
      return { kind: 'streak', lastDay: null, length: 0, best: 0 };
  }
}

/**
 * The progress after one more counted event at `atMs`. Windows slide and end at the latest event:
 * an event older than the window before the latest one no longer counts. A streak counts UTC days;
 * an event on a day before the streak's last one changes nothing.
 */
export function advance(criteria: Criteria, progress: Progress, event: VezaEvent, atMs: number): Progress {
  const payload = event.payload as Record<string, unknown>;
  const value = (name: string) => Number(payload[name] ?? 0);
  if (criteria.kind === 'count' && progress.kind === 'count') {
    if (criteria.withinSeconds === undefined) return { kind: 'count', count: progress.count + 1 };
    const times = windowed([...(progress.times ?? []), atMs].sort((a, b) => a - b), (t) => t, criteria.withinSeconds);
    return { kind: 'count', count: times.length, times };
  }
  if (criteria.kind === 'sum' && progress.kind === 'sum') {
    if (criteria.withinSeconds === undefined) return { kind: 'sum', total: progress.total + value(criteria.field) };
    const entries = windowed([...(progress.entries ?? []), [atMs, value(criteria.field)] as [number, number]].sort((a, b) => a[0] - b[0]), (e) => e[0], criteria.withinSeconds);
    return { kind: 'sum', total: entries.reduce((sum, [, v]) => sum + v, 0), entries };
  }
  if (criteria.kind === 'threshold' && progress.kind === 'threshold') {
    const v = value(criteria.field);
    return { kind: 'threshold', best: progress.best === null ? v : Math.max(progress.best, v) };
  }
  if (criteria.kind === 'streak' && progress.kind === 'streak') {
    const day = Math.floor(atMs / 86_400_000);
    if (progress.lastDay !== null && day <= progress.lastDay) return progress;
    const length = progress.lastDay !== null && day === progress.lastDay + 1 ? progress.length + 1 : 1;
    return { kind: 'streak', lastDay: day, length, best: Math.max(progress.best, length) };
  }
  // The stored progress belongs to another kind of criteria (it cannot, by the fingerprint): start over.
  return advance(criteria, emptyProgress(criteria), event, atMs);
}

function windowed<T>(sorted: T[], time: (t: T) => number, seconds: number): T[] {
  const latest = time(sorted.at(-1)!);
  const kept = sorted.filter((t) => time(t) > latest - seconds * 1000);
  return kept.length > MAX_WINDOW_ENTRIES ? kept.slice(-MAX_WINDOW_ENTRIES) : kept;
}

/** Where the user stands against the criteria: a current value and the goal. */
export function standing(criteria: Criteria, progress: Progress): { current: number; goal: number; met: boolean } {
  switch (criteria.kind) {
    case 'count': {
      const current = progress.kind === 'count' ? progress.count : 0;
      return { current, goal: criteria.atLeast, met: current >= criteria.atLeast };
    }
    case 'sum': {
      const current = progress.kind === 'sum' ? progress.total : 0;
      return { current, goal: criteria.atLeast, met: current >= criteria.atLeast };
    }
    case 'threshold': {
      const current = progress.kind === 'threshold' ? (progress.best ?? 0) : 0;
      return { current, goal: criteria.atLeast, met: progress.kind === 'threshold' && progress.best !== null && progress.best >= criteria.atLeast };
    }
    case 'streak': {
      const current = progress.kind === 'streak' ? progress.length : 0;
      return { current, goal: criteria.days, met: progress.kind === 'streak' && progress.best >= criteria.days };
    }
  }
}

/** Points needed for a level: 0, 100, 300, 600, 1000, … (100 · L(L−1)/2). */
export function pointsForLevel(level: number): number {
  return (100 * level * (level - 1)) / 2;
}

export function levelOf(points: number): number {
  let level = Math.max(1, Math.floor((1 + Math.sqrt(1 + (8 * Math.max(0, points)) / 100)) / 2));
  // Guard the float: the formula may land one off at exact thresholds.
  while (pointsForLevel(level + 1) <= points) level++;
  while (level > 1 && pointsForLevel(level) > points) level--;
  return level;
}
