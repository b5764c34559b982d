// A small music world whose right answers are known: three scenes (house, jazz, metal), four
// artists each with five tracks and one sample, and listeners who each stay in one scene. Some
// artists are users too (creators), for collaboration suggestions.
import { seededRandom } from '../../src/shared/random.js';

export const SCENES = ['house', 'jazz', 'metal'] as const;
export type Scene = (typeof SCENES)[number];

export interface WorldItem {
  type: 'item';
  itemId: string;
  kind: 'track' | 'sample';
  artistId: string;
  title: string;
  tags: string[];
}

export const sceneOf = (itemId: string): Scene => itemId.split('-')[0] as Scene;

export function catalog(): WorldItem[] {
  const items: WorldItem[] = [];
  for (const scene of SCENES) {
    for (let a = 0; a < 4; a++) {
      const artistId = `${scene}-artist-${a}`;
      for (let t = 0; t < 5; t++) items.push({ type: 'item', itemId: `${scene}-a${a}-t${t}`, kind: 'track', artistId, title: `${scene} ${a}.${t}`, tags: [scene] });
      items.push({ type: 'item', itemId: `${scene}-a${a}-s0`, kind: 'sample', artistId, title: `${scene} sample ${a}`, tags: [scene, 'loop'] });
    }
  }
  return items;
}

/** `users` listeners per scene, each playing (and sometimes liking) 8 of its 20 tracks and 2 of its samples. */
export function history(usersPerScene: number, seed = 7, at = '2026-11-01T12:00:00Z'): object[] {
  const random = seededRandom(seed);
  const rows: object[] = [];
  const items = catalog();
  for (const scene of SCENES) {
    const tracks = items.filter((i) => i.kind === 'track' && i.tags.includes(scene));
    const samples = items.filter((i) => i.kind === 'sample' && i.tags.includes(scene));
    for (let u = 0; u < usersPerScene; u++) {
      const userId = `${scene}-fan-${u}`;
      const picked = [...tracks].sort(() => random() - 0.5).slice(0, 8);
      for (const t of picked) {
        rows.push({ type: 'play', userId, itemId: t.itemId, at, weight: 1 + Math.floor(random() * 20) });
        if (random() < 0.3) rows.push({ type: 'like', userId, itemId: t.itemId, at });
      }
      for (const s of [...samples].sort(() => random() - 0.5).slice(0, 2)) rows.push({ type: 'play', userId, itemId: s.itemId, at });
    }
  }
  return rows;
}

export const ndjson = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
