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
import type { ArtistRanking, Filters, RecommendedArtist, RecommendedItem, Recommendations, RecommendParams, ScoredCandidates, SmartPlaylist, Source, UserState } from './answer-types.js';
import { FAVOURITE_REASON, reasonCode, reasonText, REASON_UNSET, type ReasonInputs } from './reasons.js';
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
/** The largest `limit`: no answer lists more artists than the ranking kept. */
const MAX_LIMIT = 100;

/** Ranked items as typed arrays: indices best first, their scores, and their reason codes by position (reasons.ts). */
interface Ranked {
  items: Int32Array;
  scores: ArrayLike<number>;
  /** Kept with the user's scored set; empty when nothing is kept (a code past its end is computed each time). */
  reasons: Int32Array;
}

interface Candidates {
  tracks: Ranked;
  samples: Ranked;
  /** Per favourite artist (with a vector only): the tracks nearest their centroid. */
  playlists: Ranked[];
  /** With a vector: the creators shortlist and its float32 dot products. */
  creators: { at: Int32Array; dots: Float32Array } | null;
  /** The scored set they come from, which keeps the artists' ranking too; null without a vector. */
  kept: ScoredCandidates | null;
}

const NO_REASONS = new Int32Array(0);

/**
 * What describing a user's items needs beyond the model: their state, their follows, and the reason
 * codes kept with their scored set, computed for a position the first time it is described.
 */
class Describer {
  private inputs: ReasonInputs | null = null;
  private follows: Set<string> | null = null;

  constructor(
    private readonly model: ServingModel,
    private readonly state: UserState,
    private readonly history: UserHistory,
  ) {}

  followed(): Set<string> {
    return (this.follows ??= new Set(this.history.follows));
  }

  /** The reason code at `position` of a ranked list; `favourites` lists say so of items the user has. */
  code(ranked: Ranked, position: number, favourites = false): number {
    const table = ranked.reasons;
    let code = position < table.length ? table[position]! : REASON_UNSET;
    if (code === REASON_UNSET) {
      const item = ranked.items[position]!;
      if (favourites && this.state.seen.has(item)) code = FAVOURITE_REASON;
      else code = reasonCode(this.model, item, (this.inputs ??= { seeds: this.state.seeds, follows: this.followed(), personal: this.state.vector !== null }));
      if (position < table.length) table[position] = code;
    }
    return code;
  }

  /** Positions `from` to `to` (exclusive, within the list) as items of the answer. */
  describe(ranked: Ranked, from: number, to: number, favourites = false): RecommendedItem[] {
    const { model } = this;
    const { meta } = model;
    const out: RecommendedItem[] = [];
    for (let j = from; j < Math.min(to, ranked.items.length); j++) {
      const item = ranked.items[j]!;
      const artist = meta.artistOf[item]!;
      out.push({
        id: meta.items[item]!,
        kind: meta.kinds[item] === 1 ? 'sample' : 'track',
        title: meta.titles[item] ?? null,
        artistId: artist >= 0 ? meta.artists[artist]! : null,
        score: round(ranked.scores[j]!),
        reason: reasonText(model, item, this.code(ranked, j, favourites), this.state.seeds),
      });
    }
    return out;
  }
}

