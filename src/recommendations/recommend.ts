// One answer of GET /api/v1/recommendations: tracks, artists, samples, smart playlists and (in the
// collaboration context) collaborators, each with a reason, and one confidence for the whole answer.
//
// Where the user vector comes from decides the confidence: a user the model was trained on; a user
// who arrived since, folded in from their items now; or nobody knows them, and they get what is
// popular. Scoring is one ONNX call: up to four rows of (user or seed vector, mask) in one batch.
import { RecommendationError } from './errors.js';
import { EXCLUDED } from './onnx-model.js';
import type { ServingModel } from './serving.js';
import type { ItemInfo, UserHistory } from './store.js';

export const CONTEXTS = ['discovery', 'collaboration', 'production'] as const;
export type Context = (typeof CONTEXTS)[number];

export interface Filters {
  kinds: Set<'track' | 'sample'> | null;
  tags: Set<string> | null;
  artists: Set<string> | null;
}

export interface RecommendParams {
  userId: string;
  context: Context;
  limit: number;
  filters: Filters;
  /** An experiment's variant may serve popularity instead of the model. */
  strategy: 'model' | 'popularity';
}

export interface RecommendedItem {
  id: string;
  kind: 'track' | 'sample';
  title: string | null;
  artistId: string | null;
  score: number;
  reason: string;
}

export interface RecommendedArtist {
  id: string;
  score: number;
  reason: string;
}

export interface SmartPlaylist {
  id: string;
  title: string;
  reason: string;
  tracks: RecommendedItem[];
}

export interface Collaborator {
  userId: string;
  score: number;
  taste: number;
  complementarity: number;
  reason: string;
}

export type Source = 'model' | 'fold-in' | 'popularity';

export interface Recommendations {
  userId: string;
  context: Context;
  source: Source;
  modelVersion: string | null;
  confidence: number;
  tracks: RecommendedItem[];
  artists: RecommendedArtist[];
  samples: RecommendedItem[];
  playlists: SmartPlaylist[];
  collaborators: Collaborator[];
}

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

const SEEDS = 20;
const ARTIST_CANDIDATES = 200;
const PLAYLIST_LENGTH = 20;

