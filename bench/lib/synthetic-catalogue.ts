// The synthetic catalogue the recommendation benches serve: `items` items named item-i, one in 20 a
// sample, spread over `artists` artists in turn, 20 tags in turn, popularity drawn from `random`.
import type { ModelMeta } from '../../src/recommendations/model-files.js';

export interface CatalogueOptions {
  version: string;
  factors: number;
  items: number;
  artists: number;
  users: string[];
  /** Draws the popularity, one number per item, in item order. */
  random: () => number;
  summary?: ModelMeta['summary'];
}

export function syntheticCatalogue(options: CatalogueOptions): ModelMeta {
  const { items } = options;
  const artists = Array.from({ length: options.artists }, (_, a) => `artist-${a}`);
  return {
    version: options.version,
    tenantId: 'default',
    trainedAt: new Date().toISOString(),
    factors: options.factors,
    users: options.users,
    items: Array.from({ length: items }, (_, i) => `item-${i}`),
    kinds: Array.from({ length: items }, (_, i) => (i % 20 === 0 ? 1 : 0)),
    artistOf: Array.from({ length: items }, (_, i) => i % artists.length),
    artists,
    tags: Array.from({ length: items }, (_, i) => [`tag-${i % 20}`]),
    titles: Array.from({ length: items }, (_, i) => `Track ${i}`),
    popularity: Array.from({ length: items }, () => Math.floor(options.random() * 1000)),
    coldItems: 0,
    summary: options.summary ?? { regularization: 100, alpha: 4, epsilon: 1, confidence: 'log' },
  };
}
