// A loaded model version and its hot swap. Each tenant has one slot holding the version that serves;
// a request takes a lease on it, so a swap never releases an ONNX session that a request is still
// scoring with: the old version retires when its last lease ends. What every answer would otherwise
// recompute lives here, once per version: filter masks, the creators' table and tags as numbers, and
// each cached user's state (user-state.ts).
import { ALS_DEFAULTS } from './als.js';
import { readModel, type ModelMeta } from './model-files.js';
import { EXCLUDED } from './onnx-model.js';
import { ServingScorer } from './serving-scorer.js';
import type { UserHistory } from './store.js';
import type { Filters, UserState } from './answer-types.js';

const FILTER_MASKS_KEPT = 32;
/** Users whose scored candidates, reasons and artists' ranking (some 4 KB each) and kept answers (2-3 KB each, kept-answers.ts) are kept, least recently scored out first, at least. */
export const SCORED_USERS_KEPT = 8192;

/** One string per set of filters, whatever the order they were given in; '' for none. */
export function filterKey(filters: Filters): string {
  if (!filters.kinds && !filters.tags && !filters.artists) return '';
  return [filters.kinds, filters.tags, filters.artists].map((set) => (set ? [...set].sort().join('\u0001') : '*')).join('\u0000');
}

export interface CreatorTable {
  artists: Int32Array;
  unitVectors: Float32Array;
}

function creatorTable(meta: ModelMeta, userFactors: Float32Array): CreatorTable {
  const f = meta.factors;
  const userIndex = new Map(meta.users.map((id, i) => [id, i]));
  const artists: number[] = [];
  const vectors: number[] = [];
  meta.artists.forEach((creator, artist) => {
    const row = userIndex.get(creator);
    if (row === undefined) return;
    const v = userFactors.subarray(row * f, (row + 1) * f);
    const norm = Math.hypot(...v);
    if (norm === 0) return;
    artists.push(artist);
    for (let d = 0; d < f; d++) vectors.push(v[d]! / norm);
  });
  return { artists: Int32Array.from(artists), unitVectors: Float32Array.from(vectors) };
}

export class ServingModel {
  readonly version: string;
  readonly userIndex: Map<string, number>;
  readonly itemIndex: Map<string, number>;
  readonly artistIndex: Map<string, number>;
  /** ‖yᵢ‖ per item, for cosine similarities (reasons, playlists, collaborators). */
  readonly itemNorms: Float32Array;
  private popularOrder: Int32Array | null = null;
  private readonly filterMasks = new Map<string, Float32Array>();
  private tagTable: { names: string[]; byArtist: Int32Array[] } | null = null;
  /** Per cached history (the history cache drops it when the bus says the user changed). */
  readonly userStates = new WeakMap<UserHistory, UserState>();
  private readonly scoredUsers = new Set<UserState>();
  /** How many users keep their scored candidates (serving raises it to the users it prepares). */
  scoredUsersKept = SCORED_USERS_KEPT;
  /** YᵀY + λI, shared by every fold-in solve. */
  private gramMatrix: Float64Array | null = null;
  private leases = 0;
  private retired = false;
  private released: Promise<void> | null = null;
  private wakeRetired: (() => void) | null = null;

  private constructor(
    readonly meta: ModelMeta,
    readonly userFactors: Float32Array,
    readonly itemFactors: Float32Array,
    /** Concurrent requests' rows go to onnxruntime together (serving-scorer.ts). */
    readonly scorer: ServingScorer,
    /**
     * Creators (artists who are also users of the model, with a non-zero vector): their artist index
     * and unit user vector, row-major. Collaborator requests scan it; the scorer holds it too.
     */
    readonly creators: CreatorTable,
  ) {
    this.version = meta.version;
    this.userIndex = new Map(meta.users.map((id, i) => [id, i]));
    this.itemIndex = new Map(meta.items.map((id, i) => [id, i]));
    this.artistIndex = new Map(meta.artists.map((id, i) => [id, i]));
    const f = meta.factors;
    this.itemNorms = new Float32Array(meta.items.length);
    for (let i = 0; i < meta.items.length; i++) {
      let sum = 0;
      for (let d = 0; d < f; d++) sum += itemFactors[i * f + d]! ** 2;
      this.itemNorms[i] = Math.sqrt(sum);
    }
  }

  static async load(dataDir: string, relativePath: string, intraOpThreads = 1): Promise<ServingModel> {
    const { meta, userFactors, itemFactors } = await readModel(dataDir, relativePath);
    const creators = creatorTable(meta, userFactors);
    const scorer = await ServingScorer.create(itemFactors, meta.kinds, meta.factors, { intraOpThreads, creators: creators.unitVectors });
    return new ServingModel(meta, userFactors, itemFactors, scorer, creators);
  }

