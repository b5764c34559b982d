// Collaborators for the collaboration context: creators (artists who are also users of the model)
// whose taste is close to the user's (cosine of the user vectors) and whose work complements theirs
// (tags they make that the user does not): score = taste · (½ + ½ · complementarity). People the user
// already co-edits with are left out.
//
// Since score ≤ taste, candidates are taken best taste first and the walk stops once no later one can
// reach the top. The scoring call shortlists the creators (their unit vectors ride in the same Gemm);
// only when that shortlist cannot settle the answer is the per-version table scanned in JavaScript
// (typed arrays, no object per creator, only the best few dozen tastes sorted unless needed).
import type { Collaborator, RecommendParams } from './answer-types.js';
import type { ServingModel } from './serving.js';
import type { UserHistory } from './store.js';

const round = (x: number) => Math.round(x * 1000) / 1000;

/** Float32 dot products are within this of the exact taste (64 factors: some 4e-6). */
const FLOAT32_SLACK = 1e-4;

/**
 * `shortlist`: the creators with the highest float32 vector · creator, from the scoring call. When
 * the walk over them, in exact taste order, stops above what any creator left out could reach, the
 * answer is the one a scan of every creator gives; otherwise every creator is scanned.
 */
export function recommendCollaborators(
  model: ServingModel,
  vector: Float32Array | null,
  history: UserHistory,
  params: RecommendParams,
  shortlist: { at: Int32Array; dots: Float32Array } | null = null,
): Collaborator[] {
  if (!vector) return [];
  const { meta } = model;
  const f = model.factors;
  const creators = model.creators;
  const tags = model.tags;
  const me = model.artistIndex.get(params.userId);
  const myTags = new Uint8Array(tags.names.length);
  const myTagList = me === undefined ? new Int32Array(0) : tags.byArtist[me]!;
  for (const tag of myTagList) myTags[tag] = 1;
  const norm = Math.hypot(...vector);
  if (norm === 0) return [];
  const exclude = new Set([params.userId, ...history.coeditors]);
  const count = creators.artists.length;
  const unit = creators.unitVectors;
  const tasteOf = (at: number): number => {
    let dot = 0;
    const offset = at * f;
    for (let d = 0; d < f; d++) dot += vector[d]! * unit[offset + d]!;
    return dot / norm;
  };

  let out: Collaborator[] = [];
  /** Walks creators in the order given; the taste it stopped at, or null if it ran out. */
  const walk = (order: number[], tastes: (at: number) => number): number | null => {
    for (const at of order) {
      const taste = tastes(at);
      if (out.length >= params.limit) {
        out.sort((a, b) => b.score - a.score || (a.userId < b.userId ? -1 : 1));
        out.length = params.limit;
        if (round(taste) < out[params.limit - 1]!.score) return taste;
      }
      const artist = creators.artists[at]!;
      const creator = meta.artists[artist]!;
      if (exclude.has(creator)) continue;
      const theirs = tags.byArtist[artist]!;
      let shared = 0;
      const fresh: string[] = [];
      for (const tag of theirs) {
        if (myTags[tag] === 1) shared++;
        else if (fresh.length < 3) fresh.push(tags.names[tag]!);
      }
      const unionSize = myTagList.length + theirs.length - shared;
      const complementarity = myTagList.length === 0 || unionSize === 0 ? 1 : 1 - shared / unionSize;
      out.push({
        userId: creator,
        score: round(taste * (0.5 + 0.5 * complementarity)),
        taste: round(taste),
        complementarity: round(complementarity),
        reason: `listens like you (taste ${round(taste)})${fresh.length > 0 ? `; makes ${fresh.join(', ')}${myTagList.length > 0 ? ', which you do not' : ''}` : ''}`,
      });
    }
    return null;
  };
  const finish = () => out.sort((a, b) => b.score - a.score || (a.userId < b.userId ? -1 : 1)).slice(0, params.limit);

  if (shortlist && shortlist.at.length > 0) {
    const exact = new Map<number, number>();
    for (const at of shortlist.at) exact.set(at, tasteOf(at));
    const order = [...exact.keys()].filter((at) => exact.get(at)! > 0).sort((a, b) => exact.get(b)! - exact.get(a)! || a - b);
    const stoppedAt = walk(order, (at) => exact.get(at)!);
    // Everyone left out has a float32 product at most the shortlist's lowest.
    const leftOutBelow = shortlist.dots[shortlist.dots.length - 1]! / norm + FLOAT32_SLACK;
    if (shortlist.at.length === count || (stoppedAt !== null && stoppedAt > leftOutBelow)) return finish();
    out = [];
  }

  const tastes = new Float64Array(count);
  let positive = 0;
  for (let at = 0; at < count; at++) {
    tastes[at] = tasteOf(at);
    if (tastes[at]! > 0) positive++;
  }
  // Best taste first (ties: table order), in two stretches: the best few, then the rest if needed.
  const firstStretch = Math.max(4 * params.limit, 64);
  const threshold = positive > firstStretch ? nthLargest(tastes, firstStretch) : 0;
  const byTaste = (a: number, b: number) => tastes[b]! - tastes[a]! || a - b;
  const stretch = (from: number, below: number): number[] => {
    const order: number[] = [];
    for (let at = 0; at < count; at++) {
      const taste = tastes[at]!;
      if (taste > 0 && taste >= from && taste < below) order.push(at);
    }
    return order.sort(byTaste);
  };
  const byIndex = (at: number) => tastes[at]!;
  if (walk(stretch(threshold, Infinity), byIndex) === null && threshold > 0) walk(stretch(0, threshold), byIndex);
  return finish();
}

/** The n-th largest value (n ≥ 1, at most values.length), through a min-heap of the n largest. */
function nthLargest(values: Float64Array, n: number): number {
  const heap = new Float64Array(n);
  let size = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (size < n) {
      let at = size++;
      while (at > 0 && heap[(at - 1) >> 1]! > value) {
        heap[at] = heap[(at - 1) >> 1]!;
        at = (at - 1) >> 1;
      }
      heap[at] = value;
    } else if (value > heap[0]!) {
      let at = 0;
      for (;;) {
        const left = 2 * at + 1;
        if (left >= n) break;
        const child = left + 1 < n && heap[left + 1]! < heap[left]! ? left + 1 : left;
        if (heap[child]! >= value) break;
        heap[at] = heap[child]!;
        at = child;
      }
      heap[at] = value;
    }
  }
  return heap[0]!;
}