export async function recommendWithModel(model: ServingModel, history: UserHistory, params: RecommendParams): Promise<Recommendations> {
  const { meta } = model;
  const state = userState(model, history, params.userId, params.strategy);
  const { known, seen, vector } = state;
  const sampleLimit = params.context === 'production' ? params.limit : Math.min(params.limit, 5);
  const trackLimit = params.context === 'production' ? Math.min(params.limit, 5) : params.limit;
  const mask = model.filterMask(params.filters);
  const candidates = vector
    ? await scoredCandidates(model, state, params.filters, mask, trackLimit, sampleLimit)
    : popularCandidates(model, seen, mask, sampleLimit);
  const describer = new Describer(model, state, history);

  const tracks = describer.describe(candidates.tracks, 0, trackLimit);
  const samples = describer.describe(candidates.samples, 0, sampleLimit);
  const personal = vector !== null;
  const ranking = candidates.kept
    ? (candidates.kept.artistRanking ??= rankArtists(model, candidates.tracks, known, describer.followed()))
    : rankArtists(model, candidates.tracks, known, describer.followed());
  const artists = describeArtists(model, ranking, params.limit, personal);
  const playlists: SmartPlaylist[] = [];
  if (vector && candidates.tracks.items.length > 0) {
    // The mix is the top tracks again, as many as a playlist holds: the same entries, and more if the answer's list was shorter.
    const mixLength = Math.min(PLAYLIST_LENGTH, candidates.tracks.items.length);
    playlists.push({
      id: `smart:discovery:${params.userId}`,
      title: 'Discovery mix',
      reason: `tracks you have not played yet, ranked for your taste from ${known.length} things you played, liked, shared or bought`,
      tracks: tracks.length >= mixLength ? tracks.slice(0, mixLength) : [...tracks, ...describer.describe(candidates.tracks, tracks.length, mixLength)],
    });
  }
  state.favouriteArtists.forEach((artist, j) => {
    const name = meta.artists[artist]!;
    playlists.push({
      id: `smart:artist:${name}`,
      title: `More like ${name}`,
      reason: `${name} is among the artists you play most; these tracks sit closest to theirs in taste`,
      tracks: describer.describe(candidates.playlists[j]!, 0, PLAYLIST_LENGTH, true),
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
 * Makes a user's answers without filters (up to `limit` 20) ready before they ask: their state, their
 * scored candidates, the reasons of every item such an answer describes and the artists' ranking,
 * kept on the history object as a request would keep them.
 */
export async function prepareUser(model: ServingModel, history: UserHistory, userId: string): Promise<void> {
  const state = userState(model, history, userId, 'model');
  if (!state.vector) return;
  const candidates = await scoredCandidates(model, state, NO_FILTERS, null, 20, 20);
  const describer = new Describer(model, state, history);
  const fill = (ranked: Ranked, favourites = false) => {
    for (let j = 0; j < Math.min(PLAYLIST_LENGTH, ranked.items.length); j++) describer.code(ranked, j, favourites);
  };
  fill(candidates.tracks);
  fill(candidates.samples);
  for (const playlist of candidates.playlists) fill(playlist, true);
  candidates.kept!.artistRanking ??= rankArtists(model, candidates.tracks, state.known, describer.followed());
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
  const unseen = (items: Int32Array, scores: Float32Array, count: number): { items: Int32Array; scores: Float32Array } => {
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
  // Reasons are kept for the positions this answer describes (a larger limit later computes the rest per answer).
  const reasonedTracks = Math.min(tracks.items.length, Math.max(trackLimit, PLAYLIST_LENGTH));
  const reasonCount = reasonedTracks + samples.items.length + playlists.reduce((sum, row) => sum + row.tracks.length, 0);
  const scored: ScoredCandidates = {
    tracks: tracks.items,
    trackScores: tracks.scores,
    samples: samples.items,
    sampleScores: samples.scores,
    playlists,
    creators: mine!.creators,
    creatorDots: mine!.creatorDots,
    trackCount,
    sampleCount,
    playlistCount: playlists.length,
    reasons: new Int32Array(reasonCount).fill(REASON_UNSET),
    reasonedTracks,
    artistRanking: null,
    answers: null,
  };
  keepScored(model, state, key, scored);
  return toCandidates(scored);
}

function toCandidates(scored: ScoredCandidates): Candidates {
  const { reasons } = scored;
  let at = scored.reasonedTracks + scored.samples.length;
  return {
    tracks: { items: scored.tracks, scores: scored.trackScores, reasons: reasons.subarray(0, scored.reasonedTracks) },
    samples: { items: scored.samples, scores: scored.sampleScores, reasons: reasons.subarray(scored.reasonedTracks, at) },
    playlists: scored.playlists.map((row) => ({ items: row.tracks, scores: row.trackScores, reasons: reasons.subarray(at, (at += row.tracks.length)) })),
    creators: { at: scored.creators, dots: scored.creatorDots },
    kept: scored,
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
    return { items: Int32Array.from(items), scores: items.map((item) => popularity[item]!), reasons: NO_REASONS };
  };
  return { tracks: take(0, ARTIST_CANDIDATES), samples: take(1, sampleLimit), playlists: [], creators: null, kept: null };
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
 * Artists whose tracks rank among the user's best matches and who are new to them (none of their
 * items played, not followed), by the sum of their best three tracks' scores, as many as the largest
 * answer lists.
 */
function rankArtists(model: ServingModel, tracks: Ranked, known: { item: number }[], follows: ReadonlySet<string>): ArtistRanking {
  const { meta } = model;
  const familiar = new Set(known.map(({ item }) => meta.artistOf[item]!));
  const perArtist = new Map<number, number[]>();
  for (let j = 0; j < tracks.items.length; j++) {
    const artist = meta.artistOf[tracks.items[j]!]!;
    if (artist < 0 || familiar.has(artist) || follows.has(meta.artists[artist]!)) continue;
    const scores = perArtist.get(artist) ?? perArtist.set(artist, []).get(artist)!;
    if (scores.length < 3) scores.push(tracks.scores[j]!);
  }
  const ranked = [...perArtist.entries()]
    .map(([artist, scores]) => ({ artist, score: scores.reduce((s, v) => s + v, 0), tracks: scores.length }))
    .sort((a, b) => b.score - a.score || a.artist - b.artist)
    .slice(0, MAX_LIMIT);
  const ranking = new Int32Array(2 * ranked.length);
  ranked.forEach(({ artist, score, tracks: count }, j) => {
    ranking[2 * j] = artist * 4 + count;
    ranking[2 * j + 1] = Math.round(score * 1000);
  });
  return ranking;
}

function describeArtists(model: ServingModel, ranking: ArtistRanking, limit: number, personal: boolean): RecommendedArtist[] {
  const out: RecommendedArtist[] = [];
  for (let j = 0; j < Math.min(limit, ranking.length / 2); j++) {
    const artistAndCount = ranking[2 * j]!;
    out.push({
      id: model.meta.artists[artistAndCount >> 2]!,
      score: ranking[2 * j + 1]! / 1000,
      reason: personal ? `${artistAndCount & 3} of their tracks rank among your best matches, and you have not played them yet` : `popular, and new to you`,
    });
  }
  return out;
}
