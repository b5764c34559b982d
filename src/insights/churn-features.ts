// Churn prediction, the features: daily activity counts become a dozen features and a label.
// Everything is computed from windows that END at a cutoff day (exclusive), so that a model trained
// at one cutoff and scored at a later one sees only what it would have seen in production. The
// model is in `churn-model.ts`, its evaluation in `churn-metrics.ts`.
import { InsightsError, requireInteger } from './errors.js';

export interface DayCounts {
  plays: number;
  listenMs: number;
  likes: number;
  shares: number;
  purchases: number;
  skips: number;
}

export interface UserActivity {
  userId: string;
  /** day index (days since 1970-01-01 UTC) → counts */
  days: Map<number, DayCounts>;
}

/** The features, in the order of extractFeatures' output. Every window ends at the cutoff (exclusive). */
export const FEATURES = [
  { name: 'active_days_7', description: 'days with any activity among the 7 days before the cutoff' },
  { name: 'active_days_28', description: 'days with any activity among the 28 days before the cutoff' },
  { name: 'log_plays_7', description: 'ln(1 + plays in the last 7 days)' },
  { name: 'plays_trend', description: 'ln((plays last 7 days + 1) / (plays in the 7 days before those + 1)); negative = declining' },
  { name: 'log_listen_hours_28', description: 'ln(1 + hours listened in the last 28 days)' },
  { name: 'skip_rate_28', description: 'skips / plays in the last 28 days, in [0, 1]; 0 without plays' },
  { name: 'log_likes_shares_28', description: 'ln(1 + likes + shares in the last 28 days)' },
  { name: 'log_purchases_90', description: 'ln(1 + purchases in the last 90 days)' },
  { name: 'log_days_since_active', description: 'ln(1 + days from the last active day to the cutoff); 1 day = active the day before' },
  { name: 'log_tenure_days', description: 'ln(1 + days from the first active day to the cutoff)' },
  { name: 'weekly_streak', description: 'consecutive 7-day weeks, counting back from the cutoff, each with an active day' },
] as const satisfies readonly { name: string; description: string }[];

export const FEATURE_NAMES: readonly string[] = FEATURES.map((feature) => feature.name);

/**
 * Users with no active day in this many days before the cutoff are left out of datasets: they have
 * already gone, so "will they churn" is settled, and keeping them would flood the data with easy
 * negatives that inflate AUC without helping anyone decide whom to win back.
 */
export const ACTIVE_LOOKBACK_DAYS = 28;

const DAY_MS_PER_HOUR = 3_600_000;

/** A day counts as active when any of its counts is positive; an all-zero entry is no activity. */
function isActive(counts: DayCounts): boolean {
  return counts.plays > 0 || counts.listenMs > 0 || counts.likes > 0 || counts.shares > 0 || counts.purchases > 0 || counts.skips > 0;
}

function checkCounts(user: UserActivity, day: number, counts: DayCounts): void {
  for (const key of ['plays', 'listenMs', 'likes', 'shares', 'purchases', 'skips'] as const) {
    const value = counts[key];
    if (!Number.isFinite(value) || value < 0) {
      throw new InsightsError(`user '${user.userId}' day ${day}: ${key} must be a finite number >= 0, got ${value}`);
    }
  }
}

/**
 * The user's features as of `cutoffDay`, in FEATURES order, from days strictly before it; null if
 * the user has no active day before the cutoff (not a customer yet). Nothing on or after the cutoff
 * is read, so the features cannot leak the label.
 */
export function extractFeatures(user: UserActivity, cutoffDay: number): Float64Array | null {
  requireInteger('cutoffDay', cutoffDay, 0);
  let first = Infinity;
  let last = -Infinity;
  let active7 = 0;
  let active28 = 0;
  let plays7 = 0;
  let playsPrevious7 = 0;
  let plays28 = 0;
  let skips28 = 0;
  let listenMs28 = 0;
  let likesShares28 = 0;
  let purchases90 = 0;
  const activeWeeks = new Set<number>();
  for (const [day, counts] of user.days) {
    if (day >= cutoffDay) continue;
    checkCounts(user, day, counts);
    if (!isActive(counts)) continue;
    if (day < first) first = day;
    if (day > last) last = day;
    const ago = cutoffDay - 1 - day; // 0 = the day just before the cutoff
    activeWeeks.add(Math.floor(ago / 7));
    if (ago < 7) {
      active7++;
      plays7 += counts.plays;
    } else if (ago < 14) {
      playsPrevious7 += counts.plays;
    }
    if (ago < 28) {
      active28++;
      plays28 += counts.plays;
      skips28 += counts.skips;
      listenMs28 += counts.listenMs;
      likesShares28 += counts.likes + counts.shares;
    }
    if (ago < 90) purchases90 += counts.purchases;
  }
  if (first === Infinity) return null;
  let streak = 0;
  while (activeWeeks.has(streak)) streak++;
  return Float64Array.from([
    active7,
    active28,
    Math.log1p(plays7),
    Math.log((plays7 + 1) / (playsPrevious7 + 1)),
    Math.log1p(listenMs28 / DAY_MS_PER_HOUR),
    plays28 > 0 ? Math.min(1, skips28 / plays28) : 0,
    Math.log1p(likesShares28),
    Math.log1p(purchases90),
    Math.log1p(cutoffDay - last),
    Math.log1p(cutoffDay - first),
    streak,
  ]);
}

export function requireHorizon(horizonDays: number): void {
  if (!Number.isInteger(horizonDays) || horizonDays < 1) {
    throw new InsightsError(`horizonDays must be an integer >= 1, got ${horizonDays}`);
  }
}

/** 1 when the user has no active day in [cutoffDay, cutoffDay + horizonDays), else 0. */
export function churnLabel(user: UserActivity, cutoffDay: number, horizonDays: number): 0 | 1 {
  requireInteger('cutoffDay', cutoffDay, 0);
  requireHorizon(horizonDays);
  for (const [day, counts] of user.days) {
    if (day >= cutoffDay && day < cutoffDay + horizonDays && isActive(counts)) return 0;
  }
  return 1;
}

function activeSince(user: UserActivity, fromDay: number, cutoffDay: number): boolean {
  for (const [day, counts] of user.days) {
    if (day >= fromDay && day < cutoffDay && isActive(counts)) return true;
  }
  return false;
}

export interface ChurnDataset {
  userIds: string[];
  x: Float64Array[];
  y: Uint8Array;
}

/**
 * Features and labels for the users at risk at `cutoffDay`: those with an active day in the
 * ACTIVE_LOOKBACK_DAYS days before it (users already gone, or not yet joined, are left out). The
 * labels read [cutoffDay, cutoffDay + horizonDays), so the caller must hold data up to that day.
 */
export function buildDataset(users: UserActivity[], cutoffDay: number, horizonDays: number): ChurnDataset {
  requireInteger('cutoffDay', cutoffDay, 0);
  requireHorizon(horizonDays);
  const userIds: string[] = [];
  const x: Float64Array[] = [];
  const labels: number[] = [];
  for (const user of users) {
    if (!activeSince(user, cutoffDay - ACTIVE_LOOKBACK_DAYS, cutoffDay)) continue;
    const features = extractFeatures(user, cutoffDay);
    if (features === null) continue;
    userIds.push(user.userId);
    x.push(features);
    labels.push(churnLabel(user, cutoffDay, horizonDays));
  }
  return { userIds, x, y: Uint8Array.from(labels) };
}