  get factors(): number {
    return this.meta.factors;
  }

  get items(): number {
    return this.meta.items.length;
  }

  /** Item indices, most popular first (ties by index): the fallback ranking, sorted once. */
  get popularityOrder(): Int32Array {
    const popularity = this.meta.popularity;
    return (this.popularOrder ??= Int32Array.from(popularity.keys()).sort((a, b) => popularity[b]! - popularity[a]! || a - b));
  }

  /**
   * The additive mask of a set of filters over every item: 0 where the item passes, EXCLUDED
   * elsewhere; null without filters. Kept per version for the last few filter sets asked for.
   */
  filterMask(filters: Filters): Float32Array | null {
    if (!filters.kinds && !filters.tags && !filters.artists) return null;
    const key = filterKey(filters);
    const kept = this.filterMasks.get(key);
    if (kept) return kept;
    const { meta } = this;
    const mask = new Float32Array(this.items);
    for (let i = 0; i < this.items; i++) {
      const kind = meta.kinds[i] === 1 ? 'sample' : 'track';
      const artist = meta.artistOf[i]! >= 0 ? meta.artists[meta.artistOf[i]!]! : null;
      const passes =
        (!filters.kinds || filters.kinds.has(kind)) &&
        (!filters.tags || meta.tags[i]!.some((t) => filters.tags!.has(t))) &&
        (!filters.artists || (artist !== null && filters.artists.has(artist)));
      if (!passes) mask[i] = EXCLUDED;
    }
    if (this.filterMasks.size >= FILTER_MASKS_KEPT) this.filterMasks.delete(this.filterMasks.keys().next().value!);
    this.filterMasks.set(key, mask);
    return mask;
  }

  /** A user's state now holds scored candidates: the oldest such past the bound give theirs up. */
  rememberScored(state: UserState): void {
    this.scoredUsers.delete(state);
    this.scoredUsers.add(state);
    for (const oldest of this.scoredUsers) {
      if (this.scoredUsers.size <= this.scoredUsersKept) break;
      this.scoredUsers.delete(oldest);
      oldest.scored.clear();
    }
  }

  /** Tags as numbers: their names, and per artist the tags their items carry (first seen first). */
  get tags(): { names: string[]; byArtist: Int32Array[] } {
    if (!this.tagTable) {
      const ids = new Map<string, number>();
      const perArtist = this.meta.artists.map(() => new Set<number>());
      this.meta.artistOf.forEach((artist, item) => {
        if (artist < 0) return;
        for (const tag of this.meta.tags[item]!) {
          const id = ids.get(tag) ?? ids.set(tag, ids.size).get(tag)!;
          perArtist[artist]!.add(id);
        }
      });
      this.tagTable = { names: [...ids.keys()], byArtist: perArtist.map((set) => Int32Array.from(set)) };
    }
    return this.tagTable;
  }

  userVector(user: number): Float32Array {
    return this.userFactors.subarray(user * this.factors, (user + 1) * this.factors);
  }

  itemVector(item: number): Float32Array {
    return this.itemFactors.subarray(item * this.factors, (item + 1) * this.factors);
  }

  /**
   * Of `seeds`, the item whose factors are closest to `item`'s by cosine, with that cosine; item -1
   * and 0 when none is above 0 (or `item`'s vector is zero). The dot products run on four partial
   * sums, so that each is not waiting on the previous addition: this runs for every item an answer
   * describes against each of the user's played items, the largest part of a served answer's time.
   */
  closestItem(item: number, seeds: readonly { item: number }[]): { item: number; similarity: number } {
    let best = -1;
    let bestSimilarity = 0;
    const na = this.itemNorms[item]!;
    if (na === 0) return { item: best, similarity: bestSimilarity };
    const f = this.factors;
    const y = this.itemFactors;
    const a = item * f;
    for (const { item: seed } of seeds) {
      const nb = this.itemNorms[seed]!;
      if (nb === 0) continue;
      const b = seed * f;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let d = 0;
      for (; d + 3 < f; d += 4) {
        s0 += y[a + d]! * y[b + d]!;
        s1 += y[a + d + 1]! * y[b + d + 1]!;
        s2 += y[a + d + 2]! * y[b + d + 2]!;
        s3 += y[a + d + 3]! * y[b + d + 3]!;
      }
      for (; d < f; d++) s0 += y[a + d]! * y[b + d]!;
      const similarity = (s0 + s1 + (s2 + s3)) / (na * nb);
      if (similarity > bestSimilarity) {
        bestSimilarity = similarity;
        best = seed;
      }
    }
    return { item: best, similarity: bestSimilarity };
  }

