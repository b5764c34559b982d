// The authorship split: how a drop's royalties are shared among the people who made the session,
// taken from the authorship report at the drop's version (docs/history.md defines the counts):
//
//   weight(user) = 50 % × their share of the live notes + 30 % × their share of the live tracks
//                + 20 % × their share of the edits (logged updates)
//
// A part whose total is 0 (a session with no notes, say) is left out and the other parts' weights
// are scaled up to 100 %. Each weight becomes basis points rounded down (exact integer arithmetic),
// collaborators with less than 1 bp are dropped and listed, and what rounding left over goes to the
// largest share (ties: the first user id in order), so the basis points sum to exactly 10,000.
import type { UserShares } from '../history/answers.js';

export const SPLIT_WEIGHTS = { notes: 50, tracks: 30, edits: 20 } as const;
export const TOTAL_BPS = 10_000;

export interface SplitShare {
  userId: string;
  bps: number;
  notes: number;
  tracks: number;
  edits: number;
}

export interface Split {
  shares: SplitShare[];
  /** Collaborators whose weight came to less than 1 basis point. */
  dropped: { userId: string; reason: string }[];
  rule: string;
}

export const SPLIT_RULE = '50 % by live notes, 30 % by live tracks, 20 % by edits; basis points rounded down, the remainder to the largest share; under 1 bp dropped';

type Part = keyof typeof SPLIT_WEIGHTS;
const PARTS: Part[] = ['notes', 'tracks', 'edits'];

/** The split of `users` (the authorship report's shares); users in `exclude` (the platform's own author) take no part. */
export function computeSplit(users: readonly UserShares[], exclude: readonly string[] = []): Split {
  const people = users.filter((u) => !exclude.includes(u.userId));
  const totals = Object.fromEntries(PARTS.map((p) => [p, people.reduce((n, u) => n + u[p].count, 0)])) as Record<Part, number>;
  const active = PARTS.filter((p) => totals[p] > 0);
  if (active.length === 0) return { shares: [], dropped: [], rule: SPLIT_RULE };
  // bps(user) = floor(10000 × Σ w_p × count_p / total_p / Σ w_p), over one common denominator.
  const weightSum = BigInt(active.reduce((n, p) => n + SPLIT_WEIGHTS[p], 0));
  const product = active.reduce((n, p) => n * BigInt(totals[p]), 1n);
  const denominator = weightSum * product;
  const raw = people.map((u) => {
    let numerator = 0n;
    for (const p of active) numerator += BigInt(SPLIT_WEIGHTS[p]) * BigInt(u[p].count) * (product / BigInt(totals[p]));
    return { u, bps: Number((BigInt(TOTAL_BPS) * numerator) / denominator) };
  });
  const kept = raw.filter((r) => r.bps >= 1);
  const dropped = raw.filter((r) => r.bps < 1).map((r) => ({ userId: r.u.userId, reason: 'less than 1 basis point of the split' }));
  const shares: SplitShare[] = kept.map((r) => ({ userId: r.u.userId, bps: r.bps, notes: r.u.notes.count, tracks: r.u.tracks.count, edits: r.u.edits.count }));
  const remainder = TOTAL_BPS - shares.reduce((n, s) => n + s.bps, 0);
  if (shares.length > 0 && remainder !== 0) {
    const largest = [...shares].sort((a, b) => b.bps - a.bps || (a.userId < b.userId ? -1 : 1))[0]!;
    largest.bps += remainder;
  }
  return { shares, dropped, rule: SPLIT_RULE };
}
