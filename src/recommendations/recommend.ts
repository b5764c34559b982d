// One answer of GET /api/v1/recommendations: tracks, artists, samples, smart playlists and (in the
// collaboration context) collaborators, each with a reason, and one confidence for the whole answer.
//
// Where the user vector comes from decides the confidence: a user the model was trained on; a user
// who arrived since, folded in from their items now; or nobody knows them, and they get what is
// popular. Scoring is one ONNX call: up to four rows of (user or seed vector, mask) in one batch.
import { recommendCollaborators } from './collaborators.js';
import { RecommendationError } from './errors.js';
import { filterKey, type ServingModel } from './serving.js';
import type { ItemInfo, UserHistory } from './store.js';
import type { Filters, RecommendedArtist, RecommendedItem, Recommendations, RecommendParams, ScoredCandidates, SmartPlaylist, Source, UserState } from './answer-types.js';
import { keepScored, userState } from './user-state.js';

export { CONTEXTS, type Collaborator, type Context, type Filters, type RecommendedArtist, type RecommendedItem, type Recommendations, type RecommendParams, type SmartPlaylist, type Source } from './answer-types.js';

/** `tag:house,artist:a1,kind:sample`: values of one key are alternatives; keys must all hold. */
export function parseFilters(raw: string | null): Filters {
  const filters: Filters = { kinds: null, tags: null, artists: null };
  if (raw === null || raw.trim() === '') return filters;
  for (const part of raw.split(',')) {
    const at = part.indexOf(':');
    const key = part.slice(0, at).trim();
    const value = part.slice(at + 1).trim();
    if (at <= 0 || value === '' || value.length > 200) throw new RecommendationError(`filter ${JSON.stringify(part)} must be key:value`);
    if (key === 'kind') {
      if (value !== 'track' && value !== 'sample') throw new RecommendationError(`filter kind must be track or sample, got ${JSON.stringify(value)}`);
      (filters.kinds ??= new Set()).add(value);
    } else if (key === 'tag') (filters.tags ??= new Set()).add(value);
    else if (key === 'artist') (filters.artists ??= new Set()).add(value);
    else throw new RecommendationError(`unknown filter ${JSON.stringify(key)}; filters are kind, tag and artist`);
  }
  return filters;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** How sure an answer is, from where its user vector came and how much the user has done. */
export function confidenceFor(source: Source, interactions: number): number {
  if (source === 'model') return round(0.5 + 0.45 * (1 - Math.exp(-interactions / 20)));
  if (source === 'fold-in') return round(0.25 + 0.35 * (1 - Math.exp(-interactions / 10)));
  return 0.1;
}

const ARTIST_CANDIDATES = 200;
const PLAYLIST_LENGTH = 20;
/** Samples scored per answer whatever the context asks, so a user's scored set serves every context. */
const SAMPLE_CANDIDATES = 20;
/** Creators shortlisted in the scoring call for collaborators (collaborators.ts checks it was enough). */
const CREATOR_SHORTLIST = 128;

/** Ranked items as typed arrays: indices best first, and their scores. */
interface Ranked {
  items: Int32Array;
  scores: ArrayLike<number>;
}

interface Candidates {
  tracks: Ranked;
  samples: Ranked;
  /** Per favourite artist (with a vector only): the tracks nearest their centroid. */
  playlists: Ranked[];
  /** With a vector: the creators shortlist and its float32 dot products. */
  creators: { at: Int32Array; dots: Float32Array } | null;
}

export async function recommendWithModel(model: ServingModel, history: UserHistory, params: RecommendParams): Promise<Recommendations> {
  const { meta } = model;
  const state = userState(model, history, params.userId, params.strategy);
  const { known, seen, vector, seeds } = state;
  const follows = new Set(history.follows);
  const sampleLimit = params.context === 'production' ? params.limit : Math.min(params.limit, 5);
  const trackLimit = params.context === 'production' ? Math.min(params.limit, 5) : params.limit;
  const mask = model.filterMask(params.filters);
  const candidates = vector
    ? await scoredCandidates(model, state, params.filters, mask, trackLimit, sampleLimit)
    : popularCandidates(model, seen, mask, sampleLimit);

  const personal = vector !== null;
  // Kept with the user's scored set (bounded by the model); without a vector, for this answer only.
  const reasons = vector ? state.reasons : new Map<number, string>();
  const reason = (item: number): string => {
    let text = reasons.get(item);
    if (text === undefined) reasons.set(item, (text = reasonFor(model, item, seeds, follows, personal)));
    return text;
  };
  const describeItem = (item: number, score: number, why: string): RecommendedItem => ({
    id: meta.items[item]!,
    kind: meta.kinds[item] === 1 ? 'sample' : 'track',
    title: meta.titles[item] ?? null,
    artistId: meta.artistOf[item]! >= 0 ? meta.artists[meta.artistOf[item]!]! : null,
    score: round(score),
    reason: why,
  });
  // A ranked item reads the same wherever it appears (top tracks and the discovery mix): described once.
  const described = new Map<number, RecommendedItem>();
  const describeRanked = (ranked: Ranked, count: number): RecommendedItem[] => {
    const out: RecommendedItem[] = [];
    for (let j = 0; j < Math.min(count, ranked.items.length); j++) {
      const item = ranked.items[j]!;
      let entry = described.get(item);
      if (!entry) described.set(item, (entry = describeItem(item, ranked.scores[j]!, reason(item))));
      out.push(entry);
    }
    return out;
  };

  const tracks = describeRanked(candidates.tracks, trackLimit);
  const samples = describeRanked(candidates.samples, sampleLimit);
  const artists = recommendArtists(model, candidates.tracks, known, follows, params, personal);
  const playlists: SmartPlaylist[] = [];
  if (vector && candidates.tracks.items.length > 0) {
    playlists.push({
      id: `smart:discovery:${params.userId}`,
      title: 'Discovery mix',
      reason: `tracks you have not played yet, ranked for your taste from ${known.length} things you played, liked, shared or bought`,
      tracks: describeRanked(candidates.tracks, PLAYLIST_LENGTH),
    });
  }
  state.favouriteArtists.forEach((artist, j) => {
    const name = meta.artists[artist]!;
    const { items, scores } = candidates.playlists[j]!;
    const list: RecommendedItem[] = [];
    for (let p = 0; p < Math.min(PLAYLIST_LENGTH, items.length); p++) {
      const item = items[p]!;
      list.push(describeItem(item, scores[p]!, seen.has(item) ? 'one of your favourites' : reason(item)));
    }
    playlists.push({
      id: `smart:artist:${name}`,
      title: `More like ${name}`,
      reason: `${name} is among the artists you play most; these tracks sit closest to theirs in taste`,
      tracks: list,
    });
  });
  const collaborators = params.context === 'collaboration' ? recommendCollaborators(model, vector, history, params, candidates.creators) : [];
  return {
    userId: params.userId,
    context: params.context,
    source: state.source,
    modelVersion: model.version,
    confidence: confidenceFor(state.source, known.length),
    tracks,
    artists,
    samples,
    playlists,
    collaborators,
  };
}

const NO_FILTERS: Filters = { kinds: null, tags: null, artists: null };

/**
 * Makes a user's answers without filters (up to `limit` 20) ready before they ask: their state and
 * their scored candidates, kept on the history object as a request would keep them.
 */
export async function prepareUser(model: ServingModel, history: UserHistory, userId: string): Promise<void> {
  const state = userState(model, history, userId, 'model');
  if (state.vector) await scoredCandidates(model, state, NO_FILTERS, null, 20, 20);
}

/**
 * The user's best tracks and samples not yet theirs, and their artists' playlists, from the scored
 * set kept for these filters or from one scoring call shared with concurrent requests. The items the
 * user has are left out by asking for that many more and skipping them.
 */
async function scoredCandidates(model: ServingModel, state: UserState, filters: Filters, mask: Float32Array | null, trackLimit: number, sampleLimit: number): Promise<Candidates> {
  const trackCount = Math.max(ARTIST_CANDIDATES, trackLimit, sampleLimit, PLAYLIST_LENGTH);
  const sampleCount = Math.max(SAMPLE_CANDIDATES, sampleLimit);
  const key = filterKey(filters);
  const kept = state.scored.get(key);
  if (kept && kept.trackCount >= trackCount && kept.sampleCount >= sampleCount) return toCandidates(kept);
  const vector = state.vector!;
  const [mine, ...playlists] = await Promise.all([
    model.scorer.score({ vector, tracks: trackCount + state.seenTracks, samples: sampleCount + state.seenSamples, mask, creators: CREATOR_SHORTLIST }),
    ...state.centroids.map((centroid) => model.scorer.score({ vector: centroid, tracks: PLAYLIST_LENGTH, samples: 0, mask })),
  ]);
  const unseen = (items: Int32Array, scores: Float32Array, count: number): Ranked => {
    const keep = new Int32Array(Math.min(count, items.length));
    const keepScores = new Float32Array(keep.length);
    let n = 0;
    for (let j = 0; j < items.length && n < count; j++) {
      if (state.seen.has(items[j]!)) continue;
      keep[n] = items[j]!;
      keepScores[n++] = scores[j]!;
    }
    return { items: keep.subarray(0, n), scores: keepScores.subarray(0, n) };
  };
  const tracks = unseen(mine!.tracks, mine!.trackScores, trackCount);
  const samples = unseen(mine!.samples, mine!.sampleScores, sampleCount);
  const scored: ScoredCandidates = {
    tracks: tracks.items,
    trackScores: tracks.scores as Float32Array,
    samples: samples.items,
    sampleScores: samples.scores as Float32Array,
    playlists,
    creators: mine!.creators,
    creatorDots: mine!.creatorDots,
    trackCount,
    sampleCount,
    playlistCount: playlists.length,
  };
  keepScored(model, state, key, scored);
  return toCandidates(scored);
}

function toCandidates(scored: ScoredCandidates): Candidates {
  return {
    tracks: { items: scored.tracks, scores: scored.trackScores },
    samples: { items: scored.samples, scores: scored.sampleScores },
    playlists: scored.playlists.map((row) => ({ items: row.tracks, scores: row.trackScores })),
    creators: { at: scored.creators, dots: scored.creatorDots },
  };
}

/** Without a vector: the most popular tracks and samples the user does not have, under the filters. */
function popularCandidates(model: ServingModel, seen: Set<number>, mask: Float32Array | null, sampleLimit: number): Candidates {
  const { kinds, popularity } = model.meta;
  const take = (kind: 0 | 1, limit: number): Ranked => {
    const items: number[] = [];
    for (const item of model.popularityOrder) {
      if (items.length === limit) break;
      if ((kinds[item] === 1 ? 1 : 0) === kind && (!mask || mask[item] === 0) && !seen.has(item) && popularity[item]! > 0) items.push(item);
    }
    return { items: Int32Array.from(items), scores: items.map((item) => popularity[item]!) };
  };
  return { tracks: take(0, ARTIST_CANDIDATES), samples: take(1, sampleLimit), playlists: [], creators: null };
}

/** Answer for a tenant with no trained model yet: the most popular items from the database. */
export function recommendWithoutModel(popular: { itemId: string; users: number }[], catalog: Map<string, ItemInfo>, history: UserHistory, params: RecommendParams): Recommendations {
  const seen = new Set(history.items.map((h) => h.itemId));
  const items = popular
    .filter((p) => !seen.has(p.itemId))
    .map((p) => ({ p, info: catalog.get(p.itemId) }))
    .filter(({ p, info }) => passes(params.filters, info?.kind ?? 'track', info?.tags ?? [], info?.artistId ?? null) && p.users > 0);
  const describe = ({ p, info }: (typeof items)[number]): RecommendedItem => ({
    id: p.itemId,
    kind: info?.kind ?? 'track',
    title: info?.title ?? null,
    artistId: info?.artistId ?? null,
    score: p.users,
    reason: `popular: ${p.users} listener${p.users === 1 ? '' : 's'} (no model is trained yet)`,
  });
  const sampleLimit = params.context === 'production' ? params.limit : Math.min(params.limit, 5);
  const trackLimit = params.context === 'production' ? Math.min(params.limit, 5) : params.limit;
  return {
    userId: params.userId,
    context: params.context,
    source: 'popularity',
    modelVersion: null,
    confidence: confidenceFor('popularity', 0),
    tracks: items.filter((i) => i.info?.kind !== 'sample').slice(0, trackLimit).map(describe),
    artists: [],
    samples: items.filter((i) => i.info?.kind === 'sample').slice(0, sampleLimit).map(describe),
    playlists: [],
    collaborators: [],
  };
}

function passes(filters: Filters, kind: 'track' | 'sample', tags: string[], artist: string | null): boolean {
  if (filters.kinds && !filters.kinds.has(kind)) return false;
  if (filters.tags && !tags.some((t) => filters.tags!.has(t))) return false;
  if (filters.artists && (artist === null || !filters.artists.has(artist))) return false;
  return true;
}

function reasonFor(model: ServingModel, item: number, seeds: { item: number }[], follows: Set<string>, personal: boolean): string {
  const { meta } = model;
  const artist = meta.artistOf[item]! >= 0 ? meta.artists[meta.artistOf[item]!]! : null;
  if (artist !== null && follows.has(artist)) return `new from ${artist}, whom you follow`;
  if (meta.popularity[item] === 0) {
    if (artist !== null) return `new: no plays yet, by ${artist}, close to what you play`;
    return 'new: no plays yet, tagged like what you play';
  }
  if (!personal) return `popular: ${meta.popularity[item]} listener${meta.popularity[item] === 1 ? '' : 's'}`;
  const { item: best, similarity: bestSimilarity } = model.closestItem(item, seeds);
  if (best >= 0 && bestSimilarity >= 0.3) return `because you played ${meta.titles[best] ?? meta.items[best]!} (similarity ${round(bestSimilarity)})`;
  return 'listeners whose taste matches yours play it';
}

function recommendArtists(
  model: ServingModel,
  candidates: Ranked,
  known: { item: number }[],
  follows: Set<string>,
  params: RecommendParams,
  personal: boolean,
): RecommendedArtist[] {
  const { meta } = model;
  const familiar = new Set(known.map(({ item }) => meta.artistOf[item]!));
  const perArtist = new Map<number, number[]>();
  for (let j = 0; j < candidates.items.length; j++) {
    const item = candidates.items[j]!;
    const score = candidates.scores[j]!;
    const artist = meta.artistOf[item]!;
    if (artist < 0 || familiar.has(artist) || follows.has(meta.artists[artist]!)) continue;
    const scores = perArtist.get(artist) ?? perArtist.set(artist, []).get(artist)!;
    if (scores.length < 3) scores.push(score);
  }
  return [...perArtist.entries()]
    .map(([artist, scores]) => ({ artist, score: scores.reduce((s, v) => s + v, 0), tracks: scores.length }))
    .sort((a, b) => b.score - a.score || a.artist - b.artist)
    .slice(0, params.limit)
    .map(({ artist, score, tracks }) => ({
      id: meta.artists[artist]!,
      score: round(score),
      reason: personal
        ? `${tracks} of their tracks rank among your best matches, and you have not played them yet`
        : `popular, and new to you`,
    }));
}
