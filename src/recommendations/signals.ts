// What users do with items, as weights the model learns from. Every signal has a weight (a like says
// more than a play, a purchase more than a like) and decays with age: a play a half-life ago counts
// half. Decay is folded into one stored number per (user, item): strength = Σ w · 2^((t − epoch)/h),
// so that a new event is a single `strength = strength + w · 2^((t − epoch)/h)` upsert, and the
// decayed total at any time `now` is strength · 2^(−(now − epoch)/h). Exponents grow by 4 a year
// with h = 90 days, far from overflowing a double for centuries.
import { z } from 'zod';
import type { VezaEvent } from '../events/catalog.js';

export const HALF_LIFE_DAYS = 90;
const HALF_LIFE_MS = HALF_LIFE_DAYS * 86_400_000;
const EPOCH_MS = Date.UTC(2020, 0, 1);

/** Relative weight of each kind of signal. */
export const SIGNAL_WEIGHTS = { play: 1, like: 4, share: 6, purchase: 10 } as const;
export type SignalType = keyof typeof SIGNAL_WEIGHTS;
/** The total weight a follow spreads over the followed artist's items. */
export const FOLLOW_WEIGHT = 5;

/** The stored strength of a weight observed at `at`. */
export function strengthAt(weight: number, at: Date): number {
  return weight * 2 ** ((at.getTime() - EPOCH_MS) / HALF_LIFE_MS);
}

/** A stored strength as a weight decayed to `now`. */
export function decayed(strength: number, now: Date): number {
  return strength * 2 ** (-(now.getTime() - EPOCH_MS) / HALF_LIFE_MS);
}

/**
 * A play's weight from how much of the track was heard: a skip after a few seconds says little, a
 * full listen says "1". Without positions a play counts 1.
 */
export function playWeight(payload: { startMs?: number | undefined; endMs?: number | undefined; durationMs?: number | undefined }): number {
  const { startMs, endMs, durationMs } = payload;
  if (endMs === undefined || durationMs === undefined || durationMs <= 0) return SIGNAL_WEIGHTS.play;
  const heard = Math.min(1, Math.max(0, (endMs - (startMs ?? 0)) / durationMs));
  return 0.2 + 0.8 * heard;
}

export interface Interaction {
  userId: string;
  itemId: string;
  weight: number;
  at: Date;
}

export type Signal =
  | { kind: 'interaction'; interaction: Interaction }
  | { kind: 'follow'; userId: string; artistId: string; at: Date }
  | { kind: 'coedit'; userId: string; sessionId: string; at: Date };

/** The signal an event carries, or null for an event with no actor or of another type. */
export function signalFromEvent(event: VezaEvent): Signal | null {
  const userId = event.actor;
  if (!userId) return null;
  const at = new Date(event.at);
  switch (event.type) {
    case 'track.played':
      return { kind: 'interaction', interaction: { userId, itemId: event.payload.trackId, weight: playWeight(event.payload), at } };
    case 'track.liked':
      return { kind: 'interaction', interaction: { userId, itemId: event.payload.trackId, weight: SIGNAL_WEIGHTS.like, at } };
    case 'track.shared':
      return { kind: 'interaction', interaction: { userId, itemId: event.payload.trackId, weight: SIGNAL_WEIGHTS.share, at } };
    case 'track.purchased':
      return { kind: 'interaction', interaction: { userId, itemId: event.payload.trackId, weight: SIGNAL_WEIGHTS.purchase, at } };
    case 'user.followed':
      return { kind: 'follow', userId, artistId: event.payload.userId, at };
    case 'session.updated':
      return { kind: 'coedit', userId: event.payload.author, sessionId: event.payload.sessionId, at };
    default:
      return null;
  }
}

// ---- Bulk history rows (NDJSON) ----

const id = z.string().min(1).max(200);
const at = z.iso.datetime({ offset: true });

const itemRow = z.strictObject({
  type: z.literal('item'),
  itemId: id,
  kind: z.enum(['track', 'sample']).default('track'),
  artistId: id.optional(),
  title: z.string().max(300).optional(),
  tags: z.array(z.string().min(1).max(50)).max(20).default([]),
});
const interactionRow = z.strictObject({
  type: z.enum(['play', 'like', 'share', 'purchase']),
  userId: id,
  itemId: id,
  at,
  /** Overrides the type's weight, e.g. a play count from another service. */
  weight: z.number().positive().max(1e9).optional(),
});
const followRow = z.strictObject({ type: z.literal('follow'), userId: id, artistId: id, at });
const coeditRow = z.strictObject({ type: z.literal('coedit'), userId: id, sessionId: id, at });

export const historyRow = z.discriminatedUnion('type', [itemRow, interactionRow, followRow, coeditRow]);
export type HistoryRow = z.output<typeof historyRow>;
export type CatalogItem = z.output<typeof itemRow>;

/** How far ahead of the server clock a row's time may be (clock skew), before it is refused. */
const FUTURE_TOLERANCE_MS = 86_400_000;

export type ParsedRow = { ok: true; row: HistoryRow } | { ok: false; error: string };

/** One NDJSON line, validated; the error says what is wrong with it. */
export function parseHistoryLine(line: string, now: Date): ParsedRow {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return { ok: false, error: `not JSON: ${(error as Error).message}` };
  }
  const parsed = historyRow.safeParse(value);
  if (!parsed.success) return { ok: false, error: parsed.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ') };
  const row = parsed.data;
  if ('at' in row && Date.parse(row.at) > now.getTime() + FUTURE_TOLERANCE_MS) return { ok: false, error: `at: ${row.at} is in the future` };
  return { ok: true, row };
}

/** The weight an interaction row stands for. */
export function rowWeight(row: z.output<typeof interactionRow>): number {
  return row.weight ?? SIGNAL_WEIGHTS[row.type];
}
