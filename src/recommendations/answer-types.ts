// The shapes of a recommendation answer and of what serving keeps per user, apart from the code that
// computes them, so that the model, the per-user state, the collaborators and the answer can all
// name them without importing one another.
import type { KeptBody } from '../server/compression.js';
import type { RowTopK } from './serving-scorer.js';

export type Source = 'model' | 'fold-in' | 'popularity';

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

/** The limit of a request that names none. */
export const DEFAULT_LIMIT = 20;

/** An answer as the route sends it: the recommendations and the experiments the request took part in. */
export type RecommendationsReply = Recommendations & { experiments: { id: string; variant: string }[] };

/** The route's reply for an answer; kept answers (kept-answers.ts) and answers made per request both go through it. */
export function routeReply(answer: Recommendations, experiments: { id: string; variant: string }[]): RecommendationsReply {
  return { ...answer, experiments };
}

export interface ScoredCandidates {
  /** The best tracks and samples the user does not have yet, best first, as many as asked (or all). */
  tracks: Int32Array;
  trackScores: Float32Array;
  samples: Int32Array;
  sampleScores: Float32Array;
  /** Per favourite artist, the tracks nearest their centroid (heard or not). */
  playlists: RowTopK[];
  /** The creators with the highest float32 vector · creator, best first (collaborators.ts). */
  creators: Int32Array;
  creatorDots: Float32Array;
  /** What was asked; a later request needing no more reuses the set. */
  trackCount: number;
  sampleCount: number;
  playlistCount: number;
  /**
   * Reason codes (reasons.ts) by position, in one table: the first `reasonedTracks` tracks, then every
   * sample, then each playlist's tracks; REASON_UNSET until a position is first described (or prepared).
   */
  reasons: Int32Array;
  reasonedTracks: number;
  /** The new artists ranked from the tracks, once an answer asked for them (recommend.ts). */
  artistRanking: ArtistRanking | null;
  /** Without filters: whole answers kept encoded, by context and limit (kept-answers.ts); null until one is. */
  answers: Map<string, KeptBody> | null;
}

/**
 * Artists best first, two numbers each: the artist's index times 4 plus how many of their tracks (at
 * most 3) the score sums, and that score in thousandths (an answer shows it to three decimals).
 */
export type ArtistRanking = Int32Array;

export interface UserState {
  userId: string;
  strategy: 'model' | 'popularity';
  known: { item: number; weight: number }[];
  seen: Set<number>;
  seenTracks: number;
  seenSamples: number;
  source: Source;
  vector: Float32Array | null;
  seeds: { item: number }[];
  favouriteArtists: number[];
  centroids: Float32Array[];
  /** Filter key → scored candidates, with their reasons and artists' ranking. */
  scored: Map<string, ScoredCandidates>;
}
