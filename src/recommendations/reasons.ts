// Why an item is recommended, as a number first and as text when an answer is written. The number (a
// reason code) is what serving keeps per ranked position with a user's scored set: computing it is
// the costly part (the closest of the user's played items by cosine, `ServingModel.closestItem`),
// and a prepared user has theirs before their first request. The text is built from it per answer.
import type { ServingModel } from './serving.js';

/** Not computed yet (a position no answer has described). */
export const REASON_UNSET = -1;
const FOLLOWED = -2;
const NEW_BY_ARTIST = -3;
const NEW_UNTAGGED = -4;
const POPULAR = -5;
/** Personal, but none of the seeds is close enough to name. */
const TASTE = -6;
/** An item the user has played, shown in one of their favourite artists' playlists. */
export const FAVOURITE_REASON = -7;
/** Codes ≥ 0 name a seed: its position in the seeds times SEED_STRIDE, plus the cosine in thousandths. */
const SEED_STRIDE = 1024;
/** A seed is named only from this cosine up. */
const NAMED_SIMILARITY = 0.3;

export interface ReasonInputs {
  /** The user's first played items: a reason names the closest of them. */
  seeds: readonly { item: number }[];
  /** Artists the user follows. */
  follows: ReadonlySet<string>;
  /** Whether the answer is the user's own (a vector): otherwise reasons speak of popularity. */
  personal: boolean;
}

/** The reason code of `item` for a user. */
export function reasonCode(model: ServingModel, item: number, inputs: ReasonInputs): number {
  const { meta } = model;
  const artist = meta.artistOf[item]! >= 0 ? meta.artists[meta.artistOf[item]!]! : null;
  if (artist !== null && inputs.follows.has(artist)) return FOLLOWED;
  if (meta.popularity[item] === 0) return artist !== null ? NEW_BY_ARTIST : NEW_UNTAGGED;
  if (!inputs.personal) return POPULAR;
  const { item: best, similarity } = model.closestItem(item, inputs.seeds);
  if (best < 0 || similarity < NAMED_SIMILARITY) return TASTE;
  const position = inputs.seeds.findIndex((seed) => seed.item === best);
  return position * SEED_STRIDE + Math.round(similarity * 1000);
}

/** The text of a reason code (`seeds` as when the code was computed). */
export function reasonText(model: ServingModel, item: number, code: number, seeds: readonly { item: number }[]): string {
  const { meta } = model;
  if (code >= 0) {
    const seed = seeds[Math.floor(code / SEED_STRIDE)]!.item;
    return `because you played ${meta.titles[seed] ?? meta.items[seed]!} (similarity ${(code % SEED_STRIDE) / 1000})`;
  }
  const artist = meta.artistOf[item]! >= 0 ? meta.artists[meta.artistOf[item]!]! : null;
  switch (code) {
    case FOLLOWED:
      return `new from ${artist}, whom you follow`;
    case NEW_BY_ARTIST:
      return `new: no plays yet, by ${artist}, close to what you play`;
    case NEW_UNTAGGED:
      return 'new: no plays yet, tagged like what you play';
    case POPULAR: {
      const listeners = meta.popularity[item]!;
      return `popular: ${listeners} listener${listeners === 1 ? '' : 's'}`;
    }
    case FAVOURITE_REASON:
      return 'one of your favourites';
    case TASTE:
      return 'listeners whose taste matches yours play it';
    default:
      throw new Error(`reason code ${code} has no text`);
  }
}
