// What one `track.played` report says about a listen: the part of the timeline it covered (in
// buckets of 2 % of the track), where the listener left (a drop) or arrived by seeking, and whether
// it counts as a complete listen or a skip. Pure functions; the writer turns them into rollups.

/** Timeline buckets per track: 50, so a bucket is 2 % of the track. */
export const BUCKETS = 50;
/** A listen that reaches 98 % of the track is complete (outros fade, players stop a little early). */
export const COMPLETE_FRACTION = 0.98;
/** Spotify's rule: less than 30 s heard, and not complete, is a skip. */
export const SKIP_MS = 30_000;
/** A segment starting within this time of the same listener's previous one on the track continues it. */
export const CONTINUATION_MS = 30 * 60_000;

export const SEGMENTS = ['super', 'moderate', 'light', 'previously-active', 'new'] as const;
export type Segment = (typeof SEGMENTS)[number];

export interface PlayReport {
  startMs?: number | undefined;
  endMs?: number | undefined;
  durationMs?: number | undefined;
}

export interface Listen {
  /** Milliseconds heard (0 when the report has no positions). */
  heardMs: number;
  /** [first, last] buckets covered, inclusive; null without positions. */
  covered: [number, number] | null;
  /** Bucket the listener arrived at by seeking (the segment starts after 0). */
  seekBucket: number | null;
  /** Bucket where the listener left before the end. */
  dropBucket: number | null;
  complete: boolean;
  skip: boolean;
}

export function bucketOf(positionMs: number, durationMs: number): number {
  return Math.min(BUCKETS - 1, Math.max(0, Math.floor((positionMs / durationMs) * BUCKETS)));
}

/** Reads a play report; positions past the duration are clamped, an end before the start heard nothing. */
export function describeListen(report: PlayReport): Listen {
  const { startMs = 0, endMs, durationMs } = report;
  if (endMs === undefined || durationMs === undefined || durationMs <= 0) {
    return { heardMs: 0, covered: null, seekBucket: null, dropBucket: null, complete: false, skip: false };
  }
  const start = Math.min(startMs, durationMs);
  const end = Math.min(Math.max(endMs, start), durationMs);
  const heardMs = end - start;
  const complete = end >= COMPLETE_FRACTION * durationMs;
  return {
    heardMs,
    covered: end > start ? [bucketOf(start, durationMs), bucketOf(end - 1, durationMs)] : null,
    seekBucket: start > 0 ? bucketOf(start, durationMs) : null,
    dropBucket: complete ? null : bucketOf(end, durationMs),
    complete,
    skip: !complete && heardMs < SKIP_MS,
  };
}

/**
 * A listener's segment on a day, from their plays in the 28 days before it and their first active
 * day (Spotify for Artists' active super / moderate / light, previously active, new).
 */
export function segmentOf(playsLast28Days: number, firstDay: number | null, day: number): Segment {
  if (firstDay === null || day - firstDay < 7) return 'new';
  if (playsLast28Days >= 50) return 'super';
  if (playsLast28Days >= 10) return 'moderate';
  if (playsLast28Days >= 1) return 'light';
  return 'previously-active';
}

/** Days since 1970-01-01 UTC. */
export function dayNumber(at: Date): number {
  return Math.floor(at.getTime() / 86_400_000);
}

/** `YYYY-MM-DD` of a day number. */
export function dayString(day: number): string {
  return new Date(day * 86_400_000).toISOString().slice(0, 10);
}