  /**
   * A vector for a user the model has not seen, from the items they have now: the exact ALS user
   * step (Hu et al. eq. 4) against the trained item factors, solved by conjugate gradient (exact in
   * `factors` steps). This is "fold-in": new users get personal results before the next training.
   */
  foldIn(items: { item: number; weight: number }[]): Float32Array {
    const f = this.factors;
    const summary = this.meta.summary as { alpha?: number; epsilon?: number; regularization?: number; confidence?: string };
    const alpha = summary.alpha ?? ALS_DEFAULTS.alpha;
    const epsilon = summary.epsilon ?? ALS_DEFAULTS.epsilon;
    const gram = (this.gramMatrix ??= this.computeGram(summary.regularization ?? ALS_DEFAULTS.regularization));
    const linear = summary.confidence === 'linear';
    const confidence = items.map(({ item, weight }) => ({ item, c: 1 + alpha * (linear ? weight : Math.log1p(weight / epsilon)) }));
    const multiply = (v: Float64Array, out: Float64Array) => {
      for (let a = 0; a < f; a++) {
        let sum = 0;
        for (let b = 0; b < f; b++) sum += gram[a * f + b]! * v[b]!;
        out[a] = sum;
      }
      for (const { item, c } of confidence) {
        let dot = 0;
        for (let d = 0; d < f; d++) dot += this.itemFactors[item * f + d]! * v[d]!;
        for (let d = 0; d < f; d++) out[d]! += (c - 1) * dot * this.itemFactors[item * f + d]!;
      }
    };
    const x = new Float64Array(f);
    const r = new Float64Array(f);
    for (const { item, c } of confidence) for (let d = 0; d < f; d++) r[d]! += c * this.itemFactors[item * f + d]!;
    const p = Float64Array.from(r);
    const ap = new Float64Array(f);
    let rs = r.reduce((s, v) => s + v * v, 0);
    for (let step = 0; step < f && rs > 1e-20; step++) {
      multiply(p, ap);
      let pap = 0;
      for (let d = 0; d < f; d++) pap += p[d]! * ap[d]!;
      const a = rs / pap;
      for (let d = 0; d < f; d++) {
        x[d]! += a * p[d]!;
        r[d]! -= a * ap[d]!;
      }
      const next = r.reduce((s, v) => s + v * v, 0);
      for (let d = 0; d < f; d++) p[d] = r[d]! + (next / rs) * p[d]!;
      rs = next;
    }
    return Float32Array.from(x);
  }

  private computeGram(regularization: number): Float64Array {
    const f = this.factors;
    const g = new Float64Array(f * f);
    const y = this.itemFactors;
    for (let offset = 0; offset < y.length; offset += f) {
      for (let a = 0; a < f; a++) {
        const ya = y[offset + a]!;
        if (ya === 0) continue;
        for (let b = 0; b < f; b++) g[a * f + b]! += ya * y[offset + b]!;
      }
    }
    for (let a = 0; a < f; a++) g[a * f + a]! += regularization;
    return g;
  }

  /** Takes a lease; the returned function ends it. */
  lease(): () => void {
    this.leases++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.leases === 0 && this.retired) this.wakeRetired?.();
    };
  }

  /** No new leases will be taken; the ONNX session is released once the current ones end. */
  retire(): Promise<void> {
    this.retired = true;
    this.released ??= (async () => {
      if (this.leases > 0) await new Promise<void>((resolve) => (this.wakeRetired = resolve));
      await this.scorer.release();
    })();
    return this.released;
  }

  get activeLeases(): number {
    return this.leases;
  }
}

/** The version that serves a tenant now; `swap` puts a new one in and retires the old one. */
export class ModelSlot {
  private current: ServingModel | null = null;
  checkedAt = 0;
  loading: Promise<ServingModel | null> | null = null;

  get model(): ServingModel | null {
    return this.current;
  }

  /** The serving model with a lease taken, or null; call `end` when the request is done. */
  acquire(): { model: ServingModel; end: () => void } | null {
    const model = this.current;
    return model ? { model, end: model.lease() } : null;
  }

  swap(next: ServingModel): Promise<void> | null {
    const previous = this.current;
    this.current = next;
    return previous && previous !== next ? previous.retire() : null;
  }

  async close(): Promise<void> {
    const previous = this.current;
    this.current = null;
    await previous?.retire();
  }
}