export async function recommendWithModel(model: ServingModel, history: UserHistory, params: RecommendParams): Promise<Recommendations> {
  const { meta } = model;
  const known = history.items.filter((h) => model.itemIndex.has(h.itemId)).map((h) => ({ item: model.itemIndex.get(h.itemId)!, weight: h.weight }));
  const userRow = model.userIndex.get(params.userId);
  let source: Source = 'popularity';
  let vector: Float32Array | null = null;
  if (params.strategy === 'model') {
    if (userRow !== undefined) {
      source = 'model';
      vector = model.userVector(userRow);
    } else if (known.length > 0) {
      source = 'fold-in';
      vector = model.foldIn(known);
    }
  }
  const seen = new Set(known.map((k) => k.item));
  const follows = new Set(history.follows);
  const n = model.items;
  const f = model.factors;
  const sampleLimit = params.context === 'production' ? params.limit : Math.min(params.limit, 5);
  const trackLimit = params.context === 'production' ? Math.min(params.limit, 5) : params.limit;

  // The seeds of reasons and playlists: the user's strongest items the model knows.
  const seeds = known.slice(0, SEEDS);
  const favouriteArtists = vector ? topArtists(model, known, 2) : [];
  // Additive masks, one row per query, written straight into the batch: tracks and samples the user
  // does not have, then (playlists) every track, heard or not. All respect the filters.
  const rows = 2 + favouriteArtists.length;
  // With a vector, the rows live in the scorer's pending batch (shared with concurrent requests).
  const batch = vector ? model.batcher.open(rows) : null;
  const masks = batch ? batch.masks : new Float32Array(rows * n);
  const trackMask = masks.subarray(0, n);
  const sampleMask = masks.subarray(n, 2 * n);
  const allTracks = filteredMask(model, params.filters, 0);
  trackMask.set(allTracks);
  sampleMask.set(filteredMask(model, params.filters, 1));
  for (const item of seen) {
    trackMask[item] = EXCLUDED;
    sampleMask[item] = EXCLUDED;
  }
  for (let b = 2; b < rows; b++) masks.set(allTracks, b * n);

  let trackCandidates: { item: number; score: number }[];
  let sampleCandidates: { item: number; score: number }[];
  const playlistRows: { artist: number; items: { item: number; score: number }[] }[] = [];
  if (vector && batch) {
    const users = batch.users;
    users.set(vector, 0);
    users.set(vector, f);
    favouriteArtists.forEach((artist, j) => users.set(artistCentroid(model, known, artist), (2 + j) * f));
    const k = Math.min(n, Math.max(ARTIST_CANDIDATES, trackLimit, sampleLimit, PLAYLIST_LENGTH));
    const scored = await batch.score(k);
    const pairs = (b: number) => Array.from(scored.items[b]!, (item, j) => ({ item, score: scored.scores[b]![j]! }));
    trackCandidates = pairs(0);
    sampleCandidates = pairs(1);
    favouriteArtists.forEach((artist, j) => playlistRows.push({ artist, items: pairs(2 + j) }));
  } else {
    const byPopularity = (m: Float32Array, limit: number) => {
      const out: { item: number; score: number }[] = [];
      for (const item of model.popularityOrder) {
        if (out.length === limit) break;
        if (m[item] === 0 && meta.popularity[item]! > 0) out.push({ item, score: meta.popularity[item]! });
      }
      return out;
    };
    trackCandidates = byPopularity(trackMask, ARTIST_CANDIDATES);
    sampleCandidates = byPopularity(sampleMask, sampleLimit);
  }

  const describeItem = (item: number, score: number, reason: string): RecommendedItem => ({
    id: meta.items[item]!,
    kind: meta.kinds[item] === 1 ? 'sample' : 'track',
    title: meta.titles[item] ?? null,
    artistId: meta.artistOf[item]! >= 0 ? meta.artists[meta.artistOf[item]!]! : null,
    score: round(score),
    reason,
  });
  const reason = (item: number) => reasonFor(model, item, seeds, follows, vector !== null);

  const tracks = trackCandidates.slice(0, trackLimit).map(({ item, score }) => describeItem(item, score, reason(item)));
  const samples = sampleCandidates.slice(0, sampleLimit).map(({ item, score }) => describeItem(item, score, reason(item)));
  const artists = recommendArtists(model, trackCandidates, known, follows, params, vector !== null);
  const playlists: SmartPlaylist[] = [];
  if (vector && trackCandidates.length > 0) {
    playlists.push({
      id: `smart:discovery:${params.userId}`,
      title: 'Discovery mix',
      reason: `tracks you have not played yet, ranked for your taste from ${known.length} things you played, liked, shared or bought`,
      tracks: trackCandidates.slice(0, PLAYLIST_LENGTH).map(({ item, score }) => describeItem(item, score, reason(item))),
    });
  }
  for (const { artist, items } of playlistRows) {
    const name = meta.artists[artist]!;
    playlists.push({
      id: `smart:artist:${name}`,
      title: `More like ${name}`,
      reason: `${name} is among the artists you play most; these tracks sit closest to theirs in taste`,
      tracks: items.slice(0, PLAYLIST_LENGTH).map(({ item, score }) => describeItem(item, score, seen.has(item) ? 'one of your favourites' : reason(item))),
    });
  }
  const collaborators = params.context === 'collaboration' ? recommendCollaborators(model, vector, history, params) : [];
  return {
    userId: params.userId,
    context: params.context,
    source,
    modelVersion: model.version,
    confidence: confidenceFor(source, known.length),
    tracks,
    artists,
    samples,
    playlists,
    collaborators,
  };
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

/**
 * The mask of one kind (0 track, 1 sample) under the filters: 0 where allowed, EXCLUDED elsewhere.
 * Without filters it is the model's precomputed mask of that kind (the caller copies it).
 */
function filteredMask(model: ServingModel, filters: Filters, kind: 0 | 1): Float32Array {
  const base = model.kindMask(kind);
  if (!filters.kinds && !filters.tags && !filters.artists) return base;
  const { meta } = model;
  const out = new Float32Array(model.items);
  const kindName = kind === 1 ? 'sample' : 'track';
  for (let i = 0; i < model.items; i++) {
    if (base[i] !== 0) {
      out[i] = EXCLUDED;
      continue;
    }
    const artist = meta.artistOf[i]! >= 0 ? meta.artists[meta.artistOf[i]!]! : null;
    if (!passes(filters, kindName, meta.tags[i]!, artist)) out[i] = EXCLUDED;
  }
  return out;
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

function reasonFor(model: ServingModel, item: number, seeds: { item: number }[], follows: Set<string>, personal: boolean): string {
  const { meta } = model;
  const artist = meta.artistOf[item]! >= 0 ? meta.artists[meta.artistOf[item]!]! : null;
  if (artist !== null && follows.has(artist)) return `new from ${artist}, whom you follow`;
  if (meta.popularity[item] === 0) {
    if (artist !== null) return `new: no plays yet, by ${artist}, close to what you play`;
    return 'new: no plays yet, tagged like what you play';
  }
  if (!personal) return `popular: ${meta.popularity[item]} listener${meta.popularity[item] === 1 ? '' : 's'}`;
  let best = -1;
  let bestSimilarity = 0;
  for (const { item: seed } of seeds) {
    const similarity = model.itemCosine(item, seed);
    if (similarity > bestSimilarity) {
      bestSimilarity = similarity;
      best = seed;
    }
  }
  if (best >= 0 && bestSimilarity >= 0.3) return `because you played ${meta.titles[best] ?? meta.items[best]!} (similarity ${round(bestSimilarity)})`;
  return 'listeners whose taste matches yours play it';
}

function recommendArtists(
  model: ServingModel,
  candidates: { item: number; score: number }[],
  known: { item: number }[],
  follows: Set<string>,
  params: RecommendParams,
  personal: boolean,
): RecommendedArtist[] {
  const { meta } = model;
  const familiar = new Set(known.map(({ item }) => meta.artistOf[item]!));
  const perArtist = new Map<number, number[]>();
  for (const { item, score } of candidates) {
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

/**
 * Creators (artists who are also users of the model) whose taste is close to the user's (cosine of
 * the user vectors) and whose work complements theirs (tags they make that the user does not):
 * score = taste · (½ + ½ · complementarity). People the user already co-edits with are left out.
 */
function recommendCollaborators(model: ServingModel, vector: Float32Array | null, history: UserHistory, params: RecommendParams): Collaborator[] {
  if (!vector) return [];
  const { meta } = model;
  const f = model.factors;
  const creators = model.creators;
  const me = model.artistIndex.get(params.userId);
  const myTags = me === undefined ? new Set<string>() : (model.artistTags.get(me) ?? new Set<string>());
  const norm = Math.hypot(...vector);
  if (norm === 0) return [];
  const exclude = new Set([params.userId, ...history.coeditors]);
  // Taste for every creator in one pass over their unit vectors; complementarity (set work) only
  // for as many as can still reach the top: score ≤ taste, so candidates run best taste first.
  const tastes: { at: number; taste: number }[] = [];
  for (let at = 0; at < creators.artists.length; at++) {
    let dot = 0;
    const offset = at * f;
    for (let d = 0; d < f; d++) dot += vector[d]! * creators.unitVectors[offset + d]!;
    const taste = dot / norm;
    if (taste > 0) tastes.push({ at, taste });
  }
  tastes.sort((a, b) => b.taste - a.taste || a.at - b.at);
  const out: Collaborator[] = [];
  for (const { at, taste } of tastes) {
    if (out.length >= params.limit) {
      out.sort((a, b) => b.score - a.score || (a.userId < b.userId ? -1 : 1));
      out.length = params.limit;
      if (round(taste) < out[params.limit - 1]!.score) break;
    }
    const artist = creators.artists[at]!;
    const creator = meta.artists[artist]!;
    if (exclude.has(creator)) continue;
    const theirTags = model.artistTags.get(artist) ?? new Set<string>();
    const shared = [...theirTags].filter((t) => myTags.has(t)).length;
    const unionSize = myTags.size + theirTags.size - shared;
    const complementarity = myTags.size === 0 || unionSize === 0 ? 1 : 1 - shared / unionSize;
    const fresh = [...theirTags].filter((t) => !myTags.has(t)).slice(0, 3);
    out.push({
      userId: creator,
      score: round(taste * (0.5 + 0.5 * complementarity)),
      taste: round(taste),
      complementarity: round(complementarity),
      reason: `listens like you (taste ${round(taste)})${fresh.length > 0 ? `; makes ${fresh.join(', ')}${myTags.size > 0 ? ', which you do not' : ''}` : ''}`,
    });
  }
  return out.sort((a, b) => b.score - a.score || (a.userId < b.userId ? -1 : 1)).slice(0, params.limit);
}
