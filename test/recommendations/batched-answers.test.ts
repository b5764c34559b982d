// Answers scored together (concurrent requests share one ONNX call) are the answers each request gets
// alone, for users of different histories (trained, folded in, unknown) and filters; a user's kept
// state answers a repeat the same way; and the tracks are the exact top-k of the factors.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { writeModel, type ModelMeta } from '../../src/recommendations/model-files.js';
import { prepareUser, recommendWithModel, type Context, type Filters, type RecommendParams } from '../../src/recommendations/recommend.js';
import { ServingModel } from '../../src/recommendations/serving.js';
import type { UserHistory } from '../../src/recommendations/store.js';
import { topKByScore } from '../../src/recommendations/topk.js';
import { seededRandom } from '../../src/shared/random.js';

const ITEMS = 3000;
const FACTORS = 16;
const USERS = 200;
const random = seededRandom(21);
const factors = (rows: number) => Float32Array.from({ length: rows * FACTORS }, () => (random() + random() + random() - 1.5) * 0.3);
const artists = Array.from({ length: 150 }, (_, a) => `artist-${a}`);
const meta: ModelMeta = {
  version: 'batched-1',
  tenantId: 'default',
  trainedAt: '2026-12-01T00:00:00Z',
  factors: FACTORS,
  users: [...Array.from({ length: USERS }, (_, u) => `user-${u}`), ...artists.filter((_, a) => a % 3 === 0)],
  items: Array.from({ length: ITEMS }, (_, i) => `item-${i}`),
  kinds: Array.from({ length: ITEMS }, (_, i) => (i % 9 === 0 ? 1 : 0)),
  artistOf: Array.from({ length: ITEMS }, (_, i) => (i % 40 === 7 ? -1 : i % artists.length)),
  artists,
  tags: Array.from({ length: ITEMS }, (_, i) => [`tag-${i % 11}`, ...(i % 4 === 0 ? ['loop'] : [])]),
  titles: Array.from({ length: ITEMS }, (_, i) => `Track ${i}`),
  popularity: Array.from({ length: ITEMS }, (_, i) => (i % 13 === 0 ? 0 : Math.floor(random() * 500))),
  coldItems: 0,
  summary: { regularization: 10, alpha: 4, epsilon: 1, confidence: 'log' },
};
const userFactors = factors(meta.users.length);
const itemFactors = factors(ITEMS);

const NO_FILTERS: Filters = { kinds: null, tags: null, artists: null };
const FILTERS: Filters[] = [
  NO_FILTERS,
  { kinds: new Set(['sample']), tags: null, artists: null },
  { kinds: null, tags: new Set(['tag-3', 'loop']), artists: null },
  { kinds: null, tags: null, artists: new Set(['artist-4', 'artist-9']) },
];

interface Case {
  history: () => UserHistory;
  params: RecommendParams;
}

/** Users of every kind: trained with short and long histories, folded in, unknown; each with a filter and context. */
function cases(): Case[] {
  const contexts: Context[] = ['discovery', 'collaboration', 'production'];
  return Array.from({ length: 18 }, (_, u) => {
    const length = [0, 3, 12, 45][u % 4]!;
    const items = Array.from({ length }, (_, j) => ({ itemId: `item-${(u * 97 + j * 31) % ITEMS}`, weight: 1 + ((u + j) % 7) }));
    const userId = u % 6 === 5 || u === 8 ? `newcomer-${u}` : u % 7 === 6 ? `artist-${u * 3}` : `user-${u}`;
    return {
      history: () => ({ items: items.map((i) => ({ ...i })), follows: u % 5 === 0 ? ['artist-8'] : [], coeditors: u % 4 === 1 ? ['artist-3'] : [] }),
      params: { userId, context: contexts[u % 3]!, limit: u % 2 === 0 ? 20 : 7, filters: FILTERS[u % 4]!, strategy: 'model' },
    };
  });
}

