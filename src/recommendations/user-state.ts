// What a user's answers share between requests: their items as model indices, where their vector
// comes from (trained, folded in, or none), the seeds of reasons, their favourite artists' centroids,
// and the scored candidates per filter set. It hangs off the cached history object for one model
// version (ServingModel.userStates, a WeakMap): when the bus says the user changed, the history cache
// drops the history and this goes with it; a new model version starts empty.
import type { ScoredCandidates, Source, UserState } from './answer-types.js';
import type { ServingModel } from './serving.js';
import type { UserHistory } from './store.js';

export type { ScoredCandidates, Source, UserState } from './answer-types.js';

const SEEDS = 20;
/** Scored-candidate sets kept per user (one per filter set asked for). */
const SCORED_KEPT = 4;


/** The user's state for this model version, from the cache when the history object is the same. */
export function userState(model: ServingModel, history: UserHistory, userId: string, strategy: 'model' | 'popularity'): UserState {
  const kept = model.userStates.get(history);
  if (kept && kept.userId === userId && kept.strategy === strategy) return kept;
  const known = history.items.filter((h) => model.itemIndex.has(h.itemId)).map((h) => ({ item: model.itemIndex.get(h.itemId)!, weight: h.weight }));
  const userRow = model.userIndex.get(userId);
  let source: Source = 'popularity';
  let vector: Float32Array | null = null;
  if (strategy === 'model') {
    if (userRow !== undefined) {
      source = 'model';
      vector = model.userVector(userRow);
    } else if (known.length > 0) {
      source = 'fold-in';
      vector = model.foldIn(known);
    }
  }
  const seen = new Set(known.map((k) => k.item));
  let seenSamples = 0;
  for (const item of seen) if (model.meta.kinds[item] === 1) seenSamples++;
  const favouriteArtists = vector ? topArtists(model, known, 2) : [];
  const state: UserState = {
    userId,
    strategy,
    known,
    seen,
    seenTracks: seen.size - seenSamples,
    seenSamples,
    source,
    vector,
    seeds: known.slice(0, SEEDS),
    favouriteArtists,
    centroids: favouriteArtists.map((artist) => artistCentroid(model, known, artist)),
    scored: new Map(),
  };
  model.userStates.set(history, state);
  return state;
}

/** Keeps a scored set (the model bounds how many users keep theirs) for the filter key, dropping the oldest past a few. */
export function keepScored(model: ServingModel, state: UserState, key: string, scored: ScoredCandidates): void {
  state.scored.delete(key);
  if (state.scored.size >= SCORED_KEPT) state.scored.delete(state.scored.keys().next().value!);
  state.scored.set(key, scored);
  model.rememberScored(state);
}

function topArtists(model: ServingModel, known: { item: number; weight: number }[], count: number): number[] {
  const totals = new Map<number, number>();
  for (const { item, weight } of known) {
    const artist = model.meta.artistOf[item]!;
    if (artist >= 0) totals.set(artist, (totals.get(artist) ?? 0) + weight);
  }
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, count)
    .map(([artist]) => artist);
}

/** The mean vector of the user's items by one artist: the "taste of that artist" as a query. */
function artistCentroid(model: ServingModel, known: { item: number; weight: number }[], artist: number): Float32Array {
  const f = model.factors;
  const out = new Float32Array(f);
  const mine = known.filter(({ item }) => model.meta.artistOf[item] === artist);
  for (const { item } of mine) {
    const v = model.itemVector(item);
    for (let d = 0; d < f; d++) out[d]! += v[d]! / mine.length;
  }
  return out;
}
