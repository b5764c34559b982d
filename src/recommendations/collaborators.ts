// Collaborators for the collaboration context: creators (artists who are also users of the model)
// whose taste is close to the user's (cosine of the user vectors) and whose work complements theirs
// (tags they make that the user does not): score = taste · (½ + ½ · complementarity). People the user
// already co-edits with are left out.
//
// The scan reads the per-version table of creators' unit vectors once (typed arrays, no objects per
// creator). Since score ≤ taste, candidates are taken best taste first and the walk stops once no
// later one can reach the top; only the best few dozen tastes are sorted unless the walk needs more.
import type { Collaborator, RecommendParams } from './recommend.js';
import type { ServingModel } from './serving.js';
import type { UserHistory } from './store.js';

const round = (x: number) => Math.round(x * 1000) / 1000;

export function recommendCollaborators(model: ServingModel, vector: Float32Array | null, history: UserHistory, params: RecommendParams): Collaborator[] {
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
  const tastes = new Float64Array(count);
  const unit = creators.unitVectors;
  let positive = 0;
  for (let at = 0; at < count; at++) {
    let dot = 0;
    const offset = at * f;
    for (let d = 0; d < f; d++) dot += vector[d]! * unit[offset + d]!;
    tastes[at] = dot / norm;
    if (tastes[at]! > 0) positive++;
  }
  // Best taste first (ties: table order), in two stretches: the best few, then the rest if needed.
  const firstStretch = Math.max(4 * params.limit, 64);
  let threshold = 0;
  if (positive > firstStretch) {
    const sorted = tastes.slice().sort();
    threshold = sorted[count - firstStretch]!;
  }
  const byTaste = (a: number, b: number) => tastes[b]! - tastes[a]! || a - b;
  const stretch = (from: number, below: number): number[] => {
    const out: number[] = [];
    for (let at = 0; at < count; at++) {
      const taste = tastes[at]!;
      if (taste > 0 && taste >= from && taste < below) out.push(at);
    }
    return out.sort(byTaste);
  };

  const out: Collaborator[] = [];
  const walk = (order: number[]): boolean => {
    for (const at of order) {
      const taste = tastes[at]!;
      if (out.length >= params.limit) {
        out.sort((a, b) => b.score - a.score || (a.userId < b.userId ? -1 : 1));
        out.length = params.limit;
        if (round(taste) < out[params.limit - 1]!.score) return true;
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
    return false;
  };
  if (!walk(stretch(threshold, Infinity)) && threshold > 0) walk(stretch(0, threshold));
  return out.sort((a, b) => b.score - a.score || (a.userId < b.userId ? -1 : 1)).slice(0, params.limit);
}