describe('answers scored together', () => {
  let dataDir: string;
  let model: ServingModel;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'veza-batched-'));
    const relative = await writeModel(dataDir, { meta, userFactors, itemFactors });
    model = await ServingModel.load(dataDir, relative);
  });

  afterAll(async () => {
    await model.retire();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('are the answers each user gets alone, for users of different histories and filters', async () => {
    const all = cases();
    const alone = [];
    for (const c of all) alone.push(await recommendWithModel(model, c.history(), c.params));
    const callsBefore = model.scorer.calls;
    const together = await Promise.all(all.map((c) => recommendWithModel(model, c.history(), c.params)));
    // Concurrent answers shared calls: at most one for unfiltered rows and one for filtered ones.
    expect(model.scorer.calls - callsBefore).toBe(2);
    expect(together.map((a) => a.source)).toEqual(alone.map((a) => a.source));
    expect(new Set(together.map((a) => a.source))).toEqual(new Set(['model', 'fold-in', 'popularity']));
    for (const [i, answer] of together.entries()) {
      const ids = (list: { id: string }[]) => list.map((entry) => entry.id);
      expect(ids(answer.tracks), `tracks of case ${i}`).toEqual(ids(alone[i]!.tracks));
      expect(ids(answer.samples), `samples of case ${i}`).toEqual(ids(alone[i]!.samples));
      expect(answer).toEqual(alone[i]);
    }
  });

  it('a repeat from the same cached history is answered from the kept state, the same', async () => {
    const c = cases()[2]!;
    const history = c.history();
    const first = await recommendWithModel(model, history, c.params);
    const calls = model.scorer.calls;
    const again = await recommendWithModel(model, history, { ...c.params, context: 'production' });
    const fresh = await recommendWithModel(model, c.history(), { ...c.params, context: 'production' });
    expect(model.scorer.calls).toBe(calls + 1); // the fresh history only
    expect(again).toEqual(fresh);
    expect(first.tracks.length).toBeGreaterThan(0);
  });

  it('a prepared user is answered from what preparation kept (no similarity searched), as an unprepared user is', async () => {
    const search = vi.spyOn(model, 'closestItem');
    try {
      // Users with a vector and seeds to name: trained and folded in, some following an artist.
      const users = cases().filter((c) => c.params.strategy === 'model' && c.history().items.length >= 12);
      expect(users.length).toBeGreaterThan(3);
      for (const c of users) {
        const prepared = c.history();
        await prepareUser(model, prepared, c.params.userId);
        for (const context of ['discovery', 'collaboration', 'production'] as Context[]) {
          const params: RecommendParams = { ...c.params, context, limit: 20, filters: NO_FILTERS };
          const searches = search.mock.calls.length;
          const answer = await recommendWithModel(model, prepared, params);
          expect(search.mock.calls.length, `${c.params.userId} ${context}`).toBe(searches);
          const fresh = await recommendWithModel(model, c.history(), params);
          expect(search.mock.calls.length).toBeGreaterThan(searches);
          expect(answer).toEqual(fresh);
          expect(answer.artists.length).toBeGreaterThan(0);
        }
        // Past what preparation kept (a longer list): the rest is computed, and still the same answer.
        const long: RecommendParams = { ...c.params, context: 'discovery', limit: 60, filters: NO_FILTERS };
        expect(await recommendWithModel(model, prepared, long)).toEqual(await recommendWithModel(model, c.history(), long));
      }
    } finally {
      search.mockRestore();
    }
  });

  it('tracks are the exact top-k of user · item over unheard tracks', async () => {
    const history: UserHistory = { items: [1, 2, 3, 4, 10].map((i) => ({ itemId: `item-${i}`, weight: 2 })), follows: [], coeditors: [] };
    const answer = await recommendWithModel(model, history, { userId: 'user-7', context: 'discovery', limit: 20, filters: NO_FILTERS, strategy: 'model' });
    const user = userFactors.subarray(7 * FACTORS, 8 * FACTORS);
    const score = (item: number) => user.reduce((sum, v, d) => sum + v * itemFactors[item * FACTORS + d]!, 0);
    const excluded = meta.kinds.flatMap((kind, i) => (kind === 1 || [1, 2, 3, 4, 10].includes(i) ? [i] : []));
    expect(answer.tracks.map((t) => t.id)).toEqual(topKByScore(ITEMS, score, excluded, 20).map((s) => `item-${s.item}`));
  });

  it('the seed a reason names is the played item closest by cosine, as computed plainly', () => {
    const vector = (item: number) => itemFactors.subarray(item * FACTORS, (item + 1) * FACTORS);
    const cosine = (a: number, b: number) => {
      const [x, y] = [vector(a), vector(b)];
      const dot = x.reduce((sum, v, d) => sum + v * y[d]!, 0);
      return dot / (Math.hypot(...x) * Math.hypot(...y));
    };
    const seeds = [5, 77, 301, 1200, 2999, 640, 18].map((item) => ({ item }));
    for (let item = 0; item < ITEMS; item += 37) {
      const plain = seeds.map(({ item: seed }) => ({ seed, c: cosine(item, seed) })).reduce((best, next) => (next.c > best.c ? next : best), { seed: -1, c: 0 });
      const found = model.closestItem(item, seeds);
      expect(found.item).toBe(plain.seed);
      expect(found.similarity).toBeCloseTo(plain.c, 5);
    }
    // None above zero: no seed, similarity 0.
    const opposite = seeds.filter(({ item }) => cosine(10, item) <= 0);
    expect(opposite.length).toBeGreaterThan(0);
    expect(model.closestItem(10, opposite)).toEqual({ item: -1, similarity: 0 });
    expect(model.closestItem(10, [])).toEqual({ item: -1, similarity: 0 });
  });
});
